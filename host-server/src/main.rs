//! `sesame`: the command line for policy authors. Exit codes: 0 ok, 1 policy problems
//! (invalid bundle, failing tests, rejected requests), 2 usage or I/O error.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use host_server::commands::{self, CliError, Format, Status};
use host_server::firm_gen::FirmSize;

#[derive(Parser)]
#[command(
    name = "sesame",
    version,
    about = "Sesame: one Cedar policy engine for browser and server"
)]
struct Cli {
    /// Output format.
    #[arg(long, global = true, value_enum, default_value_t = Format::Text)]
    format: Format,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Validate a bundle folder: every problem at once, located at file:line:column.
    Check { dir: PathBuf },
    /// Format the bundle's policy files canonically (Cedar's formatter; comments kept).
    Fmt {
        dir: PathBuf,
        /// Change nothing; exit 1 if a file is not formatted.
        #[arg(long)]
        check: bool,
    },
    /// What changes from bundle A to bundle B: files, policies, and decisions (tests of each
    /// replayed on the other, plus a generated sample of requests).
    Diff {
        /// A bundle folder, or with --server a stored version's digest.
        from: String,
        /// A bundle folder, or with --server a stored version's digest.
        to: String,
        /// Generated requests decided by both bundles.
        #[arg(long, default_value_t = 5_000)]
        sample: usize,
        /// Compare two versions stored on this server (digests instead of folders).
        #[arg(long)]
        server: Option<String>,
        #[arg(long)]
        token_file: Option<PathBuf>,
    },
    /// Replay a server's logged decisions on a candidate bundle: which would change.
    Impact {
        dir: PathBuf,
        #[command(flatten)]
        remote: Remote,
        /// Newest logged decisions to replay.
        #[arg(long, default_value_t = 100_000)]
        limit: usize,
    },
    /// Run the bundle's test files; report failures and coverage.
    Test { dir: PathBuf },
    /// Decide JSON-lines requests from stdin, one JSON result per line on stdout.
    Decide {
        #[arg(long)]
        bundle: PathBuf,
        /// Entity data (a JSON array of Cedar entities) added to the bundle's own.
        #[arg(long)]
        entities: Option<PathBuf>,
    },
    /// Access profiles.
    Profile {
        #[command(subcommand)]
        command: ProfileCommand,
    },
    /// Run the decision server (decision API, versioned store, admin API).
    Serve(Box<ServeArgs>),
    /// Development keys and firm users' tokens (in place of an identity provider).
    Jwt {
        #[command(subcommand)]
        command: JwtCommand,
    },
    /// Validate, test, store and activate a bundle folder on a server.
    Deploy {
        dir: PathBuf,
        #[command(flatten)]
        remote: Remote,
        /// What changed and why (kept in the history).
        #[arg(long, short, default_value = "")]
        message: String,
        /// Store the version without activating it.
        #[arg(long)]
        no_activate: bool,
    },
    /// Activate a stored version by digest.
    Activate {
        digest: String,
        #[command(flatten)]
        remote: Remote,
    },
    /// Activate the version active before the current one (or --to DIGEST).
    Rollback {
        #[arg(long)]
        to: Option<String>,
        #[command(flatten)]
        remote: Remote,
    },
    /// Versions and activations of a server, newest last.
    History {
        #[command(flatten)]
        remote: Remote,
    },
    /// The audit chain of a server's store.
    Audit {
        #[command(subcommand)]
        command: AuditCommand,
    },
    /// Print a generated firm as JSON (`{"entities": [...], "requests": [...]}`), the data the
    /// benchmarks use, for peers outside this binary (the browser-package benchmark).
    GenFirm {
        #[arg(long, default_value_t = 100)]
        users: usize,
        #[arg(long, default_value_t = 500)]
        clients: usize,
        #[arg(long, default_value_t = 5_000)]
        documents: usize,
        #[arg(long, default_value_t = 1_000)]
        requests: usize,
    },
    /// Load a running server from this process and compare with native policy-core.
    Loadtest {
        #[arg(default_value = "policies")]
        dir: PathBuf,
        #[command(flatten)]
        remote: Remote,
        #[arg(long, default_value_t = 200)]
        users: usize,
        #[arg(long, default_value_t = 2_000)]
        clients: usize,
        #[arg(long, default_value_t = 50_000)]
        documents: usize,
        #[arg(long, default_value_t = 4_000)]
        requests: usize,
        /// Client threads.
        #[arg(long, default_value_t = 4)]
        concurrency: usize,
        /// Seconds per phase.
        #[arg(long, default_value_t = 10.0)]
        seconds: f64,
        /// Requests per batch call.
        #[arg(long, default_value_t = 100)]
        batch: usize,
        /// Another replica of the same store (repeatable): adds a phase spreading the client
        /// threads over every replica, for decisions/s with one replica vs all.
        #[arg(long = "replica")]
        replicas: Vec<String>,
    },
    /// Benchmark policy-core against raw cedar-policy on a generated firm.
    Bench {
        #[arg(default_value = "policies")]
        dir: PathBuf,
        #[arg(long, default_value_t = 500)]
        users: usize,
        #[arg(long, default_value_t = 5_000)]
        clients: usize,
        #[arg(long, default_value_t = 200_000)]
        documents: usize,
        #[arg(long, default_value_t = 6_000)]
        requests: usize,
        #[arg(long, default_value_t = 15)]
        rounds: usize,
        /// Also measure the wasmtime guest (path to wasm_guest.wasm).
        #[arg(long)]
        guest: Option<PathBuf>,
    },
}

/// Where a server is and how to authenticate.
#[derive(clap::Args)]
struct Remote {
    /// Server base URL.
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    server: String,
    /// File holding the bearer token (default: the SESAME_TOKEN environment variable).
    #[arg(long)]
    token_file: Option<PathBuf>,
}

#[derive(Subcommand)]
enum AuditCommand {
    /// Walk the hash chain; exit 1 if any record was edited, removed or reordered.
    Verify {
        /// The server's data directory (its SQLite store).
        #[arg(long, default_value = ".sesame")]
        data: PathBuf,
        /// A PostgreSQL store instead (also read from SESAME_DATABASE_URL).
        #[arg(long, env = "SESAME_DATABASE_URL")]
        database_url: Option<String>,
        /// A head published earlier (GET /v1/admin/audit/head): exit 1 if it is no longer in
        /// the chain (records removed from its end).
        #[arg(long)]
        head: Option<String>,
    },
}

#[derive(clap::Args)]
struct ServeArgs {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8080")]
    listen: std::net::SocketAddr,
    /// Data directory: the store (sesame.db), guest cache, tokens.
    #[arg(long, default_value = ".sesame")]
    data: PathBuf,
    /// PostgreSQL URL of a store shared by several replicas (default: SQLite in --data);
    /// also read from SESAME_DATABASE_URL.
    #[arg(long, env = "SESAME_DATABASE_URL")]
    database_url: Option<String>,
    /// Bundle folder that becomes version 1 when the store is empty.
    #[arg(long)]
    bundle: Option<PathBuf>,
    /// Entity data (JSON array) loaded when the store is empty.
    #[arg(long)]
    entities: Option<PathBuf>,
    /// The wasmtime guest module (default: the build output, or SESAME_GUEST_WASM).
    #[arg(long)]
    guest: Option<PathBuf>,
    /// Where the precompiled guest module is cached (default DATA/cache).
    #[arg(long)]
    guest_cache: Option<PathBuf>,
    /// The browser package to serve at /pkg/.
    #[arg(long, default_value = "target/pkg")]
    pkg: PathBuf,
    /// Static pages to serve at /.
    #[arg(long, default_value = "web")]
    web: PathBuf,
    /// Tokens file (default DATA/tokens.json, created with an admin token on first start).
    #[arg(long)]
    tokens: Option<PathBuf>,
    /// Guest instances (default: one per core).
    #[arg(long)]
    workers: Option<usize>,
    /// Largest request body, bytes (batches, matrices, entity writes, deploys).
    #[arg(long, default_value_t = 16 << 20)]
    max_body: usize,
    /// Largest /v1/decide body, bytes.
    #[arg(long, default_value_t = 1 << 20)]
    max_decide_body: usize,
    /// Most requests per batch (and cells per matrix).
    #[arg(long, default_value_t = 10_000)]
    max_batch: usize,
    /// Time budget of one evaluation in the guest (a decision, a batch item, a matrix row),
    /// milliseconds.
    #[arg(long, default_value_t = 500)]
    eval_timeout_ms: u64,
    /// Guest time one batch or matrix may use in all, milliseconds (at most the request
    /// timeout).
    #[arg(long, default_value_t = 10_000)]
    batch_budget_ms: u64,
    /// Whole-request timeout, seconds (every endpoint).
    #[arg(long, default_value_t = 30)]
    request_timeout_s: u64,
    /// Time a deploy's bundle tests may take, milliseconds.
    #[arg(long, default_value_t = 10_000)]
    deploy_tests_timeout_ms: u64,
    /// Fraction of decisions written to the decision log (0 = off, 1 = all).
    #[arg(long, default_value_t = 1.0)]
    decision_log_sample: f64,
    /// Context field masked in the decision log (repeatable).
    #[arg(long = "mask")]
    masked: Vec<String>,
    /// Accept firm users' JWTs signed by a key of this JWKS (a file or an http(s) URL).
    #[arg(long)]
    jwt_jwks: Option<String>,
    /// Required `iss` of those JWTs.
    #[arg(long)]
    jwt_issuer: Option<String>,
    /// Required `aud` of those JWTs.
    #[arg(long)]
    jwt_audience: Option<String>,
    /// The entity type of the principal a JWT's `sub` names.
    #[arg(long, default_value = "User")]
    jwt_principal_type: String,
    /// The JWT claim naming the caller's tenant.
    #[arg(long, default_value = "firm")]
    jwt_tenant_claim: String,
    /// The entity type whose ids name tenants (tokens' `tenants`, the JWT tenant claim).
    #[arg(long, default_value = "Firm")]
    tenant_type: String,
    /// Decision-log records older than this many days are deleted.
    #[arg(long, default_value_t = 30.0)]
    decision_log_retention_days: f64,
    /// The decision log is pruned, oldest first, to about this many bytes.
    #[arg(long, default_value_t = 1 << 30)]
    decision_log_max_bytes: u64,
    /// A logged request larger than this has its context replaced by a marker, bytes.
    #[arg(long, default_value_t = 8 << 10)]
    decision_log_max_record_bytes: usize,
    /// Decision endpoints need a token (any role the admin policy allows `decide`).
    #[arg(long)]
    decisions_need_token: bool,
    /// Requests per second per client (token, or peer address); 0 = no limit.
    #[arg(long, default_value_t = 0.0)]
    rate_limit: f64,
    /// Requests a client may make at once before the rate applies (default: one second's
    /// worth).
    #[arg(long)]
    rate_burst: Option<f64>,
}

#[derive(Subcommand)]
enum JwtCommand {
    /// Write a new Ed25519 private key (PKCS#8 PEM) to OUT.
    Keygen { out: PathBuf },
    /// Print the public JWKS of a private key, for `serve --jwt-jwks`.
    Jwks { key: PathBuf },
    /// Print a signed token for a firm user.
    Mint {
        #[arg(long)]
        key: PathBuf,
        /// The user's id (`sub`).
        #[arg(long)]
        sub: String,
        /// The user's tenant (the id of its firm).
        #[arg(long)]
        tenant: String,
        #[arg(long, default_value = "firm")]
        tenant_claim: String,
        #[arg(long)]
        iss: Option<String>,
        #[arg(long)]
        aud: Option<String>,
        /// Lifetime, seconds.
        #[arg(long, default_value_t = 8 * 3600)]
        ttl: u64,
    },
}

#[derive(Subcommand)]
enum ProfileCommand {
    /// Two profiles side by side: every field or section whose level differs.
    Compare {
        dir: PathBuf,
        /// `AccessProfile::"id"` or a bare id.
        left: String,
        right: String,
    },
}

fn run(cli: Cli) -> Result<Status, CliError> {
    let format = cli.format;
    match cli.command {
        Command::Check { dir } => commands::check::run(&dir, format),
        Command::Test { dir } => commands::test::run(&dir, format),
        Command::Fmt { dir, check } => commands::fmt::run(&dir, check, format),
        Command::Diff {
            from,
            to,
            sample,
            server,
            token_file,
        } => {
            let source = match &server {
                Some(url) => commands::diff::Source::Server(commands::remote::client(
                    url,
                    token_file.as_deref(),
                )?),
                None => commands::diff::Source::Folders,
            };
            commands::diff::run(&source, &from, &to, sample, format)
        }
        Command::Impact { dir, remote, limit } => commands::impact::run(
            &remote.server,
            remote.token_file.as_deref(),
            &dir,
            limit,
            format,
        ),
        Command::Decide { bundle, entities } => commands::decide::run(&bundle, entities.as_ref()),
        Command::Serve(args) => commands::serve::run(serve_config(*args)),
        Command::Jwt { command } => match command {
            JwtCommand::Keygen { out } => commands::jwt::keygen(&out),
            JwtCommand::Jwks { key } => commands::jwt::jwks(&key),
            JwtCommand::Mint {
                key,
                sub,
                tenant,
                tenant_claim,
                iss,
                aud,
                ttl,
            } => commands::jwt::mint(&commands::jwt::MintArgs {
                key: &key,
                subject: &sub,
                tenant: &tenant,
                tenant_claim: &tenant_claim,
                issuer: iss.as_deref(),
                audience: aud.as_deref(),
                ttl_s: ttl,
            }),
        },
        Command::Deploy {
            dir,
            remote,
            message,
            no_activate,
        } => {
            let api = commands::remote::client(&remote.server, remote.token_file.as_deref())?;
            commands::remote::deploy(&api, &dir, &message, !no_activate, format)
        }
        Command::Activate { digest, remote } => {
            let api = commands::remote::client(&remote.server, remote.token_file.as_deref())?;
            commands::remote::activate(&api, Some(&digest), false, format)
        }
        Command::Rollback { to, remote } => {
            let api = commands::remote::client(&remote.server, remote.token_file.as_deref())?;
            commands::remote::activate(&api, to.as_deref(), true, format)
        }
        Command::History { remote } => {
            let api = commands::remote::client(&remote.server, remote.token_file.as_deref())?;
            commands::remote::history(&api, format)
        }
        Command::GenFirm {
            users,
            clients,
            documents,
            requests,
        } => {
            let size = FirmSize::of(users, clients, documents);
            println!(
                "{}",
                serde_json::json!({
                    "entities": host_server::firm_gen::firm_entities(size),
                    "requests": host_server::firm_gen::requests(size, requests),
                })
            );
            Ok(Status::Ok)
        }
        Command::Audit {
            command:
                AuditCommand::Verify {
                    data,
                    database_url,
                    head,
                },
        } => commands::audit::verify(&data, database_url.as_deref(), head.as_deref(), format),
        Command::Loadtest {
            dir,
            remote,
            users,
            clients,
            documents,
            requests,
            concurrency,
            seconds,
            batch,
            replicas,
        } => {
            let plan = host_server::loadtest::LoadPlan {
                replicas: Vec::new(),
                size: FirmSize::of(users, clients, documents),
                requests,
                concurrency,
                duration: std::time::Duration::from_secs_f64(seconds.max(0.1)),
                batch: batch.max(2),
            };
            commands::loadtest::run(
                &remote.server,
                remote.token_file.as_deref(),
                &dir,
                plan,
                &replicas,
                format,
            )
        }
        Command::Profile {
            command: ProfileCommand::Compare { dir, left, right },
        } => commands::profile::compare(&dir, &left, &right, format),
        Command::Bench {
            dir,
            users,
            clients,
            documents,
            requests,
            rounds,
            guest,
        } => {
            let size = FirmSize::of(users, clients, documents);
            commands::bench::run(guest.as_deref(), &dir, size, requests, rounds, format)
        }
    }
}

fn serve_config(a: ServeArgs) -> host_server::server::config::ServeConfig {
    use host_server::server::config::{Admission, DecisionLogConfig, Limits, ServeConfig};
    use host_server::server::identity::JwtConfig;
    use std::time::Duration;
    let guest = a
        .guest
        .unwrap_or_else(host_server::guest::default_guest_path);
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
        retention: Duration::try_from_secs_f64(a.decision_log_retention_days.max(0.0) * 86_400.0)
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
    config
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // Commands run Cedar on untrusted text (bundle folders, request files): on a thread with the
    // stack policy-core's nesting limits are measured against, not the main thread's 8 MiB
    // (or less, set by the environment).
    let command = std::thread::Builder::new()
        .name("sesame".into())
        .stack_size(policy_core::nesting::THREAD_STACK)
        .spawn(move || run(cli));
    let outcome = match command {
        Ok(handle) => handle
            .join()
            .unwrap_or_else(|_| Err(CliError::Usage("the command panicked".into()))),
        Err(e) => Err(CliError::Usage(format!(
            "cannot start the command thread: {e}"
        ))),
    };
    match outcome {
        Ok(Status::Ok) => ExitCode::SUCCESS,
        Ok(Status::Problems) => ExitCode::from(1),
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
    }
}
