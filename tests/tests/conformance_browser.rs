//! Cedar's conformance corpus through the browser package under Node and in headless Chromium
//! (playwright-core, as the other browser tests), compared with the cases' expectations by the same runner as native policy-core and the wasmtime guest
//! (`sesame_tests::conformance`). Node runs once over every case: a first pass records what the
//! runner hands a face (each load's files and validation, and the requests), `tests/node/conformance.mjs` answers
//! them with the package as a page would, and a second pass replays those answers. Needs the
//! package: `scripts/browser-pkg.sh`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::VecDeque;
use std::process::Command;
use std::sync::Mutex;

use policy_core::wire::{BatchItem, BatchRequest, BatchResponse, DecisionRequest, ErrorBody};
use policy_core::PolicyValidation;
use serde::{Deserialize, Serialize};
use sesame_tests::conformance::{assert_agrees, case_paths, run, Face};
use sesame_tests::repo_root;

/// What the runner handed the face for one case.
#[derive(Serialize)]
struct Input {
    files: std::collections::BTreeMap<String, String>,
    policy_validation: PolicyValidation,
    /// The `BatchRequest` as JSON text: Longs cross to JS as text, never as JS numbers.
    batch: Option<String>,
}

/// First pass: loads always succeed, answers are placeholders; the inputs are kept.
#[derive(Default)]
struct Recording {
    inputs: Vec<Input>,
}

impl Face for Recording {
    fn load(
        &mut self,
        files: &[(&str, String)],
        validation: PolicyValidation,
    ) -> Result<(), ErrorBody> {
        self.inputs.push(Input {
            files: files
                .iter()
                .map(|(p, t)| (p.to_string(), t.clone()))
                .collect(),
            policy_validation: validation,
            batch: None,
        });
        Ok(())
    }

    fn batch(&mut self, requests: &[DecisionRequest]) -> Vec<BatchItem> {
        let text = serde_json::to_string(&BatchRequest {
            requests: requests.to_vec(),
        })
        .unwrap();
        if let Some(last) = self.inputs.last_mut() {
            last.batch = Some(text);
        }
        Vec::new()
    }
}

/// One case as the package answered it.
#[derive(Deserialize)]
struct Answer {
    load: Option<ErrorBody>,
    batch: Option<BatchResponse>,
}

/// Second pass: the package's answers, case by case in the manifest's order.
struct Replayed {
    answers: VecDeque<Answer>,
    current: Option<BatchResponse>,
}

impl Face for Replayed {
    fn load(
        &mut self,
        _files: &[(&str, String)],
        _validation: PolicyValidation,
    ) -> Result<(), ErrorBody> {
        let answer = self.answers.pop_front().expect("an answer for every load");
        self.current = answer.batch;
        match answer.load {
            None => Ok(()),
            Some(error) => Err(error),
        }
    }

    fn batch(&mut self, _requests: &[DecisionRequest]) -> Vec<BatchItem> {
        self.current.take().map(|b| b.results).unwrap_or_default()
    }
}

#[test]
fn cedars_corpus_decides_the_same_through_the_browser_package_under_node() {
    through_js(
        "browser package under node",
        repo_root().join("tests/node/conformance.mjs"),
    );
}

#[test]
fn cedars_corpus_decides_the_same_through_the_browser_package_in_chromium() {
    through_js(
        "browser package in chromium",
        repo_root().join("tests/e2e/conformance-chromium.mjs"),
    );
}

/// Records the runner's inputs, has `script` (run by node: `script IN.jsonl OUT.jsonl`)
/// answer them with the browser package, and replays its answers through the runner.
fn through_js(face: &str, script: std::path::PathBuf) {
    let paths = case_paths();
    let started = std::time::Instant::now();
    let recorded = Mutex::new(Vec::new());
    run(&paths, 1, || RecordingSink {
        inner: Recording::default(),
        sink: &recorded,
    });
    let inputs = recorded.into_inner().unwrap();
    let dir = std::env::temp_dir();
    // Both tests of this file run at once in one process: one pair of files each.
    let tag = format!("{}-{}", std::process::id(), face.replace(' ', "-"));
    let input = dir.join(format!("sesame-conformance-in-{tag}.jsonl"));
    let output = dir.join(format!("sesame-conformance-out-{tag}.jsonl"));
    let lines: Vec<String> = inputs
        .iter()
        .map(|i| serde_json::to_string(i).unwrap())
        .collect();
    std::fs::write(&input, lines.join("\n") + "\n").unwrap();
    let node = Command::new("node")
        .arg(&script)
        .arg(&input)
        .arg(&output)
        .output()
        .expect("node runs");
    std::fs::remove_file(&input).unwrap();
    assert!(
        node.status.success(),
        "{face}: {} failed: {}",
        script.display(),
        String::from_utf8_lossy(&node.stderr)
    );
    let text = std::fs::read_to_string(&output).unwrap();
    std::fs::remove_file(&output).unwrap();
    let answers: VecDeque<Answer> = text
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    assert_eq!(answers.len(), inputs.len(), "{face} answered every load");
    let replayed = Mutex::new(Some(Replayed {
        answers,
        current: None,
    }));
    let tally = run(&paths, 1, || {
        replayed
            .lock()
            .ok()
            .and_then(|mut f| f.take())
            .expect("one face")
    });
    assert_agrees(face, &tally, paths.len(), started.elapsed().as_secs_f64());
}

/// The recording face, handing its inputs to `sink` when the runner drops it.
struct RecordingSink<'a> {
    inner: Recording,
    sink: &'a Mutex<Vec<Input>>,
}

impl Face for RecordingSink<'_> {
    fn load(
        &mut self,
        files: &[(&str, String)],
        validation: PolicyValidation,
    ) -> Result<(), ErrorBody> {
        self.inner.load(files, validation)
    }

    fn batch(&mut self, requests: &[DecisionRequest]) -> Vec<BatchItem> {
        self.inner.batch(requests)
    }
}

impl Drop for RecordingSink<'_> {
    fn drop(&mut self) {
        if let Ok(mut sink) = self.sink.lock() {
            sink.append(&mut self.inner.inputs);
        }
    }
}
