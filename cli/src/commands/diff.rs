//! `sesame diff A B`: what changes from bundle folder A to bundle folder B — files, policies by
//! `@id`, and decisions (each bundle's tests replayed on the other, and a generated sample).

use std::path::Path;

use policy_core::diff::diff;
#[cfg(feature = "server")]
use policy_core::json_api::BundleFiles;
use policy_core::Bundle;
use serde::Serialize;

use super::{json, load_or_report, CliError, Format, Status};
use crate::decision_diff::{
    replay_sample, replay_tests, ChangedDecision, SampleReplay, TestReplay,
};

#[derive(Serialize)]
struct Report {
    #[serde(flatten)]
    bundle: policy_core::diff::BundleDiff,
    tests: Vec<TestReplay>,
    sample: SampleReplay,
}

fn list(label: &str, sign: char, items: &[String]) {
    if !items.is_empty() {
        println!(
            "{label}: {}",
            items
                .iter()
                .map(|i| format!("{sign}{i}"))
                .collect::<Vec<_>>()
                .join("  ")
        );
    }
}

fn changes(changed: &[ChangedDecision]) {
    for c in changed.iter().take(20) {
        let case = if c.case.is_empty() {
            String::new()
        } else {
            format!("{}: ", c.case)
        };
        println!("    {case}{}: {} -> {}", c.request, c.before, c.after);
    }
    if changed.len() > 20 {
        println!(
            "    ... and {} more (--format json lists all)",
            changed.len() - 20
        );
    }
}

/// Where the two bundles come from.
pub enum Source {
    Folders,
    /// Versions stored on a server, by digest.
    #[cfg(feature = "server")]
    Server(host_server::client::ApiClient),
}

#[cfg(feature = "server")]
fn fetch_version(api: &host_server::client::ApiClient, digest: &str) -> Result<Bundle, CliError> {
    let stored: BundleFiles =
        super::remote::get_json(api, &format!("/v1/admin/versions/{digest}"))?;
    Bundle::load(stored.files)
        .map_err(|e| CliError::Server(format!("stored version {digest}: {e}")))
}

fn load_one(
    source: &Source,
    name: &str,
    format: Format,
) -> Result<Result<Bundle, Status>, CliError> {
    match source {
        Source::Folders => load_or_report(Path::new(name), format),
        #[cfg(feature = "server")]
        Source::Server(api) => fetch_version(api, name).map(Ok),
    }
}

pub fn run(
    source: &Source,
    from: &str,
    to: &str,
    sample: usize,
    format: Format,
) -> Result<Status, CliError> {
    let a = match load_one(source, from, format)? {
        Ok(b) => b,
        Err(status) => return Ok(status),
    };
    let b = match load_one(source, to, format)? {
        Ok(b) => b,
        Err(status) => return Ok(status),
    };
    let (from, to) = (Path::new(from), Path::new(to));
    let report = Report {
        bundle: diff(&a, &b),
        tests: vec![replay_tests("from", &a, &b), replay_tests("to", &b, &a)],
        sample: replay_sample(&a, &b, sample),
    };
    if format == Format::Json {
        println!("{}", json(&report));
        return Ok(Status::Ok);
    }
    println!(
        "{} -> {}",
        report.bundle.from_digest, report.bundle.to_digest
    );
    if report.bundle.is_empty() {
        println!("no file changes");
    }
    list("files", '+', &report.bundle.files_added);
    list("files", '-', &report.bundle.files_removed);
    list("files", '~', &report.bundle.files_changed);
    list("policies", '+', &report.bundle.policies_added);
    list("policies", '-', &report.bundle.policies_removed);
    list("policies", '~', &report.bundle.policies_changed);
    for (replay, dir) in report.tests.iter().zip([from, to]) {
        let other = if replay.tests_of == "from" { to } else { from };
        match &replay.not_run {
            Some(reason) => println!(
                "tests of {} could not run on {}: {reason}",
                dir.display(),
                other.display()
            ),
            None => {
                println!(
                    "tests of {} run on {}: {} of {} decisions change",
                    dir.display(),
                    other.display(),
                    replay.changed.len(),
                    replay.cases
                );
                changes(&replay.changed);
            }
        }
    }
    println!(
        "generated sample: {} requests ({} not comparable), {} decisions change",
        report.sample.requests,
        report.sample.not_comparable,
        report.sample.changed.len()
    );
    changes(&report.sample.changed);
    Ok(Status::Ok)
}
