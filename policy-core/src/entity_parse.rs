//! A fast path for parsing plain entity records against the schema.
//!
//! Cedar's entity JSON parser turns every attribute into a restricted expression, evaluates it,
//! then type-checks the result against the schema: about 20 µs a record, most of a large load.
//! Most data is plain — booleans, numbers, strings, entity references, sets and records of
//! those, as the schema declares them — and is read here directly into Cedar's values. Anything
//! else (an extension value, tags, an enumerated entity type, an undeclared or missing attribute,
//! a value of the wrong type, a parent the schema does not allow, any `__` escape other than
//! `__entity`) is left to Cedar's parser, which then decides, with its own errors. So the result
//! is always what Cedar's parser gives; this only answers sooner when the answer is plain.
//! (`tests` hold the two together on every record of the demo data, and on records that must
//! fall back.)

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

use cedar_policy_core::ast::{
    Eid, Entity as CoreEntity, EntityType, EntityUID, Literal, PartialValue, Value,
};
use cedar_policy_core::validator::types::{Attributes, EntityKind, OpenTag, Type};
use cedar_policy_core::validator::{ValidatorEntityTypeKind, ValidatorSchema};
use serde_json::{Map, Value as Json};
use smol_str::SmolStr;

/// Parses records of one load, remembering the type names it has read.
pub(crate) struct PlainParser<'s> {
    schema: &'s ValidatorSchema,
    types: HashMap<String, Option<EntityType>>,
}

impl<'s> PlainParser<'s> {
    pub(crate) fn new(schema: &'s ValidatorSchema) -> Self {
        Self {
            schema,
            types: HashMap::new(),
        }
    }

    /// The entity `record` describes, if it is plain; `None`: ask Cedar's parser.
    pub(crate) fn entity(&mut self, record: &Json) -> Option<CoreEntity> {
        let fields = record.as_object()?;
        if fields
            .keys()
            .any(|k| !matches!(k.as_str(), "uid" | "attrs" | "parents"))
        {
            return None;
        }
        let uid = self.uid(fields.get("uid")?)?;
        let standard = self.schema.get_entity_type(uid.entity_type())?;
        if !matches!(standard.kind, ValidatorEntityTypeKind::Standard(_))
            || standard.open_attributes() != OpenTag::ClosedAttributes
        {
            return None;
        }
        // Cedar's format requires both, even empty.
        let attrs = self.record(fields.get("attrs")?.as_object()?, standard.attributes())?;
        let mut parents = HashSet::new();
        for parent in fields.get("parents")?.as_array()? {
            let parent = self.uid(parent)?;
            let parent_type = self.schema.get_entity_type(parent.entity_type())?;
            // An enumerated parent type's ids are Cedar's to check.
            if !matches!(parent_type.kind, ValidatorEntityTypeKind::Standard(_))
                || !parent_type.has_descendant_entity_type(uid.entity_type())
            {
                return None;
            }
            parents.insert(parent);
        }
        Some(CoreEntity::new_with_attr_partial_value(
            uid,
            attrs.into_iter().map(|(k, v)| (k, PartialValue::Value(v))),
            HashSet::new(),
            parents,
            std::iter::empty(),
        ))
    }

    fn entity_type(&mut self, name: &str) -> Option<EntityType> {
        if let Some(known) = self.types.get(name) {
            return known.clone();
        }
        let parsed = EntityType::from_normalized_str(name).ok();
        self.types.insert(name.to_string(), parsed.clone());
        parsed
    }

    /// `{"type": T, "id": I}` or `{"__entity": {"type": T, "id": I}}`, nothing more.
    fn uid(&mut self, value: &Json) -> Option<EntityUID> {
        let mut fields = value.as_object()?;
        if fields.len() == 1 {
            fields = fields.get("__entity")?.as_object()?;
        }
        if fields.len() != 2 {
            return None;
        }
        let ty = self.entity_type(fields.get("type")?.as_str()?)?;
        let id = fields.get("id")?.as_str()?;
        Some(EntityUID::from_components(ty, Eid::new(id), None))
    }

    /// A record of exactly the declared attributes (every required one present), each of its
    /// declared type.
    fn record(
        &mut self,
        given: &Map<String, Json>,
        declared: &Attributes,
    ) -> Option<BTreeMap<SmolStr, Value>> {
        let mut out = BTreeMap::new();
        for (name, attr) in declared.iter() {
            match given.get(name.as_str()) {
                Some(value) => {
                    out.insert(name.clone(), self.value(value, &attr.attr_type)?);
                }
                None if attr.is_required => return None,
                None => {}
            }
        }
        (out.len() == given.len()).then_some(out)
    }

    fn value(&mut self, value: &Json, ty: &Type) -> Option<Value> {
        let literal = match (ty, value) {
            (Type::Bool(_), Json::Bool(b)) => Literal::Bool(*b),
            (Type::Long, Json::Number(n)) => Literal::Long(n.as_i64()?),
            (Type::String, Json::String(s)) => Literal::String(SmolStr::from(s.as_str())),
            (Type::Entity(EntityKind::Entity(lub)), Json::Object(_)) => {
                let uid = self.uid(value)?;
                let expected = lub.get_single_entity()?;
                let target = self.schema.get_entity_type(expected)?;
                if uid.entity_type() != expected
                    || !matches!(target.kind, ValidatorEntityTypeKind::Standard(_))
                {
                    return None;
                }
                Literal::EntityUID(Arc::new(uid))
            }
            (
                Type::Set {
                    element_type: Some(element),
                },
                Json::Array(items),
            ) => {
                let items = items
                    .iter()
                    .map(|item| self.value(item, element))
                    .collect::<Option<Vec<_>>>()?;
                return Some(Value::set(items, None));
            }
            (
                Type::Record {
                    attrs,
                    open_attributes: OpenTag::ClosedAttributes,
                },
                Json::Object(fields),
            ) => {
                if fields.keys().any(|k| k.starts_with("__")) {
                    return None;
                }
                return Some(Value::record_arc(
                    Arc::new(self.record(fields, attrs)?),
                    None,
                ));
            }
            _ => return None,
        };
        Some(Value::from(literal))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use serde_json::json;

    use super::*;

    const SCHEMA: &str = r#"
        entity Group;
        entity Firm { name: String, plan: Plan, tags: Set<String>, limits: { users: Long, note?: String } };
        entity Plan;
        entity User in [Group] { firm: Firm, active: Bool, ip?: ipaddr };
        entity Color enum ["red", "blue"];
        entity Car in [Color] { color: Color };
        entity Tagged tags String;
        action read appliesTo { principal: User, resource: Firm };
    "#;

    fn schema() -> cedar_policy::Schema {
        SCHEMA.parse().unwrap()
    }

    fn cedar(record: &Json, schema: &cedar_policy::Schema) -> Result<CoreEntity, String> {
        cedar_policy::Entity::from_json_value(record.clone(), Some(schema))
            .map(|e| e.as_ref().clone())
            .map_err(|e| crate::error::render_chain(&e))
    }

    #[test]
    fn plain_records_parse_as_cedar_parses_them() {
        let schema = schema();
        let mut parser = PlainParser::new(schema.as_ref());
        let plain = [
            json!({"uid": {"type": "Plan", "id": "p"}, "attrs": {}, "parents": []}),
            json!({"uid": {"type": "Plan", "id": "q"}, "parents": [], "attrs": {}}),
            json!({"uid": {"__entity": {"type": "Firm", "id": "f"}}, "parents": [],
                   "attrs": {"name": "F & Co", "plan": {"__entity": {"type": "Plan", "id": "p"}},
                             "tags": ["a", "b", "a"], "limits": {"users": 5}}}),
            json!({"uid": {"type": "Firm", "id": "g"}, "parents": [],
                   "attrs": {"name": "", "plan": {"type": "Plan", "id": "q"}, "tags": [],
                             "limits": {"users": -1, "note": "n"}}}),
            json!({"uid": {"type": "User", "id": "u"}, "parents": [{"type": "Group", "id": "g"}, {"type": "Group", "id": "h"}],
                   "attrs": {"firm": {"type": "Firm", "id": "f"}, "active": true}}),
        ];
        for record in &plain {
            let fast = parser
                .entity(record)
                .expect("a plain record takes the fast path");
            let slow = cedar(record, &schema)
                .map_err(|e| format!("{record}: {e}"))
                .unwrap();
            assert!(fast.deep_eq(&slow), "{record}: {fast:?} vs {slow:?}");
        }
    }

    #[test]
    fn anything_else_is_left_to_cedar() {
        let schema = schema();
        let mut parser = PlainParser::new(schema.as_ref());
        let firm = |attrs: Json| json!({"uid": {"type": "Firm", "id": "f"}, "parents": [], "attrs": attrs});
        let others = [
            // Cedar rejects these: wrong type, missing, undeclared, bad parent, bad reference.
            firm(
                json!({"name": 5, "plan": {"type": "Plan", "id": "p"}, "tags": [], "limits": {"users": 1}}),
            ),
            firm(json!({"plan": {"type": "Plan", "id": "p"}, "tags": [], "limits": {"users": 1}})),
            firm(
                json!({"name": "", "plan": {"type": "Plan", "id": "p"}, "tags": [], "limits": {"users": 1}, "extra": 1}),
            ),
            firm(
                json!({"name": "", "plan": {"type": "Group", "id": "p"}, "tags": [], "limits": {"users": 1}}),
            ),
            firm(
                json!({"name": "", "plan": {"type": "Plan", "id": "p"}, "tags": [], "limits": {"users": 1.5}}),
            ),
            json!({"uid": {"type": "User", "id": "u"}, "parents": [{"type": "Plan", "id": "p"}],
                   "attrs": {"firm": {"type": "Firm", "id": "f"}, "active": true}}),
            json!({"uid": {"type": "Nope", "id": "n"}, "parents": [], "attrs": {}}),
            json!({"uid": {"type": "Car", "id": "c"}, "parents": [], "attrs": {"color": {"type": "Color", "id": "green"}}}),
            json!({"uid": {"type": "Plan", "id": "q"}, "attrs": {}}),
            json!({"uid": {"type": "Car", "id": "c"}, "parents": [{"type": "Color", "id": "green"}], "attrs": {"color": {"type": "Color", "id": "red"}}}),
            // Cedar accepts these, by paths this parser does not take.
            json!({"uid": {"type": "User", "id": "u"}, "parents": [], "attrs": {"firm": {"type": "Firm", "id": "f"}, "active": true, "ip": {"__extn": {"fn": "ip", "arg": "10.0.0.1"}}}}),
            json!({"uid": {"type": "Tagged", "id": "t"}, "parents": [], "attrs": {}, "tags": {"a": "b"}}),
            json!({"uid": {"type": "Car", "id": "c"}, "parents": [], "attrs": {"color": {"type": "Color", "id": "red"}}}),
        ];
        for (i, record) in others.iter().enumerate() {
            assert!(
                parser.entity(record).is_none(),
                "{record} took the fast path"
            );
            // The first ten Cedar refuses, the rest it accepts.
            assert_eq!(cedar(record, &schema).is_ok(), i >= 10, "{record}");
        }
    }
}
