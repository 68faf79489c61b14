//! Template links: `links.json` or `*.links.json` beside the policies, in the format Cedar's CLI
//! takes (`--template-linked`): a JSON array of
//! `{"template_id": "share", "link_id": "share-beach-with-bob", "args": {"?principal": "User::\"bob\"", "?resource": "Photo::\"beach\""}}`.
//! An argument may also be written as an entity reference object (`{"type": ..., "id": ...}`).
//! Each link becomes a policy of the set, named by its `link_id`, that decides like any other.

use std::collections::{BTreeMap, HashMap};

use cedar_policy::{EntityUid, PolicyId, SlotId};
use serde::Deserialize;
use serde_json::Value;

use super::policies::{ParsedPolicies, PolicyInfo};
use crate::error::{Diagnostic, ErrorCode, Location};
use crate::source::{json_array_element_starts, json_syntax_diagnostic, SourceText};
use crate::wire::EntityRef;

/// One link as written in a links file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TemplateLink {
    pub template_id: String,
    pub link_id: String,
    pub args: BTreeMap<String, LinkArg>,
}

/// A slot's value: Cedar's CLI writes `"User::\"bob\""`; an object is accepted too.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum LinkArg {
    Text(String),
    Escaped { __entity: EntityRef },
    Ref(EntityRef),
}

impl LinkArg {
    fn uid(&self) -> Result<EntityUid, String> {
        match self {
            LinkArg::Text(text) => text
                .parse::<EntityUid>()
                .map_err(|e| format!("`{text}` is not an entity uid: {e}")),
            LinkArg::Escaped { __entity: r } | LinkArg::Ref(r) => {
                crate::entity_json::to_uid(r).map_err(|e| e.to_string())
            }
        }
    }
}

fn slot(name: &str) -> Option<SlotId> {
    match name {
        "?principal" => Some(SlotId::principal()),
        "?resource" => Some(SlotId::resource()),
        _ => None,
    }
}

/// Links every file's entries into `parsed.set`, adding each link to `parsed.index` (located at
/// its entry). Problems go to `diags`, located at the entry that caused them.
pub(crate) fn add(
    files: &[(&str, &str)],
    parsed: &mut ParsedPolicies,
    diags: &mut Vec<Diagnostic>,
) {
    for (path, text) in files {
        let src = SourceText::new(path, text);
        let value: Value = match serde_json::from_str(text) {
            Ok(v) => v,
            Err(e) => {
                diags.push(json_syntax_diagnostic(&src, &e));
                continue;
            }
        };
        let Value::Array(items) = value else {
            diags.push(
                Diagnostic::error(
                    ErrorCode::LinkInvalid,
                    "a links file must hold a JSON array of {\"template_id\", \"link_id\", \"args\"}",
                )
                .at(Some(src.start())),
            );
            continue;
        };
        let starts = json_array_element_starts(text);
        for (i, item) in items.into_iter().enumerate() {
            let at = starts
                .get(i)
                .map(|o| src.locate(*o))
                .unwrap_or_else(|| src.start());
            if let Err(message) = add_one(path, item, &at, parsed) {
                diags.push(Diagnostic::error(ErrorCode::LinkInvalid, message).at(Some(at)));
            }
        }
    }
}

fn add_one(
    path: &str,
    item: Value,
    at: &Location,
    parsed: &mut ParsedPolicies,
) -> Result<(), String> {
    let link: TemplateLink =
        serde_json::from_value(item).map_err(|e| format!("invalid template link: {e}"))?;
    let template = parsed
        .templates
        .get(&link.template_id)
        .ok_or_else(|| {
            format!(
                "link `{}`: no template `{}`",
                link.link_id, link.template_id
            )
        })?
        .clone();
    if let Some(first) = parsed.index.get(&link.link_id) {
        return Err(format!(
            "link id `{}` is already used at {}",
            link.link_id, first.location
        ));
    }
    let mut values = HashMap::new();
    let mut written = Vec::new();
    for (name, arg) in &link.args {
        let slot = slot(name).ok_or_else(|| {
            format!(
                "link `{}`: `{name}` is not a slot (`?principal` or `?resource`)",
                link.link_id
            )
        })?;
        let uid = arg
            .uid()
            .map_err(|e| format!("link `{}`: {name}: {e}", link.link_id))?;
        written.push(format!("{name} = {uid}"));
        values.insert(slot, uid);
    }
    parsed
        .set
        .link(
            PolicyId::new(&link.template_id),
            PolicyId::new(&link.link_id),
            values,
        )
        .map_err(|e| format!("link `{}`: {e}", link.link_id))?;
    parsed.index.insert(
        link.link_id.clone(),
        PolicyInfo {
            id: link.link_id,
            file: path.to_string(),
            location: at.clone(),
            effect: template.effect,
            text: format!(
                "// link of template `{}`: {}\n{}",
                link.template_id,
                written.join(", "),
                template.text
            ),
        },
    );
    Ok(())
}
