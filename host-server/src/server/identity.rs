//! Firm users signed in by the embedding application's identity provider. A JWT signed by one of
//! the keys of a configured JWKS (a file, or the provider's `jwks_uri`) is verified here and
//! mapped to one principal (`sub`) and one tenant (a configured claim, `firm` by default) — as
//! Amazon Verified Permissions does with `IsAuthorizedWithToken`. The caller it yields acts as
//! that user only, inside that tenant only.

use std::sync::RwLock;
use std::time::{Duration, Instant};

use jsonwebtoken::jwk::{AlgorithmParameters, Jwk, JwkSet};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use policy_core::wire::EntityRef;
use serde_json::Value;

use super::auth::AuthSetupError;
use super::error::ApiError;

/// Where the keys come from and how claims map to a principal and a tenant.
#[derive(Debug, Clone)]
pub struct JwtConfig {
    /// A JWKS file, or an `http(s)://` URL fetched at start and again (at most once a minute)
    /// when a token names a key id it does not hold — providers rotate keys.
    pub jwks: String,
    /// Required `iss`, when set.
    pub issuer: Option<String>,
    /// Required `aud`, when set.
    pub audience: Option<String>,
    /// The entity type of the principal named by `sub`.
    pub principal_type: String,
    /// The claim naming the caller's tenant (the id of its firm).
    pub tenant_claim: String,
}

impl JwtConfig {
    pub fn new(jwks: impl Into<String>) -> Self {
        Self {
            jwks: jwks.into(),
            issuer: None,
            audience: None,
            principal_type: "User".into(),
            tenant_claim: "firm".into(),
        }
    }
}

/// Who a verified token says the caller is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub principal: EntityRef,
    pub tenant: String,
}

pub struct JwtVerifier {
    config: JwtConfig,
    keys: RwLock<KeyRing>,
}

struct KeyRing {
    set: JwkSet,
    fetched: Instant,
}

const REFETCH_EVERY: Duration = Duration::from_secs(60);
/// Largest JWKS document read (a provider publishes a handful of keys).
const MAX_JWKS_BYTES: u64 = 1 << 20;
/// Largest token looked at: a JWT is a header, claims and a signature, never megabytes.
const MAX_TOKEN_BYTES: usize = 16 << 10;

/// A bearer value shaped like a JWT (three dot-separated base64url parts); opaque tokens of the
/// tokens file never contain a dot.
pub fn looks_like_jwt(token: &str) -> bool {
    token.split('.').count() == 3
}

impl JwtVerifier {
    pub fn load(config: JwtConfig) -> Result<Self, AuthSetupError> {
        let set = fetch_jwks(&config.jwks)?;
        Ok(Self {
            config,
            keys: RwLock::new(KeyRing {
                set,
                fetched: Instant::now(),
            }),
        })
    }

    /// Verifies signature, expiry (`exp` required, 60 s leeway), issuer and audience, and maps
    /// `sub` and the tenant claim. Any failure is `401 unauthorized`: a caller learns nothing
    /// about which check failed.
    pub fn verify(&self, token: &str) -> Result<Identity, ApiError> {
        if token.len() > MAX_TOKEN_BYTES {
            return Err(ApiError::Unauthorized);
        }
        let header = jsonwebtoken::decode_header(token).map_err(|_| ApiError::Unauthorized)?;
        let jwk = self.key_for(header.kid.as_deref())?;
        let key = DecodingKey::from_jwk(&jwk).map_err(|_| ApiError::Unauthorized)?;
        // The algorithm comes from the key, never from the token alone: a token cannot pick a
        // weaker or different family than the key it claims to be signed with.
        let allowed = algorithms_of(&jwk);
        if !allowed.contains(&header.alg) {
            return Err(ApiError::Unauthorized);
        }
        let mut validation = Validation::new(header.alg);
        validation.algorithms = allowed;
        validation.set_required_spec_claims(&["exp", "sub"]);
        match &self.config.audience {
            Some(aud) => validation.set_audience(&[aud]),
            None => validation.validate_aud = false,
        }
        if let Some(iss) = &self.config.issuer {
            validation.set_issuer(&[iss]);
        }
        let claims = jsonwebtoken::decode::<Value>(token, &key, &validation)
            .map_err(|_| ApiError::Unauthorized)?
            .claims;
        let text = |name: &str| {
            claims
                .get(name)
                .and_then(Value::as_str)
                .map(str::trim)
                .filter(|s| !s.is_empty() && !s.chars().any(char::is_control))
                .map(str::to_string)
        };
        let subject = text("sub").ok_or(ApiError::Unauthorized)?;
        let tenant = text(&self.config.tenant_claim).ok_or(ApiError::Unauthorized)?;
        Ok(Identity {
            principal: EntityRef::new(self.config.principal_type.as_str(), subject),
            tenant,
        })
    }

    /// The key a token names (or the only key, for tokens without `kid`), refetching a remote
    /// JWKS once a minute at most when the id is unknown.
    fn key_for(&self, kid: Option<&str>) -> Result<Jwk, ApiError> {
        let pick = |set: &JwkSet| match kid {
            Some(kid) => set.find(kid).cloned(),
            None if set.keys.len() == 1 => set.keys.first().cloned(),
            None => None,
        };
        {
            let ring = self.keys.read().map_err(|_| ApiError::Unauthorized)?;
            if let Some(jwk) = pick(&ring.set) {
                return Ok(jwk);
            }
            if !is_url(&self.config.jwks) || ring.fetched.elapsed() < REFETCH_EVERY {
                return Err(ApiError::Unauthorized);
            }
        }
        let mut ring = self.keys.write().map_err(|_| ApiError::Unauthorized)?;
        if ring.fetched.elapsed() >= REFETCH_EVERY {
            ring.fetched = Instant::now();
            match fetch_jwks(&self.config.jwks) {
                Ok(set) => ring.set = set,
                Err(e) => tracing::warn!("JWKS refresh failed: {e}"),
            }
        }
        pick(&ring.set).ok_or(ApiError::Unauthorized)
    }
}

fn is_url(source: &str) -> bool {
    source.starts_with("https://") || source.starts_with("http://")
}

/// The signature algorithms a key may verify: those of its family (or the one it names).
fn algorithms_of(jwk: &Jwk) -> Vec<Algorithm> {
    let mut family = family_algorithms(jwk);
    if let Some(named) = jwk.common.key_algorithm {
        family.retain(|alg| Algorithm::try_from(named).ok() == Some(*alg));
    }
    family
}

fn family_algorithms(jwk: &Jwk) -> Vec<Algorithm> {
    match &jwk.algorithm {
        AlgorithmParameters::RSA(_) => vec![
            Algorithm::RS256,
            Algorithm::RS384,
            Algorithm::RS512,
            Algorithm::PS256,
            Algorithm::PS384,
            Algorithm::PS512,
        ],
        AlgorithmParameters::EllipticCurve(_) => vec![Algorithm::ES256, Algorithm::ES384],
        AlgorithmParameters::OctetKeyPair(_) => vec![Algorithm::EdDSA],
        // Shared secrets have no place in a provider's published key set.
        _ => Vec::new(),
    }
}

fn fetch_jwks(source: &str) -> Result<JwkSet, AuthSetupError> {
    let text = if is_url(source) {
        let response = ureq::get(source)
            .call()
            .map_err(|e| AuthSetupError::Jwks(source.into(), e.to_string()))?;
        response
            .into_body()
            .with_config()
            .limit(MAX_JWKS_BYTES)
            .read_to_string()
            .map_err(|e| AuthSetupError::Jwks(source.into(), e.to_string()))?
    } else {
        std::fs::read_to_string(source)
            .map_err(|e| AuthSetupError::Jwks(source.into(), e.to_string()))?
    };
    let set: JwkSet = serde_json::from_str(&text)
        .map_err(|e| AuthSetupError::Jwks(source.into(), e.to_string()))?;
    if set.keys.iter().all(|k| algorithms_of(k).is_empty()) {
        return Err(AuthSetupError::Jwks(
            source.into(),
            "no usable public key (RSA, EC or OKP) in the set".into(),
        ));
    }
    Ok(set)
}

/// Development keys: `sesame jwt keygen` writes an Ed25519 private key (PKCS#8 PEM), `sesame jwt
/// jwks` its public JWKS for `--jwt-jwks`, `sesame jwt mint` a signed token — what a demo or a
/// test needs in place of a real identity provider.
pub mod dev {
    use base64::Engine as _;
    use jsonwebtoken::jwk::{Jwk, JwkSet};
    use jsonwebtoken::{Algorithm, EncodingKey, Header};
    use serde_json::Value;

    /// PKCS#8 v1 prefix of an Ed25519 private key; the 32-byte seed follows (RFC 8410).
    const ED25519_PKCS8_PREFIX: [u8; 16] = [
        0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04,
        0x20,
    ];

    #[derive(Debug, thiserror::Error)]
    pub enum DevKeyError {
        #[error("no randomness for a key: {0}")]
        Random(String),
        #[error("not an Ed25519 private key in PKCS#8 PEM: {0}")]
        Key(String),
        #[error("cannot sign: {0}")]
        Sign(String),
    }

    pub fn keygen() -> Result<String, DevKeyError> {
        let mut der = ED25519_PKCS8_PREFIX.to_vec();
        let mut seed = [0u8; 32];
        getrandom::fill(&mut seed).map_err(|e| DevKeyError::Random(e.to_string()))?;
        der.extend_from_slice(&seed);
        let body = base64::engine::general_purpose::STANDARD.encode(der);
        Ok(format!(
            "-----BEGIN PRIVATE KEY-----\n{body}\n-----END PRIVATE KEY-----\n"
        ))
    }

    fn encoding_key(pem: &str) -> Result<EncodingKey, DevKeyError> {
        EncodingKey::from_ed_pem(pem.as_bytes()).map_err(|e| DevKeyError::Key(e.to_string()))
    }

    /// The public JWKS of `pem`, its one key named `kid`.
    pub fn jwks(pem: &str, kid: &str) -> Result<JwkSet, DevKeyError> {
        let mut jwk = Jwk::from_encoding_key(&encoding_key(pem)?, Algorithm::EdDSA)
            .map_err(|e| DevKeyError::Key(e.to_string()))?;
        jwk.common.key_id = Some(kid.to_string());
        Ok(JwkSet { keys: vec![jwk] })
    }

    /// A token signed by `pem` with `kid` in its header, carrying `claims` as given.
    pub fn mint(pem: &str, kid: &str, claims: &Value) -> Result<String, DevKeyError> {
        let mut header = Header::new(Algorithm::EdDSA);
        header.kid = Some(kid.to_string());
        jsonwebtoken::encode(&header, claims, &encoding_key(pem)?)
            .map_err(|e| DevKeyError::Sign(e.to_string()))
    }
}
