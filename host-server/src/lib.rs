//! Sesame's host side. For now: reading bundles from disk, rendering diagnostics for a terminal,
//! the `sesame` CLI commands and the benchmark firm generator. Every decision goes through
//! `policy-core`.

pub mod bench;
pub mod bench_guest;
pub mod bundle_dir;
pub mod commands;
pub mod firm_gen;
pub mod guest;
pub mod render;
