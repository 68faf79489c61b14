//! `sesame`: the command line for policy authors. Exit codes: 0 ok, 1 policy problems
//! (invalid bundle, failing tests, rejected requests), 2 usage or I/O error.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use sesame_cli::commands::{self, CliError, Format, Status};
#[cfg(feature = "server")]
use sesame_tools::firm_gen::FirmSize;

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
    #[cfg(feature = "server")]
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
        /// Decide with policies that fail validation (their errors become warnings), as
        /// Cedar does; never what a deploy accepts.
        #[arg(long)]
        draft: bool,
    },
    /// List queries and SQL plans: JSON-lines queries from stdin, one answer per line.
    Query {
        #[arg(value_enum)]
        kind: commands::query::QueryKind,
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
    #[cfg(feature = "server")]
    /// Run the decision server (decision API, versioned store, admin API).
    Serve(Box<host_server::server::args::ServeArgs>),
    #[cfg(feature = "server")]
    /// Development keys and firm users' tokens (in place of an identity provider).
    Jwt {
        #[command(subcommand)]
        command: JwtCommand,
    },
    #[cfg(feature = "server")]
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
    #[cfg(feature = "server")]
    /// Activate a stored version by digest.
    Activate {
        digest: String,
        #[command(flatten)]
        remote: Remote,
    },
    #[cfg(feature = "server")]
    /// Activate the version active before the current one (or --to DIGEST).
    Rollback {
        #[arg(long)]
        to: Option<String>,
        #[command(flatten)]
        remote: Remote,
    },
    #[cfg(feature = "server")]
    /// Versions and activations of a server, newest last.
    History {
        #[command(flatten)]
        remote: Remote,
    },
    #[cfg(feature = "server")]
    /// The audit chain of a server's store.
    Audit {
        #[command(subcommand)]
        command: AuditCommand,
    },
    #[cfg(feature = "server")]
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
        /// Print only the entity records (a JSON array), for `--entities` files.
        #[arg(long)]
        entities_only: bool,
        /// A network of this many firms (f0, f1...; ids prefixed `f<n>-`), each of the size
        /// given; with --entities-only.
        #[arg(long, default_value_t = 1, requires = "entities_only")]
        firms: usize,
    },
    #[cfg(feature = "server")]
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
        /// The server already holds the generated firm (served with `--entities` from
        /// `gen-firm --entities-only` of the same sizes): do not send it again.
        #[arg(long)]
        keep_entities: bool,
        /// Another replica of the same store (repeatable): adds a phase spreading the client
        /// threads over every replica, for decisions/s with one replica vs all.
        #[arg(long = "replica")]
        replicas: Vec<String>,
    },
    #[cfg(feature = "server")]
    /// Benchmark policy-core against raw cedar-policy on a generated firm.
    Bench {
        #[arg(default_value = "policies")]
        dir: PathBuf,
        #[command(flatten)]
        size: BenchSize,
        #[arg(long, default_value_t = 6_000)]
        requests: usize,
        #[arg(long, default_value_t = 15)]
        rounds: usize,
        /// Also measure the wasmtime guest (path to wasm_guest.wasm).
        #[arg(long)]
        guest: Option<PathBuf>,
    },
    #[cfg(feature = "server")]
    /// Load an entity file with one engine, alone in this process: load time and peak memory
    /// (`scripts/bench-network.sh` compares the engines); for Sesame also decisions through
    /// the wasmtime guest on host-packed slices (p50/p99) and one-entity deltas. The file is
    /// `sesame gen-firm --entities-only` with the same sizes.
    BenchLoad {
        #[arg(default_value = "policies")]
        dir: PathBuf,
        /// The engine that loads: `sesame` or `cedar`.
        #[arg(long, value_parser = ["sesame", "cedar"])]
        engine: String,
        #[arg(long)]
        entities: PathBuf,
        #[command(flatten)]
        size: BenchSize,
        #[arg(long, default_value_t = 5_000)]
        decisions: usize,
        /// The wasmtime guest module (decisions are measured only with it).
        #[arg(long)]
        guest: Option<PathBuf>,
    },
}

#[cfg(feature = "server")]
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

/// The generated firm the benchmarks run on (`bench`, `bench-load`).
#[cfg(feature = "server")]
#[derive(clap::Args)]
struct BenchSize {
    #[arg(long, default_value_t = 500)]
    users: usize,
    #[arg(long, default_value_t = 5_000)]
    clients: usize,
    #[arg(long, default_value_t = 200_000)]
    documents: usize,
}

#[cfg(feature = "server")]
impl BenchSize {
    fn firm(&self) -> FirmSize {
        FirmSize::of(self.users, self.clients, self.documents)
    }
}

#[cfg(feature = "server")]
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

#[cfg(feature = "server")]
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
                #[cfg(feature = "server")]
                Some(url) => commands::diff::Source::Server(commands::remote::client(
                    url,
                    token_file.as_deref(),
                )?),
                #[cfg(not(feature = "server"))]
                Some(_) => {
                    let _ = token_file;
                    return Err(CliError::Usage(
                        "diff --server: this sesame was built without the `server` feature".into(),
                    ));
                }
                None => commands::diff::Source::Folders,
            };
            commands::diff::run(&source, &from, &to, sample, format)
        }
        #[cfg(feature = "server")]
        Command::Impact { dir, remote, limit } => commands::impact::run(
            &remote.server,
            remote.token_file.as_deref(),
            &dir,
            limit,
            format,
        ),
        Command::Decide {
            bundle,
            entities,
            draft,
        } => commands::decide::run(&bundle, entities.as_ref(), draft),
        Command::Query {
            kind,
            bundle,
            entities,
        } => commands::query::run(kind, &bundle, entities.as_ref()),
        #[cfg(feature = "server")]
        Command::Serve(args) => host_server::server::run::run(args.config())
            .map(|()| Status::Ok)
            .map_err(|e| CliError::Server(e.to_string())),
        #[cfg(feature = "server")]
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
        #[cfg(feature = "server")]
        Command::Deploy {
            dir,
            remote,
            message,
            no_activate,
        } => {
            let api = commands::remote::client(&remote.server, remote.token_file.as_deref())?;
            commands::remote::deploy(&api, &dir, &message, !no_activate, format)
        }
        #[cfg(feature = "server")]
        Command::Activate { digest, remote } => {
            let api = commands::remote::client(&remote.server, remote.token_file.as_deref())?;
            commands::remote::activate(&api, Some(&digest), false, format)
        }
        #[cfg(feature = "server")]
        Command::Rollback { to, remote } => {
            let api = commands::remote::client(&remote.server, remote.token_file.as_deref())?;
            commands::remote::activate(&api, to.as_deref(), true, format)
        }
        #[cfg(feature = "server")]
        Command::History { remote } => {
            let api = commands::remote::client(&remote.server, remote.token_file.as_deref())?;
            commands::remote::history(&api, format)
        }
        #[cfg(feature = "server")]
        Command::GenFirm {
            users,
            clients,
            documents,
            requests,
            entities_only,
            firms,
        } => {
            let size = FirmSize::of(users, clients, documents);
            let entities = serde_json::Value::Array(if firms > 1 {
                sesame_tools::firm_gen::network_entities(firms, size)
            } else {
                sesame_tools::firm_gen::firm_entities(size)
            });
            if entities_only {
                println!("{entities}");
            } else {
                println!(
                    "{}",
                    serde_json::json!({
                        "entities": entities,
                        "requests": sesame_tools::firm_gen::requests(size, requests),
                    })
                );
            }
            Ok(Status::Ok)
        }
        #[cfg(feature = "server")]
        Command::Audit {
            command:
                AuditCommand::Verify {
                    data,
                    database_url,
                    head,
                },
        } => commands::audit::verify(&data, database_url.as_deref(), head.as_deref(), format),
        #[cfg(feature = "server")]
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
            keep_entities,
        } => {
            let plan = sesame_tools::loadtest::LoadPlan {
                replicas: Vec::new(),
                size: FirmSize::of(users, clients, documents),
                requests,
                concurrency,
                duration: std::time::Duration::from_secs_f64(seconds.max(0.1)),
                batch: batch.max(2),
                keep_entities,
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
        #[cfg(feature = "server")]
        Command::Bench {
            dir,
            size,
            requests,
            rounds,
            guest,
        } => commands::bench::run(
            guest.as_deref(),
            &dir,
            size.firm(),
            requests,
            rounds,
            format,
        ),
        #[cfg(feature = "server")]
        Command::BenchLoad {
            dir,
            engine,
            entities,
            size,
            decisions,
            guest,
        } => {
            let engine = match engine.as_str() {
                "cedar" => sesame_tools::load_bench::LoadEngine::Cedar,
                _ => sesame_tools::load_bench::LoadEngine::Sesame,
            };
            commands::bench::run_load(
                engine,
                &dir,
                &entities,
                size.firm(),
                decisions,
                guest.as_deref(),
                format,
            )
        }
    }
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
