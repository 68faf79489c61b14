//! Cedar's conformance corpus through native policy-core (`sesame_tests::conformance` says
//! what is compared): every case file and every request of the cases that validate.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use policy_core::wire::{BatchItem, DecisionRequest, ErrorBody};
use policy_core::{Bundle, Engine};
use sesame_tests::conformance::{assert_agrees, case_paths, run, Face};

#[derive(Default)]
struct Native {
    engine: Option<Engine>,
}

impl Face for Native {
    fn load(&mut self, files: &[(&str, String)]) -> Result<(), ErrorBody> {
        let bundle = Bundle::load(files.iter().map(|(p, t)| (*p, t.as_bytes())))
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
