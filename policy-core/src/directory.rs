//! Firm administration as the admin console and the server perform it: invite, block, detach,
//! change an e-mail, move users between access profiles or company roles, create a custom
//! profile, choose the default one. Each operation is *planned* here — checked against the
//! bundle's own policies for the acting user (plan limits included, with the counts the policies
//! need computed from the store, never taken from the caller) and against the domain rules —
//! and comes out as an entity delta. The browser plans to explain a refusal before sending; the
//! server plans again over its own data and applies the delta through its audited write path.

use std::collections::BTreeMap;

use cedar_policy::{Entity, EvalResult};
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use crate::entity_json::{attr_string, attr_uid, entity_ref_of, to_ref};
use crate::error::EngineError;
use crate::profile::FieldLevel;
use crate::wire::{Decision, DecisionRequest, EntityDelta, EntityRef};
use crate::Engine;

/// One operation, performed on behalf of `actor` (the firm user whose rights are checked).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DirectoryRequest {
    pub actor: EntityRef,
    #[serde(flatten)]
    pub op: DirectoryOp,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum DirectoryOp {
    /// A new user of the actor's firm. `roles` are firm role ids (administrator, ...).
    InviteUser {
        id: String,
        name: String,
        first_name: String,
        email: String,
        #[serde(default)]
        roles: Vec<String>,
        #[serde(default)]
        external: bool,
        /// Default: the default access profile.
        #[serde(default)]
        profile: Option<EntityRef>,
    },
    BlockUser {
        user: EntityRef,
        blocked: bool,
    },
    /// Detaches a user from one client company; the rest of their access stays.
    DetachUser {
        user: EntityRef,
        client: EntityRef,
    },
    ChangeEmail {
        user: EntityRef,
        email: String,
    },
    /// Moves one user to another access profile.
    SetProfile {
        user: EntityRef,
        profile: EntityRef,
    },
    /// Moves every user of profile `from` to profile `to`.
    MoveProfileUsers {
        from: EntityRef,
        to: EntityRef,
    },
    /// Moves one user, on one client company, into the team of `role` (leaving their other
    /// teams of that company).
    SetCompanyRole {
        user: EntityRef,
        client: EntityRef,
        role: String,
    },
    /// Creates or updates a custom profile: a copy of `base` restricted to `levels`.
    SaveProfile {
        id: String,
        name: String,
        base: EntityRef,
        levels: BTreeMap<String, FieldLevel>,
    },
    SetDefaultProfile {
        profile: EntityRef,
    },
    /// Removes a custom profile nobody uses any more (never the default).
    DeleteProfile {
        profile: EntityRef,
    },
    /// A new department of the actor's firm, within the plan's department limit.
    CreateDepartment {
        id: String,
        name: String,
    },
    /// Restricts a user to these departments of the firm (empty: no restriction).
    RestrictDepartments {
        user: EntityRef,
        departments: Vec<String>,
    },
}

/// What an operation would write, and what was checked to allow it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DirectoryPlan {
    /// One line for the activity history: "alice invited User::\"zoe\"".
    pub summary: String,
    pub delta: EntityDelta,
    /// The decisions taken (action on resource), all allowed.
    pub checked: Vec<String>,
}

struct Planner<'a> {
    engine: &'a Engine,
    actor: &'a EntityRef,
    checked: Vec<String>,
}

fn action(id: &str) -> EntityRef {
    EntityRef::new("Action", id)
}

fn attr_ref(entity: &Entity, name: &str) -> Option<EntityRef> {
    attr_uid(entity, name).map(|uid| to_ref(&uid))
}

fn is_type(entity: &Entity, basename: &str) -> bool {
    entity.uid().type_name().basename() == basename
}

fn entity_value(r: &EntityRef) -> Value {
    json!({"__entity": {"type": r.type_name, "id": r.id}})
}

fn attrs_mut(record: &mut Value) -> Result<&mut Map<String, Value>, EngineError> {
    record
        .as_object_mut()
        .and_then(|o| {
            o.entry("attrs")
                .or_insert_with(|| json!({}))
                .as_object_mut()
        })
        .ok_or_else(|| EngineError::EntityInvalid("an entity record without attrs".into()))
}

fn parents_mut(record: &mut Value) -> Result<&mut Vec<Value>, EngineError> {
    record
        .as_object_mut()
        .and_then(|o| {
            o.entry("parents")
                .or_insert_with(|| json!([]))
                .as_array_mut()
        })
        .ok_or_else(|| EngineError::EntityInvalid("an entity record without parents".into()))
}

fn normalized_email(email: &str) -> Result<String, EngineError> {
    let email = email.trim().to_lowercase();
    let valid = email
        .split_once('@')
        .is_some_and(|(user, host)| !user.is_empty() && host.contains('.'));
    if valid {
        Ok(email)
    } else {
        Err(EngineError::InvalidRequest(format!(
            "`{email}` is not an e-mail address"
        )))
    }
}

impl<'a> Planner<'a> {
    /// Asks the bundle whether the actor may; a deny is the operation's refusal.
    fn require(
        &mut self,
        action_id: &str,
        resource: &EntityRef,
        context: Value,
        call_entities: Vec<Value>,
        why: impl FnOnce() -> String,
    ) -> Result<(), EngineError> {
        let answer = self.engine.decide(&DecisionRequest {
            principal: self.actor.clone(),
            action: action(action_id),
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

    fn entity(&self, r: &EntityRef) -> Result<&'a Entity, EngineError> {
        self.engine
            .entity(r)
            .ok_or_else(|| EngineError::NotFound(format!("no entity {r}")))
    }

    /// The record as the host gave it, or the bundle's entity as Cedar JSON.
    fn record(&self, r: &EntityRef) -> Result<Value, EngineError> {
        if let Some(record) = self.engine.data_record(r) {
            return Ok(record.clone());
        }
        self.entity(r)?
            .to_json_value()
            .map_err(|e| EngineError::EntityInvalid(format!("{r}: {e}")))
    }

    fn actor_firm(&self) -> Result<EntityRef, EngineError> {
        attr_ref(self.entity(self.actor)?, "firm")
            .ok_or_else(|| EngineError::InvalidRequest(format!("{} has no firm", self.actor)))
    }

    fn users(&self) -> impl Iterator<Item = &'a Entity> {
        self.engine.entities().filter(|e| is_type(e, "User"))
    }

    fn email_is_free(&self, email: &str, except: Option<&EntityRef>) -> Result<(), EngineError> {
        let taken = self
            .users()
            .filter(|u| attr_string(u, "email").is_some_and(|e| e.to_lowercase() == email))
            .map(|u| to_ref(&u.uid()))
            .filter(|u| Some(u) != except)
            .min();
        match taken {
            Some(user) => Err(EngineError::DuplicateEmail(format!(
                "{email} is already the e-mail of {user}"
            ))),
            None => Ok(()),
        }
    }

    fn default_profile(&self) -> Result<EntityRef, EngineError> {
        self.engine
            .profiles()
            .into_iter()
            .find(|p| p.is_default)
            .map(|p| p.uid)
            .ok_or_else(|| EngineError::NotFound("no default access profile".into()))
    }

    fn summary(&self, what: String) -> String {
        format!("{} {what}", self.actor.id)
    }

    fn plan(mut self, op: &DirectoryOp) -> Result<DirectoryPlan, EngineError> {
        let (what, upsert) = match op {
            DirectoryOp::InviteUser {
                id,
                name,
                first_name,
                email,
                roles,
                external,
                profile,
            } => self.invite(id, name, first_name, email, roles, *external, profile)?,
            DirectoryOp::BlockUser { user, blocked } => {
                self.require("block_user", user, json!({}), vec![], || {
                    "blocking needs user administration".into()
                })?;
                let mut record = self.record(user)?;
                attrs_mut(&mut record)?.insert("blocked".into(), json!(blocked));
                let verb = if *blocked { "blocked" } else { "unblocked" };
                (format!("{verb} {user}"), vec![record])
            }
            DirectoryOp::DetachUser { user, client } => {
                self.require("detach_user", user, json!({}), vec![], || {
                    "detaching needs user administration".into()
                })?;
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
                let email = normalized_email(email)?;
                self.require("change_email", user, json!({}), vec![], || {
                    "only administrators change another user's e-mail".into()
                })?;
                self.email_is_free(&email, Some(user))?;
                let mut record = self.record(user)?;
                attrs_mut(&mut record)?.insert("email".into(), json!(email));
                (format!("changed the e-mail of {user}"), vec![record])
            }
            DirectoryOp::SetProfile { user, profile } => {
                let record = self.move_to_profile(user, profile)?;
                (format!("moved {user} to {profile}"), vec![record])
            }
            DirectoryOp::MoveProfileUsers { from, to } => {
                self.entity(to)?;
                // Sorted: the store's order is not stable, plans must be (every face agrees).
                let mut members: Vec<EntityRef> = self
                    .users()
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
                let firm = self.actor_firm()?;
                self.require("manage_profiles", &firm, json!({}), vec![], || {
                    "profiles are managed by administrators".into()
                })?;
                self.entity(profile)?;
                let mut records = Vec::new();
                for p in self.engine.profiles() {
                    let is_default = &p.uid == profile;
                    if p.is_default != is_default {
                        let mut record = self.record(&p.uid)?;
                        attrs_mut(&mut record)?.insert("is_default".into(), json!(is_default));
                        records.push(record);
                    }
                }
                (format!("made {profile} the default profile"), records)
            }
            DirectoryOp::DeleteProfile { profile } => return self.delete_profile(profile),
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
        };
        Ok(DirectoryPlan {
            summary: self.summary(what),
            delta: EntityDelta {
                upsert,
                remove: Vec::new(),
            },
            checked: self.checked,
        })
    }

    #[allow(clippy::too_many_arguments)]
    fn invite(
        &mut self,
        id: &str,
        name: &str,
        first_name: &str,
        email: &str,
        roles: &[String],
        external: bool,
        profile: &Option<EntityRef>,
    ) -> Result<(String, Vec<Value>), EngineError> {
        let email = normalized_email(email)?;
        if id.trim().is_empty() || name.trim().is_empty() {
            return Err(EngineError::InvalidRequest(
                "a user needs an id and a name".into(),
            ));
        }
        let uid = EntityRef::new("User", id.trim());
        if self.engine.entity(&uid).is_some() {
            return Err(EngineError::EntityDuplicate(format!(
                "{uid} already exists"
            )));
        }
        let firm = self.actor_firm()?;
        // Plan limits count the firm's own staff; external users (clients' staff, auditors)
        // do not take a seat.
        let user_count = self
            .users()
            .filter(|u| attr_ref(u, "firm").as_ref() == Some(&firm))
            .filter(|u| !matches!(u.attr("external"), Some(Ok(EvalResult::Bool(true)))))
            .count();
        let max = self
            .entity(&firm)
            .ok()
            .and_then(|f| attr_ref(f, "plan"))
            .and_then(|plan| self.engine.entity(&plan).map(|p| (plan, p)))
            .and_then(|(plan, p)| match p.attr("max_users") {
                Some(Ok(EvalResult::Long(n))) => Some((plan, n)),
                _ => None,
            });
        self.require(
            "invite_user",
            &firm,
            json!({ "user_count": user_count }),
            vec![],
            || match &max {
                Some((plan, n)) => format!(
                    "{firm} has {user_count} user(s); its plan {} allows {n}",
                    plan.id
                ),
                None => "inviting needs user administration".into(),
            },
        )?;
        self.email_is_free(&email, None)?;
        let profile = match profile {
            Some(p) => {
                self.entity(p)?;
                p.clone()
            }
            None => self.default_profile()?,
        };
        let record = json!({
            "uid": {"type": "User", "id": uid.id},
            "attrs": {
                "name": format!("{} {}", first_name.trim(), name.trim()).trim(),
                "first_name": first_name.trim(),
                "email": email,
                "firm": entity_value(&firm),
                "external": external,
                "blocked": false,
                "can_delete": false,
                "profile": entity_value(&profile),
                "department_restricted": false,
                "departments": [],
            },
            "parents": roles.iter().map(|r| json!({"type": "Role", "id": r})).collect::<Vec<_>>(),
        });
        for role in roles {
            let role_ref = EntityRef::new("Role", role);
            self.entity(&role_ref)?;
            self.require(
                "assign_role",
                &uid,
                json!({ "role": entity_value(&role_ref) }),
                vec![record.clone()],
                || format!("the role {role} cannot be given"),
            )?;
        }
        Ok((format!("invited {uid} ({email})"), vec![record]))
    }

    fn move_to_profile(
        &mut self,
        user: &EntityRef,
        profile: &EntityRef,
    ) -> Result<Value, EngineError> {
        self.entity(profile)?;
        self.require("assign_profile", user, json!({}), vec![], || {
            "profiles are assigned by administrators".into()
        })?;
        let mut record = self.record(user)?;
        attrs_mut(&mut record)?.insert("profile".into(), entity_value(profile));
        Ok(record)
    }

    fn company_role(
        &mut self,
        user: &EntityRef,
        client: &EntityRef,
        role: &str,
    ) -> Result<Value, EngineError> {
        let client_entity = self.entity(client)?;
        let team = match client_entity.attr("teams") {
            Some(Ok(EvalResult::Record(teams))) => match teams.get(role) {
                Some(EvalResult::EntityUid(uid)) => to_ref(uid),
                _ => {
                    return Err(EngineError::InvalidRequest(format!(
                        "{client} has no `{role}` team"
                    )))
                }
            },
            _ => {
                return Err(EngineError::InvalidRequest(format!(
                    "{client} has no teams"
                )))
            }
        };
        self.require(
            "assign_client_role",
            client,
            json!({ "role": role }),
            vec![],
            || format!("the role {role} cannot be given on {client}"),
        )?;
        let mut record = self.record(user)?;
        let engine = self.engine;
        let parents = parents_mut(&mut record)?;
        // Leave every team of this company, then join the one of `role`.
        parents.retain(|p| {
            let Some(r) = entity_ref_of(p) else {
                return true;
            };
            let of_client = r.type_name == "Team"
                && engine
                    .entity(&r)
                    .and_then(|t| attr_ref(t, "client"))
                    .as_ref()
                    == Some(client);
            !of_client
        });
        parents.push(json!({"type": team.type_name, "id": team.id}));
        Ok(record)
    }

    fn save_profile(
        &mut self,
        id: &str,
        name: &str,
        base: &EntityRef,
        levels: &BTreeMap<String, FieldLevel>,
    ) -> Result<(String, Vec<Value>), EngineError> {
        let firm = self.actor_firm()?;
        self.require("manage_profiles", &firm, json!({}), vec![], || {
            "profiles are managed by administrators".into()
        })?;
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
        let is_default = self
            .engine
            .profile(&uid)
            .map(|p| p.is_default)
            .unwrap_or(false);
        let tags: Map<String, Value> = levels
            .iter()
            .map(|(k, l)| (k.clone(), json!(l.as_long())))
            .collect();
        let record = json!({
            "uid": {"type": uid.type_name, "id": uid.id},
            "attrs": {
                "name": name,
                "licence": entity_value(&licence),
                "base": entity_value(base),
                "is_default": is_default,
            },
            "parents": [],
            "tags": tags,
        });
        Ok((
            format!("saved custom profile {uid} (copy of {base})"),
            vec![record],
        ))
    }

    fn delete_profile(mut self, profile: &EntityRef) -> Result<DirectoryPlan, EngineError> {
        let firm = self.actor_firm()?;
        self.require("manage_profiles", &firm, json!({}), vec![], || {
            "profiles are managed by administrators".into()
        })?;
        let found = self.engine.profile(profile)?;
        if found.base.is_none() {
            return Err(EngineError::InvalidRequest(format!(
                "{profile} is a base profile of its licence; only custom profiles are deleted"
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
        Ok(DirectoryPlan {
            summary: self.summary(format!("deleted custom profile {profile}")),
            delta: EntityDelta {
                upsert: Vec::new(),
                remove: vec![profile.clone()],
            },
            checked: self.checked,
        })
    }

    fn departments_of(&self, firm: &EntityRef) -> Vec<EntityRef> {
        let Ok(firm_uid) = crate::entity_json::to_uid(firm) else {
            return Vec::new();
        };
        self.engine
            .entities()
            .filter(|e| is_type(e, "Department") && e.uid() != firm_uid)
            .filter(|e| self.engine.in_ancestors(&to_ref(&e.uid()), &firm_uid))
            .map(|e| to_ref(&e.uid()))
            .collect()
    }

    fn create_department(
        &mut self,
        id: &str,
        name: &str,
    ) -> Result<(String, Vec<Value>), EngineError> {
        let firm = self.actor_firm()?;
        let uid = EntityRef::new("Department", id.trim());
        if id.trim().is_empty() || name.trim().is_empty() {
            return Err(EngineError::InvalidRequest(
                "a department needs an id and a name".into(),
            ));
        }
        if self.engine.entity(&uid).is_some() {
            return Err(EngineError::EntityDuplicate(format!(
                "{uid} already exists"
            )));
        }
        let department_count = self.departments_of(&firm).len();
        let max = self
            .entity(&firm)
            .ok()
            .and_then(|f| attr_ref(f, "plan"))
            .and_then(|plan| self.engine.entity(&plan))
            .and_then(|p| match p.attr("max_departments") {
                Some(Ok(EvalResult::Long(n))) => Some(n),
                _ => None,
            });
        self.require(
            "create_department",
            &firm,
            json!({ "department_count": department_count }),
            vec![],
            || match max {
                Some(n) => {
                    format!("{firm} has {department_count} department(s); its plan allows {n}")
                }
                None => "departments are created by administrators".into(),
            },
        )?;
        let record = json!({
            "uid": {"type": "Department", "id": uid.id},
            "attrs": {"name": name.trim()},
            "parents": [{"type": firm.type_name, "id": firm.id}],
        });
        Ok((format!("created {uid} ({})", name.trim()), vec![record]))
    }

    fn restrict(&mut self, user: &EntityRef, departments: &[String]) -> Result<Value, EngineError> {
        self.require("restrict_user", user, json!({}), vec![], || {
            "department restrictions are set by administrators".into()
        })?;
        let firm = attr_ref(self.entity(user)?, "firm")
            .ok_or_else(|| EngineError::InvalidRequest(format!("{user} has no firm")))?;
        let known = self.departments_of(&firm);
        let mut values = Vec::new();
        for d in departments {
            let department = EntityRef::new("Department", d);
            if !known.contains(&department) {
                return Err(EngineError::NotFound(format!(
                    "{department} is not a department of {firm}"
                )));
            }
            values.push(entity_value(&department));
        }
        let mut record = self.record(user)?;
        let attrs = attrs_mut(&mut record)?;
        attrs.insert(
            "department_restricted".into(),
            json!(!departments.is_empty()),
        );
        attrs.insert("departments".into(), Value::Array(values));
        Ok(record)
    }
}

/// Plans `request` over the engine's current data; the engine is not changed.
pub fn plan(engine: &Engine, request: &DirectoryRequest) -> Result<DirectoryPlan, EngineError> {
    let planner = Planner {
        engine,
        actor: &request.actor,
        checked: Vec::new(),
    };
    planner.entity(&request.actor)?;
    let plan = planner.plan(&request.op)?;
    // A custom profile wider than its base or licence is refused here, with the reason, before
    // anyone tries to write it.
    engine.check_rules(&plan.delta)?;
    Ok(plan)
}
