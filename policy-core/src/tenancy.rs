//! What a caller bound to one tenant may read of the data: every record that belongs to that
//! tenant, and every shared one (plans, licences, base profiles, roles...), never a record of
//! another tenant.
//!
//! A record belongs to the tenants it reaches by following entity references — its attributes
//! (at any depth: records, sets) and its parents — through the other records: a user names its
//! firm, a team its client and the client its firm, a document its client. A record that reaches
//! no entity of the tenant's type is shared.

use std::collections::{BTreeSet, HashMap, VecDeque};

use serde_json::Value;

use crate::entity_json::{entity_ref_of, uid_of_record};
use crate::wire::EntityRef;

/// The records of the `tenants` (entities of type `tenant_type`, by id) and the shared ones, in
/// their given order.
pub fn tenant_records(records: &[Value], tenant_type: &str, tenants: &[String]) -> Vec<Value> {
    let by_uid: HashMap<EntityRef, &Value> = records
        .iter()
        .filter_map(|r| Some((uid_of_record(r)?, r)))
        .collect();
    records
        .iter()
        .filter(|record| {
            let owners = owners(record, &by_uid, tenant_type);
            owners.is_empty() || owners.iter().any(|o| tenants.contains(&o.id))
        })
        .cloned()
        .collect()
}

/// The entities of type `tenant_type` that `record` reaches.
fn owners(
    record: &Value,
    by_uid: &HashMap<EntityRef, &Value>,
    tenant_type: &str,
) -> BTreeSet<EntityRef> {
    let mut found = BTreeSet::new();
    let mut seen = BTreeSet::new();
    let mut queue: VecDeque<&Value> = VecDeque::from([record]);
    while let Some(current) = queue.pop_front() {
        if let Some(uid) = uid_of_record(current) {
            if !seen.insert(uid.clone()) {
                continue;
            }
            if uid.type_name == tenant_type {
                // A tenant is its own owner; what it references (its plan) is not its data.
                found.insert(uid);
                continue;
            }
        }
        let mut refs = Vec::new();
        if let Some(attrs) = current.get("attrs") {
            references(attrs, &mut refs);
        }
        if let Some(Value::Array(parents)) = current.get("parents") {
            refs.extend(parents.iter().filter_map(entity_ref_of));
        }
        for r in refs {
            if r.type_name == tenant_type {
                found.insert(r);
            } else if let Some(next) = by_uid.get(&r) {
                queue.push_back(next);
            }
        }
    }
    found
}

/// Every entity reference inside an attribute value (`{"__entity": ...}`, in records and sets).
fn references(value: &Value, out: &mut Vec<EntityRef>) {
    let mut stack = vec![value];
    while let Some(v) = stack.pop() {
        match v {
            Value::Object(map) if map.contains_key("__entity") => {
                out.extend(entity_ref_of(v));
            }
            Value::Object(map) => stack.extend(map.values()),
            Value::Array(items) => stack.extend(items.iter()),
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn r(t: &str, id: &str) -> Value {
        json!({"__entity": {"type": t, "id": id}})
    }

    #[test]
    fn a_tenant_sees_its_records_and_the_shared_ones_never_another_tenants() {
        let records = vec![
            json!({"uid": {"type": "Plan", "id": "p"}, "attrs": {}, "parents": []}),
            json!({"uid": {"type": "Firm", "id": "a"}, "attrs": {"plan": r("Plan", "p")}, "parents": []}),
            json!({"uid": {"type": "Firm", "id": "b"}, "attrs": {"plan": r("Plan", "p")}, "parents": []}),
            json!({"uid": {"type": "Client", "id": "ca"}, "attrs": {"firm": r("Firm", "a")}, "parents": []}),
            json!({"uid": {"type": "Team", "id": "ca/t"}, "attrs": {"client": r("Client", "ca")}, "parents": []}),
            json!({"uid": {"type": "User", "id": "ua"}, "attrs": {"x": {"y": [r("Firm", "a")]}}, "parents": []}),
            json!({"uid": {"type": "User", "id": "ub"}, "attrs": {}, "parents": [{"type": "Firm", "id": "b"}]}),
            json!({"uid": {"type": "User", "id": "in-team"}, "attrs": {}, "parents": [{"type": "Team", "id": "ca/t"}]}),
        ];
        let ids = |tenant: &str| -> Vec<String> {
            tenant_records(&records, "Firm", &[tenant.to_string()])
                .iter()
                .map(|r| r["uid"]["id"].as_str().unwrap_or_default().to_string())
                .collect()
        };
        assert_eq!(ids("a"), ["p", "a", "ca", "ca/t", "ua", "in-team"]);
        assert_eq!(ids("b"), ["p", "b", "ub"]);
    }
}
