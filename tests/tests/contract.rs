//! One contract: the wire types in policy-core are the only hand-written definition. The
//! browser package's TypeScript declarations are generated from them, and a checked-in file
//! that differs from what the types generate fails here, naming the command that rewrites it;
//! so does the server's OpenAPI document, generated from its handlers and the same types.
//! Absent means absent: no answer carries `null` where the declarations say a field may be
//! missing.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;

use policy_core::contract;
use policy_core::json_api::{self, BundleFiles, Op};
use policy_core::wire::EntityRef;
use policy_core::Engine;
use serde_json::{json, Value};
use sesame_tests::{demo_bundle, demo_files, demo_firm, directory_requests, repo_root};

/// Compares `generated` with the checked-in file at `relative`; with `SESAME_REGENERATE` set,
/// rewrites the file instead.
fn matches_checked_in(relative: &str, generated: &str) {
    let path = repo_root().join(relative);
    if std::env::var_os("SESAME_REGENERATE").is_some() {
        std::fs::write(&path, generated).unwrap();
        return;
    }
    let checked_in = std::fs::read_to_string(&path).unwrap_or_default();
    if checked_in != generated {
        let line = first_difference(&checked_in, generated);
        panic!(
            "{relative} differs from what the Rust types generate (first at line {line}); \
             regenerate it with `{}` and commit it",
            contract::REGENERATE
        );
    }
}

fn first_difference(a: &str, b: &str) -> usize {
    let mut lines = a.lines().zip(b.lines()).enumerate();
    lines
        .find(|(_, (x, y))| x != y)
        .map(|(i, _)| i + 1)
        .unwrap_or_else(|| a.lines().count().min(b.lines().count()) + 1)
}

#[test]
fn the_browser_packages_wire_declarations_are_generated_from_the_rust_types() {
    matches_checked_in("wasm-bindings/js/wire.d.ts", &contract::typescript());
}

#[test]
fn the_servers_openapi_document_is_generated_from_its_handlers_and_types() {
    matches_checked_in(
        "host-server/openapi.json",
        &host_server::server::openapi::document(),
    );
}

#[test]
fn one_command_regenerates_both_generated_files() {
    assert_eq!(
        contract::REGENERATE,
        host_server::server::openapi::REGENERATE
    );
}

#[test]
fn every_type_the_declarations_refer_to_is_declared() {
    assert_eq!(contract::undeclared_dependencies(), Vec::<String>::new());
}

#[test]
fn the_declarations_name_every_operation() {
    let ts = contract::typescript();
    let names: Vec<String> = Op::ALL.iter().map(|op| format!("\"{op}\"")).collect();
    assert!(
        ts.contains(&format!("export type Op = {};", names.join(" | "))),
        "wire.d.ts declares Op as the union of {names:?}"
    );
}

/// The paths of every `null` in `value`.
fn nulls(value: &Value, at: &str, out: &mut Vec<String>) {
    match value {
        Value::Null => out.push(at.to_string()),
        Value::Array(items) => {
            for (i, v) in items.iter().enumerate() {
                nulls(v, &format!("{at}[{i}]"), out);
            }
        }
        Value::Object(map) => {
            for (k, v) in map {
                nulls(v, &format!("{at}.{k}"), out);
            }
        }
        _ => {}
    }
}

fn answer(engine: &mut Engine, op: Op, input: &Value) -> Value {
    let text = match json_api::call(engine, op, &input.to_string()) {
        Ok(text) => text,
        Err(body) => json_api::error_json(&body),
    };
    serde_json::from_str(&text).unwrap()
}

#[test]
fn no_answer_of_any_operation_carries_null_for_an_absent_field() {
    let mut engine = Engine::new(demo_bundle());
    engine.replace_entities(&demo_firm()).unwrap();
    let user = |id: &str| EntityRef::new("User", id);
    let doc = EntityRef::new("Document", "inv-1");
    let mut broken = demo_files();
    broken.insert("extra.cedar".into(), "permit(".into());
    let directory = directory_requests();
    let calls: Vec<(Op, Value)> = vec![
        (Op::Info, json!({})),
        (Op::Profiles, json!({})),
        (Op::RunTests, json!({})),
        (
            Op::Decide,
            json!({"principal": user("carol"), "action": EntityRef::new("Action", "view_document"), "resource": doc}),
        ),
        (Op::Decide, json!({"principal": user("carol")})),
        (
            Op::Matrix,
            json!({"principal": user("carol"), "actions": [EntityRef::new("Action", "view_document")], "resources": [doc]}),
        ),
        (
            Op::FieldLevel,
            json!({"principal": user("carol"), "resource": doc, "field": "amount"}),
        ),
        (Op::Validate, json!(BundleFiles { files: broken })),
        (
            Op::Validate,
            json!(BundleFiles {
                files: demo_files()
            }),
        ),
        (
            Op::Diff,
            json!(BundleFiles {
                files: demo_files()
            }),
        ),
        (Op::Directory, directory[0].clone()),
        (
            Op::Directory,
            json!({"actor": user("nobody"), "op": "block_user", "user": user("carol"), "blocked": true}),
        ),
        (Op::ApplyDelta, json!({"remove": [user("nobody")]})),
    ];
    let mut found = Vec::new();
    for (op, input) in &calls {
        nulls(&answer(&mut engine, *op, input), op.as_str(), &mut found);
    }
    assert_eq!(found, Vec::<String>::new());
}

#[test]
fn an_unknown_operation_name_is_refused_with_the_known_ones() {
    let mut engine = Engine::new(demo_bundle());
    let err = json_api::call_named(&mut engine, "apply-delta", "{}").unwrap_err();
    assert_eq!(err.code, policy_core::ErrorCode::Unsupported);
    assert!(
        err.message.contains("unknown operation `apply-delta`"),
        "{}",
        err.message
    );
    assert!(err.message.contains("apply_delta"), "{}", err.message);
}

#[test]
fn the_regenerate_command_names_this_test() {
    let this = Path::new(file!()).file_stem().unwrap().to_str().unwrap();
    assert!(contract::REGENERATE.ends_with(&format!("--test {this}")));
}

/// The methods (and getters) of `class Sesame` in `source`, each with the rest of its line.
fn methods(source: &str) -> Vec<(String, String)> {
    let class = source
        .split("class Sesame ")
        .nth(1)
        .and_then(|rest| rest.split("\n}\n").next())
        .unwrap_or_default();
    // Members sit at the class's indentation (two spaces); deeper lines are their bodies.
    class
        .lines()
        .filter_map(|line| line.strip_prefix("  "))
        .filter(|line| !line.starts_with(' '))
        .filter(|line| !line.starts_with("//") && !line.starts_with('*') && !line.starts_with("/*"))
        .filter_map(|line| {
            // A getter is declared as a read-only property.
            let (name, rest) = match line.strip_prefix("readonly ") {
                Some(property) => property.split_once(':')?,
                None => line.split_once('(')?,
            };
            let name = name.trim_start_matches("get ").trim();
            let valid = !name.is_empty()
                && !name.starts_with('#')
                && name != "constructor"
                && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
            valid.then(|| (name.to_string(), rest.to_string()))
        })
        .collect()
}

#[test]
fn every_method_of_the_browser_package_is_declared_with_a_wire_type() {
    let js = std::fs::read_to_string(repo_root().join("wasm-bindings/js/sesame.js")).unwrap();
    let dts = std::fs::read_to_string(repo_root().join("wasm-bindings/js/sesame.d.ts")).unwrap();
    let implemented = methods(&js);
    let declared = methods(&dts);
    assert!(
        implemented.len() >= 14,
        "sesame.js methods: {implemented:?}"
    );
    for (name, _) in &implemented {
        let Some((_, signature)) = declared.iter().find(|(n, _)| n == name) else {
            panic!("sesame.d.ts does not declare Sesame.{name}");
        };
        assert!(
            !signature.contains("unknown") && !signature.contains("any"),
            "Sesame.{name} is declared loosely: ({signature}"
        );
    }
}
