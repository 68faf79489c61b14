//! Cedar's public conformance corpus (`../shared/conformance`: 7,831 cases, 62,546 requests)
//! run through any face of Sesame, as `cedar-testing` runs several engines against one set of
//! expectations. Each case is loaded as a plain Cedar folder with nothing Sesame-specific
//! added (`policies.cedar`, `schema.cedarschema`, `entities.json`; no manifest): the face's
//! bundle check must agree with the case's `should_validate`, and every request of a case that
//! validates must get the expected decision, determining policies and erroring policies. Cases
//! whose policies do not validate are refused as bundles (Sesame deploys only validated
//! policies), so their requests are not decided. `known_divergence` cases are reported, not
//! failed.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use policy_core::wire::{BatchItem, Decision, DecisionRequest, EntityRef, ErrorBody};
use policy_core::ErrorCode;
use serde::Deserialize;
use serde_json::Value;

/// One face of the engine: loads a bundle, then decides a batch on it.
pub trait Face {
    /// Loads `files` as the face's bundle; on refusal, the error (with its diagnostics).
    fn load(&mut self, files: &[(&str, String)]) -> Result<(), ErrorBody>;
    /// Decides `requests` on the loaded bundle, one answer each.
    fn batch(&mut self, requests: &[DecisionRequest]) -> Vec<BatchItem>;
}

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

/// What a run found.
#[derive(Default)]
pub struct Tally {
    pub cases: usize,
    pub validated: usize,
    pub refused_as_expected: usize,
    pub requests: usize,
    pub requests_agreeing: usize,
    pub known: Vec<String>,
    pub mismatches: Vec<String>,
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

    /// One line for the test's output.
    pub fn summary(&self, face: &str, seconds: f64) -> String {
        format!(
            "{face}: {} cases ({} validated, {} refused by validation as expected), {} requests, {} agreeing, {} known divergences, {} mismatches, {seconds:.1} s",
            self.cases,
            self.validated,
            self.refused_as_expected,
            self.requests,
            self.requests_agreeing,
            self.known.len(),
            self.mismatches.len(),
        )
    }
}

/// The corpus's case files, in the manifest's order.
pub fn case_paths() -> Vec<PathBuf> {
    let root = crate::repo_root().join("../shared/conformance");
    let text = std::fs::read(root.join("manifest.json"))
        .unwrap_or_else(|e| panic!("{}: {e} (the corpus is CI data)", root.display()));
    let manifest: Manifest = serde_json::from_slice(&text).expect("the corpus manifest parses");
    manifest.cases.iter().map(|c| root.join(&c.path)).collect()
}

/// Runs every case of `paths` on faces made by `face` (one per thread), and tallies.
pub fn run<F: Face>(paths: &[PathBuf], threads: usize, face: impl Fn() -> F + Sync) -> Tally {
    let chunk = paths.len().div_ceil(threads.max(1)).max(1);
    let mut tally = Tally::default();
    std::thread::scope(|scope| {
        let workers: Vec<_> = paths
            .chunks(chunk)
            .map(|part| {
                let face = &face;
                scope.spawn(move || {
                    let mut face = face();
                    let mut tally = Tally::default();
                    for path in part {
                        run_case(&mut face, path, &mut tally);
                    }
                    tally
                })
            })
            .collect();
        for worker in workers {
            tally.merge(worker.join().expect("a conformance worker panicked"));
        }
    });
    tally
}

fn run_case(face: &mut impl Face, path: &Path, tally: &mut Tally) {
    let name = path.display().to_string();
    let case: Case = serde_json::from_slice(&std::fs::read(path).expect("case file"))
        .unwrap_or_else(|e| panic!("{name}: {e}"));
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
    let mismatch = |tally: &mut Tally, what: String| match &case.known_divergence {
        Some(why) => tally.known.push(format!("{name}: {what} (known: {why})")),
        None => tally.mismatches.push(format!("{name}: {what}")),
    };
    match (face.load(&files), case.should_validate) {
        (Ok(()), true) => {}
        (Ok(()), false) => {
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
                mismatch(
                    tally,
                    format!("refused, but not by validation: {}", err.message),
                );
            }
            return;
        }
        (Err(err), true) => {
            return mismatch(tally, format!("the bundle does not load: {}", err.message))
        }
    }
    tally.validated += 1;
    let requests: Vec<DecisionRequest> = case
        .requests
        .iter()
        .map(|r| DecisionRequest {
            principal: r.principal.clone(),
            action: r.action.clone(),
            resource: r.resource.clone(),
            context: Some(r.context.clone()),
            entities: vec![],
        })
        .collect();
    let answers = face.batch(&requests);
    if answers.len() != requests.len() {
        return mismatch(
            tally,
            format!("{} answers to {} requests", answers.len(), requests.len()),
        );
    }
    for (request, answer) in case.requests.iter().zip(answers) {
        tally.requests += 1;
        let expected_decision = if request.decision == "allow" {
            Decision::Allow
        } else {
            Decision::Deny
        };
        let expected_reason: BTreeSet<&str> = request.reason.iter().map(String::as_str).collect();
        let expected_errors: BTreeSet<&str> = request.errors.iter().map(String::as_str).collect();
        match answer {
            BatchItem::Decided(answer) => {
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
            BatchItem::Failed { error } => mismatch(
                tally,
                format!("{}: refused: {}", request.description, error.message),
            ),
        }
    }
}

/// Fails with the first mismatches when there are any; prints the summary either way.
pub fn assert_agrees(face: &str, tally: &Tally, cases: usize, seconds: f64) {
    println!("{}", tally.summary(face, seconds));
    for known in tally.known.iter().take(3) {
        println!("KNOWN {known}");
    }
    assert_eq!(tally.cases, cases, "{face}: every case ran");
    assert!(
        tally.mismatches.is_empty(),
        "{face}: {} mismatches, first ones:\n{}",
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
