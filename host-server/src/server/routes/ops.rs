//! Operations endpoints: health, readiness, metrics, the OpenAPI document, the active bundle.

use std::sync::Arc;

use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

use crate::server::state::AppState;

/// The OpenAPI document of the whole API (kept beside the code; a test checks every route).
pub const OPENAPI: &str = include_str!("../../../openapi.json");

pub async fn healthz() -> Json<serde_json::Value> {
    Json(json!({"status": "ok"}))
}

/// Ready only when a version is active (decisions can be answered).
pub async fn readyz(State(state): State<Arc<AppState>>) -> Response {
    if !state.store_ok.load(std::sync::atomic::Ordering::SeqCst) {
        // Still deciding from the last active version, but not following deploys.
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({"ready": false, "code": "store_unavailable", "message": "the store cannot be reached; decisions continue on the last active version"})),
        )
            .into_response();
    }
    match state.active.load().as_ref() {
        Some(active) => Json(json!({
            "ready": true,
            "version": active.version.number,
            "digest": active.version.digest,
            "workers": active.pool.size(),
        }))
        .into_response(),
        None => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(
                json!({"ready": false, "code": "not_ready", "message": "no version is active yet"}),
            ),
        )
            .into_response(),
    }
}

pub async fn metrics(State(state): State<Arc<AppState>>) -> Response {
    (
        [(header::CONTENT_TYPE, crate::server::metrics::CONTENT_TYPE)],
        state.metrics.render(),
    )
        .into_response()
}

pub async fn openapi() -> Response {
    ([(header::CONTENT_TYPE, "application/json")], OPENAPI).into_response()
}

/// `GET /v1/bundle/active`: exactly what the server enforces, for the browser package.
/// ETag = the version digest; `If-None-Match` answers 304.
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
