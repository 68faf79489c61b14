//! The server from a plain `main` (`sesame serve`, `sesame-server`): logging, the tokio
//! runtime, then [`serve`](super::serve) until Ctrl-C or SIGTERM.

use super::config::ServeConfig;
use super::StartError;

pub fn run(config: ServeConfig) -> Result<(), StartError> {
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
        .map_err(StartError::Runtime)?;
    runtime.block_on(super::serve(config))
}
