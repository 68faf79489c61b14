//! The wasmtime guest against native policy-core, on the same firm and requests as
//! `crate::bench`, the way the server runs it (the host's native engine holds the entities and
//! packs each call's slice, the guest holds the bundle and decides on the slice): per-decision
//! ratio for single calls and batches, the slice size, and cold start (compile vs deserialize
//! of the precompiled module).

use std::path::Path;
use std::time::Instant;

use policy_core::json_api::{self, BundleFiles};
use policy_core::wire::{BatchRequest, DecisionRequest};
use policy_core::{Bundle, Engine};
use serde::Serialize;

use host_server::guest::{GuestAnswer, GuestError, GuestLimits, GuestRuntime, ModuleSource};

#[derive(Debug, Clone, Serialize)]
pub struct GuestBenchReport {
    pub native_decide_json_ns: f64,
    pub guest_decide_ns: f64,
    pub guest_batch_per_decision_ns: f64,
    pub native_batch_per_decision_ns: f64,
    pub ratio_guest_vs_native_single: f64,
    pub ratio_guest_vs_native_batch: f64,
    pub compile_ms: f64,
    pub deserialize_ms: f64,
    /// Mean packed slice of a single decision, bytes.
    pub slice_bytes_mean: f64,
}

#[derive(Debug, thiserror::Error)]
pub enum GuestBenchError {
    #[error(transparent)]
    Guest(#[from] GuestError),
    #[error("the guest answered with an engine error: {0}")]
    Engine(String),
    #[error("guest and native disagree on request #{0}")]
    Disagree(usize),
}

fn ok(answer: GuestAnswer) -> Result<String, GuestBenchError> {
    match answer {
        GuestAnswer::Ok(json) => Ok(json),
        GuestAnswer::EngineError(e) => Err(GuestBenchError::Engine(e)),
    }
}

/// The slice the server's host packs for a call.
fn host_slice(engine: &Engine, op: json_api::Op, input: &str) -> Result<Vec<u8>, GuestBenchError> {
    json_api::slice_for(engine, op, input).map_err(|e| GuestBenchError::Engine(e.message))
}

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(|a, b| a.total_cmp(b));
    xs.get(xs.len() / 2).copied().unwrap_or(f64::NAN)
}

pub fn run(
    guest_wasm: &Path,
    bundle: &Bundle,
    engine: &mut Engine,
    requests: &[DecisionRequest],
    rounds: usize,
) -> Result<GuestBenchReport, GuestBenchError> {
    let cache = std::env::temp_dir().join(format!("sesame-bench-cache-{}", std::process::id()));
    let compiled = GuestRuntime::from_file(guest_wasm, Some(&cache), GuestLimits::default())?;
    let runtime = GuestRuntime::from_file(guest_wasm, Some(&cache), GuestLimits::default())?;
    let _ = std::fs::remove_dir_all(&cache);
    let deserialize_ms = match runtime.source {
        ModuleSource::Deserialized => runtime.startup_ms,
        ModuleSource::Compiled => f64::NAN,
    };
    let mut guest = runtime.instance()?;
    let files = BundleFiles {
        files: bundle.files().clone(),
    };
    ok(guest.load_bundle(&json_api::to_json(&files))?)?;

    let lines: Vec<String> = requests.iter().map(json_api::to_json).collect();
    let batch = json_api::to_json(&BatchRequest {
        requests: requests.to_vec(),
    });
    // Same answers first.
    let mut slice_bytes = 0usize;
    for (i, line) in lines.iter().enumerate() {
        let slice = host_slice(engine, json_api::Op::Decide, line)?;
        slice_bytes += slice.len();
        let ours = ok(guest.call_on_slice(json_api::Op::Decide, line, &slice)?)?;
        let native = json_api::call(engine, json_api::Op::Decide, line)
            .map_err(|e| GuestBenchError::Engine(e.message))?;
        if ours != native {
            return Err(GuestBenchError::Disagree(i));
        }
    }
    let per = |t: Instant| t.elapsed().as_nanos() as f64 / lines.len().max(1) as f64;
    let (mut native_single, mut guest_single, mut guest_batch, mut native_batch) =
        (vec![], vec![], vec![], vec![]);
    for _ in 0..rounds {
        let t = Instant::now();
        for line in &lines {
            std::hint::black_box(
                json_api::call(engine, json_api::Op::Decide, line)
                    .map_err(|e| GuestBenchError::Engine(e.message))?,
            );
        }
        native_single.push(per(t));
        let t = Instant::now();
        for line in &lines {
            let slice = host_slice(engine, json_api::Op::Decide, line)?;
            std::hint::black_box(guest.call_on_slice(json_api::Op::Decide, line, &slice)?);
        }
        guest_single.push(per(t));
        let t = Instant::now();
        std::hint::black_box(
            json_api::call(engine, json_api::Op::Batch, &batch)
                .map_err(|e| GuestBenchError::Engine(e.message))?,
        );
        native_batch.push(per(t));
        let t = Instant::now();
        let slice = host_slice(engine, json_api::Op::Batch, &batch)?;
        std::hint::black_box(guest.call_on_slice(json_api::Op::Batch, &batch, &slice)?);
        guest_batch.push(per(t));
    }
    let (ns, gs, nb, gb) = (
        median(native_single),
        median(guest_single),
        median(native_batch),
        median(guest_batch),
    );
    Ok(GuestBenchReport {
        native_decide_json_ns: ns,
        guest_decide_ns: gs,
        guest_batch_per_decision_ns: gb,
        native_batch_per_decision_ns: nb,
        ratio_guest_vs_native_single: gs / ns,
        ratio_guest_vs_native_batch: gb / nb,
        compile_ms: compiled.startup_ms,
        deserialize_ms,
        slice_bytes_mean: slice_bytes as f64 / lines.len().max(1) as f64,
    })
}
