//! Queries over the policies (docs/query.md): the resources a principal may act on, the
//! principals that may act on a resource, and a filter on resources held elsewhere.
//!
//! A list is exact: it is the set of entities for which [`Engine::decide`] allows. Each
//! candidate is tested against the plan's condition in place (`holds`) when the residuals
//! convert to one, and decided in full otherwise. Which are asked comes from Cedar's partial evaluation of the
//! bundle with the listed side unknown leaves, per open permit, a residual condition; the shape
//! of each (`candidates`) bounds the entities that can satisfy it through the store's indexes
//! (a user's documents are found through the teams he is in, not by deciding every document).
//! A permit whose residual bounds nothing makes the list decide every entity of the type.

mod candidates;
mod holds;
mod plan;
mod residual;
mod sql;

use std::str::FromStr;

use cedar_policy::EntityTypeName;
use cedar_policy_core::ast::{EntityType, EntityUID, Var};
use serde_json::Value;

use crate::engine::{context_entities, decide_with, parse_context, Engine, HostTime};
use crate::entity_json::to_uid;
use crate::error::EngineError;
use crate::store::value::Ix;
use crate::store::{EntityStore, Slots};
use crate::wire::{
    Condition, Decision, DecisionRequest, EntityRef, Plan, PlanRequest, PlanResponse,
    PrincipalList, PrincipalQuery, ResourceList, ResourceQuery,
};
use candidates::Bounds;
use residual::{Residuals, Side};

const DEFAULT_LIMIT: u32 = 100;
const MAX_LIMIT: u32 = 1_000;

fn entity_type(name: &str) -> Result<EntityType, EngineError> {
    EntityTypeName::from_str(name)
        .map(|t| t.as_ref().clone())
        .map_err(|e| {
            EngineError::InvalidRequest(format!("`{name}` is not an entity type name: {e}"))
        })
}

fn limit_of(limit: Option<u32>) -> Result<usize, EngineError> {
    match limit.unwrap_or(DEFAULT_LIMIT) {
        0 => Err(EngineError::InvalidRequest("limit: at least 1".into())),
        n if n > MAX_LIMIT => Err(EngineError::InvalidRequest(format!(
            "limit: at most {MAX_LIMIT}"
        ))),
        n => Ok(n as usize),
    }
}

/// Candidates examined in one call at most: a list whose residuals bound nothing decides every
/// entity of the type, and one call must not hold the store (and a host's tenants) for all of
/// them. A page that stops there carries `next` even if it holds fewer than `limit`.
const MAX_EXAMINED: usize = 20_000;

/// A page: `candidates` (sorted by id, after the cursor) that `allowed` keeps, `limit` at most,
/// `MAX_EXAMINED` examined at most; `next` is the last id examined when more remain.
fn page(
    store: &EntityStore,
    mut candidates: Vec<Ix>,
    cursor: Option<&str>,
    limit: usize,
    mut allowed: impl FnMut(Ix, &EntityUID) -> Result<bool, EngineError>,
) -> Result<(Vec<EntityRef>, Option<String>), EngineError> {
    let id = |ix: &Ix| store.uid_of_slot(*ix).eid().as_ref();
    candidates.retain(|ix| cursor.is_none_or(|c| id(ix) > c));
    candidates.sort_by(|a, b| id(a).cmp(id(b)));
    let mut out: Vec<EntityRef> = Vec::new();
    for (examined, ix) in candidates.iter().enumerate() {
        if examined == MAX_EXAMINED {
            let next = candidates
                .get(examined - 1)
                .map(|last| id(last).to_string());
            return Ok((out, next));
        }
        let uid = store.uid_of_slot(*ix);
        if !allowed(*ix, uid)? {
            continue;
        }
        if out.len() == limit {
            let next = out.last().map(|r| r.id.clone());
            return Ok((out, next));
        }
        out.push(plan::to_ref(uid));
    }
    Ok((out, None))
}

impl Engine {
    /// The context a query's decisions take: stamped with the host's time once, so every
    /// entity listed is decided at the same instant.
    fn query_context(
        &self,
        action: &EntityRef,
        on: &EntityRef,
        context: Option<&Value>,
    ) -> Result<Option<Value>, EngineError> {
        let stamped = crate::plan_counts::counted_context(
            &self.bundle,
            &self.store,
            action,
            on,
            context,
            HostTime::Stamped,
        )?;
        Ok(stamped.or_else(|| context.cloned()))
    }

    /// Whether decisions of `action` on resources of `type_name` count a firm's users (plan
    /// limits): then each resource has a context of its own, and no residual stands for all.
    fn counted_per_resource(
        &self,
        action: &EntityRef,
        type_name: &str,
        context: Option<&Value>,
    ) -> Result<bool, EngineError> {
        let placeholder = EntityRef::new(type_name, "");
        crate::plan_counts::counts_per_resource(&self.bundle, action, &placeholder, context)
    }

    fn residuals_for(
        &self,
        principal: Side,
        action: &EntityRef,
        resource: Side,
        context: Option<&Value>,
    ) -> Result<Residuals, EngineError> {
        let action_uid = to_uid(action)?;
        let parsed = parse_context(&self.bundle, &action_uid, context)?;
        let mut roots = Vec::new();
        if let Some(context) = context {
            context_entities(context, &mut roots);
        }
        residual::residuals(
            &self.bundle,
            &self.store,
            &principal,
            action_uid.as_ref(),
            &resource,
            parsed.as_ref(),
            roots,
        )
    }

    fn decides_allow(&self, request: DecisionRequest, time: HostTime) -> Result<bool, EngineError> {
        let response = decide_with(&self.bundle, &self.store, &request, time)?;
        Ok(response.decision == Decision::Allow)
    }

    /// The entities of `ty` the residuals may allow: `None` for every one of them.
    fn bounded(&self, residuals: &Residuals, var: Var, ty: &EntityType) -> Option<Slots> {
        match residuals.decision {
            Some(false) => return Some(Slots::default()),
            Some(true) => return None,
            None if residuals.true_permit => return None,
            None => {}
        }
        let bounds = Bounds {
            store: &self.store,
            var,
            ty,
        };
        let mut all = Slots::default();
        for (_, residual) in &residuals.permits {
            all.extend(bounds.of(residual)?);
        }
        Some(all)
    }

    /// The candidates: the bound, or every entity of the type.
    fn candidates(&self, slots: Option<Slots>, ty: &EntityType) -> Vec<Ix> {
        slots
            .unwrap_or_else(|| self.store.slots_of_type(ty))
            .into_iter()
            .collect()
    }

    /// `POST /v1/query/resources`: the resources of a type the principal may take the action on.
    pub fn query_resources(&self, query: &ResourceQuery) -> Result<ResourceList, EngineError> {
        let limit = limit_of(query.limit)?;
        let ty = entity_type(&query.resource_type)?;
        let principal = to_uid(&query.principal)?;
        let per_resource =
            self.counted_per_resource(&query.action, &query.resource_type, query.context.as_ref())?;
        let placeholder = EntityRef::new(query.resource_type.clone(), "");
        let context = self.query_context(&query.action, &placeholder, query.context.as_ref())?;
        let (slots, everyone_allowed, condition) = if per_resource || self.bundle.schema().is_none()
        {
            // Each decided with its own counts, or no typed partial evaluation: decide all.
            (None, false, None)
        } else {
            let residuals = self.residuals_for(
                Side::Known(principal.as_ref().clone()),
                &query.action,
                Side::AnyOf(ty.clone()),
                context.as_ref(),
            )?;
            // The plan's condition, when it expresses the residuals: tested in place.
            let condition = match residuals.decision {
                None => self
                    .condition(&residuals)
                    .ok()
                    .map(|c| holds::Test::compile(&self.store, &simplify(c))),
                Some(_) => None,
            };
            (
                self.bounded(&residuals, Var::Resource, &ty),
                residuals.decision == Some(true),
                condition,
            )
        };
        let candidates = self.candidates(slots, &ty);
        let cursor = query.cursor.as_deref();
        let (resources, next) = page(&self.store, candidates, cursor, limit, |ix, uid| {
            if everyone_allowed {
                return Ok(true);
            }
            if let Some(condition) = &condition {
                return Ok(condition.holds(&self.store, ix));
            }
            let (context, time) = if per_resource {
                (query.context.clone(), HostTime::Stamped)
            } else {
                (context.clone(), HostTime::AsStated)
            };
            self.decides_allow(
                DecisionRequest {
                    principal: query.principal.clone(),
                    action: query.action.clone(),
                    resource: plan::to_ref(uid),
                    context,
                    entities: Vec::new(),
                },
                time,
            )
        })?;
        Ok(ResourceList {
            resources,
            next,
            bundle_digest: self.digest().to_string(),
        })
    }

    /// `POST /v1/query/principals`: the principals of a type that may take the action on the
    /// resource.
    pub fn query_principals(&self, query: &PrincipalQuery) -> Result<PrincipalList, EngineError> {
        let limit = limit_of(query.limit)?;
        let ty = entity_type(&query.principal_type)?;
        let resource = to_uid(&query.resource)?;
        let context = self.query_context(&query.action, &query.resource, query.context.as_ref())?;
        let (slots, everyone_allowed) = if self.bundle.schema().is_none() {
            (None, false)
        } else {
            let residuals = self.residuals_for(
                Side::AnyOf(ty.clone()),
                &query.action,
                Side::Known(resource.as_ref().clone()),
                context.as_ref(),
            )?;
            (
                self.bounded(&residuals, Var::Principal, &ty),
                residuals.decision == Some(true),
            )
        };
        let candidates = self.candidates(slots, &ty);
        let cursor = query.cursor.as_deref();
        let (principals, next) = page(&self.store, candidates, cursor, limit, |_, uid| {
            if everyone_allowed {
                return Ok(true);
            }
            self.decides_allow(
                DecisionRequest {
                    principal: plan::to_ref(uid),
                    action: query.action.clone(),
                    resource: query.resource.clone(),
                    context: context.clone(),
                    entities: Vec::new(),
                },
                HostTime::AsStated,
            )
        })?;
        Ok(PrincipalList {
            principals,
            next,
            bundle_digest: self.digest().to_string(),
        })
    }

    /// `POST /v1/query/plan`: a condition on resources of a type under which the principal
    /// may take the action, and its SQL for a mapping.
    pub fn query_plan(&self, request: &PlanRequest) -> Result<PlanResponse, EngineError> {
        let ty = entity_type(&request.resource_type)?;
        if self.counted_per_resource(
            &request.action,
            &request.resource_type,
            request.context.as_ref(),
        )? {
            return Err(EngineError::Unsupported(format!(
                "a plan on `{}`: decisions on it count each one's users (plan limits), so no \
                 single condition stands for all; list them with /v1/query/resources",
                request.resource_type
            )));
        }
        let principal = to_uid(&request.principal)?;
        let placeholder = EntityRef::new(request.resource_type.clone(), "");
        let context =
            self.query_context(&request.action, &placeholder, request.context.as_ref())?;
        let residuals = self.residuals_for(
            Side::Known(principal.as_ref().clone()),
            &request.action,
            Side::AnyOf(ty),
            context.as_ref(),
        )?;
        let plan = match residuals.decision {
            Some(true) => Plan::AlwaysAllowed,
            Some(false) => Plan::AlwaysDenied,
            None => match simplify(self.condition(&residuals)?) {
                // Partial evaluation left policies open that simplify away.
                Condition::True => Plan::AlwaysAllowed,
                Condition::False => Plan::AlwaysDenied,
                condition => Plan::Condition { condition },
            },
        };
        let sql = match (&request.sql, &plan) {
            (None, _) => None,
            (Some(mapping), Plan::AlwaysAllowed) => Some(sql::to_sql(
                &Condition::True,
                &request.resource_type,
                mapping,
            )?),
            (Some(mapping), Plan::AlwaysDenied) => Some(sql::to_sql(
                &Condition::False,
                &request.resource_type,
                mapping,
            )?),
            (Some(mapping), Plan::Condition { condition }) => {
                Some(sql::to_sql(condition, &request.resource_type, mapping)?)
            }
        };
        Ok(PlanResponse {
            plan,
            sql,
            bundle_digest: self.digest().to_string(),
        })
    }

    /// Some permit holds and no forbid does: the residuals as one condition.
    fn condition(&self, residuals: &Residuals) -> Result<Condition, EngineError> {
        let convert = |(policy, residual): &(String, std::sync::Arc<_>)| {
            plan::ToCondition {
                store: &self.store,
                policy: policy.clone(),
                tags_guarded: Default::default(),
            }
            .of(residual)
        };
        let permit = if residuals.true_permit {
            Condition::True
        } else {
            or_of(
                residuals
                    .permits
                    .iter()
                    .map(convert)
                    .collect::<Result<_, _>>()?,
            )
        };
        if residuals.forbids.is_empty() {
            return Ok(permit);
        }
        let forbid = or_of(
            residuals
                .forbids
                .iter()
                .map(convert)
                .collect::<Result<_, _>>()?,
        );
        Ok(Condition::And {
            args: vec![
                permit,
                Condition::Not {
                    arg: Box::new(forbid),
                },
            ],
        })
    }
}

/// Folds constants (`false` in an `and`, `true` in an `or`) and flattens nested `and`/`or`:
/// the same condition, smaller, with no constant left unless it is the whole answer.
fn simplify(condition: Condition) -> Condition {
    match condition {
        Condition::And { args } => junction(args, true),
        Condition::Or { args } => junction(args, false),
        Condition::Not { arg } => match simplify(*arg) {
            Condition::True => Condition::False,
            Condition::False => Condition::True,
            Condition::Not { arg } => *arg,
            other => Condition::Not {
                arg: Box::new(other),
            },
        },
        // Nothing to be one of: never.
        Condition::OneOf { values, .. } if values.is_empty() => Condition::False,
        Condition::In { entities, .. } if entities.is_empty() => Condition::False,
        other => other,
    }
}

fn junction(args: Vec<Condition>, is_and: bool) -> Condition {
    let (unit, zero) = if is_and {
        (Condition::True, Condition::False)
    } else {
        (Condition::False, Condition::True)
    };
    let mut kept = Vec::new();
    for arg in args.into_iter().map(simplify) {
        match arg {
            c if c == zero => return zero,
            c if c == unit => {}
            Condition::And { args } if is_and => kept.extend(args),
            Condition::Or { args } if !is_and => kept.extend(args),
            c => kept.push(c),
        }
    }
    match kept.len() {
        0 => unit,
        1 => kept.remove(0),
        _ if is_and => Condition::And { args: kept },
        _ => Condition::Or { args: kept },
    }
}

fn or_of(mut args: Vec<Condition>) -> Condition {
    match args.len() {
        0 => Condition::False,
        1 => args.remove(0),
        _ => Condition::Or { args },
    }
}
