//! Operations endpoints: health, readiness, metrics, the OpenAPI document, the active bundle.

use std::sync::Arc;

use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;

use crate::server::state::AppState;

/// The OpenAPI document of the whole API, generated from the handlers and their types
/// (`server::openapi`) and checked in; a test fails when it drifts from what they generate.
pub const OPENAPI: &str = include_str!("../../../openapi.json");

/// What `/healthz` answers.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct Health {
    status: &'static str,
}

/// What `/readyz` answers: `version`, `digest` and `workers` when ready, `code` and `message`
/// when not.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct Readiness {
    ready: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    version: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    digest: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    workers: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    code: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    message: Option<&'static str>,
}

impl Readiness {
    fn not(code: &'static str, message: &'static str) -> Response {
        let body = Self {
            ready: false,
            version: None,
            digest: None,
            workers: None,
            code: Some(code),
            message: Some(message),
        };
        (StatusCode::SERVICE_UNAVAILABLE, Json(body)).into_response()
    }
}

#[utoipa::path(
    get,
    path = "/healthz",
    operation_id = "healthz",
    summary = "Liveness",
    responses(
        (status = 200, description = "OK", body = Health),
    ),
)]
pub async fn healthz() -> Json<Health> {
    Json(Health { status: "ok" })
}

/// Ready only when a version is active (decisions can be answered).
#[utoipa::path(
    get,
    path = "/readyz",
    operation_id = "readyz",
    summary = "Ready when a version is active",
    responses(
        (status = 200, description = "OK", body = Readiness),
        (status = 503, description = "Not ready", body = Readiness),
    ),
)]
pub async fn readyz(State(state): State<Arc<AppState>>) -> Response {
    if !state.store_ok.load(std::sync::atomic::Ordering::SeqCst) {
        // Still deciding from the last active version, but not following deploys.
        return Readiness::not(
            "store_unavailable",
            "the store cannot be reached; decisions continue on the last active version",
        );
    }
    match state.active.load().as_ref() {
        Some(active) => Json(Readiness {
            ready: true,
            version: Some(active.version.number),
            digest: Some(active.version.digest.clone()),
            workers: Some(active.pool.size()),
            code: None,
            message: None,
        })
        .into_response(),
        None => Readiness::not("not_ready", "no version is active yet"),
    }
}

#[utoipa::path(
    get,
    path = "/metrics",
    operation_id = "metrics",
    summary = "Prometheus metrics",
    responses(
        (status = 200, description = "text exposition format", body = String, content_type = "text/plain"),
    ),
)]
pub async fn metrics(State(state): State<Arc<AppState>>) -> Response {
    (
        [(header::CONTENT_TYPE, crate::server::metrics::CONTENT_TYPE)],
        state.metrics.render(),
    )
        .into_response()
}

#[utoipa::path(
    get,
    path = "/openapi.json",
    operation_id = "openapi",
    summary = "This document",
    responses(
        (status = 200, description = "OK", body = Object, content_type = "application/json"),
    ),
)]
pub async fn openapi() -> Response {
    ([(header::CONTENT_TYPE, "application/json")], OPENAPI).into_response()
}

/// `GET /v1/bundle/active`: exactly what the server enforces, for the browser package.
/// ETag = the version digest; `If-None-Match` answers 304.
#[utoipa::path(
    get,
    path = "/v1/bundle/active",
    operation_id = "activeBundle",
    summary = "The active bundle, exactly what the server enforces (ETag = digest)",
    params(
        ("If-None-Match" = Option<String>, Header),
    ),
    responses(
        (status = 200, description = "OK", body = policy_core::json_api::BundleFiles),
        (status = 304, description = "Not modified"),
        (status = 408, description = "Error", body = crate::server::error::Body),
        (status = 429, description = "Error", body = crate::server::error::Body),
        (status = 503, description = "Error", body = crate::server::error::Body),
    ),
)]
pub async fn active_bundle(State(state): State<Arc<AppState>>, headers: HeaderMap) -> Response {
    let Some(active) = state.active.load_full() else {
        return crate::server::error::ApiError::NotReady.into_response();
    };
    let etag = format!("\"{}\"", active.version.digest);
    let matches = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag));
    let common = [
        (header::ETAG, etag.clone()),
        (header::CACHE_CONTROL, "no-cache".to_string()),
        (
            header::HeaderName::from_static("x-sesame-version"),
            active.version.number.to_string(),
        ),
    ];
    if matches {
        return (StatusCode::NOT_MODIFIED, common).into_response();
    }
    (
        common,
        [(header::CONTENT_TYPE, "application/json")],
        active.bundle_json.to_string(),
    )
        .into_response()
}
