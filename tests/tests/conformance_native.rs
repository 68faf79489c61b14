//! Cedar's public conformance corpus (`../shared/conformance`: 7,831 cases, 62,546 requests)
//! through native policy-core, each case loaded as a plain Cedar folder with nothing
//! Sesame-specific added (`policies.cedar`, `schema.cedarschema`, `entities.json`; no
//! manifest): Sesame's bundle check must agree with the case's `should_validate`, and every
//! request of a case that validates must get the expected decision, determining policies and
//! erroring policies. Cases whose policies do not validate are refused as bundles (Sesame
//! deploys only validated policies), so their requests are not decided here. A mismatch fails
//! the test and names the case file and the request; `known_divergence` cases are reported,
//! not failed.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use policy_core::wire::{Decision, DecisionRequest, EntityRef};
use policy_core::{Bundle, Engine, ErrorCode};
use serde::Deserialize;
use serde_json::Value;

#[derive(Deserialize)]
struct Manifest {
    cases: Vec<ManifestEntry>,
}

#[derive(Deserialize)]
struct ManifestEntry {
    path: String,
}

#[derive(Deserialize)]
struct Case {
    #[serde(default)]
    known_divergence: Option<String>,
    should_validate: bool,
    policies: String,
    schema_format: String,
    schema: String,
    entities: Value,
    requests: Vec<CaseRequest>,
}

#[derive(Deserialize)]
struct CaseRequest {
    description: String,
    principal: EntityRef,
    action: EntityRef,
    resource: EntityRef,
    context: Value,
    decision: String,
    reason: Vec<String>,
    errors: Vec<String>,
}

#[derive(Default)]
struct Tally {
    cases: usize,
    validated: usize,
    refused_as_expected: usize,
    requests: usize,
    requests_agreeing: usize,
    known: Vec<String>,
    mismatches: Vec<String>,
}

impl Tally {
    fn merge(&mut self, other: Tally) {
        self.cases += other.cases;
        self.validated += other.validated;
        self.refused_as_expected += other.refused_as_expected;
        self.requests += other.requests;
        self.requests_agreeing += other.requests_agreeing;
        self.known.extend(other.known);
        self.mismatches.extend(other.mismatches);
    }
}

fn corpus() -> PathBuf {
    sesame_tests::repo_root().join("../shared/conformance")
}

fn run_case(path: &Path, tally: &mut Tally) {
    let name = path.display().to_string();
    let case: Case = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    tally.cases += 1;
    let schema_file = if case.schema_format == "json" {
        "schema.cedarschema.json"
    } else {
        "schema.cedarschema"
    };
    let files = [
        ("policies.cedar", case.policies.clone()),
        (schema_file, case.schema.clone()),
        ("entities.json", case.entities.to_string()),
    ];
    let loaded = Bundle::load(files.iter().map(|(p, t)| (*p, t.as_bytes())));
    let mismatch = |tally: &mut Tally, what: String| match &case.known_divergence {
        Some(why) => tally.known.push(format!("{name}: {what} (known: {why})")),
        None => tally.mismatches.push(format!("{name}: {what}")),
    };
    let bundle = match (loaded, case.should_validate) {
        (Ok(bundle), true) => bundle,
        (Ok(_), false) => {
            return mismatch(
                tally,
                "the bundle loads but the policies should not validate".into(),
            )
        }
        (Err(err), false) => {
            // Refused for the right reason: a validation error, not a loading problem.
            if err
                .diagnostics
                .iter()
                .any(|d| d.code == ErrorCode::PolicyValidation)
            {
                tally.refused_as_expected += 1;
            } else {
                mismatch(tally, format!("refused, but not by validation: {err}"));
            }
            return;
        }
        (Err(err), true) => return mismatch(tally, format!("the bundle does not load: {err}")),
    };
    tally.validated += 1;
    let engine = Engine::new(bundle);
    for request in &case.requests {
        tally.requests += 1;
        let answer = engine.decide(&DecisionRequest {
            principal: request.principal.clone(),
            action: request.action.clone(),
            resource: request.resource.clone(),
            context: Some(request.context.clone()),
            entities: vec![],
        });
        let expected_decision = if request.decision == "allow" {
            Decision::Allow
        } else {
            Decision::Deny
        };
        let expected_reason: BTreeSet<&str> = request.reason.iter().map(String::as_str).collect();
        let expected_errors: BTreeSet<&str> = request.errors.iter().map(String::as_str).collect();
        match answer {
            Ok(answer) => {
                let reason: BTreeSet<&str> = answer
                    .determining_policies
                    .iter()
                    .map(String::as_str)
                    .collect();
                let errors: BTreeSet<&str> =
                    answer.errors.iter().map(|e| e.policy_id.as_str()).collect();
                if answer.decision == expected_decision
                    && reason == expected_reason
                    && errors == expected_errors
                {
                    tally.requests_agreeing += 1;
                } else {
                    mismatch(
                        tally,
                        format!(
                            "{}: got {:?} {reason:?} errors {errors:?}, expected {} {expected_reason:?} errors {expected_errors:?}",
                            request.description, answer.decision, request.decision
                        ),
                    );
                }
            }
            Err(e) => mismatch(tally, format!("{}: refused: {e}", request.description)),
        }
    }
}

#[test]
fn cedars_corpus_decides_the_same_through_native_policy_core() {
    let root = corpus();
    let manifest: Manifest = serde_json::from_slice(
        &std::fs::read(root.join("manifest.json"))
            .unwrap_or_else(|e| panic!("{}: {e} (the corpus is CI data)", root.display())),
    )
    .unwrap();
    let paths: Vec<PathBuf> = manifest.cases.iter().map(|c| root.join(&c.path)).collect();
    let started = std::time::Instant::now();
    let threads = std::thread::available_parallelism().map_or(1, usize::from);
    let chunk = paths.len().div_ceil(threads);
    let mut tally = Tally::default();
    std::thread::scope(|scope| {
        let workers: Vec<_> = paths
            .chunks(chunk.max(1))
            .map(|part| {
                scope.spawn(move || {
                    let mut tally = Tally::default();
                    for path in part {
                        run_case(path, &mut tally);
                    }
                    tally
                })
            })
            .collect();
        for worker in workers {
            tally.merge(worker.join().unwrap());
        }
    });
    println!(
        "native policy-core: {} cases ({} validated, {} refused by validation as expected), {} requests, {} agreeing, {} known divergences, {} mismatches, {:.1} s",
        tally.cases,
        tally.validated,
        tally.refused_as_expected,
        tally.requests,
        tally.requests_agreeing,
        tally.known.len(),
        tally.mismatches.len(),
        started.elapsed().as_secs_f64()
    );
    for known in tally.known.iter().take(5) {
        println!("KNOWN {known}");
    }
    assert_eq!(tally.cases, manifest.cases.len());
    assert!(
        tally.mismatches.is_empty(),
        "{} mismatches, first ones:\n{}",
        tally.mismatches.len(),
        tally
            .mismatches
            .iter()
            .take(20)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    );
}
