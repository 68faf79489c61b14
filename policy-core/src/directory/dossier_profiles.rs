//! Profiles per dossier (WinAuditor): a user may hold another access profile on one client
//! dossier than his own. The user's record keeps it as a tag named by the client's `key` (its
//! id, a required attribute: a client written without it is refused, so a dossier profile
//! never silently stops applying); the bundle's field
//! guards read the tag for a document of that client and the user's own profile elsewhere.
//! Given as `assign_profile` on the user with the profile and the client in the context (the
//! policies keep it to the user's own firm's clients and the firm's profiles).

use serde_json::{json, Value};

use super::planner::{entity_value, tags_mut, Planner};
use cedar_policy_core::ast::{Literal, PartialValue, ValueKind};

use crate::entity_json::{attr_string, to_ref};
use crate::error::EngineError;
use crate::wire::EntityRef;

/// The attribute of a client that names its dossier in users' tags.
const KEY: &str = "key";

impl Planner<'_> {
    /// The key `client`'s dossier is named by (its `key`, the client's id).
    fn dossier_key(&self, client: &EntityRef) -> Result<String, EngineError> {
        attr_string(self.entity(client)?, KEY).ok_or_else(|| {
            EngineError::InvalidRequest(format!(
                "{client} has no `{KEY}`: it is not a client dossier"
            ))
        })
    }

    /// The profile `user` holds on the dossier named `key`, if any.
    pub(super) fn dossier_profile(&self, user: &EntityRef, key: &str) -> Option<EntityRef> {
        let entity = self.engine.entity(user)?;
        match entity.tag(key) {
            Some(Ok(cedar_policy::EvalResult::EntityUid(uid))) => Some(to_ref(&uid)),
            _ => None,
        }
    }

    /// `user`'s record with `profile` on `client`'s dossier (`None`: his own profile there
    /// again).
    pub(super) fn set_dossier_profile(
        &mut self,
        user: &EntityRef,
        client: &EntityRef,
        profile: Option<&EntityRef>,
    ) -> Result<Value, EngineError> {
        self.entity(user)?;
        let mut context = json!({ "client": entity_value(client) });
        if let Some(profile) = profile {
            self.entity(profile)?;
            context["profile"] = entity_value(profile);
        }
        self.require("assign_profile", user, context, vec![], || match profile {
            Some(p) => format!("{p} is not given by this user on {client}"),
            None => format!("profiles on {client} are given by the firm's administrators"),
        })?;
        let key = self.dossier_key(client)?;
        let mut record = self.record(user)?;
        let tags = tags_mut(&mut record)?;
        match profile {
            Some(p) => {
                tags.insert(key, entity_value(p));
            }
            None => {
                if tags.remove(&key).is_none() {
                    return Err(EngineError::InvalidRequest(format!(
                        "{user} has no profile of his own on {client}"
                    )));
                }
            }
        }
        Ok(record)
    }

    /// Every user of the actor's firm holding `from` on `client`'s dossier moves to `to` there.
    pub(super) fn move_dossier_users(
        &mut self,
        from: &EntityRef,
        to: &EntityRef,
        client: &EntityRef,
    ) -> Result<(String, Vec<Value>), EngineError> {
        self.entity(to)?;
        self.require_profile_admin(Some(to))?;
        let key = self.dossier_key(client)?;
        let firm = self.actor_firm()?;
        let mut members: Vec<EntityRef> = self
            .users()
            .filter(|u| self.firm_of(u).as_ref() == Some(&firm))
            .map(|u| to_ref(&u.uid()))
            .filter(|u| self.dossier_profile(u, &key).as_ref() == Some(from))
            .collect();
        members.sort();
        let records = members
            .iter()
            .map(|user| self.set_dossier_profile(user, client, Some(to)))
            .collect::<Result<Vec<_>, _>>()?;
        Ok((
            format!(
                "moved {} user(s) from {from} to {to} on {client}",
                members.len()
            ),
            records,
        ))
    }

    /// How many users hold `profile` on some dossier.
    pub(super) fn dossier_holders(&self, profile: &EntityRef) -> usize {
        let Ok(target) = crate::entity_json::to_uid(profile) else {
            return 0;
        };
        self.users()
            .filter(|u| {
                u.as_ref().tags().any(|(_, v)| match v {
                    PartialValue::Value(v) => matches!(
                        &v.value,
                        ValueKind::Lit(Literal::EntityUID(uid)) if uid.as_ref() == target.as_ref()
                    ),
                    PartialValue::Residual(_) => false,
                })
            })
            .count()
    }
}
