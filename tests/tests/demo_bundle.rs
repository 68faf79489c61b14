//! The `policies/` bundle: its tests pass, every policy is determining in some test, and every
//! policy matters: removing any one of them makes a test fail (no rule is untested).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use policy_core::testing::run_tests;
use sesame_tests::{demo_bundle, demo_files, load};

#[test]
fn the_demo_bundle_tests_pass_with_full_coverage() {
    let report = run_tests(&demo_bundle());
    let failures: Vec<_> = report
        .cases
        .iter()
        .filter(|c| !c.passed)
        .map(|c| format!("{} {}: {:?}", c.location, c.name, c.failure))
        .collect();
    assert!(failures.is_empty(), "{failures:#?}");
    assert!(report.passed > 100);
    assert!(
        report.coverage.never_determining.is_empty(),
        "{:?}",
        report.coverage.never_determining
    );
    assert!(
        report.coverage.untested_actions.is_empty(),
        "{:?}",
        report.coverage.untested_actions
    );
}

#[test]
fn removing_any_policy_breaks_a_test() {
    let files = demo_files();
    let bundle = demo_bundle();
    let mut survivors = Vec::new();
    for (id, info) in bundle.policy_index() {
        let mut mutated = files.clone();
        let text = mutated[&info.file].replacen(&info.text, "", 1);
        assert_ne!(
            text, mutated[&info.file],
            "policy {id} text not found in {}",
            info.file
        );
        mutated.insert(info.file.clone(), text);
        let report = run_tests(&load(&mutated).unwrap());
        if report.failed == 0 {
            survivors.push(id.clone());
        }
    }
    assert!(
        survivors.is_empty(),
        "no test fails without these policies: {survivors:?}"
    );
}
