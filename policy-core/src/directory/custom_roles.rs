//! Custom roles: a firm's administrators make roles as data. A custom role is an entity of the
//! model's role type naming the firm (`firm`); what it grants is on the firm's record, one tag
//! per action group (`grant.<group>`, e.g. `grant.document_read`) holding the firm's roles that
//! grant it, which the bundle's policies read (`policies/custom-roles.cedar`). Making or
//! changing one is decided as `manage_roles` on the firm with the role and the groups in the
//! context, so that the policies bound it by the firm's plan; it is given and taken like any
//! firm role (`set_roles`, `assign_role`), and deleted once nobody holds it.

use std::collections::BTreeSet;

use serde_json::{json, Map, Value};

use super::planner::{entity_value, tags_mut, Planner};
use crate::entity_json::entity_ref_of;
use crate::error::EngineError;
use crate::firm_model::Part;
use crate::wire::EntityRef;

/// The prefix of the firm's tags that list the roles granting an action group.
pub(super) const GRANT_TAG: &str = "grant.";

/// Takes `role` out of every role set among `tags` (grants, hidden sections); a set left empty
/// goes.
fn forget_role(tags: &mut Map<String, Value>, role: &EntityRef, only_grants: bool) {
    tags.retain(|key, value| {
        if only_grants && !key.starts_with(GRANT_TAG) {
            return true;
        }
        match value.as_array_mut() {
            Some(roles) => {
                roles.retain(|r| entity_ref_of(r).as_ref() != Some(role));
                !roles.is_empty()
            }
            None => true,
        }
    });
}

impl Planner<'_> {
    /// Checks that `role` is a custom role of the actor's firm.
    fn own_custom_role(&self, role: &EntityRef) -> Result<(), EngineError> {
        let firm = self.actor_firm()?;
        match self.firm_of(self.entity(role)?) {
            Some(owner) if owner == firm => Ok(()),
            Some(owner) => Err(EngineError::InvalidRequest(format!(
                "{role} is {owner}'s custom role: only that firm changes it"
            ))),
            None => Err(EngineError::InvalidRequest(format!(
                "{role} is a role of the bundle: it changes with the bundle, not per firm"
            ))),
        }
    }

    /// Creates or changes the custom role `id` of the actor's firm, granting `grants` (action
    /// group ids of the bundle) and nothing else.
    pub(super) fn save_role(
        &mut self,
        id: &str,
        name: &str,
        grants: &[String],
    ) -> Result<(String, Vec<Value>), EngineError> {
        let (id, name) = (id.trim(), name.trim());
        if id.is_empty() || name.is_empty() {
            return Err(EngineError::InvalidRequest(
                "a custom role needs an id and a name".into(),
            ));
        }
        let uid = self.uid_of(Part::Role, id);
        if self.engine.entity(&uid).is_some() {
            self.own_custom_role(&uid)?;
        }
        let mut granted = BTreeSet::new();
        for group in grants.iter().map(|g| g.trim()) {
            // A grant names an action of the bundle (a group the policies read).
            self.entity(&self.uid_of(Part::Action, group))
                .map_err(|_| {
                    EngineError::InvalidRequest(format!(
                        "`{group}` is not an action of this bundle: a custom role grants action groups"
                    ))
                })?;
            granted.insert(group.to_string());
        }
        let firm = self.actor_firm()?;
        let mut attrs = Map::new();
        attrs.insert("name".into(), json!(name));
        attrs.insert(self.model.attributes.firm.clone(), entity_value(&firm));
        let record =
            json!({"uid": {"type": uid.type_name, "id": uid.id}, "attrs": attrs, "parents": []});
        self.require(
            "manage_roles",
            &firm,
            json!({ "role": entity_value(&uid), "grants": granted }),
            vec![record.clone()],
            || "custom roles are made by the firm's administrators, within its plan".into(),
        )?;
        let mut firm_record = self.record(&firm)?;
        let tags = tags_mut(&mut firm_record)?;
        forget_role(tags, &uid, true);
        for group in &granted {
            let holders = tags
                .entry(format!("{GRANT_TAG}{group}"))
                .or_insert_with(|| json!([]));
            if let Some(list) = holders.as_array_mut() {
                list.push(entity_value(&uid));
                list.sort_by_key(|r| r.to_string());
            }
        }
        let what = if granted.is_empty() {
            "nothing".to_string()
        } else {
            granted.iter().cloned().collect::<Vec<_>>().join(", ")
        };
        Ok((
            format!("saved custom role {uid} ({name}) granting {what}"),
            vec![record, firm_record],
        ))
    }

    /// The firm's record without `role` in any of its role sets, once the custom role may go:
    /// nobody holds it.
    pub(super) fn delete_role(&mut self, role: &EntityRef) -> Result<Value, EngineError> {
        self.own_custom_role(role)?;
        let firm = self.actor_firm()?;
        self.require(
            "manage_roles",
            &firm,
            json!({ "role": entity_value(role) }),
            vec![],
            || "custom roles are deleted by the firm's administrators".into(),
        )?;
        let role_uid = crate::entity_json::to_uid(role)?;
        let holders = self
            .users()
            .filter(|u| u.as_ref().is_descendant_of(role_uid.as_ref()))
            .count();
        if holders > 0 {
            return Err(EngineError::InvalidRequest(format!(
                "{holders} user(s) hold {role}: take it from them first"
            )));
        }
        let mut firm_record = self.record(&firm)?;
        forget_role(tags_mut(&mut firm_record)?, role, false);
        Ok(firm_record)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_forgotten_role_leaves_every_set_and_empty_sets_go() {
        let junior = EntityRef::new("Role", "junior");
        let senior = EntityRef::new("Role", "senior");
        let mut tags = Map::new();
        tags.insert("grant.document_read".into(), json!([entity_value(&junior)]));
        tags.insert(
            "grant.entry_read".into(),
            json!([entity_value(&junior), entity_value(&senior)]),
        );
        tags.insert("section.reports".into(), json!([entity_value(&junior)]));
        let mut grants_only = tags.clone();
        forget_role(&mut grants_only, &junior, true);
        assert_eq!(
            grants_only.keys().collect::<Vec<_>>(),
            ["grant.entry_read", "section.reports"]
        );
        forget_role(&mut tags, &junior, false);
        assert_eq!(tags.keys().collect::<Vec<_>>(), ["grant.entry_read"]);
        assert_eq!(tags["grant.entry_read"], json!([entity_value(&senior)]));
    }
}
