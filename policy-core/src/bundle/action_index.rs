//! Policies indexed by action and resource type. Cedar's authorizer evaluates every policy of
//! the set it is given; a policy's scope is checked before its conditions (Cedar conjoins them
//! in that order and stops at the first false) and never errors, so a policy whose scope cannot
//! match the request is never satisfied and never errors. Evaluating only the policies whose
//! action scope names the action (directly, through an action group, or any action) and whose
//! resource scope admits the resource's type (`is T`, `== T::"id"`, or anything else that is not
//! a type test) yields the same decision, determining policies and errors, for a fraction of
//! the work.

use std::collections::HashMap;
use std::sync::Arc;

use cedar_policy::{
    ActionConstraint, Entities, EntityTypeName, EntityUid, Policy, PolicySet, ResourceConstraint,
    Schema,
};

use super::compiled::{self, CompiledPolicy};

/// Past this many entries in all the per-type lists (counted before any is built), only the
/// per-action lists are kept: a large policy set times many resource types would cost more
/// memory than it saves.
const MAX_TYPED_ENTRIES: usize = 1_000_000;

/// The policies that may apply to one action.
#[derive(Debug)]
pub(crate) struct ActionPolicies {
    /// As Cedar's set, whatever the resource's type: what Cedar's own authorizer is given.
    pub(crate) set: PolicySet,
    /// The same policies with their conditions built (see [`compiled`]); `None` if some policy
    /// of the bundle did not rebuild.
    compiled: Option<Box<[Arc<CompiledPolicy>]>>,
    /// For each resource type the action applies to, the built policies its scope admits
    /// (empty past [`MAX_TYPED_ENTRIES`], or without `compiled`).
    compiled_by_resource_type: HashMap<EntityTypeName, Box<[Arc<CompiledPolicy>]>>,
}

impl ActionPolicies {
    /// The built policies a request on a resource of type `resource` may trigger.
    pub(crate) fn compiled_for(
        &self,
        resource: Option<&EntityTypeName>,
    ) -> Option<&[Arc<CompiledPolicy>]> {
        let all = self.compiled.as_deref()?;
        Some(
            resource
                .and_then(|t| self.compiled_by_resource_type.get(t))
                .map_or(all, |typed| typed),
        )
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
    let per_action: Vec<(&EntityUid, Vec<&Policy>)> = schema
        .actions()
        .map(|action| {
            let mut groups: Vec<&EntityUid> = vec![action];
            if let Some(ancestors) = entities.ancestors(action) {
                groups.extend(ancestors);
            }
            let applies = |policy: &Policy| match policy.action_constraint() {
                ActionConstraint::Any => true,
                ActionConstraint::Eq(a) => a == *action,
                ActionConstraint::In(list) => list.iter().any(|a| groups.contains(&a)),
            };
            (action, set.policies().filter(|p| applies(p)).collect())
        })
        .collect();
    let typed_entries: usize = per_action
        .iter()
        .map(|(action, policies)| {
            resource_types(schema, action)
                .map(|t| policies.iter().filter(|p| admits(p, t)).count())
                .sum::<usize>()
        })
        .sum();
    let built = compiled::compile(set);
    let mut index = HashMap::new();
    for (action, policies) in per_action {
        let mut compiled_by_resource_type = HashMap::new();
        if let (Some(built), true) = (&built, typed_entries <= MAX_TYPED_ENTRIES) {
            for resource in resource_types(schema, action) {
                let typed = policies.iter().filter(|p| admits(p, resource));
                compiled_by_resource_type.insert(resource.clone(), pick(built, typed));
            }
        }
        index.insert(
            action.clone(),
            ActionPolicies {
                compiled: built.as_ref().map(|built| pick(built, policies.iter())),
                set: PolicySet::from_policies(policies.into_iter().cloned()).ok()?,
                compiled_by_resource_type,
            },
        );
    }
    Some(index)
}

/// `policies` as built. `built` holds every policy of the set (`compile` builds all or none),
/// so the lookup never misses.
fn pick<'p>(
    built: &HashMap<cedar_policy::PolicyId, Arc<CompiledPolicy>>,
    policies: impl Iterator<Item = &'p &'p Policy>,
) -> Box<[Arc<CompiledPolicy>]> {
    policies
        .filter_map(|p| built.get(p.id()).cloned())
        .collect()
}

fn resource_types<'s>(
    schema: &'s Schema,
    action: &EntityUid,
) -> impl Iterator<Item = &'s EntityTypeName> {
    schema.resources_for_action(action).into_iter().flatten()
}

/// Whether `policy`'s resource scope can hold for a resource of type `resource`.
fn admits(policy: &Policy, resource: &EntityTypeName) -> bool {
    match policy.resource_constraint() {
        ResourceConstraint::Any | ResourceConstraint::In(_) => true,
        ResourceConstraint::Eq(uid) => uid.type_name() == resource,
        ResourceConstraint::Is(t) | ResourceConstraint::IsIn(t, _) => t == *resource,
    }
}
