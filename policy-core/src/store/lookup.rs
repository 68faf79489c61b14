//! Reverse lookups for list queries (`crate::query`): which entities of a type are in, or point
//! through an attribute path at, a set of entities. Each works on slot numbers and the store's
//! own values, without rebuilding a Cedar entity, so a scan of every document of a large store
//! costs a comparison per document rather than a decision.

use std::sync::{Arc, Mutex};

use cedar_policy_core::ast::{EntityType, EntityUID};
use rustc_hash::{FxHashMap, FxHashSet};
use smol_str::SmolStr;

use super::value::{Ix, Val};
use super::EntityStore;

/// A set of the store's entities, by slot number.
pub(crate) type Slots = FxHashSet<Ix>;

/// Entity → the entities of one type whose attribute names it (anywhere in its value).
type Reverse = FxHashMap<Ix, Vec<Ix>>;

/// Reverse attribute indexes, built by the first list query that walks an attribute back (one
/// scan of the type) and kept until the store next changes an entity (`EntityStore::place`,
/// `take` clear them): a user's documents are then found through his clients without scanning
/// every document again for each permit.
#[derive(Default)]
pub(crate) struct ReverseIndexes(Mutex<FxHashMap<(EntityType, SmolStr), Arc<Reverse>>>);

impl Clone for ReverseIndexes {
    /// A copy of a store builds its own (they are a cache).
    fn clone(&self) -> Self {
        Self::default()
    }
}

impl std::fmt::Debug for ReverseIndexes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ReverseIndexes")
    }
}

impl ReverseIndexes {
    /// Drops every index (an entity changed). Free when none was built.
    pub(crate) fn clear(&mut self) {
        if let Ok(map) = self.0.get_mut() {
            if !map.is_empty() {
                map.clear();
            }
        }
    }
}

fn entities_in(value: &Val, out: &mut Vec<Ix>) {
    match value {
        Val::Entity(ix) => out.push(*ix),
        Val::Set(items) => items.iter().for_each(|v| entities_in(v, out)),
        Val::Record(pairs) => pairs.iter().for_each(|(_, v)| entities_in(v, out)),
        _ => {}
    }
}

impl EntityStore {
    /// The entities of type `ty` the store knows (held, or named by held ones: what a
    /// decision on each treats as Cedar does an entity it does not hold).
    pub(crate) fn slots_of_type(&self, ty: &EntityType) -> Slots {
        self.by_type.get(ty).cloned().unwrap_or_default()
    }

    /// `uid` and every entity it is `in` (its closed ancestors); empty when it is unknown.
    pub(crate) fn self_and_ancestors(&self, uid: &EntityUID) -> Slots {
        let Some(ix) = self.ix(uid) else {
            return Slots::default();
        };
        let mut out: Slots = [ix].into_iter().collect();
        if let Some(held) = self.held_at(ix) {
            out.extend(held.parents.iter().chain(held.indirect.iter()).copied());
        }
        out
    }

    /// `uid` and every held entity `in` it (through the children index, not a scan).
    pub(crate) fn self_and_descendants(&self, uid: &EntityUID) -> Slots {
        let Some(ix) = self.ix(uid) else {
            return Slots::default();
        };
        let mut out: Slots = [ix].into_iter().collect();
        let mut todo = vec![ix];
        while let Some(next) = todo.pop() {
            for kid in self.children.get(&next).into_iter().flatten() {
                if out.insert(*kid) {
                    todo.push(*kid);
                }
            }
        }
        out
    }

    /// The reverse index of attribute `attr` on entities of type `ty` (see [`ReverseIndexes`]);
    /// `None` if its lock was poisoned (the caller scans instead).
    fn reverse(&self, ty: &EntityType, attr: &SmolStr) -> Option<Arc<Reverse>> {
        let mut built = self.reverse.0.lock().ok()?;
        let key = (ty.clone(), attr.clone());
        if let Some(found) = built.get(&key) {
            return Some(found.clone());
        }
        let mut index = Reverse::default();
        let mut named = Vec::new();
        for ix in self.by_type.get(ty).into_iter().flatten() {
            let Some(held) = self.held_at(*ix) else {
                continue;
            };
            if let Some((_, value)) = held.attrs.iter().find(|(k, _)| k == attr) {
                named.clear();
                entities_in(value, &mut named);
                for target in &named {
                    index.entry(*target).or_default().push(*ix);
                }
            }
        }
        let index = Arc::new(index);
        built.insert(key, index.clone());
        Some(index)
    }

    /// The held entities of type `ty` whose value at `path` (an attribute, then record fields)
    /// is an entity of `targets`, or a set holding one.
    pub(crate) fn pointing_through(
        &self,
        ty: &EntityType,
        path: &[SmolStr],
        targets: &Slots,
    ) -> Slots {
        let Some((attr, fields)) = path.split_first() else {
            return Slots::default();
        };
        let points = |ix: &Ix| {
            let Some(held) = self.held_at(*ix) else {
                return false;
            };
            let value = held.attrs.iter().find(|(k, _)| k == attr).map(|(_, v)| v);
            value
                .and_then(|v| field_at(v, fields))
                .is_some_and(|v| names_one_of(v, targets))
        };
        match self.reverse(ty, attr) {
            // Those naming a target somewhere in the attribute, then the exact path.
            Some(index) => targets
                .iter()
                .filter_map(|t| index.get(t))
                .flatten()
                .copied()
                .filter(points)
                .collect(),
            None => self
                .by_type
                .get(ty)
                .into_iter()
                .flatten()
                .copied()
                .filter(points)
                .collect(),
        }
    }

    /// The uid held in slot `ix`.
    pub(crate) fn uid_of_slot(&self, ix: Ix) -> &EntityUID {
        self.uid_at(ix)
    }

    /// The slot number of an entity the store knows: held, or only named by held ones (a
    /// reference to an entity not held is still a value an attribute can compare to).
    pub(crate) fn slot_of(&self, uid: &EntityUID) -> Option<Ix> {
        self.ix(uid)
    }
}

fn field_at<'v>(value: &'v Val, fields: &[SmolStr]) -> Option<&'v Val> {
    fields.iter().try_fold(value, |v, name| match v {
        Val::Record(pairs) => pairs.iter().find(|(k, _)| k == name).map(|(_, v)| v),
        _ => None,
    })
}

fn names_one_of(value: &Val, targets: &Slots) -> bool {
    match value {
        Val::Entity(ix) => targets.contains(ix),
        Val::Set(items) => items
            .iter()
            .any(|v| matches!(v, Val::Entity(ix) if targets.contains(ix))),
        _ => false,
    }
}

impl EntityStore {
    /// The value of `attrs` (an attribute, then record fields) on the held entity `ix`.
    pub(crate) fn value_of(&self, ix: Ix, attrs: &[String]) -> Option<&Val> {
        let (attr, fields) = attrs.split_first()?;
        let held = self.held_at(ix)?;
        let value = held.attrs.iter().find(|(k, _)| k == attr).map(|(_, v)| v)?;
        fields.iter().try_fold(value, |v, name| match v {
            Val::Record(pairs) => pairs.iter().find(|(k, _)| k == name).map(|(_, v)| v),
            _ => None,
        })
    }

    /// Whether the entity `ix` is `target` or in it (a parent or an ancestor).
    pub(crate) fn is_or_in(&self, ix: Ix, targets: &Slots) -> bool {
        targets.contains(&ix)
            || self.held_at(ix).is_some_and(|held| {
                held.parents
                    .iter()
                    .chain(held.indirect.iter())
                    .any(|a| targets.contains(a))
            })
    }
}
