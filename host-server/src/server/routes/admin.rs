//! `/v1/admin/...`: versions, deploy, activate, rollback, history, diff, template links,
//! entities, audit, decision log. Every call needs a bearer token whose role the admin policy allows.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::HeaderMap;
use axum::Json;
use policy_core::diff::{diff, BundleDiff};
use policy_core::json_api::{validate, BundleFiles, Validation};
use policy_core::links::{with_link, without_link, LinkEditError, TemplateLink};
use policy_core::wire::EntityRef;
use policy_core::Bundle;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{authorization, read_body, ApiPath, ApiQuery};
use crate::server::auth::{AdminAction, Caller};
use crate::server::budget::RequestDeadline;
use crate::server::error::ApiError;
use crate::server::state::{AppState, DeployOutcome};
use crate::store::audit::AuditHead;
use crate::store::{
    audit, Activation, ActivationKind, AuditRecord, ChainCheck, DecisionRecord, VersionMeta,
};

fn caller(state: &AppState, headers: &HeaderMap, action: AdminAction) -> Result<Caller, ApiError> {
    state.auth.authorize(authorization(headers), action)
}

fn blocking<T>(f: impl FnOnce() -> Result<T, ApiError>) -> Result<Json<T>, ApiError> {
    tokio::task::block_in_place(f).map(Json)
}

#[derive(Deserialize)]
pub struct DeployBody {
    files: BTreeMap<String, String>,
    #[serde(default)]
    message: String,
    #[serde(default = "yes")]
    activate: bool,
}

fn yes() -> bool {
    true
}

/// A JSON body parsed into `T`, read only now (after the token was checked).
async fn json_body<T: serde::de::DeserializeOwned>(
    state: &AppState,
    request: Request,
) -> Result<T, ApiError> {
    let text = read_body(request, state.config.limits.max_body_bytes).await?;
    serde_json::from_str(&text).map_err(|e| ApiError::BadBody(e.to_string()))
}

/// `POST /v1/admin/deploy`
pub async fn deploy(
    State(state): State<Arc<AppState>>,
    deadline: RequestDeadline,
    request: Request,
) -> Result<Json<DeployOutcome>, ApiError> {
    // Storing a version is the least a deploy needs: check that before reading the body, and
    // activation (which the body asks for or not) after.
    let headers = request.headers().clone();
    let mut caller = caller(&state, &headers, AdminAction::Upload)?;
    let body: DeployBody = json_body(&state, request).await?;
    if body.activate {
        caller = self::caller(&state, &headers, AdminAction::Activate)?;
    }
    state
        .deploy(
            &caller,
            body.files,
            body.message,
            body.activate.then_some(ActivationKind::Deploy),
            deadline,
        )
        .await
        .map(Json)
}

#[derive(Deserialize)]
pub struct ActivateBody {
    digest: String,
}

/// `POST /v1/admin/activate`
pub async fn activate(
    State(state): State<Arc<AppState>>,
    deadline: RequestDeadline,
    request: Request,
) -> Result<Json<VersionMeta>, ApiError> {
    let caller = caller(&state, request.headers(), AdminAction::Activate)?;
    let body: ActivateBody = json_body(&state, request).await?;
    state
        .activate(
            &caller,
            Some(body.digest),
            ActivationKind::Activate,
            deadline,
        )
        .await
        .map(Json)
}

#[derive(Deserialize, Default)]
pub struct RollbackBody {
    #[serde(default)]
    to: Option<String>,
}

/// `POST /v1/admin/rollback`: to `to`, or to the version active before the current one.
pub async fn rollback(
    State(state): State<Arc<AppState>>,
    deadline: RequestDeadline,
    request: Request,
) -> Result<Json<VersionMeta>, ApiError> {
    let caller = caller(&state, request.headers(), AdminAction::Activate)?;
    let text = read_body(request, state.config.limits.max_body_bytes).await?;
    let body: RollbackBody = if text.trim().is_empty() {
        RollbackBody::default()
    } else {
        serde_json::from_str(&text).map_err(|e| ApiError::BadBody(e.to_string()))?
    };
    state
        .activate(&caller, body.to, ActivationKind::Rollback, deadline)
        .await
        .map(Json)
}

#[derive(Serialize)]
pub struct History {
    active: Option<VersionMeta>,
    versions: Vec<VersionMeta>,
    activations: Vec<Activation>,
}

/// `GET /v1/admin/history`
pub async fn history(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
) -> Result<Json<History>, ApiError> {
    caller(&state, &headers, AdminAction::Read)?;
    blocking(|| {
        Ok(History {
            active: state.active.load().as_ref().map(|a| a.version.clone()),
            versions: state.store.versions()?,
            activations: state.store.history()?,
        })
    })
}

/// `GET /v1/admin/versions/{digest}`: a stored version's files, `{"files": {...}}`.
pub async fn version_files(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    ApiPath(digest): ApiPath<String>,
) -> Result<Json<BundleFiles>, ApiError> {
    caller(&state, &headers, AdminAction::Read)?;
    blocking(|| {
        Ok(BundleFiles {
            files: state.store.version_files(&digest)?,
        })
    })
}

#[derive(Deserialize)]
pub struct DiffQuery {
    from: String,
    /// Default: the active version.
    to: Option<String>,
}

/// `GET /v1/admin/diff?from=D1&to=D2`
pub async fn version_diff(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    ApiQuery(q): ApiQuery<DiffQuery>,
) -> Result<Json<BundleDiff>, ApiError> {
    caller(&state, &headers, AdminAction::Read)?;
    blocking(|| {
        let to = match q.to {
            Some(to) => to,
            None => state.active()?.version.digest.clone(),
        };
        let load = |digest: &str| -> Result<Bundle, ApiError> {
            Bundle::load(state.store.version_files(digest)?).map_err(|e| {
                ApiError::Internal(format!("stored version {digest} no longer loads: {e}"))
            })
        };
        Ok(diff(&load(&q.from)?, &load(&to)?))
    })
}

/// `POST /v1/admin/validate`: a candidate bundle's diagnostics; nothing is stored.
pub async fn validate_bundle(
    State(state): State<Arc<AppState>>,
    request: Request,
) -> Result<Json<Validation>, ApiError> {
    caller(&state, request.headers(), AdminAction::Read)?;
    let files: BundleFiles = json_body(&state, request).await?;
    blocking(|| Ok(validate(files)))
}

/// `GET /v1/admin/entities`: the stored data entities.
pub async fn entities(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
) -> Result<Json<Vec<Value>>, ApiError> {
    // A caller bound to tenants (a firm user's session, a scoped service token) reads its
    // tenants' records and the shared ones; an operator token needs `read` and sees all.
    let caller = caller(&state, &headers, AdminAction::SignIn)?;
    let tenants = match &caller.tenants {
        Some(tenants) => tenants.clone(),
        None => {
            state
                .auth
                .authorize(authorization(&headers), AdminAction::Read)?;
            return blocking(|| Ok(state.store.entities()?));
        }
    };
    blocking(|| {
        let records = state.store.entities()?;
        Ok(policy_core::tenancy::tenant_records(
            &records,
            &state.config.tenant_type,
            &tenants,
        ))
    })
}

#[derive(Deserialize)]
pub struct Page {
    #[serde(default)]
    after: u64,
    #[serde(default = "default_limit")]
    limit: usize,
}

fn default_limit() -> usize {
    1000
}

/// `GET /v1/admin/audit?after=N&limit=M`
pub async fn audit_log(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    ApiQuery(page): ApiQuery<Page>,
) -> Result<Json<Vec<AuditRecord>>, ApiError> {
    caller(&state, &headers, AdminAction::ReadAudit)?;
    blocking(|| Ok(state.store.audit(page.after, page.limit.min(10_000))?))
}

#[derive(Deserialize)]
pub struct VerifyQuery {
    /// A head published earlier (`/v1/admin/audit/head`): it must still be in the chain.
    head: Option<String>,
}

/// `GET /v1/admin/audit/verify?head=HASH`: walks the whole chain; with `head`, also finds
/// records removed from its end since that head was published.
pub async fn audit_verify(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    ApiQuery(q): ApiQuery<VerifyQuery>,
) -> Result<Json<ChainCheck>, ApiError> {
    caller(&state, &headers, AdminAction::ReadAudit)?;
    blocking(|| {
        let records = state.store.audit(0, usize::MAX >> 1)?;
        Ok(match &q.head {
            Some(head) => audit::verify_with_head(&records, head),
            None => audit::verify(&records),
        })
    })
}

/// `GET /v1/admin/audit/head`: the chain's last record (seq, hash, time), to publish outside
/// the server; `sesame audit verify --head HASH` then detects a truncated chain. A viewer may
/// read it: a hash and a count reveal no record.
pub async fn audit_head(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
) -> Result<Json<AuditHead>, ApiError> {
    caller(&state, &headers, AdminAction::Read)?;
    blocking(|| Ok(AuditHead::of(state.store.audit_head()?.as_ref())))
}

/// `GET /v1/admin/decisions?limit=M`: the newest logged decisions (for `sesame impact`).
pub async fn decisions(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    ApiQuery(page): ApiQuery<Page>,
) -> Result<Json<Vec<DecisionRecord>>, ApiError> {
    caller(&state, &headers, AdminAction::Read)?;
    blocking(|| Ok(state.store.decisions(page.limit.min(1_000_000))?))
}

#[derive(Serialize)]
pub struct Session {
    name: String,
    role: String,
    /// A firm user's session: the console acts as this user only.
    #[serde(skip_serializing_if = "Option::is_none")]
    subject: Option<EntityRef>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tenants: Option<Vec<String>>,
}

/// `POST /v1/admin/login`: checks a token and records the sign-in in the activity history.
pub async fn login(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
) -> Result<Json<Session>, ApiError> {
    let caller = caller(&state, &headers, AdminAction::SignIn)?;
    blocking(|| {
        state.record_login(&caller)?;
        Ok(Session {
            name: caller.name.clone(),
            role: caller.role.clone(),
            subject: caller.subject.clone(),
            tenants: caller.tenants.clone(),
        })
    })
}

#[derive(Deserialize)]
pub struct LinkBody {
    #[serde(flatten)]
    link: TemplateLink,
    #[serde(default)]
    message: Option<String>,
}

fn link_edit_error(e: LinkEditError) -> ApiError {
    match e {
        LinkEditError::Duplicate(_) => ApiError::Conflict(e.to_string()),
        LinkEditError::NotFound(_) => ApiError::NotFound(e.to_string()),
        LinkEditError::Malformed { .. } => ApiError::Internal(e.to_string()),
    }
}

/// `POST /v1/admin/links`: links a template of the active version (`{"template_id",
/// "link_id", "args": {"?principal": ..., "?resource": ...}}`, as in a links file) and deploys
/// the result as a new active version — "share this document with Bob" as data, checked,
/// tested, audited and rolled back like any deploy.
pub async fn link(
    State(state): State<Arc<AppState>>,
    deadline: RequestDeadline,
    request: Request,
) -> Result<Json<DeployOutcome>, ApiError> {
    let caller = caller(&state, request.headers(), AdminAction::Activate)?;
    let body: LinkBody = json_body(&state, request).await?;
    let message = body.message.unwrap_or_else(|| {
        format!(
            "link {} of template {}",
            body.link.link_id, body.link.template_id
        )
    });
    let link = body.link;
    state
        .deploy_edit(
            &caller,
            move |files| with_link(files, &link).map_err(link_edit_error),
            message,
            deadline,
        )
        .await
        .map(Json)
}

/// `DELETE /v1/admin/links/{link_id}`: removes a template link, deploying the result.
pub async fn unlink(
    State(state): State<Arc<AppState>>,
    deadline: RequestDeadline,
    ApiPath(link_id): ApiPath<String>,
    headers: HeaderMap,
) -> Result<Json<DeployOutcome>, ApiError> {
    let caller = caller(&state, &headers, AdminAction::Activate)?;
    let message = format!("unlink {link_id}");
    state
        .deploy_edit(
            &caller,
            move |files| without_link(files, &link_id).map_err(link_edit_error),
            message,
            deadline,
        )
        .await
        .map(Json)
}
