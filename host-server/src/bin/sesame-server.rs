//! `sesame-server`: the decision server alone, with the options of `sesame serve` (one
//! definition, `server::args`). Exit codes: 0 after a clean shutdown, 2 if it cannot start.

use std::process::ExitCode;

use clap::Parser;
use host_server::server::args::ServeArgs;

#[derive(Parser)]
#[command(
    name = "sesame-server",
    version,
    about = "Sesame's decision server (decision API, versioned store, admin API)"
)]
struct Cli {
    #[command(flatten)]
    serve: ServeArgs,
}

fn main() -> ExitCode {
    let config = Cli::parse().serve.config();
    // As in `sesame`: the seed bundle is parsed on this thread, so it gets the stack
    // policy-core's nesting limits are measured against, not the main thread's.
    let server = std::thread::Builder::new()
        .name("sesame-server".into())
        .stack_size(policy_core::nesting::THREAD_STACK)
        .spawn(move || host_server::server::run::run(config).map_err(|e| e.to_string()));
    let outcome = match server {
        Ok(handle) => handle
            .join()
            .unwrap_or_else(|_| Err("the server thread panicked".into())),
        Err(e) => Err(format!("cannot start the server thread: {e}")),
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
    }
}
