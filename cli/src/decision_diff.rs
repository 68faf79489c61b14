//! Which decisions change between two bundles: each bundle's tests run against the other's
//! policies, and a generated sample of requests (every action × principals × resources of the
//! types the schema allows, over the entities both bundles know) decided by both.

use std::collections::{BTreeMap, BTreeSet};

use policy_core::testing::run_tests;
use policy_core::wire::{DecisionRequest, EntityRef};
use policy_core::{classify, Bundle, Engine, FileKind};
use serde::Serialize;
use serde_json::Value;

/// One decision that differs.
#[derive(Debug, Clone, Serialize)]
pub struct ChangedDecision {
    /// `suite / case name` for tests, empty for generated requests.
    pub case: String,
    pub request: String,
    pub before: String,
    pub after: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct TestReplay {
    /// Whose tests (`from` or `to`) ran against the other bundle's policies.
    pub tests_of: &'static str,
    pub cases: usize,
    pub changed: Vec<ChangedDecision>,
    /// Why the tests could not run on the other bundle (e.g. fixtures outside its schema).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub not_run: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct SampleReplay {
    pub requests: usize,
    /// Requests one of the bundles refused (e.g. a context the action requires).
    pub not_comparable: usize,
    pub changed: Vec<ChangedDecision>,
}

/// Runs `tests_bundle`'s test files on `policies_bundle`'s policies, schema and entities.
/// A case that passes on its own bundle and fails on the other is a changed decision.
pub fn replay_tests(
    tests_of: &'static str,
    tests_bundle: &Bundle,
    policies_bundle: &Bundle,
) -> TestReplay {
    let own = run_tests(tests_bundle);
    let is_test =
        |path: &str| matches!(classify(path), FileKind::TestSuite | FileKind::TestFixture);
    let mut files: BTreeMap<String, String> = policies_bundle
        .files()
        .iter()
        .filter(|(p, _)| !is_test(p))
        .map(|(p, t)| (p.clone(), t.clone()))
        .collect();
    files.extend(
        tests_bundle
            .files()
            .iter()
            .filter(|(p, _)| is_test(p))
            .map(|(p, t)| (p.clone(), t.clone())),
    );
    let hybrid = match Bundle::load(files) {
        Ok(b) => b,
        Err(e) => {
            return TestReplay {
                tests_of,
                cases: own.cases.len(),
                changed: Vec::new(),
                not_run: Some(e.to_string()),
            }
        }
    };
    let passed_before: BTreeSet<(String, String)> = own
        .cases
        .iter()
        .filter(|c| c.passed)
        .map(|c| (c.suite.clone(), c.name.clone()))
        .collect();
    let other = run_tests(&hybrid);
    let changed = other
        .cases
        .iter()
        .filter(|c| !c.passed && passed_before.contains(&(c.suite.clone(), c.name.clone())))
        .map(|c| ChangedDecision {
            case: format!("{} / {}", c.suite, c.name),
            request: c.request.clone(),
            before: c.expected.clone(),
            after: if c.got == c.expected {
                format!(
                    "{} (determining: {})",
                    c.got,
                    c.determining_policies.join(", ")
                )
            } else {
                c.got.clone()
            },
        })
        .collect();
    TestReplay {
        tests_of,
        cases: other.cases.len(),
        changed,
        not_run: None,
    }
}

/// Entity records of a bundle's test fixtures.
fn fixture_records(bundle: &Bundle) -> Vec<Value> {
    bundle
        .files()
        .iter()
        .filter(|(p, _)| classify(p) == FileKind::TestFixture)
        .filter_map(|(_, text)| serde_json::from_str::<Vec<Value>>(text).ok())
        .flatten()
        .collect()
}

fn engine_with(bundle: &Bundle, records: &[Value]) -> Engine {
    // Fixtures that do not fit this bundle's schema are left out rather than failing the diff.
    Engine::with_entities(bundle.clone(), records.to_vec())
        .unwrap_or_else(|_| Engine::new(bundle.clone()))
}

/// Decides up to `limit` generated requests with both bundles.
pub fn replay_sample(from: &Bundle, to: &Bundle, limit: usize) -> SampleReplay {
    let mut records = fixture_records(from);
    records.extend(fixture_records(to));
    let (before, after) = (engine_with(from, &records), engine_with(to, &records));
    let mut by_type: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for record in from
        .entity_records()
        .iter()
        .chain(to.entity_records())
        .chain(&records)
    {
        if let Some(uid) = record
            .get("uid")
            .and_then(|u| serde_json::from_value::<EntityRef>(u.clone()).ok())
        {
            by_type.entry(uid.type_name).or_default().insert(uid.id);
        }
    }
    // Per action (sorted: the sample must not depend on hash order), the principals and
    // resources of the types it applies to.
    // A schema-less bundle declares no actions or applies-to: nothing to generate from.
    let Some(schema) = from.schema() else {
        return SampleReplay::default();
    };
    let of = |types: Option<std::collections::HashSet<&cedar_policy::EntityTypeName>>| {
        let mut names: Vec<String> = types.into_iter().flatten().map(|t| t.to_string()).collect();
        names.sort();
        names
            .into_iter()
            .flat_map(|name| {
                by_type
                    .get(&name)
                    .into_iter()
                    .flatten()
                    .map(move |id| EntityRef::new(name.clone(), id.clone()))
                    .collect::<Vec<_>>()
            })
            .collect::<Vec<_>>()
    };
    let mut spaces: Vec<(EntityRef, Vec<EntityRef>, Vec<EntityRef>)> = schema
        .actions()
        .map(|action| {
            (
                EntityRef::new(action.type_name().to_string(), action.id().unescaped()),
                of(schema.principals_for_action(action).map(|i| i.collect())),
                of(schema.resources_for_action(action).map(|i| i.collect())),
            )
        })
        .collect();
    spaces.sort_by(|a, b| a.0.cmp(&b.0));
    // An even stride over the whole space, so every action is represented; requests are made
    // only for the picked positions (the space itself can be millions).
    let total: usize = spaces.iter().map(|(_, p, r)| p.len() * r.len()).sum();
    let stride = total.div_ceil(limit.max(1)).max(1);
    let mut sample = Vec::new();
    let mut offset: usize = 0;
    for (action, principals, resources) in &spaces {
        let size = principals.len() * resources.len();
        let mut k = offset.next_multiple_of(stride) - offset;
        while k < size {
            sample.push(DecisionRequest {
                principal: principals[k / resources.len()].clone(),
                action: action.clone(),
                resource: resources[k % resources.len()].clone(),
                context: None,
                entities: Vec::new(),
            });
            k += stride;
        }
        offset += size;
    }
    let mut not_comparable = 0;
    let mut changed = Vec::new();
    for request in &sample {
        match (before.decide(request), after.decide(request)) {
            (Ok(b), Ok(a)) if b.decision != a.decision => changed.push(ChangedDecision {
                case: String::new(),
                request: format!(
                    "{} {} {}",
                    request.principal, request.action.id, request.resource
                ),
                before: format!("{:?}", b.decision).to_lowercase(),
                after: format!("{:?}", a.decision).to_lowercase(),
            }),
            (Ok(_), Ok(_)) => {}
            _ => not_comparable += 1,
        }
    }
    SampleReplay {
        requests: sample.len(),
        not_comparable,
        changed,
    }
}
