//! HTTP handlers, one module per group of endpoints; `super::app` mounts them.

pub mod admin;
pub mod decide;
pub mod entities;
pub mod invitations;
pub mod ops;
pub mod query;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
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

/// A body announced over its limit by at most this much is read and dropped before the 413,
/// so that a client still sending it reads the answer instead of a reset connection; a larger
/// one is refused at once, unread (a client that sent `Expect: 100-continue` never sends it).
const DRAINED_PAST_LIMIT: u64 = 16 << 20;

/// Reads the body of `request` as text, at most `limit` bytes; one announced (Content-Length)
/// over the limit is refused without being kept. Handlers that check a token read the body
/// after the check, so an unauthenticated call is refused (401) before its body is read.
pub async fn read_body(request: Request, limit: usize) -> Result<String, ApiError> {
    let announced = announced_length(&request);
    if let Some(length) = announced.filter(|n| *n > limit as u64) {
        if length - limit as u64 <= DRAINED_PAST_LIMIT {
            drain(request.into_body()).await;
        }
        return Err(ApiError::BodyTooLarge(limit));
    }
    body_text(Bytes::from_request(request, &()).await, limit)
}

/// `error`, decided before the body was read (a token without the right): a body announced
/// within `limit` (and the margin above) is read and dropped first, so that a client still
/// sending it reads the refusal instead of a reset connection (hyper does not linger on close);
/// nothing of it is parsed or kept.
pub async fn refused_unread(request: Request, limit: usize, error: ApiError) -> ApiError {
    if announced_length(&request).is_some_and(|n| n <= limit as u64 + DRAINED_PAST_LIMIT) {
        drain(request.into_body()).await;
    }
    error
}

/// The body length the request announces (Content-Length), if any.
fn announced_length(request: &Request) -> Option<u64> {
    request
        .headers()
        .get(axum::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
}

/// The caller, if its token allows `action`, checked before the body is read; refused, the
/// body is drained unparsed so that the client reads the refusal ([`refused_unread`]).
pub async fn caller_before_body(
    state: &crate::server::state::AppState,
    request: Request,
    action: crate::server::auth::AdminAction,
) -> Result<(crate::server::auth::Caller, Request), ApiError> {
    match state
        .auth
        .authorize(authorization(request.headers()), action)
    {
        Ok(caller) => Ok((caller, request)),
        Err(e) => Err(refused_unread(request, state.config.limits.max_body_bytes, e).await),
    }
}

/// Reads what a client sends and keeps none of it.
async fn drain(mut body: axum::body::Body) {
    use axum::body::HttpBody;
    while let Some(Ok(_)) =
        std::future::poll_fn(|cx| std::pin::Pin::new(&mut body).poll_frame(cx)).await
    {}
}

/// A query string parsed into `T`; a bad one is a JSON `invalid_query` error.
pub struct ApiQuery<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        axum::extract::Query::<T>::from_request_parts(parts, state)
            .await
            .map(|q| Self(q.0))
            .map_err(|e| ApiError::BadQuery(e.body_text()))
    }
}

/// Path parameters parsed into `T`; a bad one is a JSON `invalid_path` error.
pub struct ApiPath<T>(pub T);

impl<T: DeserializeOwned + Send, S: Send + Sync> FromRequestParts<S> for ApiPath<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        axum::extract::Path::<T>::from_request_parts(parts, state)
            .await
            .map(|p| Self(p.0))
            .map_err(|e| ApiError::BadPath(e.body_text()))
    }
}
