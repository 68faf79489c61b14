//! `sesame test DIR`: runs the bundle's test files through `policy-core`, reports failures
//! (request, expected, got, determining policies) and coverage.

use std::fmt::Write as _;
use std::path::Path;

use policy_core::testing::{run_tests, summary_by_suite, TestReport};

use super::{json, load_or_report, CliError, Format, Status};

pub fn run(dir: &Path, format: Format) -> Result<Status, CliError> {
    let bundle = match load_or_report(dir, format)? {
        Ok(b) => b,
        Err(status) => return Ok(status),
    };
    let report = run_tests(&bundle);
    match format {
        Format::Json => println!("{}", json(&report)),
        Format::Text => print!("{}", text_report(&report)),
    }
    Ok(if report.ok() {
        Status::Ok
    } else {
        Status::Problems
    })
}

/// The human report: failures in detail, a line per test file, then coverage.
pub fn text_report(report: &TestReport) -> String {
    let mut out = String::new();
    for case in report.cases.iter().filter(|c| !c.passed) {
        let _ = writeln!(out, "FAIL {} — {}", case.location, case.name);
        if !case.request.is_empty() {
            let _ = writeln!(out, "  request:     {}", case.request);
        }
        let _ = writeln!(out, "  expected:    {}", case.expected);
        let _ = writeln!(out, "  got:         {}", case.got);
        let _ = writeln!(
            out,
            "  determining: [{}]",
            case.determining_policies.join(", ")
        );
        for e in &case.errors {
            let _ = writeln!(out, "  error:       {e}");
        }
        if let Some(f) = &case.failure {
            let _ = writeln!(out, "  why:         {f}");
        }
        out.push('\n');
    }
    for (suite, (passed, failed)) in summary_by_suite(report) {
        let mark = if failed == 0 { "ok  " } else { "FAIL" };
        let _ = writeln!(out, "{mark} {suite}: {passed} passed, {failed} failed");
    }
    let c = &report.coverage;
    let _ = writeln!(out, "\n{} passed, {} failed", report.passed, report.failed);
    let _ = writeln!(
        out,
        "coverage: {}/{} policies determining in some test, {}/{} actions tested",
        c.policies_determining, c.policies, c.actions_tested, c.actions
    );
    if !c.never_determining.is_empty() {
        let _ = writeln!(
            out,
            "  never determining: {}",
            c.never_determining.join(", ")
        );
    }
    if !c.untested_actions.is_empty() {
        let _ = writeln!(out, "  untested actions: {}", c.untested_actions.join(", "));
    }
    out
}
