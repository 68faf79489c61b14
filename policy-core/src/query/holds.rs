//! A plan's condition evaluated on the store itself, for list queries: once partial evaluation
//! has left a condition on the resource that `plan` could express (the same condition
//! `/v1/query/plan` answers, checked against `decide` by the differential tests), each
//! candidate is tested by reading its attributes in place: a comparison or two per candidate,
//! where a decision rebuilds the resource's slice and evaluates every policy of the action.
//! A residual `plan` refuses leaves the list deciding each candidate in full.

use std::borrow::Cow;

use serde_json::Value;

use crate::store::value::{Ix, Val};
use crate::store::{EntityStore, Slots};
use crate::wire::{Condition, PathStep};

/// Whether `condition` holds on the entity `ix`, as docs/query.md defines it (a missing
/// attribute or entity on the way: the atom is false).
pub(crate) fn holds(store: &EntityStore, ix: Ix, condition: &Condition) -> bool {
    match condition {
        Condition::True => true,
        Condition::False => false,
        Condition::And { args } => args.iter().all(|c| holds(store, ix, c)),
        Condition::Or { args } => args.iter().any(|c| holds(store, ix, c)),
        Condition::Not { arg } => !holds(store, ix, arg),
        Condition::Eq { path, value } => {
            at(store, ix, path).is_some_and(|v| same(store, &v, value))
        }
        Condition::OneOf { path, values } => {
            at(store, ix, path).is_some_and(|v| match v.as_ref() {
                Val::Set(items) => items
                    .iter()
                    .any(|i| values.iter().any(|w| same(store, i, w))),
                one => values.iter().any(|w| same(store, one, w)),
            })
        }
        Condition::In { path, entities } => {
            let targets: Slots = entities
                .iter()
                .filter_map(|e| crate::entity_json::to_uid(e).ok())
                .filter_map(|u| store.slot_of(u.as_ref()))
                .collect();
            let test = |v: &Val| matches!(v, Val::Entity(e) if store.is_or_in(*e, &targets));
            match path_value(store, ix, path) {
                Some(PathValue::Entity(e)) => store.is_or_in(e, &targets),
                Some(PathValue::Val(Val::Set(items))) => items.iter().any(test),
                Some(PathValue::Val(v)) => test(v),
                None => false,
            }
        }
        Condition::Contains { path, value } => {
            at(store, ix, path).is_some_and(|v| match v.as_ref() {
                Val::Set(items) => items.iter().any(|i| same(store, i, value)),
                _ => false,
            })
        }
        Condition::Has { path } => at(store, ix, path).is_some(),
        Condition::Compare { path, cmp, value } => match at(store, ix, path).as_deref() {
            Some(Val::Long(n)) => match cmp.as_str() {
                "<" => n < value,
                "<=" => n <= value,
                ">" => n > value,
                _ => n >= value,
            },
            _ => false,
        },
    }
}

/// What a path leads to: the entity itself (an empty path), or a value read on the way.
enum PathValue<'s> {
    Entity(Ix),
    Val(&'s Val),
}

fn path_value<'s>(store: &'s EntityStore, ix: Ix, path: &[PathStep]) -> Option<PathValue<'s>> {
    let mut current = PathValue::Entity(ix);
    for step in path {
        let PathValue::Entity(at) = current else {
            // Past a value that is no entity: nothing further to read.
            match current {
                PathValue::Val(Val::Entity(next)) => {
                    current = PathValue::Val(store.value_of(*next, &step.attribute)?);
                    continue;
                }
                _ => return None,
            }
        };
        current = PathValue::Val(store.value_of(at, &step.attribute)?);
    }
    Some(current)
}

/// The value at `path`: the entity itself for an empty path.
fn at<'s>(store: &'s EntityStore, ix: Ix, path: &[PathStep]) -> Option<Cow<'s, Val>> {
    match path_value(store, ix, path)? {
        PathValue::Val(v) => Some(Cow::Borrowed(v)),
        PathValue::Entity(e) => Some(Cow::Owned(Val::Entity(e))),
    }
}

/// A stored value against a condition's JSON literal (an entity as `{type, id}`).
fn same(store: &EntityStore, value: &Val, literal: &Value) -> bool {
    match (value, literal) {
        (Val::Bool(a), Value::Bool(b)) => a == b,
        (Val::Long(a), Value::Number(b)) => b.as_i64() == Some(*a),
        (Val::Str(a), Value::String(b)) => a == b,
        (Val::Entity(e), Value::Object(map)) => {
            // The id first: it settles most comparisons without spelling the type.
            let uid = store.uid_of_slot(*e);
            map.get("id").and_then(Value::as_str) == Some(uid.eid().as_ref())
                && map.get("type").and_then(Value::as_str)
                    == Some(uid.entity_type().to_string().as_str())
        }
        _ => false,
    }
}
