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
        Command::Decide { bundle, entities } => commands::decide::run(&bundle, entities.as_ref()),
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
            let size = FirmSize {
                users,
                clients,
                documents,
                ..FirmSize::default()
            };
            commands::bench::run(guest.as_deref(), &dir, size, requests, rounds, format)
        }
    }
}

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(Status::Ok) => ExitCode::SUCCESS,
        Ok(Status::Problems) => ExitCode::from(1),
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
    }
}
