//! The browser package, run under Node as a page runs it, decides exactly as native policy-core:
//! the bundle's test files, every demo-firm request, the same after a delta; errors are JS
//! `Error`s carrying the stable code and location; the impact of a candidate on a decision
//! log, licences, roles and field levels are the engine's own in the page too.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::process::Command;

use policy_core::impact::LoggedDecision;
use policy_core::json_api::BundleFiles;
use policy_core::wire::DecisionRequest;
use policy_core::wire::{EntityDelta, EntityRef};
use policy_core::Engine;
use serde_json::{json, Value};
use sesame_tests::{
    all_requests, demo_bundle, demo_files, demo_firm, directory_requests, load, repo_root,
};
use std::collections::BTreeMap;

/// A candidate that forbids carol everything, and a log of the demo requests as the active
/// version answered them, plus one decision made with call-only entities (a stand-in for
/// carol): the log kept their count only, so it must not be replayed.
fn impact_case(requests: &[DecisionRequest]) -> (BTreeMap<String, String>, Vec<LoggedDecision>) {
    let mut candidate = demo_files();
    candidate.insert(
        "freeze.cedar".into(),
        "@id(\"freeze-carol\")\nforbid (principal == User::\"carol\", action, resource);\n".into(),
    );
    let active = Engine::with_entities(demo_bundle(), demo_firm()).unwrap();
    let mut log: Vec<LoggedDecision> = requests
        .iter()
        .filter_map(|r| {
            let answer = active.decide(r).ok()?;
            Some(LoggedDecision {
                request: serde_json::to_value(r).unwrap(),
                decision: serde_json::to_value(answer.decision)
                    .unwrap()
                    .as_str()?
                    .into(),
                determining_policies: answer.determining_policies,
                digest: answer.bundle_digest,
            })
        })
        .collect();
    let mut twin = log
        .iter()
        .find(|l| l.request["principal"]["id"] == "carol" && l.decision == "allow")
        .cloned()
        .unwrap();
    twin.request["principal"]["id"] = json!("carol-twin");
    twin.request["entities_count"] = json!(1);
    log.push(twin);
    (candidate, log)
}

#[test]
fn the_browser_package_agrees_with_native() {
    let pkg = host_server::build_output::TargetDir::current()
        .pkg()
        .join("sesame.js");
    assert!(
        pkg.exists(),
        "{} is missing: build it with scripts/browser-pkg.sh",
        pkg.display()
    );
    let requests = all_requests();
    let delta = EntityDelta {
        upsert: vec![
            json!({"uid": {"type": "SiteProfile", "id": "manager"}, "attrs": {}, "parents": []}),
        ],
        remove: vec![EntityRef::new("User", "carol")],
    };
    let (candidate, log) = impact_case(&requests);
    let input = json!({
        "impact": {"files": candidate, "log": log},
        "bundle": BundleFiles { files: demo_files() },
        "entities": demo_firm(),
        "requests": requests,
        "delta": delta,
        "directory": directory_requests(),
    });
    let path = std::env::temp_dir().join(format!("sesame-node-input-{}.json", std::process::id()));
    std::fs::write(&path, input.to_string()).unwrap();
    let out = Command::new("node")
        .arg(repo_root().join("tests/node/run.mjs"))
        .arg(&path)
        .output()
        .expect("node runs");
    std::fs::remove_file(&path).unwrap();
    assert!(
        out.status.success(),
        "node failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let got: Value = serde_json::from_slice(&out.stdout).unwrap();

    let mut native = Engine::with_entities(demo_bundle(), demo_firm()).unwrap();
    assert_eq!(got["digest"], native.digest());
    assert_eq!(
        got["tests"],
        serde_json::to_value(policy_core::testing::run_tests(native.bundle())).unwrap()
    );
    assert_eq!(got["tests"]["failed"], 0);
    let before = serde_json::to_value(native.decide_batch(&requests)).unwrap();
    for (i, (x, y)) in got["batch"]["results"]
        .as_array()
        .unwrap()
        .iter()
        .zip(before["results"].as_array().unwrap())
        .enumerate()
    {
        assert_eq!(x, y, "request #{i} {:?}", requests[i]);
    }
    assert_eq!(
        got["batch"]["results"].as_array().unwrap().len(),
        requests.len()
    );
    // Firm administration plans (and refusals) are the same in the page as natively.
    for (i, request) in directory_requests().iter().enumerate() {
        let expected = match policy_core::json_api::call(
            &mut native,
            policy_core::json_api::Op::Directory,
            &request.to_string(),
        ) {
            Ok(plan) => json!({"ok": serde_json::from_str::<Value>(&plan).unwrap()}),
            Err(e) => json!({"error": e.code, "message": e.message}),
        };
        assert_eq!(got["directory"][i], expected, "directory request #{i}");
    }
    // The impact of a candidate, replayed in the page over the page's data, is native's.
    let after = Engine::with_entities(load(&candidate).unwrap(), demo_firm()).unwrap();
    let impact = policy_core::impact::replay(&native, &after, &log);
    assert_eq!(got["impact"], serde_json::to_value(&impact).unwrap());
    assert!(impact.allow_to_deny > 0, "{impact:?}");
    assert_eq!(impact.not_replayed.call_entities, 1, "{impact:?}");
    assert!(impact
        .changes
        .iter()
        .all(|c| c.request["principal"]["id"] == "carol"));
    for (op, key) in [
        ("licences", "licences"),
        ("roles", "roles"),
        ("field_levels", "fieldLevels"),
    ] {
        let expected = policy_core::json_api::call_named(&mut native, op, "{}").unwrap();
        assert_eq!(
            got[key],
            serde_json::from_str::<Value>(&expected).unwrap(),
            "{op}"
        );
    }
    assert_eq!(
        got["roles"]["firm"],
        json!(["accountant", "administrator", "client_manager"])
    );
    assert!(got["roles"]["company"]
        .as_array()
        .unwrap()
        .contains(&json!("internal_accountant")));
    assert_eq!(got["fieldLevels"], json!(["none", "print", "read", "full"]));
    assert_eq!(got["licences"][0]["uid"]["id"], "advanced_sales");
    assert_eq!(got["licences"][1]["levels"]["invoice.notes"], "print");
    native.apply_delta(&delta).unwrap();
    assert_eq!(
        got["afterDelta"],
        serde_json::to_value(native.decide_batch(&requests)).unwrap()
    );
    assert_eq!(
        got["error"],
        json!({"isError": true, "isSesameError": true, "code": "malformed_json"})
    );
    assert_eq!(got["badBundle"]["code"], "policy_validation");
    assert_eq!(got["badBundle"]["location"]["file"], "bad.cedar");
    assert_eq!(got["badBundle"]["location"]["line"], 2);
    // Validation for an editor: located, and the resident engine is unchanged.
    assert_eq!(got["validate"]["ok"], false);
    let d = &got["validate"]["diagnostics"][0];
    assert_eq!(
        (d["code"].as_str(), d["location"]["file"].as_str()),
        (Some("policy_parse"), Some("typo.cedar"))
    );
    // The missing `;` is reported where it was expected: right after the permit's `)`.
    assert_eq!(
        (
            d["location"]["line"].as_u64(),
            d["location"]["column"].as_u64()
        ),
        (Some(2), Some(37)),
        "{d}"
    );
    assert_eq!(got["digestAfterValidate"], got["digest"]);
}
