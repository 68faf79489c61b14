//! Policy tests written as files beside the policies (YAML or JSON), run through the same engine
//! as production, with coverage: which policies were never determining, which actions never
//! tested.
//!
//! ```yaml
//! description: Accountants see the documents of the clients assigned to them only.
//! fixtures: [tests/fixtures/demo-firm.json]   # entity files of this bundle, added to its own
//! entities: []                                # more entity records, for this file only
//! cases:
//!   - name: assigned accountant opens an invoice
//!     principal: User::"alice"                  # or {type: User, id: alice}
//!     action: view_document                     # bare id means Action::"view_document"
//!     resource: Document::"inv-1"
//!     context: {}
//!     expect: allow
//!     determining: [accountant-documents]       # optional: the exact set
//!   - name: field level from the profile
//!     principal: User::"alice"
//!     resource: Document::"inv-1"
//!     field: invoice.iban
//!     expect_level: read
//! ```

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::bundle::{read_records, Bundle};
use crate::engine::{decide_with, field_level_on, HostTime};
use crate::error::Location;
use crate::load::build_store;
use crate::source::SourceText;
use crate::store::EntityStore;
use crate::wire::{Decision, DecisionRequest};

use crate::suite::case_location;
pub use crate::suite::{RefSpec, TestCase, TestSuite};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "typescript", derive(ts_rs::TS))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CaseResult {
    pub suite: String,
    pub name: String,
    pub location: Location,
    pub passed: bool,
    /// What was expected and what came out, e.g. `allow` / `deny` or `read` / `none`.
    pub expected: String,
    pub got: String,
    pub request: String,
    pub determining_policies: Vec<String>,
    pub errors: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "typescript", ts(optional))]
    #[cfg_attr(feature = "openapi", schema(nullable = false))]
    pub failure: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "typescript", derive(ts_rs::TS))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Coverage {
    pub policies: usize,
    pub policies_determining: usize,
    pub never_determining: Vec<String>,
    pub actions: usize,
    pub actions_tested: usize,
    pub untested_actions: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "typescript", derive(ts_rs::TS))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TestReport {
    pub bundle_digest: String,
    pub passed: usize,
    pub failed: usize,
    pub cases: Vec<CaseResult>,
    pub coverage: Coverage,
}

impl TestReport {
    pub fn ok(&self) -> bool {
        self.failed == 0
    }
}

/// Runs every test file of the bundle.
pub fn run_tests(bundle: &Bundle) -> TestReport {
    let mut cases = Vec::new();
    let mut determining_seen: BTreeSet<String> = BTreeSet::new();
    let mut actions_seen: BTreeSet<String> = BTreeSet::new();
    for (path, suite) in bundle.tests() {
        let text = bundle.files().get(path).map(String::as_str).unwrap_or("");
        let src = SourceText::new(path, text);
        let store = match suite_store(bundle, suite) {
            Ok(s) => s,
            Err(message) => {
                cases.push(CaseResult {
                    suite: path.clone(),
                    name: "(entities of this file)".into(),
                    location: src.start(),
                    passed: false,
                    expected: "valid entities".into(),
                    got: "error".into(),
                    request: String::new(),
                    determining_policies: Vec::new(),
                    errors: vec![message.clone()],
                    failure: Some(message),
                });
                continue;
            }
        };
        for case in &suite.cases {
            let result = run_case(bundle, &store, path, &src, case, &mut actions_seen);
            determining_seen.extend(result.determining_policies.iter().cloned());
            cases.push(result);
        }
    }
    let policies: Vec<&String> = bundle.policy_index().keys().collect();
    let never_determining: Vec<String> = policies
        .iter()
        .filter(|p| !determining_seen.contains(p.as_str()))
        .map(|p| p.to_string())
        .collect();
    // Without a schema the bundle declares no actions: coverage counts the ones tested.
    let actions: BTreeSet<String> = match bundle.schema() {
        Some(schema) => {
            let groups: BTreeSet<String> = schema.action_groups().map(|a| a.to_string()).collect();
            schema
                .actions()
                .map(|a| a.to_string())
                .filter(|a| !groups.contains(a))
                .collect()
        }
        None => actions_seen.iter().cloned().collect(),
    };
    let untested_actions: Vec<String> = actions
        .iter()
        .filter(|a| !actions_seen.contains(*a))
        .cloned()
        .collect();
    let passed = cases.iter().filter(|c| c.passed).count();
    TestReport {
        bundle_digest: bundle.digest().to_string(),
        passed,
        failed: cases.len() - passed,
        cases,
        coverage: Coverage {
            policies: policies.len(),
            policies_determining: policies.len() - never_determining.len(),
            never_determining,
            actions: actions.len(),
            actions_tested: actions.len() - untested_actions.len(),
            untested_actions,
        },
    }
}

fn suite_store(bundle: &Bundle, suite: &TestSuite) -> Result<EntityStore, String> {
    let mut records = Vec::new();
    for fixture in &suite.fixtures {
        let text = bundle
            .files()
            .get(fixture)
            .ok_or_else(|| format!("fixture `{fixture}` is not in the bundle"))?;
        let mut diags = Vec::new();
        let items = read_records(fixture, text, &mut diags).ok_or_else(|| {
            diags
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("; ")
        })?;
        records.extend(items.into_iter().map(|(v, _)| v));
    }
    records.extend(suite.entities.iter().cloned());
    build_store(bundle, &records).map_err(|e| e.to_string())
}

fn run_case(
    bundle: &Bundle,
    store: &EntityStore,
    path: &str,
    src: &SourceText<'_>,
    case: &TestCase,
    actions_seen: &mut BTreeSet<String>,
) -> CaseResult {
    let mut result = CaseResult {
        suite: path.to_string(),
        name: case.name.clone(),
        location: case_location(src, &case.name),
        passed: false,
        expected: String::new(),
        got: String::new(),
        request: String::new(),
        determining_policies: Vec::new(),
        errors: Vec::new(),
        failure: None,
    };
    let refs = (|| {
        let principal = case.principal.resolve(None)?;
        let resource = case.resource.resolve(None)?;
        let action = match &case.action {
            Some(a) => Some(a.resolve(Some("Action"))?),
            None => None,
        };
        Ok::<_, String>((principal, action, resource))
    })();
    let (principal, action, resource) = match refs {
        Ok(r) => r,
        Err(e) => {
            result.failure = Some(e);
            return result;
        }
    };
    match (action, case.expect, &case.field, case.expect_level) {
        (Some(action), Some(expect), _, _) => {
            actions_seen.insert(
                crate::entity_json::to_uid(&action)
                    .map(|u| u.to_string())
                    .unwrap_or_default(),
            );
            result.request = format!("{principal} {action} {resource}");
            result.expected = decision_word(expect).into();
            let request = DecisionRequest {
                principal,
                action,
                resource,
                context: case.context.clone(),
                entities: case.entities.clone(),
            };
            match decide_with(bundle, store, &request, HostTime::AsStated) {
                Ok(response) => {
                    result.got = decision_word(response.decision).into();
                    result.errors = response
                        .errors
                        .iter()
                        .map(|e| format!("{}: {}", e.policy_id, e.message))
                        .collect();
                    let mut failures = Vec::new();
                    if response.decision != expect {
                        failures.push(format!("expected {}, got {}", result.expected, result.got));
                    }
                    if let Some(want) = &case.determining {
                        let want: BTreeSet<&String> = want.iter().collect();
                        let got: BTreeSet<&String> = response.determining_policies.iter().collect();
                        if want != got {
                            failures.push(format!(
                                "expected determining policies {:?}, got {:?}",
                                want, got
                            ));
                        }
                    }
                    result.determining_policies = response.determining_policies;
                    result.passed = failures.is_empty();
                    if !failures.is_empty() {
                        result.failure = Some(failures.join("; "));
                    }
                }
                Err(e) => {
                    result.got = "error".into();
                    result.failure = Some(e.to_string());
                }
            }
        }
        (None, None, Some(field), Some(expect_level)) => {
            if let Some(actions) = &bundle.manifest().field_actions {
                actions_seen.extend([
                    actions.print.clone(),
                    actions.read.clone(),
                    actions.full.clone(),
                ]);
            }
            result.request = format!("{principal} field `{field}` of {resource}");
            result.expected = expect_level.to_string();
            match field_level_on(
                bundle,
                store,
                &principal,
                &resource,
                field,
                HostTime::AsStated,
            ) {
                Ok(level) => {
                    result.got = level.to_string();
                    result.passed = level == expect_level;
                    if !result.passed {
                        result.failure =
                            Some(format!("expected level {expect_level}, got {level}"));
                    }
                }
                Err(e) => {
                    result.got = "error".into();
                    result.failure = Some(e.to_string());
                }
            }
        }
        _ => result.failure = Some("malformed case".into()),
    }
    result
}

fn decision_word(d: Decision) -> &'static str {
    match d {
        Decision::Allow => "allow",
        Decision::Deny => "deny",
    }
}

/// Field-level coverage is attributed to the field actions; per-file summary for reports.
pub fn summary_by_suite(report: &TestReport) -> BTreeMap<String, (usize, usize)> {
    let mut out: BTreeMap<String, (usize, usize)> = BTreeMap::new();
    for case in &report.cases {
        let entry = out.entry(case.suite.clone()).or_default();
        if case.passed {
            entry.0 += 1;
        } else {
            entry.1 += 1;
        }
    }
    out
}
