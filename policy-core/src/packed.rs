//! A slice of entities in a compact binary form (postcard), for hosts that keep one entity store
//! and hand each guest instance only what a call reads.
//!
//! Why not Cedar's entity JSON: parsing it evaluates every attribute as a restricted expression
//! (and, with a schema, type-checks it again), which costs more than the decision itself. These
//! entities were checked when they entered the host's store and carry their closed ancestor
//! sets, so the guest rebuilds them as they were, with no schema and no closure computation.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

use cedar_policy_core::ast::{
    Eid, Entity as CoreEntity, EntityType, EntityUID, Literal, PartialValue, RestrictedExpr, Value,
    ValueKind,
};
use cedar_policy_core::evaluator::RestrictedEvaluator;
use cedar_policy_core::extensions::Extensions;
use serde::{Deserialize, Serialize};
use smol_str::SmolStr;

use crate::error::EngineError;
use crate::plan_counts::PlanCounts;

#[derive(Serialize, Deserialize)]
struct Packed<'a> {
    /// Entity type names, each once; uids name them by index.
    #[serde(borrow)]
    types: Vec<Cow<'a, str>>,
    #[serde(borrow)]
    entities: Vec<PackedEntity<'a>>,
    /// Firms' plan-limit counts as the host computed them on its whole store
    /// (`plan_counts::PlanCounts`): the slice does not hold every user they count.
    #[serde(borrow)]
    counts: Vec<(PackedUid<'a>, PlanCounts)>,
}

#[derive(Serialize, Deserialize)]
struct PackedUid<'a> {
    ty: u32,
    #[serde(borrow)]
    id: Cow<'a, str>,
}

#[derive(Serialize, Deserialize)]
struct PackedEntity<'a> {
    #[serde(borrow)]
    uid: PackedUid<'a>,
    #[serde(borrow)]
    attrs: Vec<(Cow<'a, str>, PackedValue<'a>)>,
    #[serde(borrow)]
    tags: Vec<(Cow<'a, str>, PackedValue<'a>)>,
    #[serde(borrow)]
    parents: Vec<PackedUid<'a>>,
    #[serde(borrow)]
    indirect: Vec<PackedUid<'a>>,
}

#[derive(Serialize, Deserialize)]
enum PackedValue<'a> {
    Bool(bool),
    Long(i64),
    Str(#[serde(borrow)] Cow<'a, str>),
    Entity(#[serde(borrow)] PackedUid<'a>),
    Set(#[serde(borrow)] Vec<PackedValue<'a>>),
    Record(#[serde(borrow)] Vec<(Cow<'a, str>, PackedValue<'a>)>),
    /// An extension value as the Cedar call that makes it (`decimal("1.5")`); rare, so its
    /// text is parsed and evaluated on arrival rather than given a format of its own.
    Extension(Cow<'a, str>),
}

fn packing_error(message: impl std::fmt::Display) -> EngineError {
    EngineError::Unsupported(format!("entity slice: {message}"))
}

/// Type names → indices, while packing.
#[derive(Default)]
struct TypeTable {
    names: Vec<Cow<'static, str>>,
    index: HashMap<EntityType, u32>,
}

impl TypeTable {
    fn uid<'a>(&mut self, uid: &'a EntityUID) -> PackedUid<'a> {
        let next = self.names.len() as u32;
        let ty = *self
            .index
            .entry(uid.entity_type().clone())
            .or_insert_with(|| {
                self.names.push(Cow::Owned(uid.entity_type().to_string()));
                next
            });
        PackedUid {
            ty,
            id: Cow::Borrowed(uid.eid().as_ref()),
        }
    }

    fn value<'a>(&mut self, value: &'a Value) -> PackedValue<'a> {
        match &value.value {
            ValueKind::Lit(Literal::Bool(b)) => PackedValue::Bool(*b),
            ValueKind::Lit(Literal::Long(n)) => PackedValue::Long(*n),
            ValueKind::Lit(Literal::String(s)) => PackedValue::Str(Cow::Borrowed(s.as_str())),
            ValueKind::Lit(Literal::EntityUID(uid)) => PackedValue::Entity(self.uid(uid)),
            ValueKind::Set(set) => {
                PackedValue::Set(set.authoritative.iter().map(|v| self.value(v)).collect())
            }
            ValueKind::Record(fields) => PackedValue::Record(
                fields
                    .iter()
                    .map(|(k, v)| (Cow::Borrowed(k.as_str()), self.value(v)))
                    .collect(),
            ),
            ValueKind::ExtensionValue(_) => {
                PackedValue::Extension(Cow::Owned(RestrictedExpr::from(value.clone()).to_string()))
            }
        }
    }

    fn pairs<'a>(
        &mut self,
        pairs: impl Iterator<Item = (&'a SmolStr, &'a PartialValue)>,
    ) -> Result<Vec<(Cow<'a, str>, PackedValue<'a>)>, EngineError> {
        pairs
            .map(|(k, v)| match v {
                PartialValue::Value(v) => Ok((Cow::Borrowed(k.as_str()), self.value(v))),
                PartialValue::Residual(_) => Err(packing_error(format!(
                    "attribute `{k}` holds an unknown value, which a slice cannot carry"
                ))),
            })
            .collect()
    }
}

/// What [`unpack`] rebuilds: the entities and the firm counts packed with them.
pub(crate) struct Unpacked {
    pub entities: Vec<Arc<CoreEntity>>,
    pub counts: Vec<(EntityUID, PlanCounts)>,
}

/// Packs entities (their ancestor sets already closed) and firms' counts for [`unpack`].
pub(crate) fn pack(
    entities: &[Arc<CoreEntity>],
    counts: &[(EntityUID, PlanCounts)],
) -> Result<Vec<u8>, EngineError> {
    let mut table = TypeTable::default();
    let mut packed = Vec::with_capacity(entities.len());
    for entity in entities {
        packed.push(PackedEntity {
            uid: table.uid(entity.uid()),
            attrs: table.pairs(entity.attrs())?,
            tags: table.pairs(entity.tags())?,
            parents: entity.parents().map(|p| table.uid(p)).collect(),
            indirect: entity.indirect_ancestors().map(|p| table.uid(p)).collect(),
        });
    }
    let counts = counts
        .iter()
        .map(|(firm, n)| (table.uid(firm), *n))
        .collect();
    let packed = Packed {
        types: table.names,
        entities: packed,
        counts,
    };
    postcard::to_stdvec(&packed).map_err(packing_error)
}

/// Rebuilds what [`pack`] packed.
pub(crate) fn unpack(bytes: &[u8]) -> Result<Unpacked, EngineError> {
    let packed: Packed<'_> = postcard::from_bytes(bytes).map_err(packing_error)?;
    let types = packed
        .types
        .iter()
        .map(|t| EntityType::from_normalized_str(t).map_err(packing_error))
        .collect::<Result<Vec<_>, _>>()?;
    let unpacker = Unpacker { types: &types };
    let counts = packed
        .counts
        .iter()
        .map(|(firm, n)| Ok((unpacker.uid(firm)?, *n)))
        .collect::<Result<_, EngineError>>()?;
    let entities = packed
        .entities
        .into_iter()
        .map(|e| unpacker.entity(e).map(Arc::new))
        .collect::<Result<_, _>>()?;
    Ok(Unpacked { entities, counts })
}

struct Unpacker<'t> {
    types: &'t [EntityType],
}

impl Unpacker<'_> {
    fn uid(&self, uid: &PackedUid<'_>) -> Result<EntityUID, EngineError> {
        let ty = self
            .types
            .get(uid.ty as usize)
            .ok_or_else(|| packing_error(format!("no type #{}", uid.ty)))?;
        Ok(EntityUID::from_components(
            ty.clone(),
            Eid::new(uid.id.as_ref()),
            None,
        ))
    }

    fn uids(&self, uids: &[PackedUid<'_>]) -> Result<HashSet<EntityUID>, EngineError> {
        uids.iter().map(|u| self.uid(u)).collect()
    }

    fn value(&self, value: PackedValue<'_>) -> Result<Value, EngineError> {
        Ok(match value {
            PackedValue::Bool(b) => Value::from(Literal::Bool(b)),
            PackedValue::Long(n) => Value::from(Literal::Long(n)),
            PackedValue::Str(s) => Value::from(Literal::String(SmolStr::from(s.as_ref()))),
            PackedValue::Entity(uid) => Value::from(Literal::EntityUID(Arc::new(self.uid(&uid)?))),
            PackedValue::Set(items) => Value::set(
                items
                    .into_iter()
                    .map(|v| self.value(v))
                    .collect::<Result<Vec<_>, _>>()?,
                None,
            ),
            PackedValue::Record(fields) => Value::record_arc(Arc::new(self.record(fields)?), None),
            PackedValue::Extension(text) => {
                let expr: RestrictedExpr = text.parse().map_err(packing_error)?;
                RestrictedEvaluator::new(Extensions::all_available())
                    .interpret(expr.as_borrowed())
                    .map_err(packing_error)?
            }
        })
    }

    fn record(
        &self,
        fields: Vec<(Cow<'_, str>, PackedValue<'_>)>,
    ) -> Result<BTreeMap<SmolStr, Value>, EngineError> {
        fields
            .into_iter()
            .map(|(k, v)| Ok((SmolStr::from(k.as_ref()), self.value(v)?)))
            .collect()
    }

    fn entity(&self, e: PackedEntity<'_>) -> Result<CoreEntity, EngineError> {
        let partial = |fields| -> Result<Vec<(SmolStr, PartialValue)>, EngineError> {
            Ok(self
                .record(fields)?
                .into_iter()
                .map(|(k, v)| (k, PartialValue::Value(v)))
                .collect())
        };
        Ok(CoreEntity::new_with_attr_partial_value(
            self.uid(&e.uid)?,
            partial(e.attrs)?,
            self.uids(&e.indirect)?,
            self.uids(&e.parents)?,
            partial(e.tags)?,
        ))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use serde_json::json;

    use crate::json_api::{call, call_on_slice, slice_for, Op};
    use crate::{Bundle, Engine};

    const POLICIES: &str = r#"
        permit(principal, action == Action::"read", resource)
        when {
            resource.owner == principal && principal in Group::"staff" &&
            resource.limit.lessThan(decimal("10.5")) && resource.net.isInRange(ip("10.0.0.0/8")) &&
            resource.meta.tags.contains("a") && resource.hasTag("level") &&
            resource.getTag("level") == 2
        };
    "#;

    fn engine() -> Engine {
        let bundle = Bundle::load([("policies.cedar", POLICIES)]).unwrap();
        let records = vec![
            json!({"uid": {"type": "Group", "id": "all"}, "attrs": {}, "parents": []}),
            json!({"uid": {"type": "Group", "id": "staff"}, "attrs": {}, "parents": [{"type": "Group", "id": "all"}]}),
            json!({"uid": {"type": "User", "id": "ann"}, "attrs": {"name": "Ann"}, "parents": [{"type": "Group", "id": "staff"}]}),
            json!({"uid": {"type": "Doc", "id": "d1"}, "parents": [], "tags": {"level": 2},
                   "attrs": {"owner": {"__entity": {"type": "User", "id": "ann"}},
                             "limit": {"__extn": {"fn": "decimal", "arg": "3.25"}},
                             "net": {"__extn": {"fn": "ip", "arg": "10.1.2.3"}},
                             "meta": {"tags": ["a", "b"], "n": -7}}}),
        ];
        Engine::with_entities(bundle, records).unwrap()
    }

    #[test]
    fn a_decision_on_a_packed_slice_is_the_decision_on_the_whole_store() {
        let mut engine = engine();
        for (principal, resource) in [("ann", "d1"), ("bob", "d1"), ("ann", "missing")] {
            let input = json!({
                "principal": {"type": "User", "id": principal},
                "action": {"type": "Action", "id": "read"},
                "resource": {"type": "Doc", "id": resource},
            })
            .to_string();
            let slice = slice_for(&engine, Op::Decide, &input).unwrap();
            let on_slice = call_on_slice(&engine, Op::Decide, &input, &slice).unwrap();
            assert_eq!(on_slice, call(&mut engine, Op::Decide, &input).unwrap());
        }
        let allowed = json!({
            "principal": {"type": "User", "id": "ann"},
            "action": {"type": "Action", "id": "read"},
            "resource": {"type": "Doc", "id": "d1"},
        })
        .to_string();
        let slice = slice_for(&engine, Op::Decide, &allowed).unwrap();
        let answer = call_on_slice(&engine, Op::Decide, &allowed, &slice).unwrap();
        assert!(answer.contains("\"decision\":\"allow\""), "{answer}");
    }

    #[test]
    fn entities_survive_packing_as_they_were() {
        let engine = engine();
        let picked: Vec<_> = engine
            .entities()
            .map(|e| std::sync::Arc::new(e.as_ref().clone()))
            .collect();
        let unpacked = super::unpack(&super::pack(&picked, &[]).unwrap())
            .unwrap()
            .entities;
        assert_eq!(unpacked.len(), picked.len());
        for (a, b) in picked.iter().zip(&unpacked) {
            assert_eq!(a.uid(), b.uid());
            assert!(a.deep_eq(b), "{} changed in packing", a.uid());
        }
    }

    #[test]
    fn a_truncated_slice_is_refused_not_a_crash() {
        let engine = engine();
        let input = r#"{"principal": {"type": "User", "id": "ann"}, "action": {"type": "Action", "id": "read"}, "resource": {"type": "Doc", "id": "d1"}}"#;
        let slice = slice_for(&engine, Op::Decide, input).unwrap();
        let cut = &slice[..slice.len() / 2];
        assert!(call_on_slice(&engine, Op::Decide, input, cut).is_err());
        assert!(call_on_slice(&engine, Op::Profiles, "{}", &slice).is_err());
    }
}
