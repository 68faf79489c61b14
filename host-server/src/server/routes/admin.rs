//! `/v1/admin/...`: versions, deploy, activate, rollback, history, diff, template links,
//! entities, audit, decision log. Every call needs a bearer token whose role the admin policy allows.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::HeaderMap;
use axum::Json;
use policy_core::diff::{diff, BundleDiff};
use policy_core::json_api::{validate, BundleFiles, Validation};
use policy_core::links::{with_link, without_link, LinkArg, LinkEditError, TemplateLink};
use policy_core::wire::EntityRef;
use policy_core::Bundle;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{authorization, read_body, ApiPath, ApiQuery};
use crate::server::auth::{AdminAction, Caller};
use crate::server::budget::RequestDeadline;
use crate::server::entity_ids::refuse_control_text;
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

#[derive(Deserialize, utoipa::ToSchema)]
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
#[utoipa::path(
    post,
    path = "/v1/admin/deploy",
    operation_id = "deploy",
    summary = "Validate, test, store and (by default) activate a bundle",
    description = "The token is checked before the body is read. The bundle's tests run in a guest, outside the change lock, within --deploy-tests-timeout-ms (422 `tests_timeout` past it).",
    request_body = DeployBody,
    responses(
        (status = 200, description = "OK", body = crate::server::state::DeployOutcome),
        (status = 400, description = "Error", body = crate::server::error::Body),
        (status = 409, description = "Error", body = crate::server::error::Body),
        (status = 413, description = "Error", body = crate::server::error::Body),
        (status = 422, description = "Error", body = crate::server::error::Body),
        crate::server::error::Guarded,
    ),
    security(("bearer" = [])),
)]
pub async fn deploy(
    State(state): State<Arc<AppState>>,
    deadline: RequestDeadline,
    request: Request,
) -> Result<Json<DeployOutcome>, ApiError> {
    // Storing a version is the least a deploy needs: check that before reading the body, and
    // activation (which the body asks for or not) after.
    let headers = request.headers().clone();
    let (mut caller, request) =
        super::caller_before_body(&state, request, AdminAction::Upload).await?;
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

#[derive(Deserialize, utoipa::ToSchema)]
pub struct ActivateBody {
    digest: String,
}

/// `POST /v1/admin/activate`
#[utoipa::path(
    post,
    path = "/v1/admin/activate",
    operation_id = "activate",
    summary = "Activate a stored version",
    request_body = ActivateBody,
    responses(
        (status = 200, description = "OK", body = crate::store::VersionMeta),
        (status = 400, description = "Error", body = crate::server::error::Body),
        (status = 404, description = "Error", body = crate::server::error::Body),
        (status = 409, description = "Error", body = crate::server::error::Body),
        crate::server::error::Guarded,
    ),
    security(("bearer" = [])),
)]
pub async fn activate(
    State(state): State<Arc<AppState>>,
    deadline: RequestDeadline,
    request: Request,
) -> Result<Json<VersionMeta>, ApiError> {
    let (caller, request) =
        super::caller_before_body(&state, request, AdminAction::Activate).await?;
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

#[derive(Deserialize, Default, utoipa::ToSchema)]
pub struct RollbackBody {
    #[serde(default)]
    to: Option<String>,
}

/// `POST /v1/admin/rollback`: to `to`, or to the version active before the current one.
#[utoipa::path(
    post,
    path = "/v1/admin/rollback",
    operation_id = "rollback",
    summary = "Activate `to`, or the version active before the current one",
    request_body = RollbackBody,
    responses(
        (status = 200, description = "OK", body = crate::store::VersionMeta),
        (status = 404, description = "Error", body = crate::server::error::Body),
        (status = 409, description = "Error", body = crate::server::error::Body),
        crate::server::error::Guarded,
    ),
    security(("bearer" = [])),
)]
pub async fn rollback(
    State(state): State<Arc<AppState>>,
    deadline: RequestDeadline,
    request: Request,
) -> Result<Json<VersionMeta>, ApiError> {
    let (caller, request) =
        super::caller_before_body(&state, request, AdminAction::Activate).await?;
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

#[derive(Serialize, utoipa::ToSchema)]
pub struct History {
    active: Option<VersionMeta>,
    versions: Vec<VersionMeta>,
    activations: Vec<Activation>,
}

/// `GET /v1/admin/history`
#[utoipa::path(
    get,
    path = "/v1/admin/history",
    operation_id = "history",
    summary = "Active version, stored versions, moves of the active pointer",
    responses(
        (status = 200, description = "OK", body = History),
        crate::server::error::Guarded,
    ),
    security(("bearer" = [])),
)]
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
#[utoipa::path(
    get,
    path = "/v1/admin/versions/{digest}",
    operation_id = "versionFiles",
    summary = "A stored version's files",
    params(
        ("digest" = String, Path),
    ),
    responses(
        (status = 200, description = "OK", body = policy_core::json_api::BundleFiles),
        (status = 400, description = "Error", body = crate::server::error::Body),
        (status = 404, description = "Error", body = crate::server::error::Body),
        crate::server::error::Guarded,
    ),
    security(("bearer" = [])),
)]
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
#[utoipa::path(
    get,
    path = "/v1/admin/diff",
    operation_id = "diff",
    summary = "Files and policies changed between two versions",
    params(
        ("from" = String, Query),
        ("to" = Option<String>, Query, description = "default: the active version"),
    ),
    responses(
        (status = 200, description = "OK", body = policy_core::diff::BundleDiff),
        (status = 400, description = "Error", body = crate::server::error::Body),
        (status = 404, description = "Error", body = crate::server::error::Body),
        crate::server::error::Guarded,
        (status = 503, description = "Error", body = crate::server::error::Body),
    ),
    security(("bearer" = [])),
)]
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
#[utoipa::path(
    post,
    path = "/v1/admin/validate",
    operation_id = "validate",
    summary = "Diagnostics of a candidate bundle; nothing stored",
    request_body = policy_core::json_api::BundleFiles,
    responses(
        (status = 200, description = "OK", body = policy_core::json_api::Validation),
        (status = 400, description = "Error", body = crate::server::error::Body),
        (status = 413, description = "Error", body = crate::server::error::Body),
        crate::server::error::Guarded,
    ),
    security(("bearer" = [])),
)]
pub async fn validate_bundle(
    State(state): State<Arc<AppState>>,
    request: Request,
) -> Result<Json<Validation>, ApiError> {
    let (_, request) = super::caller_before_body(&state, request, AdminAction::Read).await?;
    let files: BundleFiles = json_body(&state, request).await?;
    blocking(|| Ok(validate(files)))
}

/// `GET /v1/admin/entities`: the stored data entities.
#[utoipa::path(
    get,
    path = "/v1/admin/entities",
    operation_id = "entities",
    summary = "The stored data entities",
    responses(
        (status = 200, description = "OK", body = Vec<crate::server::openapi::CedarEntity>),
        crate::server::error::Guarded,
    ),
    security(("bearer" = [])),
)]
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
        if let Some(records) = by_partition(&state, &tenants)? {
            return Ok(records);
        }
        let records = state.store.entities()?;
        Ok(policy_core::tenancy::tenant_records(
            &records,
            &state.config.tenant_type,
            &tenants,
        ))
    })
}

/// A bound caller's records read by tenant, when the store's rows carry tenants of the tenant
/// type (assigned under the active version's firm model, `--entity-memory`): its tenants' rows
/// and the shared ones, not a scan of every firm's. A shared row is given only if everything
/// it references is in what is given or the bundle's (a row stored when what it references
/// did not exist yet may reach a firm now). `None`: the rows carry no such tenants.
fn by_partition(state: &AppState, tenants: &[String]) -> Result<Option<Vec<Value>>, ApiError> {
    let Ok(active) = state.active() else {
        return Ok(None);
    };
    let (model, statics) = {
        let data = active
            .pool
            .data()
            .map_err(crate::server::state::pool_error)?;
        let statics: Vec<EntityRef> = data
            .bundle()
            .entity_records()
            .iter()
            .filter_map(policy_core::uid_of_record)
            .collect();
        (data.firm_model().cloned(), statics)
    };
    let Some(model) = model else {
        return Ok(None);
    };
    let tenant_type = model.type_name(policy_core::firm_model::Part::Firm);
    let key = crate::server::partitions::model_key(Some(&model));
    if tenant_type != state.config.tenant_type || !state.store.tenants_assigned(&key)? {
        return Ok(None);
    }
    let mut records = Vec::new();
    for tenant in tenants {
        let name = EntityRef::new(tenant_type.as_str(), tenant.as_str()).to_string();
        records.extend(state.store.partition(&name)?.0);
    }
    let mut shared = state.store.partition("")?.0;
    let mut known: std::collections::HashSet<EntityRef> = records
        .iter()
        .chain(&shared)
        .filter_map(policy_core::uid_of_record)
        .chain(statics)
        .collect();
    loop {
        let before = shared.len();
        shared.retain(|record| {
            let mut refs = Vec::new();
            crate::server::partitions::refs_in(record, &mut refs);
            let closed = refs.iter().all(|r| known.contains(r));
            if !closed {
                if let Some(uid) = policy_core::uid_of_record(record) {
                    known.remove(&uid);
                }
            }
            closed
        });
        if shared.len() == before {
            break;
        }
    }
    records.extend(shared);
    Ok(Some(records))
}

#[derive(Deserialize)]
pub struct Page {
    #[serde(default)]
    pub after: u64,
    #[serde(default = "default_limit")]
    pub limit: usize,
}

fn default_limit() -> usize {
    1000
}

/// `GET /v1/admin/audit?after=N&limit=M`
#[utoipa::path(
    get,
    path = "/v1/admin/audit",
    operation_id = "audit",
    summary = "Audit records after `after` (hash-chained)",
    params(
        ("after" = Option<u64>, Query),
        ("limit" = Option<u64>, Query),
    ),
    responses(
        (status = 200, description = "OK", body = Vec<crate::store::AuditRecord>),
        (status = 400, description = "Error", body = crate::server::error::Body),
        crate::server::error::Guarded,
    ),
    security(("bearer" = [])),
)]
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
#[utoipa::path(
    get,
    path = "/v1/admin/audit/verify",
    operation_id = "auditVerify",
    summary = "Walk the audit chain",
    params(
        ("head" = Option<String>, Query, description = "a head published earlier (/v1/admin/audit/head): not ok if it is no longer in the chain (records removed from its end)"),
    ),
    responses(
        (status = 200, description = "OK", body = crate::store::ChainCheck),
        (status = 400, description = "Error", body = crate::server::error::Body),
        crate::server::error::Guarded,
    ),
    security(("bearer" = [])),
)]
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
#[utoipa::path(
    get,
    path = "/v1/admin/audit/head",
    operation_id = "auditHead",
    summary = "The audit chain's head (last record's seq and hash), to publish outside the server",
    responses(
        (status = 200, description = "OK", body = crate::store::audit::AuditHead),
        crate::server::error::Guarded,
    ),
    security(("bearer" = [])),
)]
pub async fn audit_head(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
) -> Result<Json<AuditHead>, ApiError> {
    caller(&state, &headers, AdminAction::Read)?;
    blocking(|| Ok(AuditHead::of(state.store.audit_head()?.as_ref())))
}

/// `GET /v1/admin/decisions?limit=M`: the newest logged decisions (for `sesame impact`).
#[utoipa::path(
    get,
    path = "/v1/admin/decisions",
    operation_id = "decisions",
    summary = "The newest logged decisions (masked)",
    params(
        ("limit" = Option<u64>, Query),
    ),
    responses(
        (status = 200, description = "OK", body = Vec<crate::store::DecisionRecord>),
        (status = 400, description = "Error", body = crate::server::error::Body),
        crate::server::error::Guarded,
    ),
    security(("bearer" = [])),
)]
pub async fn decisions(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    ApiQuery(page): ApiQuery<Page>,
) -> Result<Json<Vec<DecisionRecord>>, ApiError> {
    caller(&state, &headers, AdminAction::Read)?;
    blocking(|| Ok(state.store.decisions(page.limit.min(1_000_000))?))
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct Session {
    name: String,
    role: String,
    /// A firm user's session: the console acts as this user only.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    subject: Option<EntityRef>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    tenants: Option<Vec<String>>,
}

/// `POST /v1/admin/login`: checks a token and records the sign-in in the activity history.
#[utoipa::path(
    post,
    path = "/v1/admin/login",
    operation_id = "login",
    summary = "Checks a token and records the sign-in in the activity history",
    responses(
        (status = 200, description = "OK", body = Session),
        crate::server::error::Guarded,
    ),
    security(("bearer" = [])),
)]
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

#[derive(Deserialize, utoipa::ToSchema)]
pub struct LinkBody {
    #[serde(flatten)]
    link: TemplateLink,
    #[serde(default)]
    message: Option<String>,
}

/// A link's ids become a policy id and entity uids: no control characters, as in every other
/// write (`entity_ids`).
fn refuse_link_controls(link: &TemplateLink) -> Result<(), ApiError> {
    refuse_control_text(&link.template_id, || "template_id".into())?;
    refuse_control_text(&link.link_id, || "link_id".into())?;
    for (slot, arg) in &link.args {
        match arg {
            LinkArg::Text(text) => refuse_control_text(text, || format!("args.{slot}"))?,
            LinkArg::Escaped { __entity: r } | LinkArg::Ref(r) => {
                refuse_control_text(&r.type_name, || format!("args.{slot}.type"))?;
                refuse_control_text(&r.id, || format!("args.{slot}.id"))?;
            }
        }
    }
    Ok(())
}

fn link_edit_error(e: LinkEditError) -> ApiError {
    match e {
        LinkEditError::Duplicate(_) => ApiError::Conflict(e.to_string()),
        LinkEditError::NotFound(_) => ApiError::NotFound(e.to_string()),
        LinkEditError::Malformed { .. } => ApiError::Internal(e.to_string()),
    }
}

#[utoipa::path(
    post,
    path = "/v1/admin/links",
    operation_id = "link",
    summary = "Link a template of the active version and deploy the result",
    description = "The link is added to `links.json` of the active version's files (read under the change lock) and the result is deployed and activated like any version: checked, tested, audited. A link to an unknown template, slot or entity type is 422 `invalid_bundle` located in `links.json`; a link id in use is 409 `conflict`.",
    request_body = LinkBody,
    responses(
        (status = 200, description = "OK", body = crate::server::state::DeployOutcome),
        (status = 400, description = "Error", body = crate::server::error::Body),
        (status = 409, description = "Error", body = crate::server::error::Body),
        (status = 413, description = "Error", body = crate::server::error::Body),
        (status = 422, description = "Error", body = crate::server::error::Body),
        crate::server::error::Guarded,
    ),
    security(("bearer" = [])),
)]
/// `POST /v1/admin/links`: links a template of the active version (`{"template_id",
/// "link_id", "args": {"?principal": ..., "?resource": ...}}`, as in a links file) and deploys
/// the result as a new active version — "share this document with Bob" as data, checked,
/// tested, audited and rolled back like any deploy.
pub async fn link(
    State(state): State<Arc<AppState>>,
    deadline: RequestDeadline,
    request: Request,
) -> Result<Json<DeployOutcome>, ApiError> {
    let (caller, request) =
        super::caller_before_body(&state, request, AdminAction::Activate).await?;
    let body: LinkBody = json_body(&state, request).await?;
    refuse_link_controls(&body.link)?;
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

#[utoipa::path(
    delete,
    path = "/v1/admin/links/{link_id}",
    operation_id = "unlink",
    summary = "Remove a template link and deploy the result",
    params(("link_id" = String, Path, description = "The link's id")),
    responses(
        (status = 200, description = "OK", body = crate::server::state::DeployOutcome),
        (status = 404, description = "Error", body = crate::server::error::Body),
        (status = 409, description = "Error", body = crate::server::error::Body),
        (status = 422, description = "Error", body = crate::server::error::Body),
        crate::server::error::Guarded,
    ),
    security(("bearer" = [])),
)]
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
