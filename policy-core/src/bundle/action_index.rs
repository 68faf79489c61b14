//! Policies indexed by action. Cedar's authorizer evaluates every policy of the set it is given;
//! a policy whose action scope cannot match the request's action is never satisfied and never
//! errors (the scope is checked before any condition), so giving the authorizer only the
//! policies whose scope names the action (directly, through an action group, or any action)
//! yields the same decision, determining policies and errors, for a fraction of the work.

use std::collections::HashMap;

use cedar_policy::{ActionConstraint, Entities, EntityUid, Policy, PolicySet, Schema};

/// For each action of the schema, the policies that may apply to it. `None` when the set holds
/// anything the index does not handle (templates): callers then use the whole set.
pub(crate) fn by_action(
    schema: &Schema,
    set: &PolicySet,
    entities: &Entities,
) -> Option<HashMap<EntityUid, PolicySet>> {
    if set.templates().next().is_some() {
        return None;
    }
    let mut index = HashMap::new();
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
        let subset =
            PolicySet::from_policies(set.policies().filter(|p| applies(p)).cloned()).ok()?;
        index.insert(action.clone(), subset);
    }
    Some(index)
}
