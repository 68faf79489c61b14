//! `sesame serve`: starts the tokio runtime and the server (see `crate::server`).

use super::{CliError, Status};
use crate::server::config::ServeConfig;

pub fn run(config: ServeConfig) -> Result<Status, CliError> {
    let level = std::env::var("SESAME_LOG")
        .ok()
        .and_then(|l| l.parse::<tracing::Level>().ok())
        .unwrap_or(tracing::Level::INFO);
    // A second init (tests calling twice) is harmless: the first subscriber stays.
    let _ = tracing_subscriber::fmt()
        .with_max_level(level)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .try_init();
    // Admin routes run Cedar natively on untrusted text (validate, deploy, diff) on these
    // threads, blocking ones included: give them the stack policy-core's nesting limits are
    // measured against, not tokio's 2 MiB.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .thread_stack_size(policy_core::nesting::THREAD_STACK)
        .enable_all()
        .build()
        .map_err(|e| CliError::Server(format!("cannot start the runtime: {e}")))?;
    runtime
        .block_on(crate::server::serve(config))
        .map_err(|e| CliError::Server(e.to_string()))?;
    Ok(Status::Ok)
}
