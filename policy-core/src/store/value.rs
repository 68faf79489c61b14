//! Attribute and tag values as the store holds them: entity references as slot numbers, sets
//! and records as boxed slices. Cedar's own `Value` keeps a source location beside every value
//! and a record is a `BTreeMap` whose first node reserves room for eleven entries: a document
//! with three attributes costs about 2 KB that way, and about 100 bytes here. Cedar values are
//! rebuilt from these when a call reads an entity (`to_value`).

use std::collections::BTreeMap;
use std::sync::Arc;

use cedar_policy_core::ast::{EntityUID, Literal, PartialValue, Value, ValueKind};
use smol_str::SmolStr;

/// An entity's number in its store (`EntityStore`'s slots).
pub(crate) type Ix = u32;

#[derive(Debug, Clone)]
pub(crate) enum Val {
    Bool(bool),
    Long(i64),
    Str(SmolStr),
    Entity(Ix),
    Set(Box<[Val]>),
    Record(Box<[(SmolStr, Val)]>),
    /// An extension value (a decimal, an IP address, a datetime) as Cedar holds it: rare in
    /// data, so not worth a form of its own.
    Ext(Box<Value>),
}

/// `value` with every entity it names numbered by `intern`; `None` for an unknown (a partial
/// value, which entity data cannot hold: Sesame builds Cedar without partial evaluation).
pub(crate) fn hold(value: &PartialValue, intern: &mut impl FnMut(&EntityUID) -> Ix) -> Option<Val> {
    match value {
        PartialValue::Value(v) => Some(hold_value(v, intern)),
        PartialValue::Residual(_) => None,
    }
}

fn hold_value(value: &Value, intern: &mut impl FnMut(&EntityUID) -> Ix) -> Val {
    match &value.value {
        ValueKind::Lit(Literal::Bool(b)) => Val::Bool(*b),
        ValueKind::Lit(Literal::Long(n)) => Val::Long(*n),
        ValueKind::Lit(Literal::String(s)) => Val::Str(s.clone()),
        ValueKind::Lit(Literal::EntityUID(uid)) => Val::Entity(intern(uid)),
        ValueKind::Set(set) => Val::Set(
            set.authoritative
                .iter()
                .map(|v| hold_value(v, intern))
                .collect(),
        ),
        ValueKind::Record(fields) => Val::Record(
            fields
                .iter()
                .map(|(k, v)| (k.clone(), hold_value(v, intern)))
                .collect(),
        ),
        ValueKind::ExtensionValue(_) => Val::Ext(Box::new(value.clone())),
    }
}

/// The Cedar value `val` stands for; `uid` names a slot's entity.
pub(crate) fn to_value<'s>(val: &Val, uid: &impl Fn(Ix) -> &'s EntityUID) -> Value {
    match val {
        Val::Bool(b) => Value::from(Literal::Bool(*b)),
        Val::Long(n) => Value::from(Literal::Long(*n)),
        Val::Str(s) => Value::from(Literal::String(s.clone())),
        Val::Entity(ix) => Value::from(Literal::EntityUID(Arc::new(uid(*ix).clone()))),
        Val::Set(items) => Value::set(items.iter().map(|v| to_value(v, uid)), None),
        Val::Record(fields) => Value::record_arc(
            Arc::new(
                fields
                    .iter()
                    .map(|(k, v)| (k.clone(), to_value(v, uid)))
                    .collect::<BTreeMap<_, _>>(),
            ),
            None,
        ),
        Val::Ext(v) => v.as_ref().clone(),
    }
}

/// The entities `val` names, appended to `out`.
pub(crate) fn refs_in(val: &Val, out: &mut Vec<Ix>) {
    match val {
        Val::Entity(ix) => out.push(*ix),
        Val::Set(items) => items.iter().for_each(|v| refs_in(v, out)),
        Val::Record(fields) => fields.iter().for_each(|(_, v)| refs_in(v, out)),
        Val::Bool(_) | Val::Long(_) | Val::Str(_) | Val::Ext(_) => {}
    }
}

/// Heap bytes `val` owns beyond its own size (boxed items, long strings); extension values
/// are counted at their inline size (rare).
pub(crate) fn heap_bytes(val: &Val) -> usize {
    match val {
        Val::Bool(_) | Val::Long(_) | Val::Entity(_) => 0,
        Val::Str(s) => str_heap(s),
        Val::Set(items) => items.iter().map(|v| size_of::<Val>() + heap_bytes(v)).sum(),
        Val::Record(fields) => pairs_heap(fields),
        Val::Ext(_) => size_of::<Value>(),
    }
}

/// Heap bytes of boxed name–value pairs (attributes, tags, a record).
pub(crate) fn pairs_heap(pairs: &[(SmolStr, Val)]) -> usize {
    pairs
        .iter()
        .map(|(k, v)| size_of::<(SmolStr, Val)>() + str_heap(k) + heap_bytes(v))
        .sum()
}

/// A `SmolStr` keeps up to 23 bytes inline; a longer one is on the heap.
pub(crate) fn str_heap(s: &SmolStr) -> usize {
    if s.is_heap_allocated() {
        s.len()
    } else {
        0
    }
}

/// What a `SmolStr` of `text` would keep on the heap.
pub(crate) fn text_heap(text: &str) -> usize {
    const INLINE: usize = 23;
    if text.len() > INLINE {
        text.len()
    } else {
        0
    }
}
