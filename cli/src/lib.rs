//! The `sesame` command line for policy authors: one module per command (`commands`), terminal
//! rendering of located diagnostics (`render`) and the decisions that change between two
//! bundles (`decision_diff`). The commands that need the server crate (serve, the remote
//! commands, audit, jwt, the tools) are built with the `server` feature (on by default).

pub mod commands;
pub mod decision_diff;
pub mod render;
