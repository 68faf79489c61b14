//! One error type for the HTTP API: every failure is a JSON body with a stable `code`, the same
//! shape as policy-core's `ErrorBody` (`code`, `message`, `location`, `diagnostics`) plus the
//! server's own codes.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use policy_core::Diagnostic;
use serde::Serialize;
use serde_json::Value;

use crate::guest::GuestError;
use crate::store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The engine refused the input (bad request, unknown entity type, invalid delta...): its
    /// own JSON body, passed through as-is.
    #[error("engine error")]
    Engine(String),
    #[error("{message}")]
    InvalidBundle {
        message: String,
        diagnostics: Vec<Diagnostic>,
    },
    #[error("the bundle's tests fail: {failed} of {total}")]
    TestsFailed {
        failed: usize,
        total: usize,
        report: Value,
    },
    #[error("the bundle's tests did not finish within {0:?}")]
    TestsTimedOut(std::time::Duration),
    #[error("malformed request body: {0}")]
    BadBody(String),
    #[error("invalid query string: {0}")]
    BadQuery(String),
    #[error("invalid path parameter: {0}")]
    BadPath(String),
    #[error("entity {at} contains a control character ({code_point}); ids and types may not")]
    ControlCharacter { at: String, code_point: String },
    #[error("{0} appears more than once in one write (upsert or remove it once)")]
    DuplicateUid(String),
    #[error("request body larger than {0} bytes")]
    BodyTooLarge(usize),
    #[error("{got} requests in one call; the limit is {limit}")]
    BatchTooLarge { got: usize, limit: usize },
    #[error("missing or unknown bearer token")]
    Unauthorized,
    #[error("token `{token}` (role {role}) may not {action}")]
    Forbidden {
        token: String,
        role: String,
        action: String,
    },
    /// A bound caller (a firm user's session, a tenant-scoped service token) named an actor or
    /// a tenant outside its identity.
    #[error("{0}")]
    NotYours(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{method} is not allowed on {path}")]
    MethodNotAllowed { method: String, path: String },
    #[error("too many requests from {client}; retry in {retry_after_s} s")]
    RateLimited { client: String, retry_after_s: u64 },
    #[error("no version is active yet")]
    NotReady,
    #[error("{0}")]
    Conflict(String),
    /// An invitation token past its expiry: an administrator sends a new one.
    #[error("{0}")]
    InvitationExpired(String),
    #[error("evaluation exceeded its deadline")]
    Deadline,
    #[error("the request took longer than {0:?}")]
    Timeout(std::time::Duration),
    #[error("the call used its whole budget of {0:?} before every item was evaluated")]
    BudgetExceeded(std::time::Duration),
    #[error("{0}")]
    Internal(String),
    /// An error no handler of ours wrote (a layer, a static file service), in our shape.
    #[error("{message}")]
    Rejected { status: StatusCode, message: String },
}

/// What every guarded call may answer besides its own errors, in the OpenAPI document: no or a
/// bad token (401), a role or identity that may not (403), past its deadline (408), over the rate
/// limit (429) — each a JSON `Error`.
#[derive(utoipa::IntoResponses)]
#[allow(dead_code)] // a description of responses for the document, never built
pub enum Guarded {
    #[response(status = 401, description = "Error")]
    Unauthorized(Body<'static>),
    #[response(status = 403, description = "Error")]
    Forbidden(Body<'static>),
    #[response(status = 408, description = "Error")]
    Timeout(Body<'static>),
    #[response(status = 429, description = "Error")]
    RateLimited(Body<'static>),
}

/// The JSON body of every error the server answers (`Error` in the OpenAPI document).
#[derive(Serialize, utoipa::ToSchema)]
#[schema(as = Error)]
pub struct Body<'a> {
    /// Stable: engine codes (policy_parse, invalid_request, entity_invalid, entity_duplicate,
    /// ...) or server codes (unauthorized, forbidden, not_your_identity, not_found,
    /// method_not_allowed, not_ready, invalid_bundle, tests_failed, tests_timeout,
    /// body_too_large, batch_too_large, malformed_json, invalid_query, invalid_path,
    /// control_character_in_id, conflict, invitation_expired, deadline_exceeded, budget_exceeded, request_timeout,
    /// rate_limited, bad_request, internal).
    code: &'a str,
    message: String,
    #[serde(skip_serializing_if = "<[Diagnostic]>::is_empty")]
    diagnostics: &'a [Diagnostic],
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    location: Option<&'a policy_core::Location>,
    /// The test report of a deploy whose tests fail.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    report: Option<&'a Value>,
}

impl ApiError {
    pub fn status(&self) -> StatusCode {
        match self {
            Self::Engine(json) => engine_status(json),
            Self::BadBody(_)
            | Self::BadQuery(_)
            | Self::BadPath(_)
            | Self::ControlCharacter { .. } => StatusCode::BAD_REQUEST,
            Self::DuplicateUid(_) => StatusCode::CONFLICT,
            Self::InvalidBundle { .. } | Self::TestsFailed { .. } | Self::TestsTimedOut(_) => {
                StatusCode::UNPROCESSABLE_ENTITY
            }
            Self::BodyTooLarge(_) | Self::BatchTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            Self::Unauthorized => StatusCode::UNAUTHORIZED,
            Self::Forbidden { .. } | Self::NotYours(_) => StatusCode::FORBIDDEN,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::MethodNotAllowed { .. } => StatusCode::METHOD_NOT_ALLOWED,
            Self::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::NotReady => StatusCode::SERVICE_UNAVAILABLE,
            Self::Conflict(_) => StatusCode::CONFLICT,
            Self::InvitationExpired(_) => StatusCode::GONE,
            Self::Deadline => StatusCode::GATEWAY_TIMEOUT,
            Self::Timeout(_) | Self::BudgetExceeded(_) => StatusCode::REQUEST_TIMEOUT,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
            Self::Rejected { status, .. } => *status,
        }
    }

    pub fn code(&self) -> &'static str {
        match self {
            Self::Engine(_) => "engine_error",
            Self::InvalidBundle { .. } => "invalid_bundle",
            Self::TestsFailed { .. } => "tests_failed",
            Self::TestsTimedOut(_) => "tests_timeout",
            Self::BadBody(_) => "malformed_json",
            Self::BadQuery(_) => "invalid_query",
            Self::BadPath(_) => "invalid_path",
            Self::ControlCharacter { .. } => "control_character_in_id",
            // The engine's code for two entities with one uid.
            Self::DuplicateUid(_) => "entity_duplicate",
            Self::BodyTooLarge(_) => "body_too_large",
            Self::BatchTooLarge { .. } => "batch_too_large",
            Self::Unauthorized => "unauthorized",
            Self::Forbidden { .. } => "forbidden",
            Self::NotYours(_) => "not_your_identity",
            Self::NotFound(_) => "not_found",
            Self::MethodNotAllowed { .. } => "method_not_allowed",
            Self::RateLimited { .. } => "rate_limited",
            Self::NotReady => "not_ready",
            Self::Conflict(_) => "conflict",
            Self::InvitationExpired(_) => "invitation_expired",
            Self::Deadline => "deadline_exceeded",
            Self::Timeout(_) => "request_timeout",
            Self::BudgetExceeded(_) => "budget_exceeded",
            Self::Internal(_) => "internal",
            Self::Rejected { status, .. } if status.is_server_error() => "internal",
            Self::Rejected { .. } => "bad_request",
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        if let Self::Engine(json) = &self {
            // Already an `ErrorBody` with the engine's stable code.
            return (
                status,
                [(axum::http::header::CONTENT_TYPE, "application/json")],
                json.clone(),
            )
                .into_response();
        }
        let (diagnostics, report): (&[Diagnostic], Option<&Value>) = match &self {
            Self::InvalidBundle { diagnostics, .. } => (diagnostics, None),
            Self::TestsFailed { report, .. } => (&[], Some(report)),
            _ => (&[], None),
        };
        if status.is_server_error() {
            tracing::error!(code = self.code(), "{self}");
        }
        let body = Body {
            code: self.code(),
            message: self.to_string(),
            location: diagnostics
                .iter()
                .find(|d| d.is_error())
                .and_then(|d| d.location.as_ref()),
            diagnostics,
            report,
        };
        let mut response = (status, axum::Json(body)).into_response();
        if let Self::RateLimited { retry_after_s, .. } = &self {
            response.headers_mut().insert(
                axum::http::header::RETRY_AFTER,
                axum::http::HeaderValue::from(*retry_after_s),
            );
        }
        response
    }
}

impl ApiError {
    /// This error as one item of a batch answer (`{"error": {code, message}}`): an item that
    /// fails, fails alone.
    pub fn batch_item(&self) -> Value {
        serde_json::json!({"error": {"code": self.code(), "message": self.to_string()}})
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::UnknownVersion(d) => Self::NotFound(format!("no version {d}")),
            StoreError::InvitationUsed => {
                Self::NotFound("no open invitation has this token".into())
            }
            other => Self::Internal(other.to_string()),
        }
    }
}

impl From<GuestError> for ApiError {
    fn from(e: GuestError) -> Self {
        match e {
            GuestError::DeadlineExceeded(_) => Self::Deadline,
            other => Self::Internal(other.to_string()),
        }
    }
}

/// The engine's own refusals of an administration operation keep their HTTP meaning.
fn engine_status(json: &str) -> StatusCode {
    let code = serde_json::from_str::<Value>(json)
        .ok()
        .and_then(|v| v.get("code").and_then(Value::as_str).map(String::from));
    match code.as_deref() {
        Some("forbidden") => StatusCode::FORBIDDEN,
        Some("duplicate_email") | Some("entity_duplicate") => StatusCode::CONFLICT,
        _ => StatusCode::BAD_REQUEST,
    }
}
