//! Access profiles: the default one, moving users, custom profiles (a restricted copy of a
//! base; the rules themselves are checked on the planned delta), deleting unused ones.

use std::collections::BTreeMap;

use serde_json::{json, Map, Value};

use super::planner::{attr_ref, attrs_mut, entity_value, Planner};
use crate::error::EngineError;
use crate::profile::FieldLevel;
use crate::wire::EntityRef;

impl Planner<'_> {
    /// The default profile of the actor's firm: its own choice, else the shared default.
    pub(super) fn default_profile(&self) -> Result<EntityRef, EngineError> {
        self.engine.default_profile(&self.actor_firm()?)
    }

    /// The actor's firm chooses its default (the firm's record changes, no profile does: the
    /// shared default and other firms' choices stay as they are).
    pub(super) fn set_default_profile(
        &mut self,
        profile: &EntityRef,
    ) -> Result<Value, EngineError> {
        self.entity(profile)?;
        self.engine.profile(profile)?;
        self.require_profile_admin(Some(profile))?;
        let firm = self.actor_firm()?;
        self.usable_by(profile, &firm)?;
        let mut record = self.record(&firm)?;
        attrs_mut(&mut record)?.insert(
            self.model.attributes.default_profile.clone(),
            entity_value(profile),
        );
        Ok(record)
    }

    /// A profile a firm may use: a shared one or the firm's own custom one.
    fn usable_by(&self, profile: &EntityRef, firm: &EntityRef) -> Result<(), EngineError> {
        match self.engine.profile(profile)?.firm {
            Some(owner) if &owner != firm => Err(EngineError::InvalidRequest(format!(
                "{profile} is {owner}'s custom profile, not one {firm} may use"
            ))),
            _ => Ok(()),
        }
    }

    /// A profile the actor's firm may change or delete: its own custom profile. Shared profiles
    /// (a licence's base profiles, any profile without a firm) are every firm's: a new bundle
    /// version changes them, not one firm's administrator.
    fn owned_by_actor_firm(&self, profile: &EntityRef) -> Result<(), EngineError> {
        let firm = self.actor_firm()?;
        match self.engine.profile(profile)?.firm {
            Some(owner) if owner == firm => Ok(()),
            Some(owner) => Err(EngineError::InvalidRequest(format!(
                "{profile} is {owner}'s custom profile: only that firm changes it"
            ))),
            None => Err(EngineError::InvalidRequest(format!(
                "{profile} is shared by every firm: it changes with the bundle, not per firm"
            ))),
        }
    }

    pub(super) fn move_to_profile(
        &mut self,
        user: &EntityRef,
        profile: &EntityRef,
    ) -> Result<Value, EngineError> {
        self.entity(profile)?;
        self.require(
            "assign_profile",
            user,
            json!({ "profile": entity_value(profile) }),
            vec![],
            || format!("{profile} is not given by this user"),
        )?;
        let mut record = self.record(user)?;
        attrs_mut(&mut record)?.insert("profile".into(), entity_value(profile));
        Ok(record)
    }

    pub(super) fn save_profile(
        &mut self,
        id: &str,
        name: &str,
        base: &EntityRef,
        levels: &BTreeMap<String, FieldLevel>,
    ) -> Result<(String, Vec<Value>), EngineError> {
        self.entity(base)?;
        self.require_profile_admin(Some(base))?;
        let base_profile = self.engine.profile(base)?;
        let licence = base_profile.licence.clone().ok_or_else(|| {
            EngineError::InvalidRequest(format!("base profile {base} has no licence"))
        })?;
        let uid = EntityRef::new(base.type_name.clone(), id.trim());
        if &uid == base {
            return Err(EngineError::InvalidRequest(
                "a custom profile is a copy: give it its own id".into(),
            ));
        }
        // Saving over an existing profile changes it: the actor must manage that one too, and
        // it must be the firm's own.
        if self.engine.entity(&uid).is_some() {
            self.require_profile_admin(Some(&uid))?;
            self.owned_by_actor_firm(&uid)?;
        }
        let firm = self.actor_firm()?;
        let tags: Map<String, Value> = levels
            .iter()
            .map(|(k, l)| (k.clone(), json!(l.as_long())))
            .collect();
        let names = &self.model.attributes;
        let mut attrs = Map::new();
        attrs.insert("name".into(), json!(name));
        attrs.insert(names.licence.clone(), entity_value(&licence));
        attrs.insert(names.base.clone(), entity_value(base));
        attrs.insert(names.firm.clone(), entity_value(&firm));
        // A firm's own profile is never the shared default (a firm chooses it as its own
        // default through its record instead).
        attrs.insert(names.is_default.clone(), json!(false));
        let record = json!({
            "uid": {"type": uid.type_name, "id": uid.id},
            "attrs": attrs,
            "parents": [],
            "tags": tags,
        });
        Ok((
            format!("saved custom profile {uid} (copy of {base})"),
            vec![record],
        ))
    }

    /// Checks that `profile` may go: a custom profile nobody uses.
    pub(super) fn delete_profile(&mut self, profile: &EntityRef) -> Result<(), EngineError> {
        self.entity(profile)?;
        self.require_profile_admin(Some(profile))?;
        let found = self.engine.profile(profile)?;
        if found.base.is_none() {
            return Err(EngineError::InvalidRequest(format!(
                "{profile} is a base profile of its licence; only custom profiles are deleted"
            )));
        }
        self.owned_by_actor_firm(profile)?;
        if self.default_profile().ok().as_ref() == Some(profile) {
            return Err(EngineError::InvalidRequest(format!(
                "{profile} is the default profile of {}: choose another default first",
                self.actor_firm()?
            )));
        }
        let users = self
            .users()
            .filter(|u| attr_ref(u, "profile").as_ref() == Some(profile))
            .count();
        if users > 0 {
            return Err(EngineError::InvalidRequest(format!(
                "{users} user(s) still have {profile}: move them to another profile first"
            )));
        }
        let on_dossiers = self.dossier_holders(profile);
        if on_dossiers > 0 {
            return Err(EngineError::InvalidRequest(format!(
                "{on_dossiers} user(s) still have {profile} on a client dossier: move them first"
            )));
        }
        Ok(())
    }
}
