//! Invitations (`super::super::invitations`): accepting one with its token, and the outbox the
//! embedding app reads to deliver them.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::State;
use axum::http::{header, HeaderMap};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;

use super::admin::Page;
use super::{authorization, body_json, ApiQuery};
use crate::server::auth::AdminAction;
use crate::server::error::ApiError;
use crate::server::state::AppState;
use crate::store::OutboxEvent;

/// The body of an acceptance.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AcceptBody {
    /// The token of the invitation, as the outbox event delivered it.
    pub token: String,
}

/// `POST /v1/invitations/accept`: the invited user accepts, proven by the token alone (no
/// bearer token: he has no session yet). Unknown, used or replaced tokens answer 404
/// `not_found`, an expired one 410 `invitation_expired`; otherwise the bundle's policies
/// decide `accept_invitation` for the user, and the acceptance is written and audited with
/// the token's use.
#[utoipa::path(
    post,
    path = "/v1/invitations/accept",
    operation_id = "acceptInvitation",
    summary = "Accept an invitation with its token: the invited user becomes active",
    request_body = AcceptBody,
    responses(
        (status = 200, description = "OK", body = policy_core::directory::DirectoryPlan),
        (status = 400, description = "Error", body = crate::server::error::Body),
        (status = 403, description = "Error", body = crate::server::error::Body),
        (status = 404, description = "Error", body = crate::server::error::Body),
        (status = 410, description = "Error", body = crate::server::error::Body),
        (status = 429, description = "Error", body = crate::server::error::Body),
    ),
)]
pub async fn accept(
    State(state): State<Arc<AppState>>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    // A token is 64 characters: a small body is all an acceptance needs.
    let body: AcceptBody = body_json(body, 4 << 10)?;
    let plan = state.accept_invitation(&body.token).await?;
    Ok(([(header::CONTENT_TYPE, "application/json")], plan).into_response())
}

/// `GET /v1/outbox?after=N&limit=M`: events for the embedding app to deliver (invitations with
/// their tokens), oldest first; a token bound to tenants reads its tenants' only, a token bound
/// to a firm user (whatever its role) none (403 `not_your_identity`).
#[utoipa::path(
    get,
    path = "/v1/outbox",
    operation_id = "outbox",
    summary = "Events to deliver (invitations and their tokens), after `after`",
    params(
        ("after" = Option<u64>, Query),
        ("limit" = Option<u64>, Query),
    ),
    responses(
        (status = 200, description = "OK", body = Vec<OutboxEvent>),
        (status = 400, description = "Error", body = crate::server::error::Body),
        crate::server::error::Guarded,
    ),
    security(("bearer" = [])),
)]
pub async fn outbox(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    ApiQuery(page): ApiQuery<Page>,
) -> Result<Json<Vec<OutboxEvent>>, ApiError> {
    let caller = state
        .auth
        .authorize(authorization(&headers), AdminAction::ReadOutbox)?;
    // A token that is a firm user's identity reads no invitations: they are other users'.
    if let Some(subject) = &caller.subject {
        return Err(ApiError::NotYours(format!(
            "`{}` acts as {subject}: the outbox (other users' invitations) is read by the \
             app's service tokens",
            caller.name
        )));
    }
    let events = tokio::task::block_in_place(|| {
        state.store.outbox(
            page.after,
            page.limit.min(10_000),
            caller.tenants.as_deref(),
        )
    })?;
    Ok(Json(events))
}
