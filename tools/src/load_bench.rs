//! Loading an entity file, measured alone in its process: how long plain `cedar-policy` and
//! Sesame take to read, parse and load it, and the peak memory each needs (one engine per
//! process, so each peak is its own; `scripts/bench-network.sh` runs both and compares). For
//! Sesame it goes on with what a server does on the loaded store: single decisions the way the
//! server runs them (the host packs each call's slice, a wasmtime guest decides on it), p50 and
//! p99, and one-entity deltas.

use std::path::Path;
use std::time::Instant;

use policy_core::json_api::{self, BundleFiles, Op};
use policy_core::wire::EntityDelta;
use policy_core::{Bundle, Engine, EngineError};
use serde::Serialize;
use serde_json::{json, Value};

use crate::firm_gen::{requests, FirmSize};
use host_server::guest::{GuestAnswer, GuestError, GuestLimits, GuestRuntime};

/// Which engine loads the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoadEngine {
    Cedar,
    Sesame,
}

#[derive(Debug, Clone, Serialize)]
pub struct LoadBenchReport {
    pub engine: &'static str,
    pub entities: usize,
    /// Reading the file; for cedar-policy also parsing its JSON into values (its input).
    pub read_ms: f64,
    /// Building the engine's entity store: cedar-policy's from the parsed values, Sesame's
    /// from the text, read as a stream (its JSON parse is in here). Compare `read_ms +
    /// load_ms`.
    pub load_ms: f64,
    /// Peak resident memory of the process (`VmHWM`), bytes.
    pub peak_rss_bytes: u64,
    /// Resident memory once loaded, the records dropped and freed pages returned (`VmRSS`),
    /// bytes.
    pub loaded_rss_bytes: u64,
    /// Sesame only: single decisions through a wasmtime guest on host-packed slices.
    pub decisions: Option<DecisionFigures>,
}

#[derive(Debug, Clone, Serialize)]
pub struct DecisionFigures {
    pub count: usize,
    pub p50_us: f64,
    pub p99_us: f64,
    pub mean_slice_bytes: f64,
    /// Median of inserting then updating one document, each a one-entity delta.
    pub delta_insert_us: f64,
    pub delta_update_us: f64,
}

#[derive(Debug, thiserror::Error)]
pub enum LoadBenchError {
    #[error("cannot read {0}: {1}")]
    Read(String, std::io::Error),
    #[error("{0} is not a JSON array of entity records: {1}")]
    Json(String, serde_json::Error),
    #[error("cedar-policy refused the entities: {0}")]
    Cedar(String),
    #[error(transparent)]
    Engine(#[from] EngineError),
    #[error(transparent)]
    Guest(#[from] GuestError),
    #[error("the guest refused a call: {0}")]
    Refused(String),
}

/// A line of `/proc/self/status` (`VmHWM`, `VmRSS`) in bytes; 0 where there is no procfs.
fn proc_status_bytes(key: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find(|l| l.starts_with(key))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<u64>().ok())
        })
        .map_or(0, |kb| kb * 1024)
}

/// Resident memory with the loaded store alive, after freed pages went back to the system as
/// the server does after a load (`host_server::memory`), for either engine.
fn loaded_rss() -> u64 {
    host_server::memory::release_freed();
    proc_status_bytes("VmRSS:")
}

fn ms(since: Instant) -> f64 {
    since.elapsed().as_secs_f64() * 1e3
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    let idx = ((sorted.len().max(1) - 1) as f64 * p).round() as usize;
    sorted.get(idx).copied().unwrap_or(f64::NAN)
}

/// Loads `file` with `engine`; for Sesame, then decides `size`'s generated requests through
/// `guest_wasm` when one is given.
pub fn run(
    engine: LoadEngine,
    bundle: Bundle,
    file: &Path,
    size: FirmSize,
    decisions: usize,
    guest_wasm: Option<&Path>,
) -> Result<LoadBenchReport, LoadBenchError> {
    let started = Instant::now();
    let text = std::fs::read_to_string(file)
        .map_err(|e| LoadBenchError::Read(file.display().to_string(), e))?;
    let (count, read_ms, load_ms, loaded_rss_bytes, loaded) = match engine {
        LoadEngine::Cedar => {
            // Cedar's input is the parsed JSON value: reading the text is part of its load.
            let records: Vec<Value> = serde_json::from_str(&text)
                .map_err(|e| LoadBenchError::Json(file.display().to_string(), e))?;
            drop(text);
            let read_ms = ms(started);
            let started = Instant::now();
            let mut all = bundle.entity_records().to_vec();
            all.extend(records);
            let entities =
                cedar_policy::Entities::from_json_value(Value::Array(all), bundle.schema())
                    .map_err(|e| LoadBenchError::Cedar(e.to_string()))?;
            let load_ms = ms(started);
            (
                entities.iter().count(),
                read_ms,
                load_ms,
                loaded_rss(),
                None,
            )
        }
        LoadEngine::Sesame => {
            // Sesame reads the text as a stream: the JSON parse is inside its load.
            let read_ms = ms(started);
            let started = Instant::now();
            let engine = Engine::with_entities_json(bundle, &text)?;
            drop(text);
            let load_ms = ms(started);
            (
                engine.entity_count(),
                read_ms,
                load_ms,
                loaded_rss(),
                Some(engine),
            )
        }
    };
    let figures = match (loaded, guest_wasm) {
        (Some(mut engine), Some(wasm)) => Some(decide(&mut engine, wasm, size, decisions)?),
        _ => None,
    };
    Ok(LoadBenchReport {
        engine: match engine {
            LoadEngine::Cedar => "cedar-policy",
            LoadEngine::Sesame => "sesame",
        },
        entities: count,
        read_ms,
        load_ms,
        peak_rss_bytes: proc_status_bytes("VmHWM:"),
        loaded_rss_bytes,
        decisions: figures,
    })
}

fn decide(
    engine: &mut Engine,
    wasm: &Path,
    size: FirmSize,
    count: usize,
) -> Result<DecisionFigures, LoadBenchError> {
    let runtime = GuestRuntime::from_file(wasm, None, GuestLimits::default())?;
    let mut guest = runtime.instance()?;
    let files = BundleFiles {
        files: engine.bundle().files().clone(),
    };
    refused(guest.load_bundle(&json_api::to_json(&files))?)?;
    let lines: Vec<String> = requests(size, count)
        .iter()
        .map(json_api::to_json)
        .collect();
    let mut latencies = Vec::with_capacity(lines.len());
    let mut slice_bytes = 0usize;
    for line in &lines {
        let started = Instant::now();
        let slice = json_api::slice_for(engine, Op::Decide, line)
            .map_err(|e| LoadBenchError::Refused(e.message))?;
        refused(guest.call_on_slice(Op::Decide, line, &slice)?)?;
        latencies.push(started.elapsed().as_secs_f64() * 1e6);
        slice_bytes += slice.len();
    }
    latencies.sort_by(f64::total_cmp);
    let (mut inserts, mut updates) = (Vec::new(), Vec::new());
    for i in 0..50 {
        let doc = |archived: bool| EntityDelta {
            upsert: vec![json!({
                "uid": {"type": "Document", "id": format!("load-bench-{i}")},
                "attrs": {"client": {"__entity": {"type": "Client", "id": "c0"}}, "kind": "receipt", "archived": archived},
                "parents": [{"type": "Client", "id": "c0"}]
            })],
            remove: Vec::new(),
        };
        let started = Instant::now();
        engine.apply_delta(&doc(false))?;
        inserts.push(started.elapsed().as_secs_f64() * 1e6);
        let started = Instant::now();
        engine.apply_delta(&doc(true))?;
        updates.push(started.elapsed().as_secs_f64() * 1e6);
    }
    inserts.sort_by(f64::total_cmp);
    updates.sort_by(f64::total_cmp);
    Ok(DecisionFigures {
        count: lines.len(),
        p50_us: percentile(&latencies, 0.50),
        p99_us: percentile(&latencies, 0.99),
        mean_slice_bytes: slice_bytes as f64 / lines.len().max(1) as f64,
        delta_insert_us: percentile(&inserts, 0.5),
        delta_update_us: percentile(&updates, 0.5),
    })
}

fn refused(answer: GuestAnswer) -> Result<String, LoadBenchError> {
    match answer {
        GuestAnswer::Ok(json) => Ok(json),
        GuestAnswer::EngineError(body) => Err(LoadBenchError::Refused(body)),
    }
}
