//! Which entities of the unknown side may satisfy a residual: a superset, read from the
//! residual's shape through the store's indexes, so a list query decides a user's few hundred
//! documents rather than all of a firm's. Never a wrong answer: the list decides every
//! candidate in full; a shape read here only narrows which are asked.
//!
//! A bound comes from a conjunct that ties the unknown entity to known ones:
//! `x == E`, `x in E` (descendants of E), `K in x` (ancestors of K), and the same through an
//! attribute path of `x` (`x.client.teams.accountant`, record fields included), walked back
//! from the known end one entity type at a time. Anything else bounds nothing.

use cedar_policy_core::ast::{BinaryOp, EntityType, EntityUID, Literal, Value, ValueKind, Var};
use cedar_policy_core::tpe::residual::{Residual, ResidualKind};
use cedar_policy_core::validator::types::{EntityKind, Type};
use smol_str::SmolStr;

use crate::store::{EntityStore, Slots};

/// A bound this small is kept as it is: narrowing it further by walking the other side of a
/// conjunction would cost more than deciding the few it holds.
const SMALL: usize = 4_096;

/// A residual that is false whatever the entity: `false`, or an error (the policy does not
/// apply).
fn never(residual: &Residual) -> bool {
    match residual {
        Residual::Concrete { value, .. } => {
            matches!(value.value, ValueKind::Lit(Literal::Bool(false)))
        }
        Residual::Error(_) => true,
        Residual::Partial { .. } => false,
    }
}

/// Reads bounds on the entities of `ty` that the variable `var` stands for.
pub(crate) struct Bounds<'s> {
    pub(crate) store: &'s EntityStore,
    pub(crate) var: Var,
    pub(crate) ty: &'s EntityType,
}

/// One entity type's part of an attribute path: `attrs` read on an entity of `on` (an attribute,
/// then fields of records).
#[derive(Debug, Clone)]
pub(crate) struct Hop {
    pub(crate) on: EntityType,
    pub(crate) attrs: Vec<SmolStr>,
}

/// The single entity type a residual's type names, if it names one.
pub(crate) fn entity_type_of(ty: &Type) -> Option<&EntityType> {
    match ty {
        Type::Entity(EntityKind::Entity(lub)) => lub.get_single_entity(),
        _ => None,
    }
}

/// The entities a concrete residual holds: one entity, or a set's entities.
pub(crate) fn known_entities(residual: &Residual) -> Option<Vec<&EntityUID>> {
    match residual {
        Residual::Concrete { value, .. } => entities_of_value(value),
        _ => None,
    }
}

fn entities_of_value(value: &Value) -> Option<Vec<&EntityUID>> {
    match &value.value {
        ValueKind::Lit(Literal::EntityUID(uid)) => Some(vec![uid.as_ref()]),
        ValueKind::Set(set) => set
            .authoritative
            .iter()
            .map(|v| match &v.value {
                ValueKind::Lit(Literal::EntityUID(uid)) => Some(uid.as_ref()),
                _ => None,
            })
            .collect(),
        _ => None,
    }
}

/// `residual` as the variable `var` followed by an attribute path, grouped by entity type.
/// An empty path is the variable itself.
pub(crate) fn path_from(residual: &Residual, var: Var) -> Option<Vec<Hop>> {
    let Residual::Partial { kind, .. } = residual else {
        return None;
    };
    match kind {
        ResidualKind::Var(v) if *v == var => Some(Vec::new()),
        ResidualKind::GetAttr { expr, attr } => {
            let mut hops = path_from(expr, var)?;
            match expr.ty() {
                Type::Record { .. } => hops.last_mut()?.attrs.push(attr.clone()),
                ty => hops.push(Hop {
                    on: entity_type_of(ty)?.clone(),
                    attrs: vec![attr.clone()],
                }),
            }
            Some(hops)
        }
        _ => None,
    }
}

impl Bounds<'_> {
    /// A superset of the entities for which `residual` may be true, or `None` for no bound.
    pub(crate) fn of(&self, residual: &Residual) -> Option<Slots> {
        let kind = match residual {
            Residual::Concrete { value, .. } => {
                return matches!(value.value, ValueKind::Lit(Literal::Bool(false)))
                    .then(Slots::default);
            }
            // A policy whose condition errors is not satisfied.
            Residual::Error(_) => return Some(Slots::default()),
            Residual::Partial { kind, .. } => kind,
        };
        match kind {
            ResidualKind::And { left, right } => {
                // A conjunct that is false (partial evaluation keeps `x && false` when `x` may
                // error) bounds to nothing: no need to walk the other, maybe the whole type.
                if never(left) || never(right) {
                    return Some(Slots::default());
                }
                let first = self.of(left);
                // Either side's bound is sound alone: a small one spares walking the other.
                if first.as_ref().is_some_and(|a| a.len() <= SMALL) {
                    return first;
                }
                match (first, self.of(right)) {
                    (Some(a), Some(b)) if a.len() <= b.len() => {
                        Some(a.into_iter().filter(|ix| b.contains(ix)).collect())
                    }
                    (Some(a), Some(b)) => Some(b.into_iter().filter(|ix| a.contains(ix)).collect()),
                    (Some(one), None) | (None, Some(one)) => Some(one),
                    (None, None) => None,
                }
            }
            ResidualKind::Or { left, right } => {
                let mut all = self.of(left)?;
                all.extend(self.of(right)?);
                Some(all)
            }
            ResidualKind::BinaryApp { op, arg1, arg2 } => match op {
                BinaryOp::In => self.of_in(arg1, arg2),
                BinaryOp::Eq => self.of_eq(arg1, arg2).or_else(|| self.of_eq(arg2, arg1)),
                BinaryOp::Contains => {
                    let hops = path_from(arg1, self.var)?;
                    // One entity: a set of sets holding a set is no entity to walk back from.
                    let Residual::Concrete { value, .. } = arg2.as_ref() else {
                        return None;
                    };
                    let ValueKind::Lit(Literal::EntityUID(uid)) = &value.value else {
                        return None;
                    };
                    let targets = self.slots(vec![uid.as_ref()], |s, u| s.slot_of(u));
                    self.walk_back(&hops, targets)
                }
                _ => None,
            },
            _ => None,
        }
    }

    /// `lhs in rhs`, one side the variable (or a path from it), the other known.
    fn of_in(&self, lhs: &Residual, rhs: &Residual) -> Option<Slots> {
        if let Some(hops) = path_from(lhs, self.var) {
            // x.path in E: the path's value is E or below it.
            let targets = self.closure(known_entities(rhs)?, EntityStore::self_and_descendants);
            return self.walk_back(&hops, targets);
        }
        let hops = path_from(rhs, self.var)?;
        // K in x.path: the path's value is K or one of K's ancestors.
        let targets = self.closure(known_entities(lhs)?, EntityStore::self_and_ancestors);
        self.walk_back(&hops, targets)
    }

    /// `lhs == rhs`, `lhs` the variable (or a path from it) and `rhs` a known entity.
    fn of_eq(&self, lhs: &Residual, rhs: &Residual) -> Option<Slots> {
        let hops = path_from(lhs, self.var)?;
        let Residual::Concrete { value, .. } = rhs else {
            return None;
        };
        let ValueKind::Lit(Literal::EntityUID(uid)) = &value.value else {
            return None;
        };
        let targets = self.slots(vec![uid.as_ref()], |s, u| s.slot_of(u));
        self.walk_back(&hops, targets)
    }

    fn closure(&self, uids: Vec<&EntityUID>, each: fn(&EntityStore, &EntityUID) -> Slots) -> Slots {
        let mut out = Slots::default();
        for uid in uids {
            out.extend(each(self.store, uid));
        }
        out
    }

    fn slots(
        &self,
        uids: Vec<&EntityUID>,
        each: fn(&EntityStore, &EntityUID) -> Option<u32>,
    ) -> Slots {
        uids.into_iter()
            .filter_map(|u| each(self.store, u))
            .collect()
    }

    /// The entities of the variable's type whose path leads into `targets`.
    fn walk_back(&self, hops: &[Hop], targets: Slots) -> Option<Slots> {
        let mut targets = targets;
        for hop in hops.iter().rev() {
            if targets.is_empty() {
                return Some(targets);
            }
            targets = self.store.pointing_through(&hop.on, &hop.attrs, &targets);
        }
        // The variable itself: keep the targets of its type.
        targets.retain(|ix| self.store.uid_of_slot(*ix).entity_type() == self.ty);
        Some(targets)
    }
}
