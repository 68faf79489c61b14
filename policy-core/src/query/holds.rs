//! A plan's condition evaluated on the store itself, for list queries: once partial evaluation
//! has left a condition on the resource that `plan` could express (the same condition
//! `/v1/query/plan` answers, checked against `decide` by the differential tests), each
//! candidate is tested by reading its attributes in place: a few lookups per candidate, where a
//! decision rebuilds the resource's slice and evaluates every policy of the action. A residual
//! `plan` refuses leaves the list deciding each candidate in full.
//!
//! The condition is compiled once per list: its literals resolved to the store's slot numbers
//! and its value lists to hash sets (an accountant's condition names a hundred teams).

use rustc_hash::FxHashSet;
use serde_json::Value;
use smol_str::SmolStr;

use crate::entity_json::to_uid;
use crate::store::value::{Ix, Val};
use crate::store::{EntityStore, Slots};
use crate::wire::{Condition, PathStep};

/// A literal as the store holds values.
#[derive(Debug, Default)]
pub(crate) struct Literals {
    /// Entities by slot; an entity the store does not know equals no stored value.
    entities: Slots,
    strings: FxHashSet<SmolStr>,
    longs: FxHashSet<i64>,
    bools: [bool; 2],
}

impl Literals {
    fn of(store: &EntityStore, values: &[Value]) -> Self {
        let mut out = Self::default();
        for value in values {
            match value {
                Value::Bool(b) => out.bools[usize::from(*b)] = true,
                Value::Number(n) => out.longs.extend(n.as_i64()),
                Value::String(s) => {
                    out.strings.insert(SmolStr::new(s));
                }
                Value::Object(_) => {
                    let slot = serde_json::from_value(value.clone())
                        .ok()
                        .and_then(|r| to_uid(&r).ok())
                        .and_then(|u| store.slot_of(u.as_ref()));
                    out.entities.extend(slot);
                }
                _ => {}
            }
        }
        out
    }

    fn has(&self, value: &Val) -> bool {
        match value {
            Val::Entity(ix) => self.entities.contains(ix),
            Val::Str(s) => self.strings.contains(s),
            Val::Long(n) => self.longs.contains(n),
            Val::Bool(b) => self.bools[usize::from(*b)],
            _ => false,
        }
    }
}

/// A condition compiled against a store.
#[derive(Debug)]
pub(crate) enum Test {
    Const(bool),
    And(Vec<Test>),
    Or(Vec<Test>),
    Not(Box<Test>),
    /// The value at the path (or, `elements`, one element of a set there) is one of.
    OneOf {
        path: Vec<PathStep>,
        values: Literals,
        elements: bool,
    },
    /// The entity at the path (or one element of a set there) is one of or below one of.
    In {
        path: Vec<PathStep>,
        targets: Slots,
    },
    Has {
        path: Vec<PathStep>,
    },
    Compare {
        path: Vec<PathStep>,
        cmp: Cmp,
        value: i64,
    },
}

#[derive(Debug, Clone, Copy)]
pub(crate) enum Cmp {
    Less,
    LessEq,
    Greater,
    GreaterEq,
}

impl Test {
    pub(crate) fn compile(store: &EntityStore, condition: &Condition) -> Self {
        let all = |args: &[Condition]| args.iter().map(|c| Self::compile(store, c)).collect();
        match condition {
            Condition::True => Self::Const(true),
            Condition::False => Self::Const(false),
            Condition::And { args } => Self::And(all(args)),
            Condition::Or { args } => Self::Or(all(args)),
            Condition::Not { arg } => Self::Not(Box::new(Self::compile(store, arg))),
            Condition::Eq { path, value } => Self::OneOf {
                path: path.clone(),
                values: Literals::of(store, std::slice::from_ref(value)),
                elements: false,
            },
            Condition::OneOf { path, values } => Self::OneOf {
                path: path.clone(),
                values: Literals::of(store, values),
                elements: true,
            },
            Condition::Contains { path, value } => Self::OneOf {
                path: path.clone(),
                values: Literals::of(store, std::slice::from_ref(value)),
                // Only a set holds something.
                elements: true,
            },
            Condition::In { path, entities } => Self::In {
                path: path.clone(),
                targets: entities
                    .iter()
                    .filter_map(|e| to_uid(e).ok())
                    .filter_map(|u| store.slot_of(u.as_ref()))
                    .collect(),
            },
            Condition::Has { path } => Self::Has { path: path.clone() },
            Condition::Compare { path, cmp, value } => Self::Compare {
                path: path.clone(),
                cmp: match cmp.as_str() {
                    "<" => Cmp::Less,
                    "<=" => Cmp::LessEq,
                    ">" => Cmp::Greater,
                    _ => Cmp::GreaterEq,
                },
                value: *value,
            },
        }
    }

    /// Whether the test holds on the entity `ix`, as docs/query.md defines the condition (a
    /// missing attribute or entity on the way: the atom is false).
    pub(crate) fn holds(&self, store: &EntityStore, ix: Ix) -> bool {
        match self {
            Self::Const(b) => *b,
            Self::And(args) => args.iter().all(|t| t.holds(store, ix)),
            Self::Or(args) => args.iter().any(|t| t.holds(store, ix)),
            Self::Not(arg) => !arg.holds(store, ix),
            Self::OneOf {
                path,
                values,
                elements,
            } => match at(store, ix, path) {
                Some(At::Entity(e)) => values.entities.contains(&e),
                Some(At::Val(Val::Set(items))) if *elements => items.iter().any(|i| values.has(i)),
                Some(At::Val(v)) => values.has(v),
                None => false,
            },
            Self::In { path, targets } => match at(store, ix, path) {
                Some(At::Entity(e)) => store.is_or_in(e, targets),
                Some(At::Val(Val::Entity(e))) => store.is_or_in(*e, targets),
                Some(At::Val(Val::Set(items))) => items
                    .iter()
                    .any(|v| matches!(v, Val::Entity(e) if store.is_or_in(*e, targets))),
                _ => false,
            },
            Self::Has { path } => at(store, ix, path).is_some(),
            Self::Compare { path, cmp, value } => match at(store, ix, path) {
                Some(At::Val(Val::Long(n))) => match cmp {
                    Cmp::Less => n < value,
                    Cmp::LessEq => n <= value,
                    Cmp::Greater => n > value,
                    Cmp::GreaterEq => n >= value,
                },
                _ => false,
            },
        }
    }
}

/// What a path leads to: the entity itself (an empty path), or a value read on the way.
enum At<'s> {
    Entity(Ix),
    Val(&'s Val),
}

fn at<'s>(store: &'s EntityStore, ix: Ix, path: &[PathStep]) -> Option<At<'s>> {
    let mut entity = ix;
    let mut value: Option<&'s Val> = None;
    for step in path {
        if let Some(previous) = value {
            // The next step reads on the entity the previous one led to.
            let Val::Entity(next) = previous else {
                return None;
            };
            entity = *next;
        }
        value = Some(store.value_of(entity, &step.attribute)?);
    }
    Some(match value {
        Some(v) => At::Val(v),
        None => At::Entity(ix),
    })
}
