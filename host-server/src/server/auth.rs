//! Admin authentication and authorization. Tokens are configured as SHA-256 hashes, each with a
//! name and a role; what a role may do is decided by a Cedar policy shipped with the server
//! (`host-server/admin-policy/`), evaluated by policy-core like any other bundle.

use std::collections::HashMap;
use std::path::Path;

use policy_core::wire::{Decision, DecisionRequest, EntityRef};
use policy_core::{Bundle, Engine};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::error::ApiError;

/// The admin policy bundle, compiled into the binary so it cannot drift from the server.
const ADMIN_POLICY: &[(&str, &str)] = &[
    (
        "schema.cedarschema",
        include_str!("../../admin-policy/schema.cedarschema"),
    ),
    (
        "admin.cedar",
        include_str!("../../admin-policy/admin.cedar"),
    ),
    (
        "entities.json",
        include_str!("../../admin-policy/entities.json"),
    ),
];

pub const ROLES: &[&str] = &["viewer", "author", "deployer", "admin"];

/// What an admin call needs (actions of the admin policy's schema).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AdminAction {
    Read,
    Upload,
    WriteEntities,
    Activate,
    ReadAudit,
    /// Ask for decisions, when the server is started with decisions behind a token.
    Decide,
}

impl AdminAction {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Read => "read",
            Self::Upload => "upload",
            Self::WriteEntities => "write_entities",
            Self::Activate => "activate",
            Self::ReadAudit => "read_audit",
            Self::Decide => "decide",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenEntry {
    pub name: String,
    pub role: String,
    /// Hex SHA-256 of the token text.
    pub sha256: String,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct TokensFile {
    pub tokens: Vec<TokenEntry>,
}

#[derive(Debug, thiserror::Error)]
pub enum AuthSetupError {
    #[error("cannot read tokens file {0}: {1}")]
    Read(String, std::io::Error),
    #[error("tokens file {0} is not valid: {1}")]
    Parse(String, serde_json::Error),
    #[error("token `{name}` has role `{role}`; roles are {ROLES:?}")]
    UnknownRole { name: String, role: String },
    #[error("the built-in admin policy does not load: {0}")]
    Policy(String),
    #[error("cannot write {0}: {1}")]
    Write(String, std::io::Error),
    #[error("no randomness for a token: {0}")]
    Random(String),
}

/// Who made an admin call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    pub name: String,
    pub role: String,
}

pub struct AdminAuth {
    by_hash: HashMap<String, TokenEntry>,
    engine: Engine,
}

pub fn hash_token(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

impl AdminAuth {
    pub fn new(tokens: Vec<TokenEntry>) -> Result<Self, AuthSetupError> {
        for t in &tokens {
            if !ROLES.contains(&t.role.as_str()) {
                return Err(AuthSetupError::UnknownRole {
                    name: t.name.clone(),
                    role: t.role.clone(),
                });
            }
        }
        let bundle = Bundle::load(ADMIN_POLICY.iter().map(|(p, t)| (*p, t.as_bytes())))
            .map_err(|e| AuthSetupError::Policy(e.to_string()))?;
        Ok(Self {
            by_hash: tokens
                .into_iter()
                .map(|t| (t.sha256.to_ascii_lowercase(), t))
                .collect(),
            engine: Engine::new(bundle),
        })
    }

    /// Loads the tokens file; on first start (no file) creates one with a random admin token,
    /// written beside it in `admin.token` (mode 0600) for the operator. `extra_admin` (from
    /// `SESAME_ADMIN_TOKEN`) is accepted as an admin token too.
    pub fn from_file(
        path: &Path,
        extra_admin: Option<&str>,
    ) -> Result<(Self, Option<std::path::PathBuf>), AuthSetupError> {
        let display = path.display().to_string();
        let mut created = None;
        let mut file: TokensFile = match std::fs::read_to_string(path) {
            Ok(text) => {
                serde_json::from_str(&text).map_err(|e| AuthSetupError::Parse(display, e))?
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let token = random_token()?;
                let token_path = path.with_file_name("admin.token");
                write_private(&token_path, &token)?;
                let file = TokensFile {
                    tokens: vec![TokenEntry {
                        name: "admin".into(),
                        role: "admin".into(),
                        sha256: hash_token(&token),
                    }],
                };
                let text = serde_json::to_string_pretty(&file).unwrap_or_default();
                std::fs::write(path, text).map_err(|e| AuthSetupError::Write(display, e))?;
                created = Some(token_path);
                file
            }
            Err(e) => return Err(AuthSetupError::Read(display, e)),
        };
        if let Some(token) = extra_admin {
            file.tokens.push(TokenEntry {
                name: "env-admin".into(),
                role: "admin".into(),
                sha256: hash_token(token),
            });
        }
        Ok((Self::new(file.tokens)?, created))
    }

    /// Checks the `Authorization: Bearer ...` value and asks the admin policy.
    pub fn authorize(
        &self,
        authorization: Option<&str>,
        action: AdminAction,
    ) -> Result<Caller, ApiError> {
        let token = authorization
            .and_then(|h| h.strip_prefix("Bearer "))
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .ok_or(ApiError::Unauthorized)?;
        let entry = self
            .by_hash
            .get(&hash_token(token))
            .ok_or(ApiError::Unauthorized)?;
        let request = DecisionRequest {
            principal: EntityRef::new("Token", entry.name.as_str()),
            action: EntityRef::new("Action", action.as_str()),
            resource: EntityRef::new("Server", "sesame"),
            context: None,
            entities: vec![serde_json::json!({
                "uid": {"type": "Token", "id": entry.name},
                "attrs": {},
                "parents": [{"type": "Role", "id": entry.role}],
            })],
        };
        let allowed = self
            .engine
            .decide(&request)
            .map(|r| r.decision == Decision::Allow)
            .map_err(|e| ApiError::Internal(format!("admin policy: {e}")))?;
        let caller = Caller {
            name: entry.name.clone(),
            role: entry.role.clone(),
        };
        if allowed {
            Ok(caller)
        } else {
            Err(ApiError::Forbidden {
                token: caller.name,
                role: caller.role,
                action: action.as_str().into(),
            })
        }
    }
}

fn random_token() -> Result<String, AuthSetupError> {
    let mut bytes = [0u8; 24];
    getrandom::fill(&mut bytes).map_err(|e| AuthSetupError::Random(e.to_string()))?;
    Ok(format!("ses_{}", hex::encode(bytes)))
}

fn write_private(path: &Path, text: &str) -> Result<(), AuthSetupError> {
    let err = |e| AuthSetupError::Write(path.display().to_string(), e);
    std::fs::write(path, text).map_err(err)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).map_err(err)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn auth() -> Result<AdminAuth, AuthSetupError> {
        AdminAuth::new(
            [
                ("v", "viewer"),
                ("a", "author"),
                ("d", "deployer"),
                ("x", "admin"),
            ]
            .into_iter()
            .map(|(name, role)| TokenEntry {
                name: name.into(),
                role: role.into(),
                sha256: hash_token(&format!("secret-{name}")),
            })
            .collect(),
        )
    }

    #[test]
    fn roles_are_decided_by_the_admin_policy() -> Result<(), AuthSetupError> {
        let auth = auth()?;
        let call = |token: &str, action| auth.authorize(Some(&format!("Bearer {token}")), action);
        assert!(call("secret-v", AdminAction::Read).is_ok());
        assert!(matches!(
            call("secret-v", AdminAction::Upload),
            Err(ApiError::Forbidden { .. })
        ));
        assert!(call("secret-a", AdminAction::WriteEntities).is_ok());
        assert!(matches!(
            call("secret-a", AdminAction::Activate),
            Err(ApiError::Forbidden { .. })
        ));
        assert!(call("secret-d", AdminAction::Activate).is_ok());
        assert!(call("secret-x", AdminAction::ReadAudit).is_ok());
        assert!(matches!(
            call("wrong", AdminAction::Read),
            Err(ApiError::Unauthorized)
        ));
        assert!(matches!(
            auth.authorize(None, AdminAction::Read),
            Err(ApiError::Unauthorized)
        ));
        Ok(())
    }
}
