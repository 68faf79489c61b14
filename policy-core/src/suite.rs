//! Test suites as files: the model of a test file beside the policies (YAML, or JSON which is
//! YAML too) and its located parser. Part of loading a bundle; running them is `testing`'s job
//! (so the bundle loader and the runner do not import each other).

use std::str::FromStr;

use cedar_policy::EntityUid;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::entity_json::to_ref;
use crate::error::{Diagnostic, ErrorCode, Location};
use crate::level::FieldLevel;
use crate::source::SourceText;
use crate::wire::{Decision, EntityRef};

/// An entity reference as written in a test: `User::"alice"`, `{type, id}`, or (for actions) a
/// bare action id.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum RefSpec {
    Ref(EntityRef),
    Text(String),
}

impl RefSpec {
    pub(crate) fn resolve(&self, bare_type: Option<&str>) -> Result<EntityRef, String> {
        match self {
            Self::Ref(r) => Ok(r.clone()),
            Self::Text(text) => {
                if let Ok(uid) = EntityUid::from_str(text) {
                    return Ok(to_ref(&uid));
                }
                match bare_type {
                    Some(t) if !text.contains("::") => Ok(EntityRef::new(t, text.as_str())),
                    _ => Err(format!(
                        "`{text}` is not an entity reference like User::\"alice\""
                    )),
                }
            }
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TestSuite {
    pub description: String,
    #[serde(default)]
    pub fixtures: Vec<String>,
    #[serde(default)]
    pub entities: Vec<Value>,
    pub cases: Vec<TestCase>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TestCase {
    pub name: String,
    pub principal: RefSpec,
    #[serde(default)]
    pub action: Option<RefSpec>,
    pub resource: RefSpec,
    #[serde(default)]
    pub context: Option<Value>,
    /// Entities for this case only (Cedar entity JSON), as `DecisionRequest::entities`.
    #[serde(default)]
    pub entities: Vec<Value>,
    #[serde(default)]
    pub expect: Option<Decision>,
    #[serde(default)]
    pub determining: Option<Vec<String>>,
    #[serde(default)]
    pub field: Option<String>,
    #[serde(default)]
    pub expect_level: Option<FieldLevel>,
}

/// Parses a test file (YAML, or JSON which is YAML too), located on error.
pub(crate) fn parse_suite(path: &str, text: &str) -> Result<TestSuite, Diagnostic> {
    let src = SourceText::new(path, text);
    let suite: TestSuite = serde_norway::from_str(text).map_err(|e| {
        let loc = e
            .location()
            .map(|l| src.location_at(l.line(), l.column()))
            .unwrap_or_else(|| src.start());
        Diagnostic::error(ErrorCode::TestInvalid, format!("invalid test file: {e}")).at(Some(loc))
    })?;
    for (i, case) in suite.cases.iter().enumerate() {
        let problem = match (&case.action, &case.expect, &case.field, &case.expect_level) {
            (Some(_), Some(_), None, None) | (None, None, Some(_), Some(_)) => None,
            _ => Some("a case has either `action` + `expect`, or `field` + `expect_level`"),
        };
        if let Some(problem) = problem {
            return Err(Diagnostic::error(
                ErrorCode::TestInvalid,
                format!("case #{} `{}`: {problem}", i + 1, case.name),
            )
            .at(Some(case_location(&src, &case.name))));
        }
    }
    Ok(suite)
}

/// Where a case is written: the line that names it.
pub(crate) fn case_location(src: &SourceText<'_>, name: &str) -> Location {
    src.text
        .find(&format!("name: {name}"))
        .or_else(|| src.text.find(name))
        .map(|o| src.locate(o))
        .unwrap_or_else(|| src.start())
}
