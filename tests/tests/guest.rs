//! The wasmtime guest decides exactly as native policy-core: on the bundle's own test files, on
//! every (user, action, resource) of the demo firm, and after deltas. Limits cut off runaway
//! calls with a clear error.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use host_server::guest::{
    default_guest_path, GuestAnswer, GuestError, GuestInstance, GuestLimits, GuestRuntime,
    ModuleSource,
};
use policy_core::json_api::BundleFiles;
use policy_core::testing::TestReport;
use policy_core::wire::{BatchRequest, EntityDelta, EntityRef};
use policy_core::Engine;
use serde_json::{json, Value};
use sesame_tests::{all_requests, demo_bundle, demo_files, demo_firm};
use std::time::Duration;

fn runtime(limits: GuestLimits) -> GuestRuntime {
    let path = default_guest_path();
    assert!(
        path.exists(),
        "{} is missing: build it with scripts/wasm-build.sh wasm-guest -p wasm-guest",
        path.display()
    );
    GuestRuntime::from_file(&path, None, limits).unwrap()
}

fn bundle_json() -> String {
    serde_json::to_string(&BundleFiles {
        files: demo_files(),
    })
    .unwrap()
}

fn ok(answer: GuestAnswer) -> String {
    match answer {
        GuestAnswer::Ok(json) => json,
        GuestAnswer::EngineError(e) => panic!("guest engine error: {e}"),
    }
}

fn loaded_guest(rt: &GuestRuntime) -> GuestInstance {
    let mut g = rt.instance().unwrap();
    ok(g.load_bundle(&bundle_json()).unwrap());
    ok(g.call(
        policy_core::json_api::Op::ReplaceEntities,
        &Value::Array(demo_firm()).to_string(),
    )
    .unwrap());
    g
}

#[test]
fn the_guest_runs_the_bundle_tests_like_native() {
    let rt = runtime(GuestLimits::default());
    let mut g = rt.instance().unwrap();
    ok(g.load_bundle(&bundle_json()).unwrap());
    let in_guest: TestReport = serde_json::from_str(&ok(g
        .call(policy_core::json_api::Op::RunTests, "{}")
        .unwrap()))
    .unwrap();
    let native = policy_core::testing::run_tests(&demo_bundle());
    assert_eq!(
        in_guest.failed,
        0,
        "{:#?}",
        in_guest
            .cases
            .iter()
            .filter(|c| !c.passed)
            .collect::<Vec<_>>()
    );
    assert_eq!(in_guest, native);
}

#[test]
fn the_guest_decides_every_demo_request_like_native() {
    let rt = runtime(GuestLimits::default());
    let mut g = loaded_guest(&rt);
    let native = Engine::with_entities(demo_bundle(), demo_firm()).unwrap();
    let requests = all_requests();
    assert!(requests.len() > 3_000, "{}", requests.len());
    let batch = serde_json::to_string(&BatchRequest {
        requests: requests.clone(),
    })
    .unwrap();
    let from_guest: Value = serde_json::from_str(&ok(g
        .call(policy_core::json_api::Op::Batch, &batch)
        .unwrap()))
    .unwrap();
    let from_native = serde_json::to_value(native.decide_batch(&requests)).unwrap();
    let (a, b) = (
        from_guest["results"].as_array().unwrap(),
        from_native["results"].as_array().unwrap(),
    );
    assert_eq!(a.len(), b.len());
    for (i, (x, y)) in a.iter().zip(b).enumerate() {
        assert_eq!(x, y, "request #{i} {:?}", requests[i]);
    }
    let allowed = b.iter().filter(|r| r["decision"] == "allow").count();
    assert!(
        allowed > 100 && allowed < b.len() - 100,
        "a one-sided workload proves little: {allowed}"
    );
}

#[test]
fn deltas_in_the_guest_match_native() {
    let rt = runtime(GuestLimits::default());
    let mut g = loaded_guest(&rt);
    let mut native = Engine::with_entities(demo_bundle(), demo_firm()).unwrap();
    let delta = EntityDelta {
        upsert: vec![
            json!({"uid": {"type": "SiteProfile", "id": "manager"}, "attrs": {}, "parents": []}),
        ],
        remove: vec![EntityRef::new("User", "carol")],
    };
    native.apply_delta(&delta).unwrap();
    ok(g.call(
        policy_core::json_api::Op::ApplyDelta,
        &serde_json::to_string(&delta).unwrap(),
    )
    .unwrap());
    let requests = all_requests();
    let batch = serde_json::to_string(&BatchRequest {
        requests: requests.clone(),
    })
    .unwrap();
    let from_guest: Value = serde_json::from_str(&ok(g
        .call(policy_core::json_api::Op::Batch, &batch)
        .unwrap()))
    .unwrap();
    assert_eq!(
        from_guest["results"],
        serde_json::to_value(native.decide_batch(&requests)).unwrap()["results"]
    );
}

#[test]
fn engine_errors_come_back_typed_and_the_instance_stays_usable() {
    let rt = runtime(GuestLimits::default());
    let mut g = loaded_guest(&rt);
    let GuestAnswer::EngineError(body) = g
        .call(policy_core::json_api::Op::Decide, "{not json")
        .unwrap()
    else {
        panic!("should fail")
    };
    let body: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(body["code"], "malformed_json");
    let mut files = demo_files();
    files.insert(
        "bad.cedar".into(),
        "@id(\"bad\")\npermit (principal, action, resource) when { resource.nope };\n".into(),
    );
    let GuestAnswer::EngineError(body) = g
        .load_bundle(&serde_json::to_string(&BundleFiles { files }).unwrap())
        .unwrap()
    else {
        panic!("should fail")
    };
    let body: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(body["diagnostics"][0]["location"]["file"], "bad.cedar");
    // Still deciding on the previous bundle.
    let r: Value = serde_json::from_str(&ok(g
        .call(policy_core::json_api::Op::Decide, r#"{"principal":{"type":"User","id":"carol"},"action":{"type":"Action","id":"view_document"},"resource":{"type":"Document","id":"inv-1"}}"#)
        .unwrap()))
    .unwrap();
    assert_eq!(r["decision"], "allow");
}

#[test]
fn a_runaway_call_is_cut_off_by_its_deadline_and_the_instance_replaced() {
    let rt = runtime(GuestLimits {
        deadline: Duration::from_millis(1),
        ..GuestLimits::default()
    });
    let mut g = rt.instance().unwrap();
    // Loading, validating and testing the bundle 50 times takes far longer than 1 ms (+ a tick).
    let err = (0..50)
        .try_for_each(|_| {
            g.load_bundle(&bundle_json())?;
            g.call(policy_core::json_api::Op::RunTests, "{}")
                .map(|_| ())
        })
        .unwrap_err();
    assert!(matches!(err, GuestError::DeadlineExceeded(_)), "{err}");
    assert!(err.to_string().contains("exceeded its deadline"));
    assert!(matches!(
        g.call(policy_core::json_api::Op::Info, "{}").unwrap_err(),
        GuestError::Poisoned
    ));
    // A fresh instance from the same runtime works.
    let mut fresh = rt.instance().unwrap();
    let GuestAnswer::EngineError(e) = fresh.call(policy_core::json_api::Op::Info, "{}").unwrap()
    else {
        panic!("no bundle yet")
    };
    assert!(e.contains("not_found"), "{e}");
}

#[test]
fn a_precompiled_module_is_cached_and_reused() {
    let dir = std::env::temp_dir().join(format!("sesame-guest-cache-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let path = default_guest_path();
    let first = GuestRuntime::from_file(&path, Some(&dir), GuestLimits::default()).unwrap();
    assert_eq!(first.source, ModuleSource::Compiled);
    let second = GuestRuntime::from_file(&path, Some(&dir), GuestLimits::default()).unwrap();
    assert_eq!(second.source, ModuleSource::Deserialized);
    let mut g = second.instance().unwrap();
    ok(g.load_bundle(&bundle_json()).unwrap());
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn firm_administration_is_planned_in_the_guest_like_native() {
    let rt = runtime(GuestLimits::default());
    let mut g = loaded_guest(&rt);
    let mut native = Engine::with_entities(demo_bundle(), demo_firm()).unwrap();
    let mut refused = 0;
    for (i, request) in sesame_tests::directory_requests().iter().enumerate() {
        let input = request.to_string();
        let expected =
            policy_core::json_api::call(&mut native, policy_core::json_api::Op::Directory, &input);
        match (
            g.call(policy_core::json_api::Op::Directory, &input)
                .unwrap(),
            expected,
        ) {
            (GuestAnswer::Ok(got), Ok(want)) => assert_eq!(got, want, "request #{i}"),
            (GuestAnswer::EngineError(got), Err(want)) => {
                refused += 1;
                assert_eq!(
                    got,
                    policy_core::json_api::error_json(&want),
                    "request #{i}"
                );
            }
            (got, want) => panic!("request #{i}: guest {got:?}, native {want:?}"),
        }
    }
    assert!(refused >= 5, "the refusals are compared too");
}

fn with_policy_file(name: &str, text: String) -> String {
    let mut files = demo_files();
    files.insert(name.into(), text);
    serde_json::to_string(&BundleFiles { files }).unwrap()
}

#[test]
fn deep_input_through_the_guest_is_refused_located_or_decided_never_aborts() {
    use policy_core::nesting::{MAX_EXPRESSION_DEPTH, MAX_NESTING};
    let rt = runtime(GuestLimits::default());
    let mut g = rt.instance().unwrap();
    // 200 nested parentheses: the guest's own loader refuses them, located; the instance lives.
    let deep = format!(
        "@id(\"deep\")\npermit(principal, action, resource) when {{ {}true{} }};\n",
        "(".repeat(200),
        ")".repeat(200)
    );
    let GuestAnswer::EngineError(e) = g
        .load_bundle(&with_policy_file("deep.cedar", deep))
        .unwrap()
    else {
        panic!("200 nested parentheses loaded")
    };
    let body: Value = serde_json::from_str(&e).unwrap();
    let diagnostic = &body["diagnostics"][0];
    assert_eq!(diagnostic["code"], "too_deep", "{body}");
    assert_eq!(diagnostic["location"]["file"], "deep.cedar", "{body}");
    // The deepest policies the limits admit load, validate and decide inside the guest's
    // default stack: nesting at its limit, then an operator chain at the other.
    let n = MAX_NESTING - 1;
    let chain = MAX_EXPRESSION_DEPTH - n - 2;
    for condition in [
        format!("{}true{}", "(".repeat(n), ")".repeat(n)),
        format!(
            "{}true{}",
            "if true then ".repeat(n),
            " else false".repeat(n)
        ),
        format!(
            "{}1{}{} == 1",
            "(".repeat(n),
            " + 0".repeat(chain),
            ")".repeat(n)
        ),
    ] {
        let deepest = format!(
            "@id(\"deepest\")\npermit(principal == User::\"dave\", action == Action::\"view_document\", resource) when {{ {condition} }};\n"
        );
        ok(g.load_bundle(&with_policy_file("deepest.cedar", deepest))
            .unwrap());
        let answer: Value = serde_json::from_str(&ok(g
            .call(policy_core::json_api::Op::Decide, r#"{"principal":{"type":"User","id":"dave"},"action":{"type":"Action","id":"view_document"},"resource":{"type":"Document","id":"inv-1"}}"#)
            .unwrap()))
        .unwrap();
        assert_eq!(
            answer["determining_policies"],
            json!(["deepest"]),
            "{answer}"
        );
    }
}

#[test]
fn a_stack_overflow_in_the_guest_traps_and_the_instance_is_replaced() {
    // A native stack far too small for Cedar's parser on the deepest policy the limits admit:
    // in the guest, overflowing it is a trap (never an abort of the host); the instance, whose
    // memory may be inconsistent, refuses further calls, and a fresh one from the same runtime
    // answers.
    let rt = runtime(GuestLimits {
        max_stack: 16 << 10,
        ..GuestLimits::default()
    });
    let mut g = rt.instance().unwrap();
    let n = policy_core::nesting::MAX_NESTING - 1;
    let deepest = format!(
        "@id(\"deepest\")\npermit(principal, action, resource) when {{ {}true{} }};\n",
        "(".repeat(n),
        ")".repeat(n)
    );
    let err = g
        .load_bundle(&with_policy_file("deepest.cedar", deepest))
        .unwrap_err();
    assert!(matches!(err, GuestError::Trap(_)), "{err}");
    assert!(err.to_string().contains("stack"), "{err}");
    assert!(matches!(
        g.call(policy_core::json_api::Op::Info, "{}").unwrap_err(),
        GuestError::Poisoned
    ));
    let mut fresh = rt.instance().unwrap();
    let GuestAnswer::EngineError(e) = fresh.call(policy_core::json_api::Op::Info, "{}").unwrap()
    else {
        panic!("no bundle yet")
    };
    assert!(e.contains("not_found"), "{e}");
}
