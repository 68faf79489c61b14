//! What a user is given besides his firm roles: deletion rights (`can_delete`, which the
//! policies require for any deletion) and a site profile (manager, collaborator: the whole firm
//! and all its companies, for staff only). Authority is decided first, so that what a user has
//! is not told to whoever may not change it; an invitation asks about the user it creates.

use serde_json::{json, Value};

use super::planner::{attrs_mut, entity_value, parents_mut, Planner};
use crate::entity_json::entity_ref_of;
use crate::error::EngineError;
use crate::firm_model::Part;
use crate::wire::EntityRef;

impl Planner<'_> {
    pub(super) fn deletion_rights(
        &mut self,
        user: &EntityRef,
        can_delete: bool,
    ) -> Result<Value, EngineError> {
        self.require_deletion_grant(user, vec![])?;
        let mut record = self.record(user)?;
        if record["attrs"]["can_delete"].as_bool() == Some(can_delete) {
            let state = if can_delete { "has" } else { "has no" };
            return Err(EngineError::InvalidRequest(format!(
                "{user} already {state} deletion rights"
            )));
        }
        attrs_mut(&mut record)?.insert("can_delete".into(), json!(can_delete));
        Ok(record)
    }

    /// `record` (a user being invited, `user`) with deletion rights, once `grant_deletion` is
    /// allowed on him.
    pub(super) fn with_deletion_rights(
        &mut self,
        user: &EntityRef,
        mut record: Value,
    ) -> Result<Value, EngineError> {
        self.require_deletion_grant(user, vec![record.clone()])?;
        attrs_mut(&mut record)?.insert("can_delete".into(), json!(true));
        Ok(record)
    }

    fn require_deletion_grant(
        &mut self,
        user: &EntityRef,
        call_entities: Vec<Value>,
    ) -> Result<(), EngineError> {
        self.require("grant_deletion", user, json!({}), call_entities, || {
            "deletion rights are given and taken by the firm's administrators".into()
        })
    }

    pub(super) fn site_profile(
        &mut self,
        user: &EntityRef,
        site_profile: Option<&str>,
    ) -> Result<Value, EngineError> {
        let given = self.site_profile_named(site_profile)?;
        self.require_site_profile(user, given.as_ref(), vec![])?;
        let record = self.record(user)?;
        self.holding_site_profile(user, record, given)
    }

    /// `record` (a user being invited, `user`) holding `site_profile`, once
    /// `assign_site_profile` is allowed on him with that profile.
    pub(super) fn with_site_profile(
        &mut self,
        user: &EntityRef,
        record: Value,
        site_profile: &str,
    ) -> Result<Value, EngineError> {
        let given = self.site_profile_named(Some(site_profile))?;
        self.require_site_profile(user, given.as_ref(), vec![record.clone()])?;
        self.holding_site_profile(user, record, given)
    }

    /// The site profile an operation names: one of the bundle's (none: no site profile).
    fn site_profile_named(&self, id: Option<&str>) -> Result<Option<EntityRef>, EngineError> {
        let Some(id) = id else {
            return Ok(None);
        };
        let profile = self.uid_of(Part::SiteProfile, id.trim());
        self.entity(&profile).map_err(|_| {
            EngineError::NotFound(format!(
                "no site profile {profile} in this bundle (`firm_model.types.site_profile` names the type)"
            ))
        })?;
        Ok(Some(profile))
    }

    fn require_site_profile(
        &mut self,
        user: &EntityRef,
        given: Option<&EntityRef>,
        call_entities: Vec<Value>,
    ) -> Result<(), EngineError> {
        let context = match given {
            Some(p) => json!({ "site_profile": entity_value(p) }),
            None => json!({}),
        };
        self.require(
            "assign_site_profile",
            user,
            context,
            call_entities,
            || match given {
                Some(p) => format!("{p} is given by the firm's administrators, to its staff only"),
                None => "site profiles are taken by the firm's administrators".into(),
            },
        )
    }

    /// `record` (the user `user`) in `given` and in no other site profile.
    fn holding_site_profile(
        &self,
        user: &EntityRef,
        mut record: Value,
        given: Option<EntityRef>,
    ) -> Result<Value, EngineError> {
        let site_type = self.model.type_name(Part::SiteProfile);
        let parents = parents_mut(&mut record)?;
        let held: Vec<EntityRef> = parents
            .iter()
            .filter_map(entity_ref_of)
            .filter(|p| p.type_name == site_type)
            .collect();
        if held == given.iter().cloned().collect::<Vec<_>>() {
            return Err(EngineError::InvalidRequest(match &given {
                Some(p) => format!("{user} already has the site profile {p}"),
                None => format!("{user} has no site profile"),
            }));
        }
        parents.retain(|p| entity_ref_of(p).is_none_or(|r| r.type_name != site_type));
        if let Some(p) = given {
            parents.push(json!({"type": p.type_name, "id": p.id}));
        }
        Ok(record)
    }
}
