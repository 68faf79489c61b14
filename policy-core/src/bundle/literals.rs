//! Entities the policies name in their conditions (`A::"x".level > 2`, `A::"x" has r`,
//! `resource in A::"x".teams`): Cedar reads their data although no request names them, so every
//! decision's slice starts from them too, not only from the request's principal, action,
//! resource and context. (Scope literals — `principal == A::"x"`, `resource in A::"x"` — need
//! no data of their own: `==` compares uids and `in` reads the left side's ancestors.)

use cedar_policy::PolicySet;
use cedar_policy_core::ast::EntityUID;
use serde_json::Value;

/// Every entity literal in the conditions of `set`'s policies (templates' links included),
/// deduplicated.
pub(crate) fn condition_literals(set: &PolicySet) -> Vec<EntityUID> {
    let mut out: Vec<EntityUID> = Vec::new();
    for policy in set.policies() {
        // The policy's JSON form (Cedar's EST) spells every entity value as `{"__entity": ..}`.
        let Ok(json) = policy.to_json() else {
            continue;
        };
        if let Some(conditions) = json.get("conditions") {
            collect(conditions, &mut out);
        }
    }
    out.sort();
    out.dedup();
    out
}

fn collect(value: &Value, out: &mut Vec<EntityUID>) {
    match value {
        Value::Object(map) => {
            if let Some(r) = map
                .get("__entity")
                .and_then(|e| serde_json::from_value::<crate::wire::EntityRef>(e.clone()).ok())
            {
                if let Ok(uid) = crate::entity_json::to_uid(&r) {
                    out.push(uid.as_ref().clone());
                }
            }
            map.values().for_each(|v| collect(v, out));
        }
        Value::Array(items) => items.iter().for_each(|v| collect(v, out)),
        _ => {}
    }
}
