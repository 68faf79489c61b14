//! Cedar's conformance corpus through the wasmtime guest, as the server runs it: the same
//! `.wasm` build of policy-core, loaded by `host_server::guest`, holding the bundle while the
//! host holds the entities (a native engine) and hands each batch the packed slice it reads,
//! answering the same cases as native policy-core (`sesame_tests::conformance` says what is
//! compared).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use host_server::guest::{
    default_guest_path, GuestAnswer, GuestInstance, GuestLimits, GuestRuntime,
};
use policy_core::json_api::{self, BundleLoad, Op};
use policy_core::wire::{BatchItem, BatchRequest, BatchResponse, DecisionRequest, ErrorBody};
use policy_core::PolicyValidation;
use sesame_tests::conformance::{assert_agrees, case_paths, run, Face, Native};

struct Guest<'a> {
    runtime: &'a GuestRuntime,
    instance: GuestInstance,
    /// The host's entity store for the loaded case.
    data: Native,
}

fn answer(answer: GuestAnswer) -> Result<String, ErrorBody> {
    match answer {
        GuestAnswer::Ok(json) => Ok(json),
        GuestAnswer::EngineError(json) => Err(serde_json::from_str(&json).unwrap()),
    }
}

impl Face for Guest<'_> {
    fn load(
        &mut self,
        files: &[(&str, String)],
        validation: PolicyValidation,
    ) -> Result<(), ErrorBody> {
        // A guest that trapped is poisoned: a fresh instance for the next case.
        if self.instance.is_poisoned() {
            self.instance = self.runtime.instance().unwrap();
        }
        let json = serde_json::to_string(&BundleLoad {
            files: files
                .iter()
                .map(|(p, t)| (p.to_string(), t.clone()))
                .collect(),
            policy_validation: Some(validation),
        })
        .unwrap();
        let loaded = self.instance.load_bundle(&json).unwrap();
        self.data.engine = None;
        answer(loaded)?;
        self.data
            .load(files, validation)
            .map_err(|e| panic!("a bundle the guest loaded does not load natively: {e:?}"))
    }

    fn batch(&mut self, requests: &[DecisionRequest]) -> Vec<BatchItem> {
        let input = serde_json::to_string(&BatchRequest {
            requests: requests.to_vec(),
        })
        .unwrap();
        let data = self.data.engine.as_ref().expect("a loaded case");
        let decided = match json_api::slice_for(data, Op::Batch, &input) {
            Ok(slice) => answer(
                self.instance
                    .call_on_slice(Op::Batch, &input, &slice)
                    .unwrap(),
            ),
            Err(error) => Err(error),
        };
        match decided {
            Ok(json) => {
                serde_json::from_str::<BatchResponse>(&json)
                    .unwrap()
                    .results
            }
            Err(error) => requests
                .iter()
                .map(|_| BatchItem::Failed {
                    error: error.clone(),
                })
                .collect(),
        }
    }
}

#[test]
fn cedars_corpus_decides_the_same_through_the_wasmtime_guest() {
    let path = default_guest_path();
    assert!(
        path.exists(),
        "{} is missing: build it with scripts/wasm-build.sh wasm-guest -p wasm-guest",
        path.display()
    );
    let runtime = GuestRuntime::from_file(&path, None, GuestLimits::default()).unwrap();
    let paths = case_paths();
    let started = std::time::Instant::now();
    let threads = std::thread::available_parallelism().map_or(1, usize::from);
    let tally = run(&paths, threads, || Guest {
        runtime: &runtime,
        instance: runtime.instance().unwrap(),
        data: Native::default(),
    });
    assert_agrees(
        "wasmtime guest",
        &tally,
        paths.len(),
        started.elapsed().as_secs_f64(),
    );
}
