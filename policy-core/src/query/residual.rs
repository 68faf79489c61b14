//! Cedar's type-aware partial evaluation (`tpe`) of the bundle for a request with one side
//! unknown: the principal known and every resource of a type in question, or the reverse. The
//! entities it reads are the known side's slice of the store (everything reachable from it), so
//! what depends only on the known side is decided here, and what depends on the unknown side is
//! left as a residual expression per policy.

use std::sync::Arc;

use cedar_policy_core::ast::{self, EntityType, EntityUID};
use cedar_policy_core::authorizer::Decision;
use cedar_policy_core::tpe::entities::PartialEntities;
use cedar_policy_core::tpe::request::{PartialEntityUID, PartialRequest};
use cedar_policy_core::tpe::residual::Residual;

use crate::bundle::Bundle;
use crate::error::{render_chain, EngineError};
use crate::store::EntityStore;

/// One side of a query: a known entity, or every entity of a type.
#[derive(Debug, Clone)]
pub(crate) enum Side {
    Known(EntityUID),
    AnyOf(EntityType),
}

impl Side {
    fn partial(&self) -> PartialEntityUID {
        match self {
            Side::Known(uid) => PartialEntityUID {
                ty: uid.entity_type().clone(),
                eid: Some(uid.eid().clone()),
            },
            Side::AnyOf(ty) => PartialEntityUID {
                ty: ty.clone(),
                eid: None,
            },
        }
    }

    fn known(&self) -> Option<&EntityUID> {
        match self {
            Side::Known(uid) => Some(uid),
            Side::AnyOf(_) => None,
        }
    }
}

/// What partial evaluation left: a decision when the unknown side cannot change it, else the
/// permits and forbids still open, each as its residual condition.
#[derive(Debug)]
pub(crate) struct Residuals {
    pub(crate) decision: Option<bool>,
    /// Some permit holds whatever the unknown side is (a forbid may still be open).
    pub(crate) true_permit: bool,
    pub(crate) permits: Vec<(String, Arc<Residual>)>,
    pub(crate) forbids: Vec<(String, Arc<Residual>)>,
}

/// Partially evaluates the bundle's policies for `principal`, `action`, `resource` (one of them
/// unknown) and `context` (already parsed against the action, as a decision parses it).
pub(crate) fn residuals(
    bundle: &Bundle,
    store: &EntityStore,
    principal: &Side,
    action: &EntityUID,
    resource: &Side,
    context: &ast::Context,
    context_roots: Vec<EntityUID>,
) -> Result<Residuals, EngineError> {
    let Some(schema) = bundle.schema() else {
        return Err(EngineError::Unsupported(
            "a query plan needs the bundle's schema (Cedar's partial evaluation is typed); \
             this bundle has none"
                .into(),
        ));
    };
    let schema: &cedar_policy_core::validator::ValidatorSchema = schema.as_ref();
    let context = match context {
        ast::Context::Value(fields) => Some(fields.clone()),
        ast::Context::RestrictedResidual(_) => None,
    };
    let request = PartialRequest::new(
        principal.partial(),
        action.clone(),
        resource.partial(),
        context,
        schema,
    )
    .map_err(|e| EngineError::InvalidRequest(render_chain(&e)))?;
    let mut roots: Vec<EntityUID> = bundle.condition_literals().to_vec();
    roots.push(action.clone());
    roots.extend(principal.known().cloned());
    roots.extend(resource.known().cloned());
    roots.extend(context_roots);
    let slice = store.slice(roots.iter())?;
    let entities = PartialEntities::from_concrete(slice, schema)
        .map_err(|e| EngineError::EntityInvalid(render_chain(&e)))?;
    // The action's own policies (a superset of those that can apply, deciding the same).
    let action_uid = <cedar_policy::EntityUid as ref_cast::RefCast>::ref_cast(action);
    let policies: &ast::PolicySet = bundle.policies_for_action(action_uid).as_ref();
    let response = cedar_policy_core::tpe::is_authorized(policies, &request, &entities, schema)
        .map_err(|e| {
            EngineError::Unsupported(format!("partial evaluation: {}", render_chain(&e)))
        })?;
    // Sorted by policy id: the same plan text for the same policies (tpe keeps a hash map).
    let sorted = |mut all: Vec<(String, Arc<Residual>)>| {
        all.sort_by(|a, b| a.0.cmp(&b.0));
        all
    };
    let residuals = Residuals {
        decision: response.decision().map(|d| d == Decision::Allow),
        true_permit: response.true_permits().next().is_some(),
        permits: sorted(
            response
                .residual_permits()
                .map(|p| (p.get_policy_id().to_string(), p.get_residual()))
                .collect(),
        ),
        forbids: sorted(
            response
                .residual_forbids()
                .map(|p| (p.get_policy_id().to_string(), p.get_residual()))
                .collect(),
        ),
    };
    Ok(residuals)
}
