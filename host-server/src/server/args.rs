//! The options of `sesame serve` (and of `sesame-server`): one definition for both, turned into
//! a [`ServeConfig`] here so that every front end starts the same server.

use std::path::PathBuf;
use std::time::Duration;

use super::config::{Admission, DecisionLogConfig, Limits, ServeConfig};
use super::identity::JwtConfig;

#[derive(clap::Args)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub listen: std::net::SocketAddr,
    /// Data directory: the store (sesame.db), guest cache, tokens.
    #[arg(long, default_value = ".sesame")]
    pub data: PathBuf,
    /// PostgreSQL URL of a store shared by several replicas (default: SQLite in --data);
    /// also read from SESAME_DATABASE_URL.
    #[arg(long, env = "SESAME_DATABASE_URL")]
    pub database_url: Option<String>,
    /// Bundle folder that becomes version 1 when the store is empty.
    #[arg(long)]
    pub bundle: Option<PathBuf>,
    /// Entity data (JSON array) loaded when the store is empty.
    #[arg(long)]
    pub entities: Option<PathBuf>,
    /// The wasmtime guest module (default: the build output, or SESAME_GUEST_WASM).
    #[arg(long)]
    pub guest: Option<PathBuf>,
    /// Where the precompiled guest module is cached (default DATA/cache).
    #[arg(long)]
    pub guest_cache: Option<PathBuf>,
    /// The browser package to serve at /pkg/.
    #[arg(long, default_value = "target/pkg")]
    pub pkg: PathBuf,
    /// Static pages to serve at /.
    #[arg(long, default_value = "web")]
    pub web: PathBuf,
    /// Tokens file (default DATA/tokens.json, created with an admin token on first start).
    #[arg(long)]
    pub tokens: Option<PathBuf>,
    /// Guest instances (default: one per core).
    #[arg(long)]
    pub workers: Option<usize>,
    /// Memory for tenants' entities (e.g. `1GiB`, `512MiB`, bytes): tenants (firms) are
    /// loaded from the store on first use and the least recently used unloaded beyond it.
    /// Without it every entity is resident.
    #[arg(long, value_parser = parse_bytes)]
    pub entity_memory: Option<u64>,
    /// Largest request body, bytes (batches, matrices, entity writes, deploys).
    #[arg(long, default_value_t = 16 << 20)]
    pub max_body: usize,
    /// Largest /v1/decide body, bytes.
    #[arg(long, default_value_t = 1 << 20)]
    pub max_decide_body: usize,
    /// Most requests per batch (and cells per matrix).
    #[arg(long, default_value_t = 10_000)]
    pub max_batch: usize,
    /// Time budget of one evaluation in the guest (a decision, a batch item, a matrix row),
    /// milliseconds.
    #[arg(long, default_value_t = 500)]
    pub eval_timeout_ms: u64,
    /// Guest time one batch or matrix may use in all, milliseconds (at most the request
    /// timeout).
    #[arg(long, default_value_t = 10_000)]
    pub batch_budget_ms: u64,
    /// Whole-request timeout, seconds (every endpoint).
    #[arg(long, default_value_t = 30)]
    pub request_timeout_s: u64,
    /// Time a deploy's bundle tests may take, milliseconds.
    #[arg(long, default_value_t = 10_000)]
    pub deploy_tests_timeout_ms: u64,
    /// Fraction of decisions written to the decision log (0 = off, 1 = all).
    #[arg(long, default_value_t = 1.0)]
    pub decision_log_sample: f64,
    /// Context field masked in the decision log (repeatable).
    #[arg(long = "mask")]
    pub masked: Vec<String>,
    /// Accept firm users' JWTs signed by a key of this JWKS (a file or an http(s) URL).
    #[arg(long)]
    pub jwt_jwks: Option<String>,
    /// Required `iss` of those JWTs.
    #[arg(long)]
    pub jwt_issuer: Option<String>,
    /// Required `aud` of those JWTs.
    #[arg(long)]
    pub jwt_audience: Option<String>,
    /// The entity type of the principal a JWT's `sub` names.
    #[arg(long, default_value = "User")]
    pub jwt_principal_type: String,
    /// The JWT claim naming the caller's tenant.
    #[arg(long, default_value = "firm")]
    pub jwt_tenant_claim: String,
    /// The entity type whose ids name tenants (tokens' `tenants`, the JWT tenant claim).
    #[arg(long, default_value = "Firm")]
    pub tenant_type: String,
    /// Decision-log records older than this many days are deleted.
    #[arg(long, default_value_t = 30.0)]
    pub decision_log_retention_days: f64,
    /// The decision log is pruned, oldest first, to about this many bytes.
    #[arg(long, default_value_t = 1 << 30)]
    pub decision_log_max_bytes: u64,
    /// A logged request larger than this has its context replaced by a marker, bytes.
    #[arg(long, default_value_t = 8 << 10)]
    pub decision_log_max_record_bytes: usize,
    /// Decision endpoints need a token (any role the admin policy allows `decide`).
    #[arg(long)]
    pub decisions_need_token: bool,
    /// Requests per second per client (token, or peer address); 0 = no limit.
    #[arg(long, default_value_t = 0.0)]
    pub rate_limit: f64,
    /// Requests a client may make at once before the rate applies (default: one second's
    /// worth).
    #[arg(long)]
    pub rate_burst: Option<f64>,
    /// How many days an invitation token stays valid (a resend issues a new one); 0: tokens
    /// expire at once.
    #[arg(long, default_value_t = 7.0)]
    pub invitation_days: f64,
}

impl ServeArgs {
    /// The server's configuration, defaults filled in and bounds applied.
    pub fn config(self) -> ServeConfig {
        let a = self;
        let guest = a.guest.unwrap_or_else(crate::guest::default_guest_path);
        let mut config = ServeConfig::new(a.data, guest);
        config.listen = a.listen;
        config.seed_bundle = a.bundle;
        config.database_url = a.database_url;
        config.seed_entities = a.entities;
        config.pkg_dir = Some(a.pkg);
        config.web_dir = Some(a.web);
        config.tokens_file = a.tokens;
        config.guest_cache = a.guest_cache;
        if let Some(n) = a.workers {
            config.workers = n.max(1);
        }
        config.entity_memory = a.entity_memory;
        let request_timeout = Duration::from_secs(a.request_timeout_s.max(1));
        config.limits = Limits {
            max_body_bytes: a.max_body,
            max_decide_body_bytes: a.max_decide_body,
            max_batch: a.max_batch,
            eval_deadline: Duration::from_millis(a.eval_timeout_ms.max(1)),
            batch_budget: Duration::from_millis(a.batch_budget_ms.max(1)).min(request_timeout),
            request_timeout,
            deploy_tests_timeout: Duration::from_millis(a.deploy_tests_timeout_ms.max(1)),
        };
        config.decision_log = DecisionLogConfig {
            sample: a.decision_log_sample,
            masked_fields: a.masked,
            retention: Duration::try_from_secs_f64(
                a.decision_log_retention_days.max(0.0) * 86_400.0,
            )
            .unwrap_or(Duration::MAX),
            max_bytes: a.decision_log_max_bytes,
            max_record_bytes: a.decision_log_max_record_bytes,
        };
        config.admission = Admission {
            decisions_need_token: a.decisions_need_token,
            rate_per_second: a.rate_limit.max(0.0),
            rate_burst: a.rate_burst.unwrap_or(a.rate_limit).max(1.0),
        };
        config.jwt = a.jwt_jwks.map(|jwks| JwtConfig {
            jwks,
            issuer: a.jwt_issuer,
            audience: a.jwt_audience,
            principal_type: a.jwt_principal_type,
            tenant_claim: a.jwt_tenant_claim,
        });
        config.tenant_type = a.tenant_type;
        // At most ten years (0: tokens expire at once); a NaN is not a lifetime.
        let days = if a.invitation_days.is_finite() {
            a.invitation_days.clamp(0.0, 3650.0)
        } else {
            7.0
        };
        config.invitation_ttl = std::time::Duration::from_secs_f64(days * 86_400.0);
        config
    }
}

/// A size in bytes: a number, optionally followed by KiB, MiB, GiB (or KB, MB, GB: powers of
/// 1000).
pub fn parse_bytes(text: &str) -> Result<u64, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let n: u64 = number
        .parse()
        .map_err(|_| format!("`{text}` is not a size (a number, then KiB, MiB or GiB)"))?;
    let factor: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "kib" | "k" => 1 << 10,
        "mib" | "m" => 1 << 20,
        "gib" | "g" => 1 << 30,
        "kb" => 1_000,
        "mb" => 1_000_000,
        "gb" => 1_000_000_000,
        other => {
            return Err(format!(
                "unknown size unit `{other}` (KiB, MiB, GiB, KB, MB, GB)"
            ))
        }
    };
    n.checked_mul(factor)
        .ok_or_else(|| format!("`{text}` is too large"))
}

#[cfg(test)]
mod tests {
    use super::parse_bytes;

    #[test]
    fn sizes_read_with_binary_and_decimal_units_and_bad_ones_are_refused() {
        assert_eq!(parse_bytes("1GiB"), Ok(1 << 30));
        assert_eq!(parse_bytes("512 MiB"), Ok(512 << 20));
        assert_eq!(parse_bytes("2kb"), Ok(2_000));
        assert_eq!(parse_bytes("100"), Ok(100));
        assert!(parse_bytes("1TiB").is_err());
        assert!(parse_bytes("GiB").is_err());
        assert!(
            parse_bytes("99999999999GiB").is_err(),
            "overflow is refused"
        );
    }
}
