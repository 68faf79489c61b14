//! Parsing `.cedar` files into one policy set named by `@id`, and validating it.

use std::collections::BTreeMap;
use std::str::FromStr;

use cedar_policy::{Effect, PolicyId, PolicySet, Schema, ValidationMode, Validator};

use crate::error::{Diagnostic, ErrorCode, Location, Severity};
use crate::nesting::{self, Syntax};
use crate::source::{policy_starts, SourceText};

/// Where a policy came from, for diagnostics, coverage and diffs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyInfo {
    pub id: String,
    pub file: String,
    pub location: Location,
    pub effect: Effect,
    /// The policy's text as written (annotations included), for diffs.
    pub text: String,
}

/// The result of parsing every policy file.
pub(crate) struct ParsedPolicies {
    /// Static policies, templates and (once `links::add` ran) template-linked policies.
    pub set: PolicySet,
    /// Static and template-linked policies by id: what can determine a decision.
    pub index: BTreeMap<String, PolicyInfo>,
    /// Templates (policies with `?principal` / `?resource` slots) by id.
    pub templates: BTreeMap<String, PolicyInfo>,
}

/// Parses all policy files. Problems go to `diags`; policies that parsed are kept so that later
/// stages can still report their own problems in one pass.
pub(crate) fn parse_policy_files(
    files: &[(&str, &str)],
    require_ids: bool,
    diags: &mut Vec<Diagnostic>,
) -> ParsedPolicies {
    let mut set = PolicySet::new();
    let mut index: BTreeMap<String, PolicyInfo> = BTreeMap::new();
    let mut templates: BTreeMap<String, PolicyInfo> = BTreeMap::new();
    // Unnamed policies get Cedar's positional ids (`policy0`, `policy1`...), counted over the
    // files in path order: one file gives exactly the ids Cedar's parser gives its text.
    let mut position_base = 0;
    for (path, text) in files {
        let src = SourceText::new(path, text);
        // Cedar's parser recurses over the text's nesting: refuse what would overflow a stack.
        if let Err(too_deep) = nesting::check_source(&src, Syntax::Policy) {
            diags.push(too_deep);
            continue;
        }
        let parsed = match PolicySet::from_str(text) {
            Ok(p) => p,
            Err(errs) => {
                for err in errs.iter() {
                    diags.push(src.diagnostic_from_miette(
                        ErrorCode::PolicyParse,
                        Severity::Error,
                        err,
                        0,
                    ));
                }
                continue;
            }
        };
        let starts = policy_starts(text);
        // Cedar names the n-th policy or template of a text `policyN`; sort by N to pair
        // with `starts`.
        let mut items: Vec<Item> = parsed
            .policies()
            .map(|p| Item::Policy(p.clone()))
            .chain(parsed.templates().map(|t| Item::Template(t.clone())))
            .collect();
        items.sort_by_key(|p| parse_ordinal(p.id()));
        let in_file = items.len();
        for policy in items {
            let ordinal = parse_ordinal(policy.id());
            let start = starts.get(ordinal).copied().unwrap_or(0);
            let end = starts.get(ordinal + 1).copied().unwrap_or(text.len());
            let location = src.locate(start);
            let id = match policy.annotation("id") {
                Some(id) => id.to_string(),
                None if !require_ids => {
                    let generated = format!("policy{}", position_base + ordinal);
                    diags.push(
                        Diagnostic::warning(
                            ErrorCode::PolicyIdMissing,
                            format!(
                                "policy has no @id annotation; named `{generated}` (its position, as Cedar names it)"
                            ),
                        )
                        .at(Some(location.clone())),
                    );
                    generated
                }
                None => {
                    diags.push(
                        Diagnostic::error(
                            ErrorCode::PolicyIdMissing,
                            "policy has no @id annotation",
                        )
                        .at(Some(location))
                        .with_help(Some(
                            "name every policy: @id(\"accountant-sees-assigned-clients\")".into(),
                        )),
                    );
                    continue;
                }
            };
            if id.trim().is_empty() {
                diags.push(
                    Diagnostic::error(ErrorCode::PolicyIdMissing, "policy has an empty @id")
                        .at(Some(location)),
                );
                continue;
            }
            if let Some(first) = index.get(&id).or_else(|| templates.get(&id)) {
                diags.push(
                    Diagnostic::error(
                        ErrorCode::PolicyIdDuplicate,
                        format!("policy id `{id}` is already used at {}", first.location),
                    )
                    .at(Some(location)),
                );
                continue;
            }
            let info = PolicyInfo {
                id: id.clone(),
                file: path.to_string(),
                location: location.clone(),
                effect: policy.effect(),
                text: text.get(start..end).unwrap_or("").trim_end().to_string(),
            };
            let added = match policy {
                Item::Policy(p) => set
                    .add(p.new_id(PolicyId::new(&id)))
                    .map(|()| index.insert(id, info)),
                Item::Template(t) => set
                    .add_template(t.new_id(PolicyId::new(&id)))
                    .map(|()| templates.insert(id, info)),
            };
            if let Err(e) = added {
                diags.push(
                    Diagnostic::error(ErrorCode::PolicyIdDuplicate, e.to_string())
                        .at(Some(location)),
                );
            }
        }
        position_base += in_file;
    }
    ParsedPolicies {
        set,
        index,
        templates,
    }
}

/// A static policy or a template, as Cedar's text parser returns them.
enum Item {
    Policy(cedar_policy::Policy),
    Template(cedar_policy::Template),
}

impl Item {
    fn id(&self) -> &PolicyId {
        match self {
            Item::Policy(p) => p.id(),
            Item::Template(t) => t.id(),
        }
    }

    fn annotation(&self, key: &str) -> Option<&str> {
        match self {
            Item::Policy(p) => p.annotation(key),
            Item::Template(t) => t.annotation(key),
        }
    }

    fn effect(&self) -> Effect {
        match self {
            Item::Policy(p) => p.effect(),
            Item::Template(t) => t.effect(),
        }
    }
}

fn parse_ordinal(id: &PolicyId) -> usize {
    AsRef::<str>::as_ref(id)
        .strip_prefix("policy")
        .and_then(|n| n.parse().ok())
        .unwrap_or(usize::MAX)
}

/// Strict validation against the schema; errors and warnings are located in their files.
pub(crate) fn validate(
    policies: &ParsedPolicies,
    schema: &Schema,
    texts: &BTreeMap<String, String>,
    diags: &mut Vec<Diagnostic>,
) {
    let result = Validator::new(schema.clone()).validate(&policies.set, ValidationMode::Strict);
    let locate = |policy_id: &PolicyId,
                  code: ErrorCode,
                  severity: Severity,
                  err: &(dyn miette::Diagnostic + Send + Sync + 'static)| {
        let id: &str = policy_id.as_ref();
        let info = policies
            .index
            .get(id)
            .or_else(|| policies.templates.get(id));
        let mut diag = match info.and_then(|i| texts.get(&i.file).map(|t| (i, t))) {
            Some((info, text)) => {
                SourceText::new(&info.file, text).diagnostic_from_miette(code, severity, err, 0)
            }
            None => Diagnostic {
                code,
                severity,
                message: err.to_string(),
                location: None,
                length: None,
                help: None,
            },
        };
        diag.message = format!("policy `{policy_id}`: {}", diag.message);
        diag
    };
    for err in result.validation_errors() {
        diags.push(locate(
            err.policy_id(),
            ErrorCode::PolicyValidation,
            Severity::Error,
            err,
        ));
    }
    for warning in result.validation_warnings() {
        diags.push(locate(
            warning.policy_id(),
            ErrorCode::PolicyWarning,
            Severity::Warning,
            warning,
        ));
    }
}
