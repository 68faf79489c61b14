//! Sesame's host side: the decision server (`server`, on wasmtime guests and a versioned
//! `store`), reading bundles from disk, where the scripts put their builds (`build_output`), rendering diagnostics for a terminal, the `sesame` CLI
//! commands and the benchmark firm generator. Every decision goes through `policy-core`.

pub mod bench;
pub mod bench_guest;
pub mod build_output;
pub mod bundle_dir;
pub mod client;
pub mod commands;
pub mod decision_diff;
pub mod firm_gen;
pub mod guest;
pub mod loadtest;
pub mod render;
pub mod server;
pub mod store;
