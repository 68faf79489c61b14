//! `manifest.json`: optional facts about a bundle that are not policies, schema or entities.

use serde::{Deserialize, Serialize};

/// Defaults apply when a bundle has no manifest (a plain Cedar folder).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
    /// Actions whose permission means a field level; each takes a context `{ <field_context_key>: String }`.
    #[serde(default)]
    pub field_actions: Option<FieldActions>,
    #[serde(default = "default_field_context_key")]
    pub field_context_key: String,
    /// Client-side roles that a client's plan must include before a user may hold them
    /// (checked on a team's `role`; see `client_roles.rs`).
    #[serde(default)]
    pub client_roles: Vec<String>,
    /// Every policy must carry `@id("...")` (true when a manifest does not say otherwise). A
    /// plain Cedar folder has no manifest: its unnamed policies are named `<file>#<n>`.
    #[serde(default = "yes")]
    pub require_policy_ids: bool,
}

fn yes() -> bool {
    true
}

/// Cedar action uids (e.g. `Action::"read_field"`) for the levels above `none`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FieldActions {
    pub print: String,
    pub read: String,
    pub full: String,
}

fn default_field_context_key() -> String {
    "field".to_string()
}

impl Default for Manifest {
    fn default() -> Self {
        Self {
            name: None,
            description: None,
            field_actions: None,
            field_context_key: default_field_context_key(),
            client_roles: Vec::new(),
            require_policy_ids: false,
        }
    }
}
