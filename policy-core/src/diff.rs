//! What changed between two bundle versions: files, and policies by `@id`. Used by the server's
//! diff endpoint and `sesame diff`, so both report the same thing.

use serde::{Deserialize, Serialize};

use crate::Bundle;

/// Files and policies that differ between an older (`from`) and a newer (`to`) bundle.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "typescript", derive(ts_rs::TS))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct BundleDiff {
    pub from_digest: String,
    pub to_digest: String,
    pub files_added: Vec<String>,
    pub files_removed: Vec<String>,
    pub files_changed: Vec<String>,
    pub policies_added: Vec<String>,
    pub policies_removed: Vec<String>,
    /// Same `@id`, different text (annotations, effect, scope or conditions).
    pub policies_changed: Vec<String>,
}

impl BundleDiff {
    pub fn is_empty(&self) -> bool {
        self.files_added.is_empty()
            && self.files_removed.is_empty()
            && self.files_changed.is_empty()
    }
}

/// Compares two loaded bundles. Policy texts are compared with whitespace normalized, so
/// re-indenting a policy is not reported as a change of that policy (its file still is).
pub fn diff(from: &Bundle, to: &Bundle) -> BundleDiff {
    let (old_files, new_files) = (from.files(), to.files());
    let (old_policies, new_policies) = (from.policy_index(), to.policy_index());
    let squash = |text: &str| text.split_whitespace().collect::<Vec<_>>().join(" ");
    BundleDiff {
        from_digest: from.digest().to_string(),
        to_digest: to.digest().to_string(),
        files_added: keys_only_in(new_files, old_files),
        files_removed: keys_only_in(old_files, new_files),
        files_changed: new_files
            .iter()
            .filter(|(path, text)| old_files.get(*path).is_some_and(|old| old != *text))
            .map(|(path, _)| path.clone())
            .collect(),
        policies_added: keys_only_in(new_policies, old_policies),
        policies_removed: keys_only_in(old_policies, new_policies),
        policies_changed: new_policies
            .iter()
            .filter(|(id, info)| {
                old_policies
                    .get(*id)
                    .is_some_and(|old| squash(&old.text) != squash(&info.text))
            })
            .map(|(id, _)| id.clone())
            .collect(),
    }
}

fn keys_only_in<V, W>(
    a: &std::collections::BTreeMap<String, V>,
    b: &std::collections::BTreeMap<String, W>,
) -> Vec<String> {
    a.keys().filter(|k| !b.contains_key(*k)).cloned().collect()
}
