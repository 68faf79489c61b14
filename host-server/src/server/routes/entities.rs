//! Entity data: replaced or changed by deltas, persisted, and applied to every guest instance,
//! so callers never resend entities with their decisions.

use std::collections::HashSet;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap};
use axum::response::{IntoResponse, Response};
use policy_core::json_api::Op;
use policy_core::wire::EntityDelta;

use super::{authorization, body_text, read_body};
use crate::server::auth::AdminAction;
use crate::server::budget::RequestDeadline;
use crate::server::entity_ids::refuse_controls_in;
use crate::server::error::ApiError;
use crate::server::state::{AppState, EntityChange};
use crate::store::entity_key;

async fn write(
    state: Arc<AppState>,
    deadline: RequestDeadline,
    request: Request,
    op: Op,
) -> Result<Response, ApiError> {
    let (caller, request) =
        super::caller_before_body(&state, request, AdminAction::WriteEntities).await?;
    let input = read_body(request, state.config.limits.max_body_bytes).await?;
    // Shape errors are reported before touching the engine (which would say the same); the
    // parsed write is what the store persists, so the body is parsed once here.
    let change = EntityChange::parse(op, &input).map_err(|_| {
        let expected = if op == Op::ReplaceEntities {
            "a JSON array of Cedar entity records"
        } else {
            "{\"upsert\": [entity records], \"remove\": [entity refs]}"
        };
        ApiError::BadBody(format!("expected {expected}"))
    })?;
    refuse_controls_in(&input)?;
    if let EntityChange::Delta(delta) = &change {
        refuse_repeated_uids(delta)?;
    }
    let json = state.write_entities(&caller, change, deadline).await?;
    Ok(([(header::CONTENT_TYPE, "application/json")], json).into_response())
}

/// One delta names each uid once: upserting one twice, or upserting and removing it, has no
/// order the store and every guest instance would agree on.
fn refuse_repeated_uids(delta: &EntityDelta) -> Result<(), ApiError> {
    let mut seen = HashSet::new();
    // A record without a uid is the engine's to refuse, with its own message.
    let upserted = delta.upsert.iter().filter_map(|r| entity_key(r).ok());
    let removed = delta.remove.iter().map(ToString::to_string);
    for uid in upserted.chain(removed) {
        if !seen.insert(uid.clone()) {
            return Err(ApiError::DuplicateUid(uid));
        }
    }
    Ok(())
}

/// `PUT /v1/entities`: replace all data entities.
#[utoipa::path(
    put,
    path = "/v1/entities",
    operation_id = "replaceEntities",
    summary = "Replace all data entities (persisted, applied to every guest)",
    request_body = Vec<crate::server::openapi::CedarEntity>,
    responses(
        (status = 200, description = "OK", body = policy_core::wire::DeltaReport),
        (status = 400, description = "Error", body = crate::server::error::Body),
        (status = 409, description = "Error", body = crate::server::error::Body),
        (status = 413, description = "Error", body = crate::server::error::Body),
        crate::server::error::Guarded,
        (status = 503, description = "Error", body = crate::server::error::Body),
    ),
    security(("bearer" = [])),
)]
pub async fn replace(
    State(state): State<Arc<AppState>>,
    deadline: RequestDeadline,
    request: Request,
) -> Result<Response, ApiError> {
    write(state, deadline, request, Op::ReplaceEntities).await
}

/// `PATCH /v1/entities`: upsert and remove.
#[utoipa::path(
    patch,
    path = "/v1/entities",
    operation_id = "patchEntities",
    summary = "Upsert and remove entities, all-or-nothing",
    description = "Each uid at most once in one delta (409 `entity_duplicate`); entity ids and types with control characters are refused (400 `control_character_in_id`).",
    request_body = policy_core::wire::EntityDelta,
    responses(
        (status = 200, description = "OK", body = policy_core::wire::DeltaReport),
        (status = 400, description = "Error", body = crate::server::error::Body),
        (status = 409, description = "Error", body = crate::server::error::Body),
        (status = 413, description = "Error", body = crate::server::error::Body),
        crate::server::error::Guarded,
        (status = 503, description = "Error", body = crate::server::error::Body),
    ),
    security(("bearer" = [])),
)]
pub async fn patch(
    State(state): State<Arc<AppState>>,
    deadline: RequestDeadline,
    request: Request,
) -> Result<Response, ApiError> {
    write(state, deadline, request, Op::ApplyDelta).await
}

/// `POST /v1/directory`: a firm administration operation (`policy_core::directory`) on behalf of
/// `actor` — the caller's own user (a session) or a user of its tenants (a service token);
/// refused (403 `not_your_identity`, 403 `forbidden`, 409 `duplicate_email`, 400 profile rules)
/// with the reason, or written and audited with its summary.
#[utoipa::path(
    post,
    path = "/v1/directory",
    operation_id = "directory",
    summary = "A firm administration operation (invite, block, detach, change e-mail, profiles, company roles) on behalf of a firm user: checked by the bundle's policies and domain rules, then written and audited",
    request_body = policy_core::directory::DirectoryRequest,
    responses(
        (status = 200, description = "OK", body = policy_core::directory::DirectoryPlan),
        (status = 400, description = "Error", body = crate::server::error::Body),
        (status = 409, description = "Error", body = crate::server::error::Body),
        (status = 413, description = "Error", body = crate::server::error::Body),
        crate::server::error::Guarded,
    ),
    security(("bearer" = [])),
)]
pub async fn directory(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let caller = state
        .auth
        .authorize(authorization(&headers), AdminAction::Administer)?;
    let input = body_text(body, state.config.limits.max_body_bytes)?;
    crate::server::entity_ids::refuse_controls_in(&input)?;
    let request = serde_json::from_str::<policy_core::directory::DirectoryRequest>(&input)
        .map_err(|e| ApiError::BadBody(e.to_string()))?;
    // The actor is whoever the caller's identity says, never whoever the body names.
    caller.may_act_as(&request.actor)?;
    // An acceptance is proven by its invitation's token, which no session replaces.
    if matches!(
        request.op,
        policy_core::directory::DirectoryOp::AcceptInvitation { .. }
    ) {
        return Err(ApiError::NotYours(
            "an invitation is accepted with its token: POST /v1/invitations/accept".into(),
        ));
    }
    let kind = crate::server::state::directory_kind(&request.op);
    let plan = state.directory(&caller, &request, kind).await?;
    Ok(([(header::CONTENT_TYPE, "application/json")], plan).into_response())
}

/// `GET /v1/activity`: the caller's firm's activity history (its users' directory operations
/// and sign-ins, and deploys), filtered, as JSON or CSV (`format=csv`); for a firm user's
/// session whose bundle policies allow `view_activity` on the firm (403 `forbidden` otherwise,
/// 403 `not_your_identity` for a token that acts as no firm user).
#[utoipa::path(
    get,
    path = "/v1/activity",
    operation_id = "activity",
    summary = "The caller's firm's activity history, filtered by user, client, kind and date, as JSON or CSV",
    params(crate::server::activity::ActivityQuery),
    responses(
        (status = 200, description = "OK (text/csv with format=csv)", body = Vec<crate::server::activity::ActivityEntry>),
        (status = 400, description = "Error", body = crate::server::error::Body),
        crate::server::error::Guarded,
    ),
    security(("bearer" = [])),
)]
pub async fn activity(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    super::ApiQuery(query): super::ApiQuery<crate::server::activity::ActivityQuery>,
) -> Result<Response, ApiError> {
    let caller = state
        .auth
        .authorize(authorization(&headers), AdminAction::Administer)?;
    let csv = match query.format.as_deref() {
        None | Some("json") => false,
        Some("csv") => true,
        Some(other) => {
            return Err(ApiError::BadQuery(format!(
                "format `{other}`: expected `json` or `csv`"
            )))
        }
    };
    crate::server::activity::check(&query).map_err(ApiError::BadQuery)?;
    let entries = tokio::task::block_in_place(|| state.activity(&caller, &query))?;
    Ok(if csv {
        (
            [
                (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
                (
                    header::CONTENT_DISPOSITION,
                    "attachment; filename=\"activity.csv\"",
                ),
            ],
            crate::server::activity::to_csv(&entries),
        )
            .into_response()
    } else {
        axum::Json(entries).into_response()
    })
}
