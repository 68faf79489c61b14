//! Cedar's conformance corpus through native policy-core (`sesame_tests::conformance` says
//! what is compared): every case file and every request.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use sesame_tests::conformance::{assert_agrees, case_paths, run, Native};

#[test]
fn cedars_corpus_decides_the_same_through_native_policy_core() {
    let paths = case_paths();
    let started = std::time::Instant::now();
    let threads = std::thread::available_parallelism().map_or(1, usize::from);
    let tally = run(&paths, threads, Native::default);
    assert_agrees(
        "native policy-core",
        &tally,
        paths.len(),
        started.elapsed().as_secs_f64(),
    );
}
