//! The server's state and the operations that change what is active: deploy, activate,
//! rollback, entity writes. The active version (bundle + guest pool) is immutable and swapped
//! atomically (`arc-swap`): a request holds the version it started on until it ends, new
//! requests see the new one, nobody waits. Changes are serialized by one async mutex, which
//! also keeps the history linear.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use arc_swap::ArcSwapOption;
use policy_core::directory::DirectoryOp;
use policy_core::json_api::{to_json, BundleFiles, Op};
use policy_core::testing::TestReport;
use policy_core::wire::EntityDelta;
use policy_core::Bundle;
use serde::Serialize;
use serde_json::Value;

use super::auth::{AdminAuth, Caller};
use super::budget::{Budget, CallLimit, RequestDeadline};
use super::config::ServeConfig;
use super::decision_log::DecisionLog;
use super::error::ApiError;
use super::metrics::Metrics;
use super::partitions::Partitions;
use super::workers::{PoolError, WorkerPool, LOAD_DEADLINE};
use crate::guest::{GuestAnswer, GuestError, GuestInstance, GuestRuntime};
use crate::store::{ActivationKind, AuditDraft, AuditKind, NewVersion, PolicyStore, VersionMeta};

/// The version answering decisions, with its entity store and guest instances.
pub struct Active {
    pub version: VersionMeta,
    /// `{"files": {...}}`: what `/v1/bundle/active` serves and each guest instance loaded.
    pub bundle_json: Arc<str>,
    pub pool: WorkerPool,
    /// The store's entity revision the pool reflects (replicas follow the entity log from it).
    pub entity_rev: AtomicU64,
    /// Set when this pool applied a local write out of the store's order (another replica
    /// wrote in between): the next sync rebuilds it from the store.
    pub diverged: AtomicBool,
}

pub struct AppState {
    /// False while the store cannot be reached (readiness); decisions go on from memory.
    pub store_ok: AtomicBool,
    pub config: ServeConfig,
    pub store: Arc<dyn PolicyStore>,
    pub runtime: Arc<GuestRuntime>,
    pub active: ArcSwapOption<Active>,
    /// Serializes deploys, activations and entity writes.
    pub changes: tokio::sync::Mutex<()>,
    pub auth: AdminAuth,
    pub metrics: Metrics,
    pub decision_log: DecisionLog,
    /// Per-client token buckets; `None` when there is no rate limit.
    pub rate_limiter: Option<super::admission::RateLimiter>,
}

/// What a deploy answers.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct DeployOutcome {
    pub version: VersionMeta,
    pub activated: bool,
    /// Already stored (same digest): nothing new was written but the activation.
    pub existing: bool,
    pub tests: TestSummary,
}

/// A bundle that loaded and passed its tests, ready to be stored.
struct CheckedBundle {
    bundle: Bundle,
    tests: TestSummary,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct TestSummary {
    pub passed: usize,
    pub failed: usize,
}

/// An entity write as the API received it, parsed once: the entity store and the policy store
/// both take this value.
pub enum EntityChange {
    Replace(Vec<Value>),
    Delta(EntityDelta),
}

impl EntityChange {
    /// Parses the body of `op` (`replace_entities`, else `apply_delta`).
    pub fn parse(op: Op, input: &str) -> Result<Self, serde_json::Error> {
        Ok(match op {
            Op::ReplaceEntities => Self::Replace(serde_json::from_str(input)?),
            _ => Self::Delta(serde_json::from_str(input)?),
        })
    }

    /// The engine operation that applies it.
    pub fn op(&self) -> Op {
        match self {
            Self::Replace(_) => Op::ReplaceEntities,
            Self::Delta(_) => Op::ApplyDelta,
        }
    }

    /// What it does, for the audit record: a replace loads the data anew, a delta that only
    /// removes deletes, any other delta modifies.
    pub fn kind(&self) -> AuditKind {
        match self {
            Self::Replace(_) => AuditKind::Create,
            Self::Delta(d) if d.upsert.is_empty() && !d.remove.is_empty() => AuditKind::Delete,
            Self::Delta(_) => AuditKind::Modify,
        }
    }
}

/// What a firm administration operation does, for the audit record.
pub fn directory_kind(op: &DirectoryOp) -> AuditKind {
    match op {
        DirectoryOp::InviteUser { .. }
        | DirectoryOp::SaveProfile { .. }
        | DirectoryOp::SaveRole { .. }
        | DirectoryOp::CreateDepartment { .. } => AuditKind::Create,
        DirectoryOp::DeleteProfile { .. }
        | DirectoryOp::DeleteUser { .. }
        | DirectoryOp::DeleteRole { .. } => AuditKind::Delete,
        DirectoryOp::BlockUser { .. }
        | DirectoryOp::DetachUser { .. }
        | DirectoryOp::ChangeEmail { .. }
        | DirectoryOp::SetProfile { .. }
        | DirectoryOp::MoveProfileUsers { .. }
        | DirectoryOp::SetCompanyRole { .. }
        | DirectoryOp::SetDefaultProfile { .. }
        | DirectoryOp::RestrictDepartments { .. }
        | DirectoryOp::HideSection { .. }
        | DirectoryOp::SetRoles { .. }
        | DirectoryOp::DeactivateUser { .. }
        | DirectoryOp::SetDeletionRights { .. }
        | DirectoryOp::SetAccessEnd { .. }
        | DirectoryOp::SetSiteProfile { .. }
        | DirectoryOp::SetDossierProfile { .. }
        | DirectoryOp::AcceptInvitation { .. }
        | DirectoryOp::ResendInvitation { .. } => AuditKind::Modify,
    }
}

fn audit(
    caller: &Caller,
    action: &str,
    kind: AuditKind,
    before: Option<&str>,
    after: Option<&str>,
    detail: Value,
) -> AuditDraft {
    AuditDraft {
        actor: caller.name.clone(),
        role: caller.role.clone(),
        action: action.to_string(),
        kind: Some(kind),
        version_before: before.map(String::from),
        version_after: after.map(String::from),
        detail,
    }
}

impl AppState {
    pub fn active(&self) -> Result<Arc<Active>, ApiError> {
        self.active.load_full().ok_or(ApiError::NotReady)
    }

    fn active_digest(&self) -> Option<String> {
        self.active
            .load()
            .as_ref()
            .map(|a| a.version.digest.clone())
    }

    /// Builds the guest pool for a stored version over the stored entities (blocking).
    pub fn build_active(
        &self,
        version: VersionMeta,
        deadline: RequestDeadline,
    ) -> Result<Active, ApiError> {
        let files = self.store.version_files(&version.digest)?;
        self.pool_for_files(&version, files, deadline)
    }

    fn install(&self, active: Active) {
        self.metrics
            .activated(active.version.number, &active.version.digest);
        tracing::info!(
            version = active.version.number,
            digest = %active.version.digest,
            "active version"
        );
        self.active.store(Some(Arc::new(active)));
    }

    /// Validates, tests, stores and (with `activation`: `Deploy`, or `Bootstrap` at first
    /// start) activates a bundle. Nothing changes unless every step passes; a rejection is
    /// audited. Validation and the bundle's tests run before the change lock is taken (they
    /// read nothing it protects), the tests in a guest under their own time limit; the lock is
    /// held only to build the new pool, store and swap.
    pub async fn deploy(
        &self,
        caller: &Caller,
        files: BTreeMap<String, String>,
        message: String,
        activation: Option<ActivationKind>,
        deadline: RequestDeadline,
    ) -> Result<DeployOutcome, ApiError> {
        let result = match tokio::task::block_in_place(|| self.check_bundle(files, deadline)) {
            Ok(checked) => match self.lock_changes(deadline).await {
                Ok(_changes) => tokio::task::block_in_place(|| {
                    self.deploy_locked(caller, checked, &message, activation, deadline)
                }),
                Err(e) => Err(e),
            },
            Err(e) => Err(e),
        };
        self.deploy_finished(caller, &message, result)
    }

    /// Deploys and activates the active version's files with one edit (a template link added
    /// or removed). The active files are read under the change lock, so an edit never undoes
    /// a deploy that landed in between; the new version passes every check a deploy does.
    pub async fn deploy_edit(
        &self,
        caller: &Caller,
        edit: impl FnOnce(&BTreeMap<String, String>) -> Result<BTreeMap<String, String>, ApiError>,
        message: String,
        deadline: RequestDeadline,
    ) -> Result<DeployOutcome, ApiError> {
        let result = match self.lock_changes(deadline).await {
            Ok(_changes) => tokio::task::block_in_place(|| {
                let active = self.active()?;
                let files = edit(&self.store.version_files(&active.version.digest)?)?;
                let checked = self.check_bundle(files, deadline)?;
                self.deploy_locked(
                    caller,
                    checked,
                    &message,
                    Some(ActivationKind::Deploy),
                    deadline,
                )
            }),
            Err(e) => Err(e),
        };
        self.deploy_finished(caller, &message, result)
    }

    /// Counts a deploy and audits its rejection.
    fn deploy_finished(
        &self,
        caller: &Caller,
        message: &str,
        result: Result<DeployOutcome, ApiError>,
    ) -> Result<DeployOutcome, ApiError> {
        self.metrics.deploy(result.is_ok());
        if let Err(e) = &result {
            let before = self.active_digest();
            let draft = audit(
                caller,
                "deploy_rejected",
                AuditKind::Deploy,
                before.as_deref(),
                None,
                serde_json::json!({"message": message, "code": e.code(), "reason": e.to_string()}),
            );
            // The rejection stands even if it cannot be audited.
            if let Err(store_error) = tokio::task::block_in_place(|| self.store.append_audit(draft))
            {
                tracing::warn!("audit of a rejected deploy failed: {store_error}");
            }
        }
        result
    }

    /// The change lock, waited for no longer than the request may last.
    async fn lock_changes(
        &self,
        deadline: RequestDeadline,
    ) -> Result<tokio::sync::MutexGuard<'_, ()>, ApiError> {
        tokio::time::timeout_at(deadline.budget().end().into(), self.changes.lock())
            .await
            .map_err(|_| deadline.timeout())
    }

    /// Loads the bundle (located diagnostics) and runs its tests.
    fn check_bundle(
        &self,
        files: BTreeMap<String, String>,
        deadline: RequestDeadline,
    ) -> Result<CheckedBundle, ApiError> {
        let bundle = Bundle::load(files).map_err(|e| ApiError::InvalidBundle {
            message: e.to_string(),
            diagnostics: e.diagnostics,
        })?;
        let report = self.run_tests_in_guest(&bundle, deadline)?;
        let failed = report.cases.iter().filter(|c| !c.passed).count();
        if !report.ok() {
            return Err(ApiError::TestsFailed {
                failed,
                total: report.cases.len(),
                report: serde_json::to_value(&report).unwrap_or(Value::Null),
            });
        }
        let tests = TestSummary {
            passed: report.cases.len() - failed,
            failed,
        };
        Ok(CheckedBundle { bundle, tests })
    }

    /// The bundle's tests, run by the same engine build as every decision, in a throwaway
    /// guest instance: its epoch deadline is what makes the time limit hold (policy-core
    /// running natively could not be stopped).
    fn run_tests_in_guest(
        &self,
        bundle: &Bundle,
        deadline: RequestDeadline,
    ) -> Result<TestReport, ApiError> {
        let limit = self.config.limits.deploy_tests_timeout;
        let tests = Budget::new(limit);
        let internal = |e: GuestError| ApiError::Internal(format!("bundle tests: {e}"));
        let mut guest = self.runtime.instance().map_err(internal)?;
        let mut run = |f: &dyn Fn(&mut GuestInstance) -> Result<GuestAnswer, GuestError>| {
            let call = tests.limit(limit).ok_or(ApiError::TestsTimedOut(limit))?;
            let call: CallLimit = deadline.limit(call.deadline)?;
            guest.set_deadline(call.deadline);
            match f(&mut guest) {
                Ok(GuestAnswer::Ok(json)) => Ok(json),
                Ok(GuestAnswer::EngineError(json)) => Err(ApiError::Engine(json)),
                Err(GuestError::DeadlineExceeded(_)) if call.cut => Err(deadline.timeout()),
                Err(GuestError::DeadlineExceeded(_)) => Err(ApiError::TestsTimedOut(limit)),
                Err(other) => Err(internal(other)),
            }
        };
        let bundle_json = to_json(&BundleFiles {
            files: bundle.files().clone(),
        });
        run(&|g| g.load_bundle(&bundle_json))?;
        let report = run(&|g| g.call(Op::RunTests, "{}"))?;
        serde_json::from_str(&report)
            .map_err(|e| ApiError::Internal(format!("a test report that does not parse: {e}")))
    }

    fn deploy_locked(
        &self,
        caller: &Caller,
        checked: CheckedBundle,
        message: &str,
        activation: Option<ActivationKind>,
        deadline: RequestDeadline,
    ) -> Result<DeployOutcome, ApiError> {
        let CheckedBundle { bundle, tests } = checked;
        let digest = bundle.digest().to_string();
        let existing = self.store.version(&digest)?.is_some();
        let before = self.active_digest();
        let new_version = NewVersion {
            digest: digest.clone(),
            files: bundle.files().clone(),
            author: caller.name.clone(),
            message: message.to_string(),
        };
        let draft = audit(
            caller,
            "deploy",
            AuditKind::Deploy,
            before.as_deref(),
            Some(&digest),
            serde_json::json!({"message": message, "activate": activation.is_some(), "existing": existing}),
        );
        let Some(kind) = activation else {
            if deadline.budget().spent() {
                return Err(deadline.timeout());
            }
            let version = self.store.deploy(new_version, None, draft)?;
            return Ok(DeployOutcome {
                version,
                activated: false,
                existing,
                tests,
            });
        };
        // Build the guest pool before recording anything: if the stored entities do not fit
        // the new schema, the deploy is refused and nothing is written.
        let provisional = VersionMeta {
            digest: digest.clone(),
            number: 0,
            author: caller.name.clone(),
            message: message.to_string(),
            created_at: String::new(),
            parent: before.clone(),
        };
        let pool_source = self.pool_for_files(&provisional, bundle.files().clone(), deadline)?;
        // Past the request's deadline the caller has its 408: record nothing it was not told.
        if deadline.budget().spent() {
            return Err(deadline.timeout());
        }
        let version = self.store.deploy(new_version, Some(kind), draft)?;
        self.install(Active {
            version: version.clone(),
            ..pool_source
        });
        Ok(DeployOutcome {
            version,
            activated: true,
            existing,
            tests,
        })
    }

    fn pool_for_files(
        &self,
        version: &VersionMeta,
        files: BTreeMap<String, String>,
        deadline: RequestDeadline,
    ) -> Result<Active, ApiError> {
        let refused = |what: &str, e: policy_core::EngineError| {
            ApiError::Conflict(format!(
                "version {} cannot be activated: {what}: {e}",
                version.digest
            ))
        };
        let bundle = Bundle::load(files.clone()).map_err(|e| refused("the bundle", e.into()))?;
        let bundle_json: Arc<str> = to_json(&BundleFiles { files }).into();
        // The version's one entity store: every instance decides on slices of it. With a
        // memory budget it starts with the shared entities, tenants load on first use.
        let (data, partitions, entity_rev) = match self.config.entity_memory {
            None => {
                let (records, entity_rev) = self.store.entity_snapshot()?;
                let data = policy_core::Engine::with_entities(bundle, records)
                    .map_err(|e| refused("the stored entities do not fit it", e))?;
                (data, None, entity_rev)
            }
            Some(budget) => {
                self.assign_tenants(&bundle)?
                    .map_err(|e| refused("the stored entities do not fit it", e))?;
                let (shared, entity_rev) = self.store.partition("")?;
                if let Err((tenant, e)) = self.check_tenants(&bundle, &shared)? {
                    return Err(refused(
                        &format!("the stored entities of {tenant} do not fit it"),
                        e,
                    ));
                }
                let mut data = policy_core::Engine::with_entities(bundle, shared)
                    .map_err(|e| refused("the stored shared entities do not fit it", e))?;
                let partitions =
                    Partitions::new(self.store.clone(), budget, self.metrics.tenants.clone());
                partitions.size_store(&mut data);
                (data, Some(partitions), entity_rev)
            }
        };
        crate::memory::release_freed();
        let limit = deadline.limit(LOAD_DEADLINE)?;
        let pool = WorkerPool::build(
            self.runtime.clone(),
            bundle_json.clone(),
            data,
            partitions,
            self.config.workers,
            limit.deadline,
        )
        .map_err(|e| match e {
            PoolError::Refused { what, body } => ApiError::Conflict(format!(
                "version {} cannot be activated: the guest refused {what}: {body}",
                version.digest
            )),
            other => deadline.pool_error(limit, other),
        })?;
        Ok(Active {
            version: version.clone(),
            bundle_json,
            pool,
            entity_rev: AtomicU64::new(entity_rev),
            diverged: AtomicBool::new(false),
        })
    }

    /// Every tenant's rows fit `bundle`: checked once per version (the store remembers which),
    /// a tenant at a time over the shared rows — the memory of one tenant, not of the whole
    /// store. The first tenant that does not fit, with why.
    fn check_tenants(
        &self,
        bundle: &Bundle,
        shared: &[Value],
    ) -> Result<Result<(), (String, policy_core::EngineError)>, crate::store::StoreError> {
        if self.store.tenants_checked_for()?.as_deref() == Some(bundle.digest()) {
            return Ok(Ok(()));
        }
        for tenant in self.store.tenant_names()? {
            let (mut records, _) = self.store.partition(&tenant)?;
            records.extend(shared.iter().cloned());
            if let Err(e) = policy_core::Engine::with_entities(bundle.clone(), records) {
                return Ok(Err((tenant, e)));
            }
        }
        self.store.set_tenants_checked_for(bundle.digest())?;
        Ok(Ok(()))
    }

    /// Before tenants are loaded on demand, every stored row must have its tenant under this
    /// version's firm model: when some has none (seeded, or stored before tenants were kept)
    /// or was assigned under another model, the whole store is loaded once and assigned.
    fn assign_tenants(
        &self,
        bundle: &Bundle,
    ) -> Result<Result<(), policy_core::EngineError>, crate::store::StoreError> {
        let model = super::partitions::model_key(bundle.manifest().firm_model.as_ref());
        if self.store.tenants_assigned(&model)? {
            return Ok(Ok(()));
        }
        let started = std::time::Instant::now();
        let (records, _) = self.store.entity_snapshot()?;
        let uids = records
            .iter()
            .filter_map(policy_core::uid_of_record)
            .collect();
        let engine = match policy_core::Engine::with_entities(bundle.clone(), records) {
            Ok(engine) => engine,
            Err(e) => return Ok(Err(e)),
        };
        let tenants = super::partitions::tenants_in(&engine, uids);
        drop(engine);
        self.store.assign_tenants(&tenants)?;
        // The whole store was just loaded on this version: every tenant fits it.
        self.store.set_tenants_checked_for(bundle.digest())?;
        tracing::info!(
            entities = tenants.by_uid.len(),
            seconds = started.elapsed().as_secs_f64(),
            "tenants assigned to the stored entities"
        );
        Ok(Ok(()))
    }

    /// Activates a stored version (`Activate`) or an earlier one (`Rollback`; `None` = the
    /// version active before the current one).
    pub async fn activate(
        &self,
        caller: &Caller,
        digest: Option<String>,
        kind: ActivationKind,
        deadline: RequestDeadline,
    ) -> Result<VersionMeta, ApiError> {
        let _changes = self.lock_changes(deadline).await?;
        tokio::task::block_in_place(|| {
            let before = self.active_digest();
            let target = match digest {
                Some(d) => d,
                None => self.rollback_target(before.as_deref())?,
            };
            let version = self
                .store
                .version(&target)?
                .ok_or_else(|| ApiError::NotFound(format!("no version {target}")))?;
            let active = self.build_active(version.clone(), deadline)?;
            if deadline.budget().spent() {
                return Err(deadline.timeout());
            }
            self.store.activate(
                &target,
                kind,
                audit(
                    caller,
                    kind.as_str(),
                    AuditKind::Deploy,
                    before.as_deref(),
                    Some(&target),
                    Value::Null,
                ),
            )?;
            self.install(active);
            Ok(version)
        })
    }

    /// The version that was active before the current one became active.
    fn rollback_target(&self, current: Option<&str>) -> Result<String, ApiError> {
        let history = self.store.history()?;
        let current = current.ok_or(ApiError::NotReady)?;
        history
            .iter()
            .rev()
            .find(|a| a.digest == current)
            .and_then(|a| a.previous.clone())
            .filter(|p| p != current)
            .ok_or_else(|| ApiError::Conflict("no earlier version to roll back to".into()))
    }

    /// Applies an entity write through the active pool and the store (see `WorkerPool::write`).
    pub async fn write_entities(
        &self,
        caller: &Caller,
        change: EntityChange,
        deadline: RequestDeadline,
    ) -> Result<String, ApiError> {
        let _changes = self.lock_changes(deadline).await?;
        let kind = change.kind();
        self.write_locked(caller, change, kind, None, None)
    }

    /// A sign-in, for the activity history: a firm user's with his firm, so that the firm's
    /// history (`/v1/activity`) shows it.
    pub fn record_login(&self, caller: &Caller) -> Result<(), ApiError> {
        let detail = match &caller.subject {
            Some(user) => {
                let firm = self.firm_of_user(user).ok();
                serde_json::json!({"user": user, "firm": firm})
            }
            None => serde_json::json!({}),
        };
        let draft = audit(caller, "login", AuditKind::Login, None, None, detail);
        self.store.append_audit(draft)?;
        Ok(())
    }

    /// The firm of a firm user, from the active version's data.
    fn firm_of_user(
        &self,
        user: &policy_core::wire::EntityRef,
    ) -> Result<policy_core::wire::EntityRef, ApiError> {
        let active = self.active()?;
        active
            .pool
            .with_tenants(std::slice::from_ref(user), |data| {
                policy_core::directory::actor_firm(data, user).map_err(engine_error)
            })
            .map_err(pool_error)?
    }

    /// The caller's firm's activity history (`super::activity`): the caller must be a firm
    /// user whom the bundle's policies allow `view_activity` on his firm.
    pub fn activity(
        &self,
        caller: &Caller,
        query: &super::activity::ActivityQuery,
    ) -> Result<Vec<super::activity::ActivityEntry>, ApiError> {
        use policy_core::wire::{Decision, DecisionRequest, EntityRef};
        let user = caller.subject.clone().ok_or_else(|| {
            ApiError::NotYours(format!(
                "`{}` acts as no firm user: a firm's activity history is read by its users",
                caller.name
            ))
        })?;
        let active = self.active()?;
        let firm = active
            .pool
            .with_tenants(std::slice::from_ref(&user), |data| {
                let firm = policy_core::directory::actor_firm(data, &user).map_err(engine_error)?;
                caller.may_act_in(&firm.id)?;
                let action_type = data
                    .firm_model()
                    .map(|m| m.type_name(policy_core::firm_model::Part::Action))
                    .unwrap_or_else(|| "Action".into());
                let answer = data
                    .decide(&DecisionRequest {
                        principal: user.clone(),
                        action: EntityRef::new(action_type, "view_activity"),
                        resource: firm.clone(),
                        context: None,
                        entities: Vec::new(),
                    })
                    .map_err(engine_error)?;
                if answer.decision != Decision::Allow {
                    return Err(engine_error(policy_core::EngineError::Forbidden {
                        message: format!(
                            "{user} may not view_activity on {firm}: the bundle's policies do not allow it"
                        ),
                        determining_policies: answer.determining_policies,
                    }));
                }
                Ok(firm)
            })
            .map_err(pool_error)??;
        // Page by page: the whole chain is never held at once (every firm's records are read,
        // though: the chain is not indexed by firm).
        const PAGE: usize = 5_000;
        let mut history = super::activity::History::new(&firm, query);
        let mut after = 0;
        loop {
            let page = self.store.audit(after, PAGE)?;
            history.read(&page);
            match page.last() {
                Some(last) if page.len() == PAGE => after = last.seq,
                _ => break,
            }
        }
        Ok(history.entries())
    }

    /// A firm administration operation (`policy_core::directory`) for `caller`: planned over
    /// the version's entity store (the bundle's policies decide for the acting firm user), then
    /// written like any entity delta, with the plan's summary in the audit record. Plan and
    /// write happen under the one change lock, so no other write slips in between (the
    /// plan-limit count stays true).
    /// Answers the plan as JSON text, as written.
    pub async fn directory(
        &self,
        caller: &Caller,
        request: &policy_core::directory::DirectoryRequest,
        kind: AuditKind,
    ) -> Result<String, ApiError> {
        self.directory_with(caller, request, kind, None).await
    }

    /// Accepts the invitation whose token is `token` (`super::invitations`), on behalf of the
    /// user it invites: unknown or used (404), expired (410), or decided by the bundle's
    /// policies and written with the token's use in one transaction.
    pub async fn accept_invitation(&self, token: &str) -> Result<String, ApiError> {
        use crate::store::InvitationState;
        let token_hash = super::invitations::presented_hash(token)?;
        let stored = tokio::task::block_in_place(|| self.store.invitation(&token_hash))?
            .filter(|i| i.state == InvitationState::Open)
            .ok_or_else(|| ApiError::NotFound("no open invitation has this token".into()))?;
        if stored.expires_at <= crate::store::now_rfc3339() {
            return Err(ApiError::InvitationExpired(format!(
                "this invitation expired at {}: an administrator of the firm sends it again",
                stored.expires_at
            )));
        }
        let user: policy_core::wire::EntityRef = serde_json::from_str(&stored.user)
            .map_err(|e| ApiError::Internal(format!("a stored invitation's user: {e}")))?;
        // The token is the invitee's proof: he acts as himself, in his firm only.
        let caller = Caller {
            name: format!("invitation of {user}"),
            role: "invitee".into(),
            subject: Some(user.clone()),
            tenants: Some(vec![stored.firm]),
        };
        let request = policy_core::directory::DirectoryRequest {
            actor: user.clone(),
            op: DirectoryOp::AcceptInvitation { user },
        };
        self.directory_with(&caller, &request, AuditKind::Modify, Some(token_hash))
            .await
    }

    /// A directory operation; `accepting`: the hash of the token an acceptance presents.
    async fn directory_with(
        &self,
        caller: &Caller,
        request: &policy_core::directory::DirectoryRequest,
        kind: AuditKind,
        accepting: Option<String>,
    ) -> Result<String, ApiError> {
        let deadline = RequestDeadline(Budget::new(self.config.limits.request_timeout));
        let _changes = self.lock_changes(deadline).await?;
        let active = self.active()?;
        // What the operation names (its actor, users, profiles...) is resident while planned;
        // reading the store and planning happen off the async threads.
        let refs = tokio::task::block_in_place(|| self.directory_refs(&active, request))?;
        // The caller must be allowed to act in the actor's firm (known from the server's data,
        // not the body) before anything is planned: a plan's refusals say things about the
        // firm's data.
        let (plan, invitee) = tokio::task::block_in_place(|| {
            active
                .pool
                .with_tenants(&refs, |data| {
                    let firm = policy_core::directory::actor_firm(data, &request.actor)
                        .map_err(engine_error)?;
                    caller.may_act_in(&firm.id)?;
                    let plan = policy_core::directory::plan(data, request).map_err(engine_error)?;
                    let invitee = super::invitations::invitee(data, &request.op, &plan)?;
                    Ok::<_, ApiError>((plan, invitee))
                })
                .map_err(pool_error)?
        })?;
        // An invitation (or a resend) issues a token; an acceptance uses one.
        let invitation = match (accepting, invitee) {
            (Some(token_hash), _) => Some(crate::store::InvitationWrite::Accept { token_hash }),
            (None, Some((user, email))) => Some(super::invitations::issue(
                &user,
                &email,
                &plan,
                &request.actor,
                matches!(request.op, DirectoryOp::ResendInvitation { .. }),
                self.config.invitation_ttl,
            )?),
            (None, None) => None,
        };
        let plan_json = to_json(&plan);
        // Who acted, in which firm, on what (what the operation names and what it writes):
        // the firm's activity history filters on these.
        let mut about = plan.delta.remove.clone();
        about.extend(
            plan.delta
                .upsert
                .iter()
                .filter_map(policy_core::uid_of_record),
        );
        if let Ok(op) = serde_json::to_value(&request.op) {
            super::partitions::refs_in(&op, &mut about);
        }
        about.sort();
        about.dedup();
        let note = super::activity::directory_note(
            &plan.summary,
            &plan.checked,
            &plan.actor_firm,
            &request.actor,
            &about,
        );
        self.write_locked(
            caller,
            EntityChange::Delta(plan.delta),
            kind,
            Some(note),
            invitation.as_ref(),
        )?;
        Ok(plan_json)
    }

    /// The entities a directory operation reads beyond its actor's firm: those it names, the
    /// one it would create (an id taken in a tenant not resident must be seen), and, for an
    /// e-mail (unique across every firm), the stored users that mention it.
    fn directory_refs(
        &self,
        active: &Active,
        request: &policy_core::directory::DirectoryRequest,
    ) -> Result<Vec<policy_core::wire::EntityRef>, ApiError> {
        use policy_core::directory::DirectoryOp;
        use policy_core::firm_model::Part;
        let mut refs = vec![request.actor.clone()];
        if let Ok(op) = serde_json::to_value(&request.op) {
            super::partitions::refs_in(&op, &mut refs);
        }
        if self.config.entity_memory.is_none() {
            return Ok(refs);
        }
        let model = active
            .pool
            .data()
            .map_err(pool_error)?
            .firm_model()
            .cloned();
        let Some(model) = model else {
            return Ok(refs);
        };
        let created = |part: Part, id: &str| {
            policy_core::wire::EntityRef::new(model.type_name(part), id.trim())
        };
        match &request.op {
            DirectoryOp::InviteUser { id, email, .. } => {
                refs.push(created(Part::User, id));
                let mentioning = self.store.entities_mentioning(email.trim())?;
                refs.extend(mentioning.iter().filter_map(policy_core::uid_of_record));
            }
            DirectoryOp::ChangeEmail { email, .. } => {
                let mentioning = self.store.entities_mentioning(email.trim())?;
                refs.extend(mentioning.iter().filter_map(policy_core::uid_of_record));
            }
            // Whatever names the user must forget him, in whichever tenant it is.
            DirectoryOp::DeleteUser { user } => {
                let mentioning = self.store.entities_mentioning(&user.id)?;
                refs.extend(mentioning.iter().filter_map(policy_core::uid_of_record));
            }
            DirectoryOp::SaveProfile { id, .. } => refs.push(created(Part::Profile, id)),
            DirectoryOp::CreateDepartment { id, .. } => refs.push(created(Part::Department, id)),
            DirectoryOp::SaveRole { id, .. } => refs.push(created(Part::Role, id)),
            _ => {}
        }
        Ok(refs)
    }

    /// An entity write with the change lock held, audited as `kind`. `note` is added to the
    /// audit record; `invitation` (a delta's only) is written in its transaction.
    fn write_locked(
        &self,
        caller: &Caller,
        change: EntityChange,
        kind: AuditKind,
        note: Option<Value>,
        invitation: Option<&crate::store::InvitationWrite>,
    ) -> Result<String, ApiError> {
        let active = self.active()?;
        let digest = active.version.digest.clone();
        let op = change.op();
        let new_rev = AtomicU64::new(0);
        let persist = |tenants: &crate::store::Tenants| {
            let draft = |upserted: usize, removed: usize| {
                let mut detail = serde_json::json!({"upserted": upserted, "removed": removed});
                if let (Some(note), Some(map)) = (&note, detail.as_object_mut()) {
                    map.insert("directory".into(), note.clone());
                }
                audit(
                    caller,
                    op.as_str(),
                    kind,
                    Some(&digest),
                    Some(&digest),
                    detail,
                )
            };
            let rev = match &change {
                EntityChange::Replace(records) => {
                    self.store
                        .replace_entities(records, tenants, draft(records.len(), 0))?
                }
                EntityChange::Delta(delta) => {
                    let audit = draft(delta.upsert.len(), delta.remove.len());
                    match invitation {
                        Some(invitation) => self
                            .store
                            .apply_delta_inviting(delta, tenants, audit, invitation)?,
                        None => self.store.apply_delta(delta, tenants, audit)?,
                    }
                }
            };
            new_rev.store(rev, Ordering::SeqCst);
            Ok(())
        };
        let answer = active.pool.write(&change, persist).map_err(pool_error)??;
        match answer {
            GuestAnswer::Ok(json) => {
                self.metrics.entity_write();
                let rev = new_rev.load(Ordering::SeqCst);
                // In the store's order only if nobody else wrote in between (replicas).
                if active.entity_rev.fetch_max(rev, Ordering::SeqCst) + 1 != rev {
                    active.diverged.store(true, Ordering::SeqCst);
                }
                Ok(json)
            }
            GuestAnswer::EngineError(json) => Err(ApiError::Engine(json)),
        }
    }

    /// Follows changes other replicas made to a shared store: a moved active pointer (rebuild
    /// and swap) and entity writes (replayed on the version's entity store).
    pub async fn sync_once(&self) -> Result<(), ApiError> {
        let _changes = self.changes.lock().await;
        tokio::task::block_in_place(|| {
            let Some(stored) = self.store.active()? else {
                return Ok(());
            };
            let current = self.active.load_full();
            // Replaying the entity log suffices when the same version is active, its pool
            // follows the store's order, and the log reaches back to where the pool stands.
            let replay = match &current {
                Some(c)
                    if c.version.digest == stored.digest && !c.diverged.load(Ordering::SeqCst) =>
                {
                    let from = c.entity_rev.load(Ordering::SeqCst);
                    let writes = self.store.entity_writes_since(from)?;
                    let contiguous = writes.first().is_none_or(|w| {
                        w.revision == from + 1 || w.op == Op::ReplaceEntities.as_str()
                    });
                    contiguous.then_some((c, writes))
                }
                _ => None,
            };
            let Some((current, writes)) = replay else {
                let active =
                    self.build_active(stored, RequestDeadline(Budget::new(LOAD_DEADLINE)))?;
                self.install(active);
                return Ok(());
            };
            for write in writes {
                let op = match write.op.parse::<Op>() {
                    Ok(Op::ReplaceEntities) => Op::ReplaceEntities,
                    _ => Op::ApplyDelta,
                };
                let replayed = EntityChange::parse(op, &write.input)
                    .map_err(|e| {
                        ApiError::Internal(format!("a logged write that does not parse: {e}"))
                    })
                    .and_then(|change| current.pool.replay(&change).map_err(pool_error));
                if let Err(e) = replayed {
                    // This store no longer follows the shared one: rebuild it from the store.
                    tracing::warn!("entity log replay: {e}; rebuilding");
                    let stored = current.version.clone();
                    let active =
                        self.build_active(stored, RequestDeadline(Budget::new(LOAD_DEADLINE)))?;
                    self.install(active);
                    return Ok(());
                }
                current.entity_rev.store(write.revision, Ordering::SeqCst);
            }
            Ok(())
        })
    }
}

/// An engine refusal as the API's error (its JSON body passed through).
pub(crate) fn engine_error(e: policy_core::EngineError) -> ApiError {
    ApiError::Engine(policy_core::json_api::error_json(&(&e).into()))
}

pub fn pool_error(e: PoolError) -> ApiError {
    match e {
        PoolError::Guest(g) => g.into(),
        other => ApiError::Internal(other.to_string()),
    }
}
