//! The decision API: every decision is made inside a wasmtime guest of the active version.
//! Request and answer JSON pass through untouched (the guest speaks the wire types), so the
//! server parses only what it must: batch sizes, and sampled requests for the decision log.

use std::sync::Arc;
use std::time::Instant;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use serde_json::Value;

use super::body_text;
use crate::guest::GuestAnswer;
use crate::server::error::ApiError;
use crate::server::metrics::Endpoint;
use crate::server::state::{pool_error, AppState};

fn json_response(json: String) -> Response {
    ([(header::CONTENT_TYPE, "application/json")], json).into_response()
}

fn count_allow_deny(answer: &str) -> (u64, u64) {
    (
        answer.matches("\"decision\":\"allow\"").count() as u64,
        answer.matches("\"decision\":\"deny\"").count() as u64,
    )
}

async fn run(
    state: &AppState,
    endpoint: Endpoint,
    op: &str,
    input: &str,
) -> Result<String, ApiError> {
    let active = state.active()?;
    let answer = match endpoint {
        Endpoint::Decide => active.pool.call(op, input).await,
        Endpoint::Batch | Endpoint::Matrix => active.pool.call_blocking(op, input).await,
    }
    .map_err(pool_error)?;
    match answer {
        GuestAnswer::Ok(json) => Ok(json),
        GuestAnswer::EngineError(json) => Err(ApiError::Engine(json)),
    }
}

/// `POST /v1/decide`
pub async fn decide(
    State(state): State<Arc<AppState>>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let started = Instant::now();
    let input = body_text(body, state.config.limits.max_body_bytes)?;
    let json = run_counted(&state, Endpoint::Decide, "decide", &input, started).await?;
    let elapsed = started.elapsed();
    if state.decision_log.sample() {
        if let (Ok(request), Ok(answer)) = (
            serde_json::from_str::<Value>(&input),
            serde_json::from_str::<Value>(&json),
        ) {
            state.decision_log.record(request, &answer, elapsed);
        }
    }
    Ok(json_response(json))
}

/// Parses a many-decision body and refuses it above the configured limit.
fn parse_within_limit(
    state: &AppState,
    input: &str,
    size: impl Fn(&Value) -> usize,
) -> Result<(Value, usize), ApiError> {
    let parsed: Value =
        serde_json::from_str(input).map_err(|e| ApiError::BadBody(e.to_string()))?;
    let got = size(&parsed);
    let limit = state.config.limits.max_batch;
    if got > limit {
        return Err(ApiError::BatchTooLarge { got, limit });
    }
    Ok((parsed, got))
}

/// Runs a decision operation and records its latency and decisions.
async fn run_counted(
    state: &AppState,
    endpoint: Endpoint,
    op: &str,
    input: &str,
    started: Instant,
) -> Result<String, ApiError> {
    let result = run(state, endpoint, op, input).await;
    state
        .metrics
        .request(endpoint, started.elapsed(), result.is_ok());
    let json = result?;
    let (allow, deny) = count_allow_deny(&json);
    state.metrics.decisions(allow, deny);
    Ok(json)
}

/// `POST /v1/decide/batch`
pub async fn batch(
    State(state): State<Arc<AppState>>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let started = Instant::now();
    let input = body_text(body, state.config.limits.max_body_bytes)?;
    let (parsed, requests) = parse_within_limit(&state, &input, |v| {
        v["requests"].as_array().map_or(0, Vec::len)
    })?;
    let json = run_counted(&state, Endpoint::Batch, "batch", &input, started).await?;
    log_batch(&state, &parsed, &json, started.elapsed(), requests);
    Ok(json_response(json))
}

/// Logs the sampled items of a batch (each with the batch's latency shared out).
fn log_batch(state: &AppState, parsed: &Value, json: &str, elapsed: std::time::Duration, n: usize) {
    let sampled: Vec<usize> = (0..n).filter(|_| state.decision_log.sample()).collect();
    if sampled.is_empty() {
        return;
    }
    let Ok(answer) = serde_json::from_str::<Value>(json) else {
        return;
    };
    let per_item = elapsed / u32::try_from(n.max(1)).unwrap_or(u32::MAX);
    for i in sampled {
        let request = parsed["requests"][i].clone();
        let mut item = answer["results"][i].clone();
        if item.get("bundle_digest").is_none() {
            item["bundle_digest"] = answer["bundle_digest"].clone();
        }
        state.decision_log.record(request, &item, per_item);
    }
}

/// `POST /v1/matrix`
pub async fn matrix(
    State(state): State<Arc<AppState>>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let started = Instant::now();
    let input = body_text(body, state.config.limits.max_body_bytes)?;
    parse_within_limit(&state, &input, |v| {
        let len = |key: &str| v[key].as_array().map_or(0, Vec::len);
        len("resources") * (len("actions") + len("fields")).max(1)
    })?;
    let json = run_counted(&state, Endpoint::Matrix, "matrix", &input, started).await?;
    Ok(json_response(json))
}
