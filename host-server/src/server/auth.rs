//! Admin authentication and authorization. Tokens are configured as SHA-256 hashes, each with a
//! name and a role, and optionally bound to a firm user (`subject`) or to tenants (`tenants`);
//! firm users may also present a JWT of the embedding app's identity provider (`identity`).
//! What a role may do is decided by a Cedar policy shipped with the server
//! (`host-server/admin-policy/`), evaluated by policy-core like any other bundle; whom a bound
//! caller may act as is checked by `Caller::may_act_as` and `Caller::may_act_in`.

use std::collections::HashMap;
use std::path::Path;

use policy_core::wire::{Decision, DecisionRequest, EntityRef};
use policy_core::{Bundle, Engine};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::error::ApiError;
use super::identity::{looks_like_jwt, JwtVerifier};

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

/// `member`: a firm user's session (a subject-bound token or a JWT) — it signs in and
/// administers its firm through `/v1/directory`, as itself, and nothing else. `decider`: a
/// service that only asks for decisions (with `--decisions-need-token`), reading nothing else.
pub const ROLES: &[&str] = &["viewer", "author", "deployer", "admin", "member", "decider"];

/// What an admin call needs (actions of the admin policy's schema).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AdminAction {
    Read,
    Upload,
    WriteEntities,
    Activate,
    ReadAudit,
    /// Opens a console session (`/v1/admin/login`).
    SignIn,
    /// Firm administration through `/v1/directory`, as a bound caller.
    Administer,
    /// Ask for decisions, when the server is started with decisions behind a token.
    Decide,
    /// Read the outbox (`/v1/outbox`): the invitations to deliver.
    ReadOutbox,
}

impl AdminAction {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Read => "read",
            Self::Upload => "upload",
            Self::WriteEntities => "write_entities",
            Self::Activate => "activate",
            Self::ReadAudit => "read_audit",
            Self::SignIn => "sign_in",
            Self::Administer => "administer",
            Self::Decide => "decide",
            Self::ReadOutbox => "read_outbox",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenEntry {
    pub name: String,
    pub role: String,
    /// Hex SHA-256 of the token text.
    pub sha256: String,
    /// The firm user this token is a session of: it acts as that user only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<EntityRef>,
    /// The tenants (firm ids) a service token may act in; absent: not bound to any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenants: Option<Vec<String>>,
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
    #[error("token `{0}` has role `member` but no subject: a member session is a firm user's")]
    MemberWithoutSubject(String),
    #[error("JWKS {0}: {1}")]
    Jwks(String, String),
}

/// Who made an admin call, and whom it may act for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    pub name: String,
    pub role: String,
    /// A firm user's session: the only actor it may name.
    pub subject: Option<EntityRef>,
    /// The tenants it may act in (a subject's session: its own firm).
    pub tenants: Option<Vec<String>>,
}

impl Caller {
    /// An operator's token: no subject, no tenant.
    pub fn operator(name: impl Into<String>, role: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            role: role.into(),
            subject: None,
            tenants: None,
        }
    }

    /// Whether this caller may act as `actor`: a session only as its own user; a service token
    /// as users of its tenants (checked by `may_act_in` once the actor's firm is known); an
    /// unbound operator token as nobody — it was never told who is behind the call.
    pub fn may_act_as(&self, actor: &EntityRef) -> Result<(), ApiError> {
        match (&self.subject, &self.tenants) {
            (Some(subject), _) if subject == actor => Ok(()),
            (Some(subject), _) => Err(ApiError::NotYours(format!(
                "`{}` is a session of {subject} and acts as that user only, not as {actor}",
                self.name
            ))),
            (None, Some(_)) => Ok(()),
            (None, None) => Err(ApiError::NotYours(format!(
                "token `{}` is bound to no firm user and no tenant: firm administration needs \
                 a user's session (a JWT or a token with a subject) or a service token scoped \
                 to tenants",
                self.name
            ))),
        }
    }

    /// Whether this caller may act inside `tenant` (the id of the actor's firm).
    pub fn may_act_in(&self, tenant: &str) -> Result<(), ApiError> {
        match &self.tenants {
            Some(tenants) if tenants.iter().any(|t| t == tenant) => Ok(()),
            Some(tenants) => Err(ApiError::NotYours(format!(
                "`{}` acts in {} only, not in {tenant}",
                self.name,
                tenants.join(", ")
            ))),
            // A subject-bound token without tenants: its user's firm is its tenant, and the
            // actor is that user (checked by `may_act_as`).
            None if self.subject.is_some() => Ok(()),
            None => Err(ApiError::NotYours(format!(
                "token `{}` is bound to no tenant",
                self.name
            ))),
        }
    }
}

pub struct AdminAuth {
    by_hash: HashMap<String, TokenEntry>,
    engine: Engine,
    jwt: Option<JwtVerifier>,
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
            if t.role == "member" && t.subject.is_none() {
                return Err(AuthSetupError::MemberWithoutSubject(t.name.clone()));
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
            jwt: None,
        })
    }

    /// Also accept firm users' JWTs verified by `verifier` (role `member`).
    pub fn with_jwt(mut self, verifier: JwtVerifier) -> Self {
        self.jwt = Some(verifier);
        self
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
                        subject: None,
                        tenants: None,
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
                subject: None,
                tenants: None,
            });
        }
        Ok((Self::new(file.tokens)?, created))
    }

    /// The firm user a bearer value is a session of (a JWT, a subject-bound token), if it is
    /// one; anything else, valid or not, is `None`.
    pub fn subject_of(&self, authorization: &str) -> Option<EntityRef> {
        let token = authorization.strip_prefix("Bearer ")?.trim();
        self.identify(token).ok()?.subject
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
        let caller = self.identify(token)?;
        let request = DecisionRequest {
            principal: EntityRef::new("Token", caller.name.as_str()),
            action: EntityRef::new("Action", action.as_str()),
            resource: EntityRef::new("Server", "sesame"),
            context: None,
            entities: vec![serde_json::json!({
                "uid": {"type": "Token", "id": caller.name},
                "attrs": {},
                "parents": [{"type": "Role", "id": caller.role}],
            })],
        };
        let allowed = self
            .engine
            .decide(&request)
            .map(|r| r.decision == Decision::Allow)
            .map_err(|e| ApiError::Internal(format!("admin policy: {e}")))?;
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

    /// The caller a bearer value stands for: a JWT (when an identity provider is configured)
    /// or a token of the tokens file.
    fn identify(&self, token: &str) -> Result<Caller, ApiError> {
        if let (Some(jwt), true) = (&self.jwt, looks_like_jwt(token)) {
            let identity = jwt.verify(token)?;
            return Ok(Caller {
                name: identity.principal.to_string(),
                role: "member".into(),
                subject: Some(identity.principal),
                tenants: Some(vec![identity.tenant]),
            });
        }
        let entry = self
            .by_hash
            .get(&hash_token(token))
            .ok_or(ApiError::Unauthorized)?;
        Ok(Caller {
            name: entry.name.clone(),
            role: entry.role.clone(),
            subject: entry.subject.clone(),
            tenants: entry.tenants.clone(),
        })
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
                subject: None,
                tenants: None,
            })
            .collect(),
        )
    }

    #[test]
    fn bound_callers_act_only_within_their_identity() {
        let alice = EntityRef::new("User", "alice");
        let bob = EntityRef::new("User", "bob");
        let session = Caller {
            subject: Some(alice.clone()),
            tenants: Some(vec!["dupont".into()]),
            ..Caller::operator("alice-session", "member")
        };
        assert!(session.may_act_as(&alice).is_ok());
        assert!(matches!(
            session.may_act_as(&bob),
            Err(ApiError::NotYours(_))
        ));
        assert!(session.may_act_in("dupont").is_ok());
        assert!(matches!(
            session.may_act_in("martin"),
            Err(ApiError::NotYours(_))
        ));
        let service = Caller {
            tenants: Some(vec!["dupont".into()]),
            ..Caller::operator("svc", "author")
        };
        assert!(service.may_act_as(&bob).is_ok());
        assert!(service.may_act_in("martin").is_err());
        let operator = Caller::operator("ops", "admin");
        assert!(matches!(
            operator.may_act_as(&alice),
            Err(ApiError::NotYours(_))
        ));
    }

    #[test]
    fn a_member_token_needs_a_subject() {
        let entry = TokenEntry {
            name: "m".into(),
            role: "member".into(),
            sha256: hash_token("m"),
            subject: None,
            tenants: None,
        };
        assert!(matches!(
            AdminAuth::new(vec![entry]),
            Err(AuthSetupError::MemberWithoutSubject(_))
        ));
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
