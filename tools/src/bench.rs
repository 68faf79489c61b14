//! The decision benchmark: the same requests on the same entities through raw `cedar-policy`
//! and through `policy-core`, interleaved in one run; figures are medians over rounds and the
//! result is reported as ratios, because these machines are noisy.

use std::path::Path;
use std::time::{Duration, Instant};

use cedar_policy::{Authorizer, Context, Entities, Entity, EntityTypeName, EntityUid, Request};
use policy_core::wire::{DecisionRequest, EntityDelta, EntityRef, MatrixRequest};
use policy_core::{Bundle, Engine, EngineError};
use serde::Serialize;
use serde_json::json;

use crate::firm_gen::{firm_entities, requests, FirmSize};

#[derive(Debug, Clone, Serialize)]
pub struct BenchReport {
    pub entities: usize,
    pub requests: usize,
    pub rounds: usize,
    /// Building the engine (policy-core store with its closure) on the generated firm.
    pub load_ms: f64,
    /// Building `cedar_policy::Entities` from the same records.
    pub cedar_load_ms: f64,
    /// Raw cedar, `Request` objects built before timing (pure evaluation).
    pub cedar_prebuilt_ns: f64,
    /// Raw cedar, building each `Request` from the same JSON inside the timing.
    pub cedar_from_json_ns: f64,
    /// `Engine::decide` on wire requests (JSON form already deserialized).
    pub engine_ns: f64,
    /// `Engine::decide_batch`, per decision.
    pub engine_batch_ns: f64,
    pub ratio_engine_vs_cedar_from_json: f64,
    pub ratio_engine_vs_cedar_prebuilt: f64,
    /// `Engine::matrix` (one principal × 6 document actions × 50 documents), per cell.
    pub engine_matrix_cell_ns: f64,
    pub ratio_matrix_cell_vs_cedar_from_json: f64,
    /// Entity deltas on the loaded firm, median per delta.
    pub delta_insert_document_us: f64,
    pub delta_update_document_us: f64,
    /// The same insert with `cedar_policy::Entities::upsert_entities`, one sample.
    pub cedar_delta_insert_us: f64,
    pub delta_remove_document_us: f64,
    pub allow_count: usize,
    /// List queries and plans on the same firm (`bench_query`).
    pub query: crate::bench_query::QueryBenchReport,
    /// The wasmtime guest on the same requests, when a guest module was given.
    pub guest: Option<crate::bench_guest::GuestBenchReport>,
}

#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    #[error("engine: {0}")]
    Engine(#[from] EngineError),
    #[error("cedar request: {0}")]
    Cedar(String),
    #[error("wasmtime guest: {0}")]
    Guest(#[from] crate::bench_guest::GuestBenchError),
    #[error("native cedar and policy-core disagree on request #{0}")]
    Disagree(usize),
    #[error("the document list of {0} differs from deciding every document")]
    QueryDisagrees(String),
}

fn cedar_request(bundle: &Bundle, r: &DecisionRequest) -> Result<Request, BenchError> {
    let uid = |e: &EntityRef| -> Result<EntityUid, BenchError> {
        let ty: EntityTypeName = e
            .type_name
            .parse()
            .map_err(|err| BenchError::Cedar(format!("{err}")))?;
        Ok(EntityUid::from_type_name_and_id(
            ty,
            e.id.parse()
                .map_err(|err| BenchError::Cedar(format!("{err:?}")))?,
        ))
    };
    let action = uid(&r.action)?;
    let context = match &r.context {
        Some(v) => Context::from_json_value(v.clone(), bundle.schema().map(|s| (s, &action)))
            .map_err(|e| BenchError::Cedar(e.to_string()))?,
        None => Context::empty(),
    };
    Request::new(
        uid(&r.principal)?,
        action,
        uid(&r.resource)?,
        context,
        bundle.schema(),
    )
    .map_err(|e| BenchError::Cedar(e.to_string()))
}

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(|a, b| a.total_cmp(b));
    xs.get(xs.len() / 2).copied().unwrap_or(f64::NAN)
}

fn per_item(elapsed: Duration, n: usize) -> f64 {
    elapsed.as_nanos() as f64 / n.max(1) as f64
}

/// Runs the benchmark on `bundle` (the `policies/` bundle) with a generated firm of `size`.
pub fn run(
    bundle: Bundle,
    size: FirmSize,
    request_count: usize,
    rounds: usize,
    guest_wasm: Option<&Path>,
) -> Result<BenchReport, BenchError> {
    let records = firm_entities(size);
    // Raw cedar gets the same entities (the bundle's static ones plus the firm) in its own store.
    let mut all = bundle.entity_records().to_vec();
    all.extend(records.iter().cloned());
    let started = Instant::now();
    let cedar_entities = Entities::from_json_value(serde_json::Value::Array(all), bundle.schema())
        .map_err(|e| BenchError::Cedar(e.to_string()))?;
    let cedar_load_ms = started.elapsed().as_secs_f64() * 1e3;
    let started = Instant::now();
    let mut engine = Engine::with_entities(bundle, records)?;
    let load_ms = started.elapsed().as_secs_f64() * 1e3;
    let wire = requests(size, request_count);
    let prebuilt = wire
        .iter()
        .map(|r| cedar_request(engine.bundle(), r))
        .collect::<Result<Vec<_>, _>>()?;

    // Differential check first: the engine must decide exactly as cedar does.
    let authorizer = Authorizer::new();
    let mut allow_count = 0;
    for (i, (w, p)) in wire.iter().zip(&prebuilt).enumerate() {
        let ours = engine.decide(w)?;
        let theirs = authorizer.is_authorized(p, engine.bundle().policies(), &cedar_entities);
        let same = matches!(
            (ours.decision, theirs.decision()),
            (
                policy_core::wire::Decision::Allow,
                cedar_policy::Decision::Allow
            ) | (
                policy_core::wire::Decision::Deny,
                cedar_policy::Decision::Deny
            )
        );
        let mut their_policies: Vec<String> = theirs
            .diagnostics()
            .reason()
            .map(|p| p.to_string())
            .collect();
        their_policies.sort();
        let their_errors = theirs.diagnostics().errors().count();
        if !same || their_policies != ours.determining_policies || their_errors != ours.errors.len()
        {
            return Err(BenchError::Disagree(i));
        }
        allow_count += usize::from(ours.decision == policy_core::wire::Decision::Allow);
    }

    let (mut cedar_pre, mut cedar_json, mut ours, mut ours_batch) =
        (vec![], vec![], vec![], vec![]);
    for _ in 0..rounds {
        let t = Instant::now();
        for p in &prebuilt {
            std::hint::black_box(authorizer.is_authorized(
                p,
                engine.bundle().policies(),
                &cedar_entities,
            ));
        }
        cedar_pre.push(per_item(t.elapsed(), prebuilt.len()));

        let t = Instant::now();
        for w in &wire {
            let req = cedar_request(engine.bundle(), w)?;
            std::hint::black_box(authorizer.is_authorized(
                &req,
                engine.bundle().policies(),
                &cedar_entities,
            ));
        }
        cedar_json.push(per_item(t.elapsed(), wire.len()));

        let t = Instant::now();
        for w in &wire {
            std::hint::black_box(engine.decide(w)?);
        }
        ours.push(per_item(t.elapsed(), wire.len()));

        let t = Instant::now();
        std::hint::black_box(engine.decide_batch(&wire));
        ours_batch.push(per_item(t.elapsed(), wire.len()));
    }

    let matrix = MatrixRequest {
        principal: EntityRef::new("User", "u2"),
        actions: [
            "view_document",
            "download_document",
            "export_document",
            "edit_document",
            "approve_document",
            "delete_document",
        ]
        .iter()
        .map(|a| EntityRef::new("Action", *a))
        .collect(),
        resources: (0..50)
            .map(|d| EntityRef::new("Document", format!("doc{}", d * 37 % size.documents.max(1))))
            .collect(),
        fields: vec![],
        context: None,
        entities: Vec::new(),
    };
    let cells = matrix.actions.len() * matrix.resources.len();
    let mut matrix_cells = vec![];
    for _ in 0..rounds {
        let t = Instant::now();
        for _ in 0..(request_count / cells).max(1) {
            std::hint::black_box(engine.matrix(&matrix)?);
        }
        matrix_cells.push(per_item(
            t.elapsed(),
            cells * (request_count / cells).max(1),
        ));
    }

    // The wasmtime guest on the same firm and requests (before the deltas below change the data).
    let guest = match guest_wasm {
        Some(path) => {
            let bundle = engine.bundle().clone();
            Some(crate::bench_guest::run(
                path,
                &bundle,
                &mut engine,
                &wire,
                rounds,
            )?)
        }
        None => None,
    };

    let (mut insert, mut update, mut remove) = (vec![], vec![], vec![]);
    for i in 0..rounds.max(5) {
        let id = format!("bench-new-{i}");
        let doc = |archived: bool| json!({"uid": {"type": "Document", "id": id}, "attrs": {"client": {"__entity": {"type": "Client", "id": "c1"}}, "kind": "receipt", "archived": archived}, "parents": [{"type": "Client", "id": "c1"}]});
        let mut timed = |delta: EntityDelta| -> Result<f64, EngineError> {
            let t = Instant::now();
            engine.apply_delta(&delta)?;
            Ok(t.elapsed().as_secs_f64() * 1e6)
        };
        insert.push(timed(EntityDelta {
            upsert: vec![doc(false)],
            remove: vec![],
        })?);
        update.push(timed(EntityDelta {
            upsert: vec![doc(true)],
            remove: vec![],
        })?);
        remove.push(timed(EntityDelta {
            upsert: vec![],
            remove: vec![EntityRef::new("Document", id.as_str())],
        })?);
    }

    // The same insert through cedar-policy's own store, once (it costs seconds at this size).
    let doc = Entity::from_json_value(
        json!({"uid": {"type": "Document", "id": "bench-cedar"}, "attrs": {"client": {"__entity": {"type": "Client", "id": "c1"}}, "kind": "receipt", "archived": false}, "parents": [{"type": "Client", "id": "c1"}]}),
        engine.bundle().schema(),
    )
    .map_err(|e| BenchError::Cedar(e.to_string()))?;
    let t = Instant::now();
    let cedar_entities = cedar_entities
        .upsert_entities([doc], engine.bundle().schema())
        .map_err(|e| BenchError::Cedar(e.to_string()))?;
    let cedar_delta_insert_us = t.elapsed().as_secs_f64() * 1e6;
    std::hint::black_box(&cedar_entities);

    let query = crate::bench_query::run(&engine, size, rounds)?;

    let cedar_prebuilt_ns = median(cedar_pre);
    let cedar_from_json_ns = median(cedar_json);
    let engine_ns = median(ours);
    let engine_matrix_cell_ns = median(matrix_cells);
    Ok(BenchReport {
        query,
        guest,
        engine_matrix_cell_ns,
        ratio_matrix_cell_vs_cedar_from_json: engine_matrix_cell_ns / cedar_from_json_ns,
        entities: engine.entity_count(),
        requests: wire.len(),
        rounds,
        load_ms,
        cedar_load_ms,
        cedar_prebuilt_ns,
        cedar_from_json_ns,
        engine_ns,
        engine_batch_ns: median(ours_batch),
        ratio_engine_vs_cedar_from_json: engine_ns / cedar_from_json_ns,
        ratio_engine_vs_cedar_prebuilt: engine_ns / cedar_prebuilt_ns,
        delta_insert_document_us: median(insert),
        cedar_delta_insert_us,
        delta_update_document_us: median(update),
        delta_remove_document_us: median(remove),
        allow_count,
    })
}
