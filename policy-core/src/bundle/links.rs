//! Template links: `links.json` or `*.links.json` beside the policies, in the format Cedar's CLI
//! takes (`--template-linked`): a JSON array of
//! `{"template_id": "share", "link_id": "share-beach-with-bob", "args": {"?principal": "User::\"bob\"", "?resource": "Photo::\"beach\""}}`.
//! An argument may also be written as an entity reference object (`{"type": ..., "id": ...}`).
//! Each link becomes a policy of the set, named by its `link_id`, that decides like any other.
//! [`with_link`] and [`without_link`] edit a version's files: a host links and unlinks (an
//! administrator sharing a document with Bob) by deploying the edited files as a new version.

use std::collections::{BTreeMap, HashMap};

use cedar_policy::{EntityUid, PolicyId, SlotId};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::policies::{ParsedPolicies, PolicyInfo};
use crate::error::{Diagnostic, ErrorCode, Location};
use crate::wire::EntityRef;

/// One link as written in a links file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct TemplateLink {
    pub template_id: String,
    pub link_id: String,
    pub args: BTreeMap<String, LinkArg>,
}

/// A slot's value: Cedar's CLI writes `"User::\"bob\""`; an object is accepted too.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
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

/// Where [`with_link`] writes new links.
pub const LINKS_FILE: &str = "links.json";

/// Why a version's links could not be edited.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LinkEditError {
    #[error("link id `{0}` is already used")]
    Duplicate(String),
    #[error("no link `{0}` in this version")]
    NotFound(String),
    #[error("`{file}` is not a JSON array of links: {reason}")]
    Malformed { file: String, reason: String },
}

fn links_in(path: &str, text: &str) -> Result<Vec<Value>, LinkEditError> {
    match serde_json::from_str(text) {
        Ok(Value::Array(items)) => Ok(items),
        Ok(_) => Err(LinkEditError::Malformed {
            file: path.to_string(),
            reason: "not an array".into(),
        }),
        Err(e) => Err(LinkEditError::Malformed {
            file: path.to_string(),
            reason: e.to_string(),
        }),
    }
}

fn link_id_of(item: &Value) -> Option<&str> {
    item.get("link_id").and_then(Value::as_str)
}

fn links_files(files: &BTreeMap<String, String>) -> impl Iterator<Item = (&String, &String)> {
    files
        .iter()
        .filter(|(p, _)| super::files::classify(p) == super::FileKind::TemplateLinks)
}

/// `files` with `link` appended to `links.json` (created if absent). Whether the link is valid
/// (its template, slots, types) is for the bundle's loading to say, located, as for any file.
pub fn with_link(
    files: &BTreeMap<String, String>,
    link: &TemplateLink,
) -> Result<BTreeMap<String, String>, LinkEditError> {
    for (path, text) in links_files(files) {
        if links_in(path, text)?
            .iter()
            .any(|item| link_id_of(item) == Some(link.link_id.as_str()))
        {
            return Err(LinkEditError::Duplicate(link.link_id.clone()));
        }
    }
    let mut items = match files.get(LINKS_FILE) {
        Some(text) => links_in(LINKS_FILE, text)?,
        None => Vec::new(),
    };
    items.push(
        serde_json::to_value(link).map_err(|e| LinkEditError::Malformed {
            file: LINKS_FILE.into(),
            reason: e.to_string(),
        })?,
    );
    let mut out = files.clone();
    out.insert(LINKS_FILE.into(), render(&items));
    Ok(out)
}

/// `files` without the link `link_id`, from whichever links file holds it.
pub fn without_link(
    files: &BTreeMap<String, String>,
    link_id: &str,
) -> Result<BTreeMap<String, String>, LinkEditError> {
    for (path, text) in links_files(files) {
        let items = links_in(path, text)?;
        if items.iter().any(|item| link_id_of(item) == Some(link_id)) {
            let kept: Vec<Value> = items
                .into_iter()
                .filter(|item| link_id_of(item) != Some(link_id))
                .collect();
            let mut out = files.clone();
            out.insert(path.clone(), render(&kept));
            return Ok(out);
        }
    }
    Err(LinkEditError::NotFound(link_id.to_string()))
}

/// One link per line: a version's diff shows which link came or went.
fn render(items: &[Value]) -> String {
    let lines: Vec<String> = items.iter().map(|v| format!("  {v}")).collect();
    if lines.is_empty() {
        "[]\n".to_string()
    } else {
        format!("[\n{}\n]\n", lines.join(",\n"))
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
        let Some(items) = super::entities::read_json_array(
            path,
            text,
            ErrorCode::LinkInvalid,
            "a links file must hold a JSON array of {\"template_id\", \"link_id\", \"args\"}",
            diags,
        ) else {
            continue;
        };
        for (item, at) in items {
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
