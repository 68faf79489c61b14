//! `manifest.json`: optional facts about a bundle that are not policies, schema or entities.

use serde::{Deserialize, Serialize};

use crate::firm_model::FirmModel;

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
    /// The accounting-firm layer (profiles, licences, plans, client roles, the directory),
    /// declared: which types and attributes play which part. Absent: the bundle is plain Cedar.
    #[serde(default)]
    pub firm_model: Option<FirmModel>,
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
            firm_model: None,
            require_policy_ids: false,
        }
    }
}
