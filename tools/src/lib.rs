//! Sesame's measuring tools, each run by a `sesame` command and by tests: the decision
//! benchmark, which is also the plain-Cedar oracle the differential test checks policy-core
//! against (`bench`); list queries and plans (`bench_query`); the wasmtime guest against native policy-core (`bench_guest`); load on a
//! running server (`loadtest`); one engine loading an entity file alone (`load_bench`); and the
//! generated firm all of them run on (`firm_gen`).

pub mod bench;
pub mod bench_guest;
pub mod bench_query;
pub mod firm_gen;
pub mod load_bench;
pub mod loadtest;
