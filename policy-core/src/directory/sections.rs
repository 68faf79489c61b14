//! Sections of the app hidden by one firm from some of its roles. The bundle's own rule (a
//! section's `hidden_for`) holds for every firm; each firm adds its own choice, kept on the
//! firm's record as a tag per section key (the roles it hides the section from), so that one
//! firm's choice never reaches another's users.

use serde_json::{json, Value};

use super::planner::{entity_value, tags_mut, Planner};
use crate::entity_json::attr_string;
use crate::error::EngineError;
use crate::firm_model::Part;
use crate::wire::EntityRef;

impl Planner<'_> {
    pub(super) fn hide_section(
        &mut self,
        section: &EntityRef,
        roles: &[String],
    ) -> Result<(String, Vec<Value>), EngineError> {
        let key = attr_string(self.entity(section)?, "key").ok_or_else(|| {
            EngineError::InvalidRequest(format!("{section} is not a section (it has no `key`)"))
        })?;
        // The firm's tags also list its custom roles' grants (`custom_roles.rs`): a section
        // never names one of those.
        if key.starts_with(super::custom_roles::GRANT_TAG) {
            return Err(EngineError::InvalidRequest(format!(
                "{section}'s key `{key}` is a custom role grant's, not a section's"
            )));
        }
        let firm = self.actor_firm()?;
        self.require("manage_sections", &firm, json!({}), vec![], || {
            "sections are shown and hidden by the firm's administrators".into()
        })?;
        let mut hidden_from: Vec<EntityRef> = Vec::with_capacity(roles.len());
        for role in roles {
            let uid = self.uid_of(Part::Role, role.trim());
            self.entity(&uid)?;
            if !hidden_from.contains(&uid) {
                hidden_from.push(uid);
            }
        }
        hidden_from.sort();
        let mut record = self.record(&firm)?;
        let tags = tags_mut(&mut record)?;
        let what = if hidden_from.is_empty() {
            tags.remove(&key);
            format!("showed {section} again in {firm}")
        } else {
            let names: Vec<&str> = hidden_from.iter().map(|r| r.id.as_str()).collect();
            let what = format!("hid {section} from {} in {firm}", names.join(", "));
            tags.insert(
                key,
                Value::Array(hidden_from.iter().map(entity_value).collect()),
            );
            what
        };
        Ok((what, vec![record]))
    }
}
