//! Cedar's public conformance corpus (`../shared/conformance`: 7,831 cases, 62,546 requests)
//! run through any face of Sesame, as `cedar-testing` runs several engines against one set of
//! expectations. Each case is loaded as a plain Cedar folder with nothing Sesame-specific
//! added (`policies.cedar`, `schema.cedarschema`, `entities.json`; no manifest): the face's
//! bundle check must agree with the case's `should_validate`, and every request must get the
//! expected decision, determining policies and erroring policies. A case whose policies should
//! not validate must be refused by a validation error (Sesame deploys only validated policies);
//! it is then loaded again with validation only reported (`PolicyValidation::Report`, what an
//! author's draft gets) and its requests decided there, as Cedar decides with unvalidated
//! policies. `known_divergence` cases are reported, not failed.
//!
//! Which loads a face gets depends only on the case file (a batch follows a load that
//! succeeded), so a face can be recorded in one pass and replayed in another, answers matched
//! load by load (the JS faces).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use policy_core::wire::{BatchItem, Decision, DecisionRequest, EntityRef, ErrorBody};
use policy_core::{Bundle, Engine, ErrorCode, PolicyValidation};
use serde::Deserialize;
use serde_json::Value;

/// One face of the engine: loads a bundle, then decides a batch on it.
pub trait Face {
    /// Loads `files` as the face's bundle, its policies' validation enforced or only reported;
    /// on refusal, the error (with its diagnostics).
    fn load(
        &mut self,
        files: &[(&str, String)],
        validation: PolicyValidation,
    ) -> Result<(), ErrorBody>;
    /// Decides `requests` on the loaded bundle, one answer each.
    fn batch(&mut self, requests: &[DecisionRequest]) -> Vec<BatchItem>;
}

/// Native policy-core: the reference face, and the host side of the wasmtime guest's.
#[derive(Default)]
pub struct Native {
    pub engine: Option<Engine>,
}

impl Face for Native {
    fn load(
        &mut self,
        files: &[(&str, String)],
        validation: PolicyValidation,
    ) -> Result<(), ErrorBody> {
        self.engine = None;
        let bundle = Bundle::load_with(files.iter().map(|(p, t)| (*p, t.as_bytes())), validation)
            .map_err(|e| ErrorBody::from(&policy_core::EngineError::from(e)))?;
        self.engine = Some(Engine::new(bundle));
        Ok(())
    }

    fn batch(&mut self, requests: &[DecisionRequest]) -> Vec<BatchItem> {
        match &self.engine {
            Some(engine) => engine.decide_batch(requests).results,
            None => Vec::new(),
        }
    }
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
    /// Of `requests`, those of cases whose policies should not validate (decided on drafts).
    pub requests_on_drafts: usize,
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
        self.requests_on_drafts += other.requests_on_drafts;
        self.requests_agreeing += other.requests_agreeing;
        self.known.extend(other.known);
        self.mismatches.extend(other.mismatches);
    }

    /// One line for the test's output.
    pub fn summary(&self, face: &str, seconds: f64) -> String {
        format!(
            "{face}: {} cases ({} validated, {} refused by validation as expected), {} requests ({} on drafts, validation reported), {} agreeing, {} known divergences, {} mismatches, {seconds:.1} s",
            self.cases,
            self.validated,
            self.refused_as_expected,
            self.requests,
            self.requests_on_drafts,
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
    match (
        face.load(&files, PolicyValidation::Enforce),
        case.should_validate,
    ) {
        (Ok(()), true) => tally.validated += 1,
        (Ok(()), false) => mismatch(
            tally,
            "the bundle loads but the policies should not validate".into(),
        ),
        (Err(err), false) => {
            // Refused for the right reason: a validation error, not a loading problem.
            if err
                .diagnostics
                .iter()
                .any(|d| d.code == ErrorCode::PolicyValidation)
            {
                tally.refused_as_expected += 1;
            } else {
                // Not returning: the draft load below still happens, so the loads a face gets
                // stay those of the case file (a replayed face stays in step).
                mismatch(
                    tally,
                    format!("refused, but not by validation: {}", err.message),
                );
            }
        }
        (Err(err), true) => {
            return mismatch(tally, format!("the bundle does not load: {}", err.message))
        }
    }
    if !case.should_validate {
        if let Err(err) = face.load(&files, PolicyValidation::Report) {
            return mismatch(
                tally,
                format!(
                    "the draft does not load with validation reported: {}",
                    err.message
                ),
            );
        }
    }
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
        if !case.should_validate {
            tally.requests_on_drafts += 1;
        }
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

#[cfg(test)]
mod tests {
    //! The runner fails a face that answers wrongly: it is not a test that cannot fail.

    use super::*;

    /// Native, with every decision turned over.
    struct Flipped(Native);

    impl Face for Flipped {
        fn load(&mut self, files: &[(&str, String)], v: PolicyValidation) -> Result<(), ErrorBody> {
            self.0.load(files, v)
        }

        fn batch(&mut self, requests: &[DecisionRequest]) -> Vec<BatchItem> {
            let mut answers = self.0.batch(requests);
            for answer in &mut answers {
                if let BatchItem::Decided(d) = answer {
                    d.decision = match d.decision {
                        Decision::Allow => Decision::Deny,
                        Decision::Deny => Decision::Allow,
                    };
                }
            }
            answers
        }
    }

    /// Native, but validation always enforced: drafts never load.
    struct NoDrafts(Native);

    impl Face for NoDrafts {
        fn load(&mut self, files: &[(&str, String)], _: PolicyValidation) -> Result<(), ErrorBody> {
            self.0.load(files, PolicyValidation::Enforce)
        }

        fn batch(&mut self, requests: &[DecisionRequest]) -> Vec<BatchItem> {
            self.0.batch(requests)
        }
    }

    #[test]
    fn a_face_that_answers_wrongly_fails_and_is_named() {
        let paths: Vec<PathBuf> = case_paths().into_iter().take(300).collect();
        let right = run(&paths, 1, Native::default);
        assert!(right.mismatches.is_empty(), "{:?}", right.mismatches);
        assert!(right.requests_on_drafts > 0, "the sample holds drafts");

        // Every request answered rightly is now wrong: a mismatch, or reported as known when
        // its case is a known divergence.
        let flipped = run(&paths, 1, || Flipped(Native::default()));
        assert_eq!(flipped.requests_agreeing, 0);
        assert!(flipped.mismatches.len() + flipped.known.len() >= right.requests_agreeing);
        assert!(
            flipped.mismatches[0].contains("cases/"),
            "names the case file"
        );
        assert!(flipped.mismatches[0].contains(": got "), "says what it got");

        let no_drafts = run(&paths, 1, || NoDrafts(Native::default()));
        assert!(no_drafts.requests < right.requests);
        assert!(no_drafts
            .mismatches
            .iter()
            .all(|m| m.contains("the draft does not load")));
        assert_eq!(no_drafts.mismatches.len(), right.refused_as_expected);
    }
}
