//! The engine's sliced, incremental store must decide exactly as plain cedar-policy on one whole
//! `Entities`: same decision, determining policies and error count, on a generated firm.
//! (Functional only: the timings the bench also prints are not asserted.)

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use sesame_tests::demo_bundle;
use sesame_tools::bench;
use sesame_tools::firm_gen::FirmSize;

#[test]
fn policy_core_agrees_with_plain_cedar_on_a_generated_firm() {
    let size = FirmSize {
        users: 60,
        clients: 120,
        documents: 2_000,
        clients_per_accountant: 8,
    };
    let report =
        bench::run(demo_bundle(), size, 3_000, 1, None).expect("no disagreement with cedar");
    assert_eq!(report.requests, 3_000);
    // The workload must exercise both outcomes, or agreement proves little.
    assert!(
        report.allow_count > 100 && report.allow_count < 2_900,
        "{}",
        report.allow_count
    );
}
