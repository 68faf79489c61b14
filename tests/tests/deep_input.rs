//! No input crashes the process (issue 14): Cedar text that nests too deeply is refused with a
//! located `too_deep` diagnostic before Cedar's recursive parser sees it; everything the limits
//! admit loads and decides on a quarter of the stack the server and CLI give Cedar; JSON is
//! bounded by serde's own recursion limits; no case of Cedar's public corpus is refused.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;

use policy_core::nesting::{measure, Syntax, MAX_EXPRESSION_DEPTH, MAX_NESTING, THREAD_STACK};
use policy_core::wire::{DecisionRequest, EntityRef};
use policy_core::{Bundle, BundleError, Engine, ErrorCode};
use serde_json::Value;

const SCHEMA: &str = "entity User;\nentity Doc { a?: R };\ntype R = { a?: R2 };\ntype R2 = { n: Long };\naction view appliesTo { principal: User, resource: Doc, context: { c?: Long } };\n";

const ENTITIES: &str = r#"[{"uid": {"type": "Doc", "id": "d"}, "attrs": {}, "parents": []}]"#;

/// Runs `f` on a thread with a quarter of the stack the server and CLI give Cedar: what the
/// limits admit must fit with that margin.
fn on_quarter_stack<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    std::thread::Builder::new()
        .stack_size(THREAD_STACK / 4)
        .spawn(f)
        .unwrap()
        .join()
        .unwrap()
}

fn bundle(policy: String, schema: String) -> Result<Bundle, BundleError> {
    on_quarter_stack(move || {
        Bundle::load(BTreeMap::from([
            ("p.cedar".to_string(), policy),
            ("schema.cedarschema".to_string(), schema),
            ("entities.json".to_string(), ENTITIES.to_string()),
        ]))
    })
}

/// A policy whose condition is `condition`, on line 3 from column 3.
fn policy(condition: &str) -> String {
    format!("@id(\"deep\")\npermit(principal, action, resource) when {{\n  {condition}\n}};\n")
}

fn too_deep(result: &Result<Bundle, BundleError>) -> Vec<&policy_core::Diagnostic> {
    match result {
        Ok(_) => Vec::new(),
        Err(e) => e
            .diagnostics
            .iter()
            .filter(|d| d.code == ErrorCode::TooDeep)
            .collect(),
    }
}

/// One construct `n` deep, for n just under and just over its limit.
struct Construct {
    name: &'static str,
    make: fn(usize) -> String,
    /// The largest n the limits admit.
    admitted: usize,
    /// Column (on line 3) of the token that goes over, for n = `admitted + 1`.
    column_over: fn(usize) -> usize,
}

fn constructs() -> Vec<Construct> {
    // The `when {` brace is one level: MAX_NESTING - 1 more brackets fit.
    let n = MAX_NESTING - 1;
    let e = MAX_EXPRESSION_DEPTH;
    vec![
        Construct {
            name: "parentheses",
            make: |n| format!("{}1{} == 1", "(".repeat(n), ")".repeat(n)),
            admitted: n,
            column_over: |m| 3 + (m - 1),
        },
        Construct {
            name: "sets",
            make: |n| format!("{}1{}.contains(1)", "[".repeat(n), "]".repeat(n)),
            admitted: n,
            column_over: |m| 3 + (m - 1),
        },
        Construct {
            name: "records",
            make: |n| format!("{}1{} == {{}}", "{a: ".repeat(n), "}".repeat(n)),
            admitted: n,
            column_over: |m| 3 + 4 * (m - 1),
        },
        Construct {
            name: "if then else",
            make: |n| {
                format!(
                    "{}true{}",
                    "if true then ".repeat(n),
                    " else false".repeat(n)
                )
            },
            admitted: n,
            column_over: |m| 3 + 13 * (m - 1),
        },
        Construct {
            name: "negations",
            make: |n| format!("{}true{}", "!(".repeat(n), ")".repeat(n)),
            admitted: n,
            column_over: |m| 3 + 2 * (m - 1) + 1,
        },
        Construct {
            name: "additions",
            // The brace and `==` count too; the `==` is what goes over.
            make: |n| format!("1{} == 0", " + 1".repeat(n)),
            admitted: e - 2,
            column_over: |m| 3 + 1 + 4 * m + 1,
        },
        Construct {
            name: "disjunctions",
            make: |n| format!("false{}", " || false".repeat(n)),
            admitted: e - 1,
            column_over: |m| 3 + 5 + 9 * (m - 1) + 1,
        },
        Construct {
            name: "attribute accesses",
            make: |n| format!("resource{} == 1", ".a".repeat(n)),
            admitted: e - 2,
            column_over: |m| 3 + 8 + 2 * m + 1,
        },
        Construct {
            name: "method calls",
            // `[1]` is one level below the chain of calls.
            make: |n| format!("[1]{}", ".contains(1)".repeat(n)),
            admitted: e - 2,
            column_over: |m| 3 + 3 + 12 * (m - 1),
        },
    ]
}

#[test]
fn each_construct_loads_just_under_its_limit_and_is_refused_just_over_where_it_goes_over() {
    for c in constructs() {
        let under = bundle(policy(&(c.make)(c.admitted)), SCHEMA.to_string());
        assert_eq!(
            too_deep(&under),
            Vec::<&policy_core::Diagnostic>::new(),
            "{} at {}",
            c.name,
            c.admitted
        );
        let over = bundle(policy(&(c.make)(c.admitted + 1)), SCHEMA.to_string());
        let refused = too_deep(&over);
        assert_eq!(
            refused.len(),
            1,
            "{} at {}: {over:?}",
            c.name,
            c.admitted + 1
        );
        let location = refused[0].location.clone().unwrap();
        assert_eq!(
            (
                location.file.as_str(),
                location.line,
                location.column as usize
            ),
            ("p.cedar", 3, (c.column_over)(c.admitted + 1)),
            "{}: {}",
            c.name,
            refused[0].message
        );
    }
}

#[test]
fn the_deepest_admitted_policies_decide() {
    // Valid policies at the limits, so that validation and evaluation walk the whole tree.
    let n = MAX_NESTING - 1;
    let chain = MAX_EXPRESSION_DEPTH - n - 2;
    use policy_core::wire::Decision::{Allow, Deny};
    let deepest = [
        (format!("{}1{} == 1", "(".repeat(n), ")".repeat(n)), Allow),
        (
            format!(
                "{}1{}{} == 1",
                "(".repeat(n),
                " + 0".repeat(chain),
                ")".repeat(n)
            ),
            Allow,
        ),
        (
            format!(
                "{}true{}",
                "if true then ".repeat(n),
                " else false".repeat(n)
            ),
            Allow,
        ),
        // An odd number of negations of false.
        (format!("{}false{}", "!(".repeat(n), ")".repeat(n)), Allow),
        (
            format!("false{}", " || false".repeat(MAX_EXPRESSION_DEPTH - 1)),
            Deny,
        ),
    ];
    for (condition, expected) in deepest {
        // Each one sits exactly at a limit.
        let depth = measure(&policy(&condition), Syntax::Policy);
        assert!(
            depth.nesting == MAX_NESTING || depth.expression == MAX_EXPRESSION_DEPTH,
            "{depth:?}"
        );
        let loaded = bundle(policy(&condition), SCHEMA.to_string()).unwrap();
        let decision = on_quarter_stack(move || {
            Engine::with_entities(loaded, Vec::new())
                .unwrap()
                .decide(&DecisionRequest {
                    principal: EntityRef::new("User", "u"),
                    action: EntityRef::new("Action", "view"),
                    resource: EntityRef::new("Doc", "d"),
                    context: None,
                    entities: Vec::new(),
                })
                .unwrap()
                .decision
        });
        assert_eq!(decision, expected, "{}", &condition[..40]);
    }
}

#[test]
fn deep_schema_records_and_sets_are_bounded_like_policies() {
    let schema = |attr: String| {
        format!("entity User;\nentity Doc {{\n  x?: {attr} }};\naction view appliesTo {{ principal: User, resource: Doc }};\n")
    };
    // `entity Doc {` is one level.
    let n = MAX_NESTING - 1;
    let records = |n: usize| format!("{}Long{}", "{a: ".repeat(n), " }".repeat(n));
    let sets = |n: usize| format!("{}Long{}", "Set<".repeat(n), ">".repeat(n));
    let permit = "@id(\"p\")\npermit(principal, action, resource);\n".to_string();
    for (name, make, column) in [
        // The (n+1)-th `{` or `<` goes over.
        ("records", &records as &dyn Fn(usize) -> String, 7 + 4 * n),
        ("sets", &sets, 7 + 4 * n + 3),
    ] {
        let under = bundle(permit.clone(), schema(make(n)));
        assert!(under.is_ok(), "{name}: {under:?}");
        let over = bundle(permit.clone(), schema(make(n + 1)));
        let refused = too_deep(&over);
        assert_eq!(refused.len(), 1, "{name}: {over:?}");
        let location = refused[0].location.clone().unwrap();
        assert_eq!(
            (
                location.file.as_str(),
                location.line,
                location.column as usize
            ),
            ("schema.cedarschema", 3, column),
            "{name}"
        );
    }
}

/// `depth` nested JSON objects `{"a": {"a": ... 1}}`.
fn nested_json(depth: usize) -> String {
    format!("{}1{}", "{\"a\": ".repeat(depth), "}".repeat(depth))
}

#[test]
fn json_nesting_is_bounded_by_serde_everywhere_it_enters() {
    // serde_json refuses more than 128 levels; what it admits is harmless to Cedar.
    let deepest = nested_json(120);
    let too_deep_json = nested_json(129);
    let mut engine = on_quarter_stack(|| {
        Engine::with_entities(
            Bundle::load(BTreeMap::from([
                ("p.cedar".to_string(), policy("true")),
                ("schema.cedarschema".to_string(), SCHEMA.to_string()),
            ]))
            .unwrap(),
            Vec::new(),
        )
        .unwrap()
    });
    for (context, code) in [
        (&deepest, "invalid_request"),
        (&too_deep_json, "malformed_json"),
    ] {
        let request = format!(
            r#"{{"principal": {{"type": "User", "id": "u"}}, "action": {{"type": "Action", "id": "view"}},
               "resource": {{"type": "Doc", "id": "d"}}, "context": {context}}}"#
        );
        let answer = on_quarter_stack({
            let mut engine = engine.clone();
            move || {
                policy_core::json_api::call(
                    &mut engine,
                    policy_core::json_api::Op::Decide,
                    &request,
                )
            }
        });
        assert_eq!(answer.unwrap_err().code.as_str(), code);
        let delta = format!(
            r#"{{"upsert": [{{"uid": {{"type": "Doc", "id": "e"}}, "attrs": {{"a": {context}}}, "parents": []}}]}}"#
        );
        let answer =
            policy_core::json_api::call(&mut engine, policy_core::json_api::Op::ApplyDelta, &delta);
        let expected = if code == "malformed_json" {
            code
        } else {
            "entity_invalid"
        };
        assert_eq!(answer.unwrap_err().code.as_str(), expected);
    }
    // Bundle files: entities, JSON schema and test YAML (serde_norway stops at 128 levels too).
    for (path, text, code) in [
        (
            "entities.json",
            format!("[{too_deep_json}]"),
            ErrorCode::MalformedJson,
        ),
        (
            "s.cedarschema.json",
            too_deep_json.clone(),
            ErrorCode::MalformedJson,
        ),
        (
            "tests/deep.test.yaml",
            format!("description: deep\ncases: []\nentities: [{too_deep_json}]\n"),
            ErrorCode::TestInvalid,
        ),
    ] {
        let mut files = BTreeMap::from([
            ("p.cedar".to_string(), policy("true")),
            ("schema.cedarschema".to_string(), SCHEMA.to_string()),
        ]);
        if path.ends_with(".cedarschema.json") {
            files.remove("schema.cedarschema");
        }
        files.insert(path.to_string(), text);
        let err = on_quarter_stack(move || Bundle::load(files)).unwrap_err();
        assert!(
            err.diagnostics
                .iter()
                .any(|d| d.code == code && d.location.is_some()),
            "{path}: {:#?}",
            err.diagnostics
        );
    }
}

fn conformance_dir() -> std::path::PathBuf {
    std::env::var_os("SESAME_CONFORMANCE")
        .map(Into::into)
        .unwrap_or_else(|| sesame_tests::repo_root().join("../shared/conformance"))
}

#[test]
fn no_case_of_cedars_public_corpus_comes_near_the_limits() {
    let dir = conformance_dir();
    let Ok(folders) = ["corpus", "handwritten"]
        .iter()
        .map(|sub| std::fs::read_dir(dir.join("cases").join(sub)))
        .collect::<Result<Vec<_>, _>>()
    else {
        eprintln!("skipped: no conformance corpus at {}", dir.display());
        return;
    };
    let (mut cases, mut policies, mut schemas) = (0, (0, 0), 0);
    for entry in folders.into_iter().flatten() {
        let case: Value =
            serde_json::from_str(&std::fs::read_to_string(entry.unwrap().path()).unwrap()).unwrap();
        let p = measure(case["policies"].as_str().unwrap(), Syntax::Policy);
        let s = measure(case["schema"].as_str().unwrap(), Syntax::Schema);
        policies = (policies.0.max(p.nesting), policies.1.max(p.expression));
        schemas = schemas.max(s.nesting);
        cases += 1;
    }
    eprintln!(
        "{cases} cases: policies nest {} deep (limit {MAX_NESTING}) with expressions {} deep \
         (limit {MAX_EXPRESSION_DEPTH}); schemas nest {schemas} deep",
        policies.0, policies.1
    );
    assert_eq!(cases, 7_831);
    // Measured 12, 21 and 7: a quarter of each limit leaves room for real policies too.
    assert!(policies.0 <= MAX_NESTING / 4 && schemas <= MAX_NESTING / 4);
    assert!(policies.1 <= MAX_EXPRESSION_DEPTH / 4);
}
