//! What `sesame serve` is configured with. Every field has an embedded default, so the server
//! runs with no configuration at all.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

#[derive(Debug, Clone)]
pub struct ServeConfig {
    pub listen: SocketAddr,
    /// Holds `sesame.db`, the precompiled guest cache and the generated admin token.
    pub data_dir: PathBuf,
    /// A PostgreSQL URL: the shared store of several replicas (default: SQLite in `data_dir`).
    pub database_url: Option<String>,
    /// A bundle folder that becomes version 1 when the store has no version yet.
    pub seed_bundle: Option<PathBuf>,
    /// Entity data (a JSON array) loaded when the store has no entities yet.
    pub seed_entities: Option<PathBuf>,
    /// The wasmtime guest module every decision runs in.
    pub guest_wasm: PathBuf,
    /// Precompiled guest cache; default `data_dir/cache`.
    pub guest_cache: Option<PathBuf>,
    /// The browser package served at `/pkg/` (skipped if absent).
    pub pkg_dir: Option<PathBuf>,
    /// Static pages served at `/` (skipped if absent).
    pub web_dir: Option<PathBuf>,
    /// Tokens file (`{"tokens": [{"name", "role", "sha256"}]}`); default `data_dir/tokens.json`.
    pub tokens_file: Option<PathBuf>,
    /// Guest instances; default: one per core.
    pub workers: usize,
    /// With a budget (bytes), tenants' entities are loaded on first use and the least
    /// recently used unloaded beyond it (`partitions.rs`); `None`: every entity resident.
    pub entity_memory: Option<u64>,
    pub limits: Limits,
    pub decision_log: DecisionLogConfig,
    /// Firm users' JWTs: the identity provider's keys and claim mapping (off when `None`).
    pub jwt: Option<super::identity::JwtConfig>,
    /// The entity type whose ids name tenants (tokens' `tenants`, the JWT tenant claim).
    pub tenant_type: String,
    pub admission: Admission,
    /// How long an invitation token stays valid (`--invitation-days`).
    pub invitation_ttl: Duration,
}

#[derive(Debug, Clone)]
pub struct Limits {
    /// Largest request body accepted (413 above), except `/v1/decide`.
    pub max_body_bytes: usize,
    /// Largest `/v1/decide` body (never more than `max_body_bytes`): one decision needs far
    /// less than a batch, and every byte of it may be parsed several times (guest, decision
    /// log).
    pub max_decide_body_bytes: usize,
    /// Most requests in one `/v1/decide/batch` call, and cells in one matrix.
    pub max_batch: usize,
    /// Wall-clock budget of one evaluation in the guest: a single decision, one item of a
    /// batch, one resource row of a matrix.
    pub eval_deadline: Duration,
    /// Guest time one batch or matrix may use in all (never more than `request_timeout`);
    /// past it the rest of a batch is answered `budget_exceeded` item by item.
    pub batch_budget: Duration,
    /// Whole-request timeout (408 above), every endpoint: guest calls are cut at it too.
    pub request_timeout: Duration,
    /// Time a deploy's bundle tests may take (they run in a guest, outside the change lock).
    pub deploy_tests_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_body_bytes: 16 << 20,
            max_decide_body_bytes: 1 << 20,
            max_batch: 10_000,
            eval_deadline: Duration::from_millis(500),
            batch_budget: Duration::from_secs(10),
            request_timeout: Duration::from_secs(30),
            deploy_tests_timeout: Duration::from_secs(10),
        }
    }
}

impl Limits {
    /// The body limit of `/v1/decide`.
    pub fn decide_body_bytes(&self) -> usize {
        self.max_decide_body_bytes.min(self.max_body_bytes)
    }
}

/// Who may call the API and how often.
#[derive(Debug, Clone, Default)]
pub struct Admission {
    /// Decision endpoints need a token whose role the admin policy allows `decide`.
    pub decisions_need_token: bool,
    /// Requests per second per client (token, or peer address without one); 0 = no limit.
    pub rate_per_second: f64,
    /// Requests a client may make at once before the rate applies (bucket size).
    pub rate_burst: f64,
}

#[derive(Debug, Clone)]
pub struct DecisionLogConfig {
    /// Fraction of decisions logged: 0 (off) to 1 (all).
    pub sample: f64,
    /// Context fields replaced by `"***"` before a request is logged (at any depth).
    pub masked_fields: Vec<String>,
    /// Records older than this are deleted.
    pub retention: Duration,
    /// The log is pruned, oldest first, to about this many bytes of records.
    pub max_bytes: u64,
    /// A logged request larger than this keeps its principal, action and resource; its
    /// context is replaced by `{"_truncated": true, "bytes": N}`.
    pub max_record_bytes: usize,
}

impl Default for DecisionLogConfig {
    fn default() -> Self {
        Self {
            sample: 1.0,
            masked_fields: Vec::new(),
            retention: Duration::from_secs(30 * 86_400),
            max_bytes: 1 << 30,
            max_record_bytes: 8 << 10,
        }
    }
}

impl ServeConfig {
    pub fn new(data_dir: PathBuf, guest_wasm: PathBuf) -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            data_dir,
            database_url: None,
            seed_bundle: None,
            seed_entities: None,
            guest_wasm,
            guest_cache: None,
            pkg_dir: None,
            web_dir: None,
            tokens_file: None,
            workers: std::thread::available_parallelism().map_or(2, |n| n.get()),
            entity_memory: None,
            limits: Limits::default(),
            decision_log: DecisionLogConfig::default(),
            jwt: None,
            tenant_type: "Firm".into(),
            admission: Admission::default(),
            invitation_ttl: Duration::from_secs(7 * 86_400),
        }
    }
}
