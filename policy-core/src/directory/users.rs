//! People: invitations (plan's user limit, unique e-mails), firm roles (the firm keeps an
//! active administrator), company roles, department restrictions.

use std::collections::BTreeSet;

use cedar_policy::EvalResult;
use serde_json::{json, Value};

use super::planner::{attr_ref, attrs_mut, entity_value, parents_mut, Planner};
use crate::entity_json::{attr_string, entity_ref_of, to_ref};
use crate::error::EngineError;
use crate::firm_model::Part;
use crate::wire::EntityRef;

/// The firm role of the people who administer the firm (`policies/`' role id): a firm keeps one
/// active.
const ADMINISTRATOR: &str = "administrator";

/// What an invitation names (`DirectoryOp::InviteUser`).
pub(super) struct Invitation<'a> {
    pub(super) id: &'a str,
    pub(super) name: &'a str,
    pub(super) first_name: &'a str,
    pub(super) email: &'a str,
    pub(super) roles: &'a [String],
    pub(super) external: bool,
    pub(super) profile: Option<&'a EntityRef>,
    pub(super) site_profile: Option<&'a str>,
    pub(super) can_delete: bool,
    pub(super) company: Option<&'a super::CompanyRole>,
    pub(super) access_until: Option<&'a str>,
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

impl Planner<'_> {
    pub(super) fn change_email(
        &mut self,
        user: &EntityRef,
        email: &str,
    ) -> Result<Value, EngineError> {
        let email = normalized_email(email)?;
        self.require("change_email", user, json!({}), vec![], || {
            "only administrators change another user's e-mail".into()
        })?;
        self.email_is_free(&email, Some(user))?;
        let mut record = self.record(user)?;
        attrs_mut(&mut record)?.insert("email".into(), json!(email));
        Ok(record)
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

    /// A seat of `firm`'s plan for one more user (an invitation, a reactivation): decided as
    /// `invite_user` on the firm, whose plan limit the policies read from the engine's count.
    pub(super) fn require_seat(&mut self, firm: &EntityRef) -> Result<(), EngineError> {
        let (seats, _) = self.engine.plan_counts(firm);
        let max = self.plan_limit(firm, &self.model.attributes.max_users);
        self.require("invite_user", firm, json!({}), vec![], || match &max {
            Some((plan, n)) => format!(
                "{firm} has {seats} user(s) taking a seat; its plan {} allows {n}",
                plan.id
            ),
            None => "inviting needs user administration".into(),
        })
    }

    pub(super) fn invite(
        &mut self,
        invitation: Invitation<'_>,
    ) -> Result<(String, Vec<Value>), EngineError> {
        let Invitation {
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
        } = invitation;
        if company.is_some() && !external {
            return Err(EngineError::InvalidRequest(
                "a client company's user is external: invite him with `external: true`".into(),
            ));
        }
        let email = normalized_email(email)?;
        if id.trim().is_empty() || name.trim().is_empty() {
            return Err(EngineError::InvalidRequest(
                "a user needs an id and a name".into(),
            ));
        }
        let uid = self.uid_of(Part::User, id.trim());
        if self.engine.entity(&uid).is_some() {
            return Err(EngineError::EntityDuplicate(format!(
                "{uid} already exists"
            )));
        }
        let firm = self.actor_firm()?;
        // Plan limits count the firm's own active staff; external users (clients' staff,
        // auditors) take no seat, which the policies are told.
        if external {
            self.require(
                "invite_user",
                &firm,
                json!({ "external": true }),
                vec![],
                || "inviting needs user administration".into(),
            )?;
        } else {
            self.require_seat(&firm)?;
        }
        self.email_is_free(&email, None)?;
        let chosen = match profile {
            Some(p) => {
                self.entity(p)?;
                p.clone()
            }
            None => self.default_profile()?,
        };
        let role_type = self.model.type_name(Part::Role);
        let mut record = json!({
            "uid": {"type": uid.type_name, "id": uid.id},
            "attrs": {
                "name": format!("{} {}", first_name.trim(), name.trim()).trim(),
                "first_name": first_name.trim(),
                "email": email,
                "blocked": false,
                "can_delete": false,
                "profile": entity_value(&chosen),
                "department_restricted": false,
                "departments": [],
            },
            "parents": roles.iter().map(|r| json!({"type": role_type, "id": r})).collect::<Vec<_>>(),
        });
        let names = &self.model.attributes;
        let attrs = attrs_mut(&mut record)?;
        attrs.insert(names.firm.clone(), entity_value(&firm));
        attrs.insert(names.external.clone(), json!(external));
        attrs.insert(names.deactivated.clone(), json!(false));
        // Invited, not yet accepted (`invitations.rs`): the host delivers the invitation.
        if self.user_declares(&names.pending) {
            attrs.insert(names.pending.clone(), json!(true));
        }
        if profile.is_some() {
            self.require(
                "assign_profile",
                &uid,
                json!({ "profile": entity_value(&chosen) }),
                vec![record.clone()],
                || format!("{chosen} is not given by this user"),
            )?;
        }
        for role in roles {
            let role_ref = self.uid_of(Part::Role, role);
            self.entity(&role_ref)?;
            self.require(
                "assign_role",
                &uid,
                json!({ "role": entity_value(&role_ref) }),
                vec![record.clone()],
                || format!("the role {role} cannot be given"),
            )?;
        }
        // Site profile and deletion rights are decided on the new user as invited so far.
        if let Some(site_profile) = site_profile {
            record = self.with_site_profile(&uid, record, site_profile)?;
        }
        if can_delete {
            record = self.with_deletion_rights(&uid, record)?;
        }
        if let Some(until) = access_until {
            record = self.with_access_end(&uid, record, until)?;
        }
        if let Some(company) = company {
            // Employed by the company, then given the role there (decided on the user as
            // invited: a director's authority covers the company's own staff only).
            attrs_mut(&mut record)?
                .insert("companies".into(), json!([entity_value(&company.client)]));
            record = self.with_company_role(&uid, record, &company.client, &company.role)?;
            return Ok((
                format!(
                    "invited {uid} ({email}) as {} on {}",
                    company.role, company.client
                ),
                vec![record],
            ));
        }
        Ok((format!("invited {uid} ({email})"), vec![record]))
    }

    /// The user's firm roles become `roles`: each role given or taken is a decision
    /// (`assign_role` with the role), and the firm keeps an active administrator.
    pub(super) fn set_roles(
        &mut self,
        user: &EntityRef,
        roles: &[String],
    ) -> Result<(String, Vec<Value>), EngineError> {
        let role_type = self.model.type_name(Part::Role);
        let mut record = self.record(user)?;
        let current: BTreeSet<String> = parents_mut(&mut record)?
            .iter()
            .filter_map(entity_ref_of)
            .filter(|p| p.type_name == role_type)
            .map(|p| p.id)
            .collect();
        let mut wanted: BTreeSet<String> = BTreeSet::new();
        for role in roles {
            let role_ref = self.uid_of(Part::Role, role.trim());
            self.entity(&role_ref)?;
            wanted.insert(role_ref.id);
        }
        if current == wanted {
            return Err(EngineError::InvalidRequest(format!(
                "{user} already has exactly these firm roles"
            )));
        }
        for role in current.symmetric_difference(&wanted) {
            let role_ref = self.uid_of(Part::Role, role);
            self.require(
                "assign_role",
                user,
                json!({ "role": entity_value(&role_ref) }),
                vec![],
                || format!("the role {role} is given and taken by the firm's administrators"),
            )?;
        }
        if current.contains(ADMINISTRATOR) && !wanted.contains(ADMINISTRATOR) {
            self.keeps_an_administrator(user, "no longer an administrator")?;
        }
        let parents = parents_mut(&mut record)?;
        parents.retain(|p| entity_ref_of(p).is_none_or(|r| r.type_name != role_type));
        parents.extend(wanted.iter().map(|r| json!({"type": role_type, "id": r})));
        let what = if wanted.is_empty() {
            format!("took every firm role from {user}")
        } else {
            format!(
                "gave {user} the firm roles {}",
                wanted.iter().cloned().collect::<Vec<_>>().join(", ")
            )
        };
        Ok((what, vec![record]))
    }

    /// Refuses to leave `user`'s firm without an active (neither blocked nor deactivated, nor
    /// external, nor time-bound) administrator once `user` is `becoming` what the operation makes of him.
    pub(super) fn keeps_an_administrator(
        &self,
        user: &EntityRef,
        becoming: &str,
    ) -> Result<(), EngineError> {
        let Ok(admin) = crate::entity_json::to_uid(&self.uid_of(Part::Role, ADMINISTRATOR)) else {
            return Ok(());
        };
        let target = self.entity(user)?;
        if !target.as_ref().is_descendant_of(admin.as_ref()) {
            return Ok(());
        }
        let firm = self.firm_of(target);
        let others = self
            .users()
            .filter(|u| self.firm_of(u) == firm)
            .filter(|u| &to_ref(&u.uid()) != user)
            .filter(|u| !matches!(u.attr("blocked"), Some(Ok(EvalResult::Bool(true)))))
            // Who can administer: neither deactivated nor external (an external user
            // administers nothing, whatever his roles).
            .filter(|u| {
                let names = &self.model.attributes;
                // A pending administrator has not accepted his invitation: he administers
                // nothing yet either.
                [&names.deactivated, &names.external, &names.pending]
                    .iter()
                    .all(|a| !matches!(u.attr(a), Some(Ok(EvalResult::Bool(true)))))
            })
            // Nor time-bound: an administrator whose access ends on a date (or has ended: the
            // planner reads no clock) would leave the firm locked out on that day.
            .filter(|u| u.attr(&self.model.attributes.access_until).is_none())
            .filter(|u| u.as_ref().is_descendant_of(admin.as_ref()))
            .count();
        if others == 0 {
            return Err(EngineError::InvalidRequest(format!(
                "{user} is the last active administrator of {} whose access has no end date: give the role to someone else before they are {becoming}",
                firm.map(|f| f.to_string()).unwrap_or_else(|| "the firm".into())
            )));
        }
        Ok(())
    }

    pub(super) fn company_role(
        &mut self,
        user: &EntityRef,
        client: &EntityRef,
        role: &str,
    ) -> Result<Value, EngineError> {
        let record = self.record(user)?;
        self.with_company_role(user, record, client, role)
    }

    /// `record` (the user `user`) moved, on `client`, into the team of `role`, once
    /// `assign_client_role` is allowed for that user.
    pub(super) fn with_company_role(
        &mut self,
        user: &EntityRef,
        mut record: Value,
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
        // The target user is part of the question: authority over the company alone is not
        // authority over whoever is put into its teams.
        self.require(
            "assign_client_role",
            client,
            json!({ "role": role, "user": entity_value(user) }),
            vec![record.clone()],
            || format!("the role {role} cannot be given to {user} on {client}"),
        )?;
        let engine = self.engine;
        let team_type = self.model.type_name(Part::Team);
        let client_attr = &self.model.attributes.client;
        let parents = parents_mut(&mut record)?;
        // Leave every team of this company, then join the one of `role`.
        parents.retain(|p| {
            let Some(r) = entity_ref_of(p) else {
                return true;
            };
            let of_client = r.type_name == team_type
                && engine
                    .entity(&r)
                    .and_then(|t| attr_ref(t, client_attr))
                    .as_ref()
                    == Some(client);
            !of_client
        });
        parents.push(json!({"type": team.type_name, "id": team.id}));
        Ok(record)
    }

    pub(super) fn restrict(
        &mut self,
        user: &EntityRef,
        departments: &[String],
    ) -> Result<Value, EngineError> {
        self.require("restrict_user", user, json!({}), vec![], || {
            "department restrictions are set by administrators".into()
        })?;
        let firm = self
            .firm_of(self.entity(user)?)
            .ok_or_else(|| EngineError::InvalidRequest(format!("{user} has no firm")))?;
        let known = self.departments_of(&firm);
        let mut values = Vec::new();
        for d in departments {
            let department = self.uid_of(Part::Department, d);
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
