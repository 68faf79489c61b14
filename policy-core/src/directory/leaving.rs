//! Leaving the firm: deactivating a user (no access, the plan's seat freed; reactivating takes
//! a seat again) and deleting one (his record goes, every entity that named him forgets him,
//! the activity history stays). The firm keeps an active administrator either way.

use cedar_policy::EvalResult;
use serde_json::{json, Value};

use super::planner::{attrs_mut, Planner};
use crate::entity_json::{entity_ref_of, to_ref};
use crate::error::EngineError;
use crate::wire::EntityRef;

impl Planner<'_> {
    fn is_true(&self, user: &EntityRef, attr: &str) -> Result<bool, EngineError> {
        Ok(matches!(
            self.entity(user)?.attr(attr),
            Some(Ok(EvalResult::Bool(true)))
        ))
    }

    pub(super) fn deactivate(
        &mut self,
        user: &EntityRef,
        deactivated: bool,
    ) -> Result<Value, EngineError> {
        let names = self.model.attributes.clone();
        // Authority first: what state a user is in is not told to whoever may not change it.
        self.require("deactivate_user", user, json!({}), vec![], || {
            "deactivating and reactivating need user administration".into()
        })?;
        if self.is_true(user, &names.deactivated)? == deactivated {
            let state = if deactivated { "deactivated" } else { "active" };
            return Err(EngineError::InvalidRequest(format!(
                "{user} is already {state}"
            )));
        }
        if deactivated {
            self.keeps_an_administrator(user, "deactivated")?;
        } else if !self.is_true(user, &names.external)? {
            // Back at work, the user takes a seat of the plan again.
            let firm = self
                .firm_of(self.entity(user)?)
                .ok_or_else(|| EngineError::InvalidRequest(format!("{user} has no firm")))?;
            self.require_seat(&firm)?;
        }
        let mut record = self.record(user)?;
        attrs_mut(&mut record)?.insert(names.deactivated, json!(deactivated));
        Ok(record)
    }

    /// The records that named `user`, without him; `user` itself is removed by the plan.
    pub(super) fn delete_user(&mut self, user: &EntityRef) -> Result<Vec<Value>, EngineError> {
        // Authority first: whether the user exists is not told to whoever may not delete him.
        self.require("delete_user", user, json!({}), vec![], || {
            "deleting a user needs user administration".into()
        })?;
        self.entity(user)?;
        self.keeps_an_administrator(user, "deleted")?;
        let mut pointing: Vec<EntityRef> = self
            .engine
            .entities_pointing_at(user)
            .into_iter()
            .map(|e| to_ref(&e.uid()))
            .collect();
        // Sorted: every face plans the same delta.
        pointing.sort();
        pointing
            .iter()
            .map(|other| {
                let mut record = self.record(other)?;
                forget(&mut record, user).map_err(|place| {
                    EngineError::InvalidRequest(format!(
                        "{other} names {user} in {place}: change {other} before deleting {user}"
                    ))
                })?;
                Ok(record)
            })
            .collect()
    }
}

/// Takes `user` out of `record`'s sets (attributes and tags, nested records included).
/// `Err(place)` when he is a parent or a value of his own (an attribute that would be left
/// pointing at nobody, which only a change of that entity can settle).
fn forget(record: &mut Value, user: &EntityRef) -> Result<(), String> {
    let names_user = |v: &Value| entity_ref_of(v).as_ref() == Some(user);
    if record["parents"]
        .as_array()
        .is_some_and(|ps| ps.iter().any(names_user))
    {
        return Err("its parents".into());
    }
    for part in ["attrs", "tags"] {
        if let Some(map) = record.get_mut(part).and_then(Value::as_object_mut) {
            for (key, value) in map.iter_mut() {
                strip(value, user).map_err(|()| format!("`{key}`"))?;
            }
        }
    }
    Ok(())
}

fn strip(value: &mut Value, user: &EntityRef) -> Result<(), ()> {
    if entity_ref_of(value).as_ref() == Some(user) {
        return Err(());
    }
    match value {
        Value::Array(items) => {
            items.retain(|v| entity_ref_of(v).as_ref() != Some(user));
            items.iter_mut().try_for_each(|v| strip(v, user))
        }
        Value::Object(map) => map.values_mut().try_for_each(|v| strip(v, user)),
        _ => Ok(()),
    }
}
