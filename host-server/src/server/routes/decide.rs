//! The decision API: every decision is made inside a wasmtime guest of the active version.
//! A single decision's JSON passes through untouched (the guest speaks the wire types); batches
//! and matrices are parsed here, to be split within their budgets (`server::batch`).

use std::sync::Arc;
use std::time::Instant;

use axum::extract::{Request, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use policy_core::json_api::Op;
use policy_core::wire::EntityRef;
use serde_json::value::RawValue;
use serde_json::Value;

use super::read_body;
use crate::guest::GuestAnswer;
use crate::server::batch::{self, Budgets};
use crate::server::budget::{Budget, RequestDeadline};
use crate::server::decision_log::loggable_request;
use crate::server::entity_ids::refuse_controls_in;
use crate::server::error::ApiError;
use crate::server::metrics::Endpoint;
use crate::server::state::AppState;

fn json_response(json: String) -> Response {
    ([(header::CONTENT_TYPE, "application/json")], json).into_response()
}

fn count_allow_deny(answer: &str) -> (u64, u64) {
    (
        answer.matches("\"decision\":\"allow\"").count() as u64,
        answer.matches("\"decision\":\"deny\"").count() as u64,
    )
}

/// Records a call's latency and decisions.
fn counted(
    state: &AppState,
    endpoint: Endpoint,
    started: Instant,
    result: Result<String, ApiError>,
) -> Result<String, ApiError> {
    state
        .metrics
        .request(endpoint, started.elapsed(), result.is_ok());
    let json = result?;
    let (allow, deny) = count_allow_deny(&json);
    state.metrics.decisions(allow, deny);
    Ok(json)
}

async fn decide_one(
    state: &AppState,
    input: &str,
    deadline: RequestDeadline,
) -> Result<String, ApiError> {
    refuse_controls_in(input)?;
    let active = state.active()?;
    let limit = deadline.limit(state.config.limits.eval_deadline)?;
    match active
        .pool
        .call(Op::Decide, input, limit.deadline)
        .await
        .map_err(|e| deadline.pool_error(limit, e))?
    {
        GuestAnswer::Ok(json) => Ok(json),
        GuestAnswer::EngineError(json) => Err(ApiError::Engine(json)),
    }
}

/// A decision asked with a firm user's own token (a JWT, a session): the principal is that user,
/// as Amazon Verified Permissions' `IsAuthorizedWithToken` takes it from the identity token —
/// filled in when the body leaves it out, refused when the body names someone else. Without
/// such a token the body is decided as sent.
pub(crate) fn principal_from_token(
    state: &AppState,
    authorization: Option<&str>,
    input: String,
) -> Result<String, ApiError> {
    let Some(subject) = authorization.and_then(|h| state.auth.subject_of(h)) else {
        return Ok(input);
    };
    let mut body: Value =
        serde_json::from_str(&input).map_err(|e| ApiError::BadBody(e.to_string()))?;
    let Some(fields) = body.as_object_mut() else {
        return Ok(input);
    };
    let named = fields
        .get("principal")
        .map(|p| serde_json::from_value::<EntityRef>(p.clone()));
    match named {
        Some(Ok(principal)) if principal == subject => Ok(input),
        Some(Ok(principal)) => Err(ApiError::NotYours(format!(
            "this token is {subject}'s: it asks for {subject}'s decisions, not {principal}'s"
        ))),
        Some(Err(e)) => Err(ApiError::BadBody(format!("principal: {e}"))),
        None => {
            let value =
                serde_json::to_value(&subject).map_err(|e| ApiError::Internal(e.to_string()))?;
            fields.insert("principal".into(), value);
            Ok(body.to_string())
        }
    }
}

/// `POST /v1/decide`
#[utoipa::path(
    post,
    path = "/v1/decide",
    operation_id = "decide",
    summary = "Decide one request in a wasmtime guest of the active version",
    description = "Body limit: --max-decide-body (default 1 MiB), 413 `body_too_large` above.",
    request_body = policy_core::wire::DecisionRequest,
    responses(
        (status = 200, description = "OK", body = policy_core::wire::DecisionResponse),
        (status = 400, description = "Error", body = crate::server::error::Body),
        (status = 413, description = "Error", body = crate::server::error::Body),
        crate::server::error::Guarded,
        (status = 503, description = "Error", body = crate::server::error::Body),
        (status = 504, description = "Error", body = crate::server::error::Body),
    ),
    security((), ("bearer" = [])),
)]
pub async fn decide(
    State(state): State<Arc<AppState>>,
    deadline: RequestDeadline,
    request: Request,
) -> Result<Response, ApiError> {
    let started = Instant::now();
    let authorization = super::authorization(request.headers()).map(str::to_string);
    let input = read_body(request, state.config.limits.decide_body_bytes()).await?;
    let input = principal_from_token(&state, authorization.as_deref(), input)?;
    let result = decide_one(&state, &input, deadline).await;
    let json = counted(&state, Endpoint::Decide, started, result)?;
    let elapsed = started.elapsed();
    if state.decision_log.sample() {
        let max = state.decision_log.max_record_bytes();
        if let (Some(request), Ok(answer)) = (
            loggable_request(&input, max),
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
) -> Result<Value, ApiError> {
    let parsed: Value =
        serde_json::from_str(input).map_err(|e| ApiError::BadBody(e.to_string()))?;
    let got = size(&parsed);
    let limit = state.config.limits.max_batch;
    if got > limit {
        return Err(ApiError::BatchTooLarge { got, limit });
    }
    Ok(parsed)
}

/// The budgets of a batch or matrix that started at `started`.
fn budgets(state: &AppState, started: Instant, deadline: RequestDeadline) -> Budgets {
    Budgets {
        eval: state.config.limits.eval_deadline,
        call: Budget::from(started, state.config.limits.batch_budget).within(deadline.budget()),
    }
}

/// A batch body: each request kept as the JSON text it came as.
#[derive(serde::Deserialize)]
struct BatchBody<'a> {
    #[serde(borrow)]
    requests: Vec<&'a RawValue>,
}

/// `POST /v1/decide/batch`
#[utoipa::path(
    post,
    path = "/v1/decide/batch",
    operation_id = "decideBatch",
    summary = "Decide many requests in one call (limit: --max-batch)",
    request_body = policy_core::wire::BatchRequest,
    responses(
        (status = 200, description = "OK", body = policy_core::wire::BatchResponse),
        (status = 400, description = "Error", body = crate::server::error::Body),
        (status = 413, description = "Error", body = crate::server::error::Body),
        crate::server::error::Guarded,
        (status = 503, description = "Error", body = crate::server::error::Body),
        (status = 504, description = "Error", body = crate::server::error::Body),
    ),
    security((), ("bearer" = [])),
)]
pub async fn batch(
    State(state): State<Arc<AppState>>,
    deadline: RequestDeadline,
    request: Request,
) -> Result<Response, ApiError> {
    let started = Instant::now();
    let input = read_body(request, state.config.limits.max_body_bytes).await?;
    let body: BatchBody<'_> =
        serde_json::from_str(&input).map_err(|e| ApiError::BadBody(e.to_string()))?;
    let (got, limit) = (body.requests.len(), state.config.limits.max_batch);
    if got > limit {
        return Err(ApiError::BatchTooLarge { got, limit });
    }
    let result = match state.active() {
        Ok(active) => {
            batch::decide_batch(&active, &body.requests, budgets(&state, started, deadline)).await
        }
        Err(e) => Err(e),
    };
    let json = counted(&state, Endpoint::Batch, started, result)?;
    log_batch(&state, &body.requests, &json, started.elapsed());
    Ok(json_response(json))
}

/// Logs the sampled items of a batch (each with the batch's latency shared out).
fn log_batch(state: &AppState, requests: &[&RawValue], json: &str, elapsed: std::time::Duration) {
    let n = requests.len();
    let sampled: Vec<usize> = (0..n).filter(|_| state.decision_log.sample()).collect();
    if sampled.is_empty() {
        return;
    }
    let Ok(answer) = serde_json::from_str::<Value>(json) else {
        return;
    };
    let per_item = elapsed / u32::try_from(n.max(1)).unwrap_or(u32::MAX);
    let max = state.decision_log.max_record_bytes();
    for i in sampled {
        let Some(request) = requests.get(i).and_then(|r| loggable_request(r.get(), max)) else {
            continue;
        };
        let mut item = answer["results"][i].clone();
        if item.get("bundle_digest").is_none() {
            item["bundle_digest"] = answer["bundle_digest"].clone();
        }
        state.decision_log.record(request, &item, per_item);
    }
}

/// `POST /v1/matrix`
#[utoipa::path(
    post,
    path = "/v1/matrix",
    operation_id = "matrix",
    summary = "One principal x actions x resources, with field levels: what a page needs",
    description = "Each resource row gets one evaluation budget (504 `deadline_exceeded` past it); the whole matrix gets --batch-budget-ms (408 `budget_exceeded` past it).",
    request_body = policy_core::wire::MatrixRequest,
    responses(
        (status = 200, description = "OK", body = policy_core::wire::MatrixResponse),
        (status = 400, description = "Error", body = crate::server::error::Body),
        (status = 413, description = "Error", body = crate::server::error::Body),
        crate::server::error::Guarded,
        (status = 503, description = "Error", body = crate::server::error::Body),
        (status = 504, description = "Error", body = crate::server::error::Body),
    ),
    security((), ("bearer" = [])),
)]
pub async fn matrix(
    State(state): State<Arc<AppState>>,
    deadline: RequestDeadline,
    request: Request,
) -> Result<Response, ApiError> {
    let started = Instant::now();
    let input = read_body(request, state.config.limits.max_body_bytes).await?;
    let parsed = parse_within_limit(&state, &input, |v| {
        let len = |key: &str| v[key].as_array().map_or(0, Vec::len);
        len("resources") * (len("actions") + len("fields")).max(1)
    })?;
    drop(input);
    let result = match crate::server::entity_ids::refuse_controls(&parsed, "") {
        Ok(()) => match state.active() {
            Ok(active) => batch::matrix(&active, &parsed, budgets(&state, started, deadline)).await,
            Err(e) => Err(e),
        },
        Err(e) => Err(e),
    };
    let json = counted(&state, Endpoint::Matrix, started, result)?;
    Ok(json_response(json))
}
