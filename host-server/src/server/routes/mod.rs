//! HTTP handlers, one module per group of endpoints; `super::app` mounts them.

pub mod admin;
pub mod decide;
pub mod entities;
pub mod ops;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::http::{HeaderMap, StatusCode};
use serde::de::DeserializeOwned;

use super::error::ApiError;

/// A request body as text, with the body-limit and encoding failures as typed errors.
pub fn body_text(body: Result<Bytes, BytesRejection>, limit: usize) -> Result<String, ApiError> {
    let bytes = body.map_err(|e| {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::BodyTooLarge(limit)
        } else {
            ApiError::BadBody(e.body_text())
        }
    })?;
    String::from_utf8(bytes.to_vec()).map_err(|e| ApiError::BadBody(e.to_string()))
}

/// A JSON body parsed into `T`, located on error (line and column of the JSON text).
pub fn body_json<T: DeserializeOwned>(
    body: Result<Bytes, BytesRejection>,
    limit: usize,
) -> Result<T, ApiError> {
    let text = body_text(body, limit)?;
    serde_json::from_str(&text).map_err(|e| ApiError::BadBody(e.to_string()))
}

pub fn authorization(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
}
