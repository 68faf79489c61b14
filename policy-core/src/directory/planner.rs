//! The planner: asks the bundle's policies for the acting user, reads and edits entity records,
//! and dispatches each operation to the module that plans it. The operation modules (`users`,
//! `profiles`, `departments`) use this one; it uses none of them but through `Planner`'s
//! methods, so the modules form no import circle.

use cedar_policy::{Entity, EvalResult};
use serde_json::{json, Map, Value};

use super::{users, DirectoryOp, DirectoryPlan};
use crate::entity_json::{attr_uid, entity_ref_of, to_ref};
use crate::error::EngineError;
use crate::firm_model::{FirmModel, Part};
use crate::wire::{Decision, DecisionRequest, EntityDelta, EntityRef};
use crate::Engine;

pub(super) struct Planner<'a> {
    pub(super) engine: &'a Engine,
    /// The bundle's declared firm model: the types and relations the operations read and write.
    pub(super) model: &'a FirmModel,
    pub(super) actor: &'a EntityRef,
    pub(super) checked: Vec<String>,
}

pub(super) fn attr_ref(entity: &Entity, name: &str) -> Option<EntityRef> {
    attr_uid(entity, name).map(|uid| to_ref(&uid))
}

pub(super) fn entity_value(r: &EntityRef) -> Value {
    json!({"__entity": {"type": r.type_name, "id": r.id}})
}

pub(super) fn attrs_mut(record: &mut Value) -> Result<&mut Map<String, Value>, EngineError> {
    record
        .as_object_mut()
        .and_then(|o| {
            o.entry("attrs")
                .or_insert_with(|| json!({}))
                .as_object_mut()
        })
        .ok_or_else(|| EngineError::EntityInvalid("an entity record without attrs".into()))
}

/// A record's tags (made if absent): a firm's role sets, a user's dossier profiles.
pub(super) fn tags_mut(record: &mut Value) -> Result<&mut Map<String, Value>, EngineError> {
    record
        .as_object_mut()
        .map(|o| o.entry("tags").or_insert_with(|| Value::Object(Map::new())))
        .and_then(Value::as_object_mut)
        .ok_or_else(|| EngineError::EntityInvalid("a record whose tags are not a record".into()))
}

pub(super) fn parents_mut(record: &mut Value) -> Result<&mut Vec<Value>, EngineError> {
    record
        .as_object_mut()
        .and_then(|o| {
            o.entry("parents")
                .or_insert_with(|| json!([]))
                .as_array_mut()
        })
        .ok_or_else(|| EngineError::EntityInvalid("an entity record without parents".into()))
}

impl<'a> Planner<'a> {
    pub(super) fn new(engine: &'a Engine, model: &'a FirmModel, actor: &'a EntityRef) -> Self {
        Self {
            engine,
            model,
            actor,
            checked: Vec::new(),
        }
    }

    /// A uid of the type that plays `part` in the declared model.
    pub(super) fn uid_of(&self, part: Part, id: &str) -> EntityRef {
        EntityRef::new(self.model.type_name(part), id)
    }

    /// The firm an entity belongs to (the model's firm attribute).
    pub(super) fn firm_of(&self, entity: &Entity) -> Option<EntityRef> {
        attr_ref(entity, &self.model.attributes.firm)
    }

    pub(super) fn require(
        &mut self,
        action_id: &str,
        resource: &EntityRef,
        context: Value,
        call_entities: Vec<Value>,
        why: impl FnOnce() -> String,
    ) -> Result<(), EngineError> {
        let answer = self.engine.decide(&DecisionRequest {
            principal: self.actor.clone(),
            action: self.uid_of(Part::Action, action_id),
            resource: resource.clone(),
            context: Some(context),
            entities: call_entities,
        })?;
        if answer.decision == Decision::Allow {
            self.checked.push(format!("{action_id} on {resource}"));
            return Ok(());
        }
        let policies = if answer.determining_policies.is_empty() {
            "no policy allows it".to_string()
        } else {
            format!("denied by {}", answer.determining_policies.join(", "))
        };
        Err(EngineError::Forbidden {
            message: format!(
                "{} may not {action_id} on {resource}: {} ({policies})",
                self.actor,
                why()
            ),
            determining_policies: answer.determining_policies,
        })
    }

    pub(super) fn entity(&self, r: &EntityRef) -> Result<&'a Entity, EngineError> {
        self.engine
            .entity(r)
            .ok_or_else(|| EngineError::NotFound(format!("no entity {r}")))
    }

    /// Whether the schema declares the attribute `name` on the firm model's users (an
    /// optional attribute the planner writes only where the bundle has it).
    pub(super) fn user_declares(&self, name: &str) -> bool {
        let (Some(schema), Some(user_type)) = (
            self.engine.bundle().schema(),
            self.model.entity_type(Part::User),
        ) else {
            return false;
        };
        !name.is_empty()
            && schema
                .as_ref()
                .get_entity_type(user_type.as_ref())
                .is_some_and(|t| t.attr(name).is_some())
    }

    /// The entity (data or the bundle's) as Cedar JSON.
    pub(super) fn record(&self, r: &EntityRef) -> Result<Value, EngineError> {
        crate::engine::record_of(self.entity(r)?)
    }

    pub(super) fn actor_firm(&self) -> Result<EntityRef, EngineError> {
        self.firm_of(self.entity(self.actor)?)
            .ok_or_else(|| EngineError::InvalidRequest(format!("{} has no firm", self.actor)))
    }

    pub(super) fn users(&self) -> impl Iterator<Item = &'a Entity> {
        self.engine
            .entities_of_type(&self.model.type_name(Part::User))
    }

    /// The plan of `firm` and its limit `attr` (`max_users`, `max_departments`), if both exist.
    pub(super) fn plan_limit(&self, firm: &EntityRef, attr: &str) -> Option<(EntityRef, i64)> {
        let plan = attr_ref(self.entity(firm).ok()?, &self.model.attributes.plan)?;
        match self.engine.entity(&plan)?.attr(attr) {
            Some(Ok(EvalResult::Long(n))) => Some((plan, n)),
            _ => None,
        }
    }

    /// Profiles are the firm's: the actor must be allowed `manage_profiles` on its firm, and on
    /// `profile` when one is named (another firm's custom profile is not the actor's to change).
    pub(super) fn require_profile_admin(
        &mut self,
        profile: Option<&EntityRef>,
    ) -> Result<(), EngineError> {
        let firm = self.actor_firm()?;
        let context = match profile {
            Some(p) => json!({ "profile": entity_value(p) }),
            None => json!({}),
        };
        self.require(
            "manage_profiles",
            &firm,
            context,
            vec![],
            || match profile {
                Some(p) => format!("{p} is managed by the administrators of its firm"),
                None => "profiles are managed by administrators".into(),
            },
        )
    }

    pub(super) fn plan(
        mut self,
        op: &DirectoryOp,
        actor_firm: EntityRef,
    ) -> Result<DirectoryPlan, EngineError> {
        let mut remove = Vec::new();
        let (what, upsert) = match op {
            DirectoryOp::InviteUser {
                id,
                name,
                first_name,
                email,
                roles,
                external,
                profile,
                site_profile,
                can_delete,
                company,
                access_until,
            } => self.invite(users::Invitation {
                id,
                name,
                first_name,
                email,
                roles,
                external: *external,
                profile: profile.as_ref(),
                site_profile: site_profile.as_deref(),
                can_delete: *can_delete,
                company: company.as_ref(),
                access_until: access_until.as_deref(),
            })?,
            DirectoryOp::DeactivateUser { user, deactivated } => {
                let record = self.deactivate(user, *deactivated)?;
                let verb = if *deactivated {
                    "deactivated"
                } else {
                    "reactivated"
                };
                (format!("{verb} {user}"), vec![record])
            }
            DirectoryOp::DeleteUser { user } => {
                let records = self.delete_user(user)?;
                remove.push(user.clone());
                (
                    format!("deleted {user} (the history keeps what they did)"),
                    records,
                )
            }
            DirectoryOp::SetDeletionRights { user, can_delete } => {
                let record = self.deletion_rights(user, *can_delete)?;
                let what = if *can_delete {
                    format!("gave {user} deletion rights")
                } else {
                    format!("took deletion rights from {user}")
                };
                (what, vec![record])
            }
            DirectoryOp::SetSiteProfile { user, site_profile } => {
                let record = self.site_profile(user, site_profile.as_deref())?;
                let what = match site_profile {
                    Some(p) => format!("gave {user} the site profile {p}"),
                    None => format!("took the site profile of {user}"),
                };
                (what, vec![record])
            }
            DirectoryOp::SetAccessEnd { user, access_until } => {
                let record = self.access_end(user, access_until.as_deref())?;
                let what = match access_until {
                    Some(until) => format!("set the end of {user}'s access to {}", until.trim()),
                    None => format!("lifted the end date of {user}'s access"),
                };
                (what, vec![record])
            }
            DirectoryOp::BlockUser { user, blocked } => {
                self.require("block_user", user, json!({}), vec![], || {
                    "blocking needs user administration".into()
                })?;
                if *blocked {
                    self.keeps_an_administrator(user, "blocked")?;
                }
                let mut record = self.record(user)?;
                attrs_mut(&mut record)?.insert("blocked".into(), json!(blocked));
                let verb = if *blocked { "blocked" } else { "unblocked" };
                (format!("{verb} {user}"), vec![record])
            }
            DirectoryOp::DetachUser { user, client } => {
                self.entity(client)?;
                self.require(
                    "detach_user",
                    user,
                    json!({ "client": entity_value(client) }),
                    vec![],
                    || format!("detaching from {client} needs user administration of its firm"),
                )?;
                let mut record = self.record(client)?;
                let attrs = attrs_mut(&mut record)?;
                let detached = attrs
                    .entry("detached")
                    .or_insert_with(|| json!([]))
                    .as_array_mut()
                    .ok_or_else(|| EngineError::EntityInvalid(format!("{client}: detached")))?;
                if !detached
                    .iter()
                    .any(|v| entity_ref_of(v).as_ref() == Some(user))
                {
                    detached.push(entity_value(user));
                }
                (format!("detached {user} from {client}"), vec![record])
            }
            DirectoryOp::ChangeEmail { user, email } => {
                let record = self.change_email(user, email)?;
                (format!("changed the e-mail of {user}"), vec![record])
            }
            DirectoryOp::SetProfile { user, profile } => {
                let record = self.move_to_profile(user, profile)?;
                (format!("moved {user} to {profile}"), vec![record])
            }
            DirectoryOp::MoveProfileUsers {
                from,
                to,
                client: Some(client),
            } => self.move_dossier_users(from, to, client)?,
            DirectoryOp::SetDossierProfile {
                user,
                client,
                profile,
            } => {
                let record = self.set_dossier_profile(user, client, profile.as_ref())?;
                let what = match profile {
                    Some(p) => format!("gave {user} the profile {p} on {client}"),
                    None => format!("took {user}'s own profile on {client} away"),
                };
                (what, vec![record])
            }
            DirectoryOp::MoveProfileUsers {
                from,
                to,
                client: None,
            } => {
                self.entity(to)?;
                // Checked even when nobody is moved: an empty move is still an administration.
                self.require_profile_admin(Some(to))?;
                // Only the actor's firm's users: a profile may be shared by several firms, and
                // each of them moves its own people. Sorted: the store's order is not stable,
                // plans must be (every face agrees).
                let firm = self.actor_firm()?;
                let mut members: Vec<EntityRef> = self
                    .users()
                    .filter(|u| self.firm_of(u).as_ref() == Some(&firm))
                    .filter(|u| attr_ref(u, "profile").as_ref() == Some(from))
                    .map(|u| to_ref(&u.uid()))
                    .collect();
                members.sort();
                let records = members
                    .iter()
                    .map(|u| self.move_to_profile(u, to))
                    .collect::<Result<Vec<_>, _>>()?;
                (
                    format!("moved {} user(s) from {from} to {to}", records.len()),
                    records,
                )
            }
            DirectoryOp::SetCompanyRole { user, client, role } => {
                let record = self.company_role(user, client, role)?;
                (format!("made {user} {role} on {client}"), vec![record])
            }
            DirectoryOp::SaveProfile {
                id,
                name,
                base,
                levels,
            } => self.save_profile(id, name, base, levels)?,
            DirectoryOp::SetDefaultProfile { profile } => {
                let record = self.set_default_profile(profile)?;
                (
                    format!("made {profile} the default profile of {actor_firm}"),
                    vec![record],
                )
            }
            DirectoryOp::DeleteProfile { profile } => {
                self.delete_profile(profile)?;
                remove.push(profile.clone());
                (format!("deleted custom profile {profile}"), Vec::new())
            }
            DirectoryOp::CreateDepartment { id, name } => self.create_department(id, name)?,
            DirectoryOp::RestrictDepartments { user, departments } => {
                let record = self.restrict(user, departments)?;
                let what = if departments.is_empty() {
                    format!("lifted the department restriction of {user}")
                } else {
                    format!("restricted {user} to {}", departments.join(", "))
                };
                (what, vec![record])
            }
            DirectoryOp::HideSection { section, roles } => self.hide_section(section, roles)?,
            DirectoryOp::SaveRole { id, name, grants } => self.save_role(id, name, grants)?,
            DirectoryOp::DeleteRole { role } => {
                let firm_record = self.delete_role(role)?;
                remove.push(role.clone());
                (format!("deleted custom role {role}"), vec![firm_record])
            }
            DirectoryOp::SetRoles { user, roles } => self.set_roles(user, roles)?,
            DirectoryOp::AcceptInvitation { user } => {
                let record = self.accept_invitation(user)?;
                (format!("accepted the invitation of {user}"), vec![record])
            }
            DirectoryOp::ResendInvitation { user } => {
                self.resend_invitation(user)?;
                (format!("sent {user}'s invitation again"), Vec::new())
            }
        };
        Ok(DirectoryPlan {
            summary: format!("{} {what}", self.actor.id),
            delta: EntityDelta { upsert, remove },
            checked: self.checked,
            actor_firm,
        })
    }
}
