//! Sesame's decision server: the HTTP API (`server`) on wasmtime guests (`guest`) over a
//! versioned store (`store`, SQLite or PostgreSQL), and a blocking client of that API
//! (`client`) for the CLI's remote commands, the load test and the end-to-end tests. Every
//! decision goes through `policy-core`; the `sesame` CLI (`cli/`) and the benchmarks (`tools/`)
//! are crates of their own.

pub mod build_output;
pub mod client;
pub mod guest;
pub mod memory;
pub mod server;
pub mod store;
