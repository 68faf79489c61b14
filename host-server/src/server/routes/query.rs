//! The query API (docs/query.md): resource lists, principal lists and SQL plans, answered by
//! policy-core on the host's entity store (a list reads a whole tenant, more than a guest's
//! per-call slice), with the tenants of the entities named resident while it runs. Each query
//! holds one worker permit of the active pool for its run, so concurrent queries cannot starve
//! the decisions queued behind them of more than the pool's share.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::Json;
use policy_core::wire::{
    Decision, DecisionRequest, EntityRef, PlanRequest, PlanResponse, PrincipalList, PrincipalQuery,
    ResourceList, ResourceQuery,
};
use policy_core::Engine;

use super::decide::principal_from_token;
use super::read_body;
use crate::server::auth::{AdminAction, Caller};
use crate::server::entity_ids::refuse_controls_in;
use crate::server::error::ApiError;
use crate::server::state::{engine_error, pool_error, AppState};

/// A query body, its principal taken from a firm user's token as for `/v1/decide`.
async fn body_for<T: serde::de::DeserializeOwned>(
    state: &AppState,
    request: Request,
    subject_is_principal: bool,
) -> Result<T, ApiError> {
    let authorization = super::authorization(request.headers()).map(str::to_string);
    let input = read_body(request, state.config.limits.decide_body_bytes()).await?;
    refuse_controls_in(&input)?;
    let input = if subject_is_principal {
        principal_from_token(state, authorization.as_deref(), input)?
    } else {
        input
    };
    serde_json::from_str(&input).map_err(|e| ApiError::BadBody(e.to_string()))
}

/// The caller, who must hold a token the admin policy allows `decide` (a service's, or a firm
/// user's session): a list names entities a yes/no decision does not, so no list is anonymous.
fn query_caller(state: &AppState, authorization: Option<&str>) -> Result<Caller, ApiError> {
    state.auth.authorize(authorization, AdminAction::Decide)
}

/// Runs `query` on the active version's store with the tenants of `refs` resident. A caller
/// bound to tenants asks only about an entity (`named`) of one of them, or a shared one.
async fn run<T: Send>(
    state: &AppState,
    named: &EntityRef,
    scope: Option<Vec<String>>,
    mut refs: Vec<EntityRef>,
    query: impl FnOnce(&Engine) -> Result<T, policy_core::EngineError> + Send,
) -> Result<T, ApiError> {
    refs.push(named.clone());
    let active = state.active()?;
    active
        .pool
        .session(|_| {
            active.pool.with_tenants(&refs, |engine| {
                if let Some(allowed) = &scope {
                    let tenant = engine
                        .tenants_of(std::slice::from_ref(named))
                        .pop()
                        .flatten();
                    if let Some(firm) = tenant.filter(|f| !allowed.contains(&f.id)) {
                        return Err(ApiError::NotYours(format!(
                            "this token acts in {allowed:?}: {named} is {firm}'s"
                        )));
                    }
                }
                query(engine).map_err(engine_error)
            })
        })
        .await
        .map_err(pool_error)?
        .map_err(pool_error)?
}

/// `POST /v1/query/resources`
#[utoipa::path(
    post,
    path = "/v1/query/resources",
    operation_id = "queryResources",
    summary = "The resources of a type a principal may take an action on (exact, paged)",
    request_body = policy_core::wire::ResourceQuery,
    responses(
        (status = 200, description = "OK", body = policy_core::wire::ResourceList),
        (status = 400, description = "Error", body = crate::server::error::Body),
        crate::server::error::Guarded,
        (status = 503, description = "Error", body = crate::server::error::Body),
    ),
    security((), ("bearer" = [])),
)]
pub async fn resources(
    State(state): State<Arc<AppState>>,
    request: Request,
) -> Result<Json<ResourceList>, ApiError> {
    let scope = query_caller(&state, super::authorization(request.headers()))?.tenants;
    let query: ResourceQuery = body_for(&state, request, true).await?;
    let answer = run(&state, &query.principal, scope, Vec::new(), |engine| {
        engine.query_resources(&query)
    });
    Ok(Json(answer.await?))
}

/// `POST /v1/query/principals`
#[utoipa::path(
    post,
    path = "/v1/query/principals",
    operation_id = "queryPrincipals",
    summary = "The principals of a type that may take an action on a resource (exact, paged)",
    description = "With a firm user's token, answered only when that user may take the action \
                   on the resource himself (who can see a document is for those who see it).",
    request_body = policy_core::wire::PrincipalQuery,
    responses(
        (status = 200, description = "OK", body = policy_core::wire::PrincipalList),
        (status = 400, description = "Error", body = crate::server::error::Body),
        crate::server::error::Guarded,
        (status = 503, description = "Error", body = crate::server::error::Body),
    ),
    security((), ("bearer" = [])),
)]
pub async fn principals(
    State(state): State<Arc<AppState>>,
    request: Request,
) -> Result<Json<PrincipalList>, ApiError> {
    let caller = query_caller(&state, super::authorization(request.headers()))?;
    let (subject, scope) = (caller.subject, caller.tenants);
    let query: PrincipalQuery = body_for(&state, request, false).await?;
    let refs: Vec<EntityRef> = subject.iter().cloned().collect();
    let answer = run(&state, &query.resource, scope.clone(), refs, |engine| {
        if let Some(user) = &subject {
            let own = engine.decide(&DecisionRequest {
                principal: user.clone(),
                action: query.action.clone(),
                resource: query.resource.clone(),
                context: query.context.clone(),
                entities: Vec::new(),
            })?;
            if own.decision != Decision::Allow {
                return Ok(None);
            }
        }
        let mut list = engine.query_principals(&query)?;
        if let Some(allowed) = &scope {
            // A shared resource: only the principals of the caller's tenants (or shared ones).
            let tenants = engine.tenants_of(&list.principals);
            let mut kept = tenants
                .into_iter()
                .map(|t| t.is_none_or(|f| allowed.contains(&f.id)));
            list.principals.retain(|_| kept.next().unwrap_or(false));
        }
        Ok(Some(list))
    })
    .await?;
    answer.map(Json).ok_or_else(|| {
        ApiError::NotYours(format!(
            "this token's user may not take {} on {}: he cannot ask who may",
            query.action, query.resource
        ))
    })
}

/// `POST /v1/query/plan`
#[utoipa::path(
    post,
    path = "/v1/query/plan",
    operation_id = "queryPlan",
    summary = "A condition on resources of a type (and its SQL WHERE clause for a mapping)",
    request_body = policy_core::wire::PlanRequest,
    responses(
        (status = 200, description = "OK", body = policy_core::wire::PlanResponse),
        (status = 400, description = "Error", body = crate::server::error::Body),
        crate::server::error::Guarded,
        (status = 503, description = "Error", body = crate::server::error::Body),
    ),
    security((), ("bearer" = [])),
)]
pub async fn plan(
    State(state): State<Arc<AppState>>,
    request: Request,
) -> Result<Json<PlanResponse>, ApiError> {
    let scope = query_caller(&state, super::authorization(request.headers()))?.tenants;
    let query: PlanRequest = body_for(&state, request, true).await?;
    let answer = run(&state, &query.principal, scope, Vec::new(), |engine| {
        engine.query_plan(&query)
    });
    Ok(Json(answer.await?))
}
