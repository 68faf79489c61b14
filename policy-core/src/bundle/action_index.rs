//! Policies indexed by action and resource type. Cedar's authorizer evaluates every policy of
//! the set it is given; a policy's scope is checked before its conditions and never errors, so
//! a policy whose scope cannot match the request is never satisfied and never errors. Giving
//! the authorizer only the policies whose action scope names the action (directly, through an
//! action group, or any action) and whose resource scope admits the resource's type (`is T`,
//! `== T::"id"`, or anything else that is not a type test) yields the same decision,
//! determining policies and errors, for a fraction of the work.

use std::collections::HashMap;
use std::sync::Arc;

use cedar_policy::{
    ActionConstraint, Entities, EntityTypeName, EntityUid, Policy, PolicySet, ResourceConstraint,
    Schema,
};

use super::compiled::{self, CompiledPolicy};

/// Past this many policy entries in all the per-type sets, the index keeps per-action sets
/// only (a large policy set times many resource types would cost more memory than it saves).
const MAX_TYPED_ENTRIES: usize = 200_000;

/// Policies a request may trigger: as Cedar's set, and with their conditions built
/// ([`compiled`]; `None` if some policy of the bundle did not rebuild).
#[derive(Debug)]
pub(crate) struct Candidates {
    pub(crate) set: PolicySet,
    pub(crate) compiled: Option<Box<[Arc<CompiledPolicy>]>>,
}

/// The policies that may apply to one action.
#[derive(Debug)]
pub(crate) struct ActionPolicies {
    /// Whatever the resource's type.
    pub(crate) all: Candidates,
    /// For each resource type the action applies to (empty past [`MAX_TYPED_ENTRIES`]).
    pub(crate) by_resource_type: HashMap<EntityTypeName, Candidates>,
}

impl ActionPolicies {
    pub(crate) fn for_resource(&self, resource: Option<&EntityTypeName>) -> &Candidates {
        resource
            .and_then(|t| self.by_resource_type.get(t))
            .unwrap_or(&self.all)
    }
}

/// For each action of the schema, the policies that may apply to it. `None` when the set holds
/// anything the index does not handle (templates): callers then use the whole set.
pub(crate) fn by_action(
    schema: &Schema,
    set: &PolicySet,
    entities: &Entities,
) -> Option<HashMap<EntityUid, ActionPolicies>> {
    if set.templates().next().is_some() {
        return None;
    }
    let built = compiled::compile(set);
    let candidates = |policies: Vec<&Policy>| -> Option<Candidates> {
        let compiled = built.as_ref().map(|built| {
            policies
                .iter()
                .filter_map(|p| built.get(p.id()).cloned())
                .collect()
        });
        Some(Candidates {
            set: PolicySet::from_policies(policies.into_iter().cloned()).ok()?,
            compiled,
        })
    };
    let mut index = HashMap::new();
    let mut typed_entries = 0usize;
    for action in schema.actions() {
        let mut groups: Vec<&EntityUid> = vec![action];
        if let Some(ancestors) = entities.ancestors(action) {
            groups.extend(ancestors);
        }
        let applies = |policy: &Policy| match policy.action_constraint() {
            ActionConstraint::Any => true,
            ActionConstraint::Eq(a) => a == *action,
            ActionConstraint::In(list) => list.iter().any(|a| groups.contains(&a)),
        };
        let policies: Vec<&Policy> = set.policies().filter(|p| applies(p)).collect();
        let mut by_resource_type = HashMap::new();
        for resource in schema.resources_for_action(action).into_iter().flatten() {
            let typed: Vec<&Policy> = policies
                .iter()
                .copied()
                .filter(|p| admits(p, resource))
                .collect();
            typed_entries += typed.len();
            by_resource_type.insert(resource.clone(), candidates(typed)?);
        }
        index.insert(
            action.clone(),
            ActionPolicies {
                all: candidates(policies)?,
                by_resource_type,
            },
        );
    }
    if typed_entries > MAX_TYPED_ENTRIES {
        for entry in index.values_mut() {
            entry.by_resource_type.clear();
        }
    }
    Some(index)
}

/// Whether `policy`'s resource scope can hold for a resource of type `resource`.
fn admits(policy: &Policy, resource: &EntityTypeName) -> bool {
    match policy.resource_constraint() {
        ResourceConstraint::Any | ResourceConstraint::In(_) => true,
        ResourceConstraint::Eq(uid) => uid.type_name() == resource,
        ResourceConstraint::Is(t) | ResourceConstraint::IsIn(t, _) => t == *resource,
    }
}
