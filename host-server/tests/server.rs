//! The decision server end to end: a real `sesame-server` process (wasmtime guests, SQLite
//! store) driven over HTTP as a back-end service, a policy author and an operator would drive
//! it. (The `sesame` CLI against a server: cli/tests/remote.rs.)

mod support;

use serde_json::{json, Value};
use support::{
    decision, demo_files, entity, frozen_doc_request, request, Server, TestResult, FREEZE, SERVICE,
};

#[test]
fn decisions_single_batch_and_matrix_come_from_the_active_version() -> TestResult {
    let server = Server::start("decide", &["--max-batch", "50"])?;
    let api = server.anonymous();
    let ready = api.get("/readyz")?;
    assert!(ready.ok(), "{}", ready.body);
    let digest = ready.body["digest"]
        .as_str()
        .unwrap_or_default()
        .to_string();

    let allow = api.post(
        "/v1/decide",
        &request("carol", "view_document", ("Document", "inv-1")),
    )?;
    assert_eq!(allow.body["decision"], "allow", "{}", allow.body);
    assert_eq!(
        allow.body["determining_policies"],
        json!(["accountant-documents-of-assigned-clients"])
    );
    assert_eq!(allow.body["bundle_digest"], digest.as_str());
    let deny = api.post(
        "/v1/decide",
        &request("dave", "view_document", ("Document", "inv-1")),
    )?;
    assert_eq!(deny.body["decision"], "deny");

    // A request the schema refuses: 400 with the engine's stable code.
    let bad = api.post(
        "/v1/decide",
        &request("carol", "no_such_action", ("Document", "inv-1")),
    )?;
    assert_eq!(
        (bad.status, bad.code()),
        (400, "invalid_request"),
        "{}",
        bad.body
    );
    let malformed = api.send("POST", "/v1/decide", Some("{\"principal\": "))?;
    assert_eq!(
        (malformed.status, malformed.code()),
        (400, "malformed_json"),
        "{}",
        malformed.body
    );

    // Batch: every item decided, a bad one fails alone.
    let batch = api.post(
        "/v1/decide/batch",
        &json!({"requests": [
            request("carol", "view_document", ("Document", "inv-1")),
            request("dave", "view_document", ("Document", "inv-1")),
            request("carol", "no_such_action", ("Document", "inv-1")),
        ]}),
    )?;
    assert_eq!(batch.status, 200, "{}", batch.body);
    assert_eq!(batch.body["results"][0]["decision"], "allow");
    assert_eq!(batch.body["results"][1]["decision"], "deny");
    assert_eq!(batch.body["results"][2]["error"]["code"], "invalid_request");
    let too_many: Vec<Value> = (0..51)
        .map(|_| request("carol", "view_document", ("Document", "inv-1")))
        .collect();
    let over = api.post("/v1/decide/batch", &json!({ "requests": too_many }))?;
    assert_eq!(
        (over.status, over.code()),
        (413, "batch_too_large"),
        "{}",
        over.body
    );

    // Matrix: what a document page needs in one call.
    let matrix = api.post(
        "/v1/matrix",
        &json!({
            "principal": entity("User", "carol"),
            "actions": [entity("Action", "view_document"), entity("Action", "delete_document")],
            "resources": [entity("Document", "inv-1"), entity("Document", "sup-1")],
            "fields": ["amount"],
        }),
    )?;
    assert_eq!(matrix.status, 200, "{}", matrix.body);
    assert_eq!(matrix.body["rows"].as_array().map(Vec::len), Some(2));
    assert_eq!(
        matrix.body["rows"][0]["decisions"]["view_document"],
        "allow"
    );

    // The browser loads exactly what is enforced; the ETag is the digest.
    let bundle = api.get("/v1/bundle/active")?;
    assert_eq!(
        bundle.etag.as_deref(),
        Some(format!("\"{digest}\"").as_str())
    );
    assert!(bundle.body["files"]["schema.cedarschema"].is_string());
    let etag = format!("\"{digest}\"");
    let (status, _, _) = api.send_text(
        "GET",
        "/v1/bundle/active",
        None,
        &[("If-None-Match", &etag)],
    )?;
    assert_eq!(status, 304);

    // Operations endpoints.
    assert!(api.get("/healthz")?.ok());
    let (status, metrics, _) = api.send_text("GET", "/metrics", None, &[])?;
    assert_eq!(status, 200);
    assert!(
        metrics.contains("sesame_decisions_total{decision=\"allow\"}"),
        "{metrics}"
    );
    assert!(
        metrics.contains(&format!("sesame_active_version{{digest=\"{digest}\"}} 1")),
        "{metrics}"
    );
    Ok(())
}

#[test]
fn admin_calls_need_a_token_whose_role_the_admin_policy_allows() -> TestResult {
    let server = Server::start("auth", &[])?;
    let body = json!({"files": demo_files()?, "message": "nothing new"});
    let none = server.anonymous().post("/v1/admin/deploy", &body)?;
    assert_eq!((none.status, none.code()), (401, "unauthorized"));
    let wrong = server
        .client(Some("guess"))
        .post("/v1/admin/deploy", &body)?;
    assert_eq!((wrong.status, wrong.code()), (401, "unauthorized"));
    let viewer = server.client(Some("viewer-secret"));
    let refused = viewer.post("/v1/admin/deploy", &body)?;
    assert_eq!(
        (refused.status, refused.code()),
        (403, "forbidden"),
        "{}",
        refused.body
    );
    // An author may store a version but not activate it.
    let author = server.client(Some("author-secret"));
    assert_eq!(author.post("/v1/admin/deploy", &body)?.status, 403);
    assert_eq!(author.post("/v1/admin/rollback", &json!({}))?.status, 403);
    assert!(viewer.get("/v1/admin/history")?.ok());
    assert_eq!(
        viewer.get("/v1/admin/audit")?.status,
        403,
        "only admins read the audit"
    );
    // Entity writes need an author.
    let delta = json!({"remove": [entity("Document", "inv-1")]});
    assert_eq!(
        viewer
            .send("PATCH", "/v1/entities", Some(&delta.to_string()))?
            .status,
        403
    );
    // Nothing was done: still one version, inv-1 still there.
    let history = viewer.get("/v1/admin/history")?;
    assert_eq!(
        history.body["activations"].as_array().map(Vec::len),
        Some(1)
    );
    let (d, _) = decision(
        &server,
        &request("carol", "view_document", ("Document", "inv-1")),
    )?;
    assert_eq!(d, "allow");
    Ok(())
}

#[test]
fn deploy_reject_diff_rollback_entities_and_restart() -> TestResult {
    let mut server = Server::start("lifecycle", &["--mask", "user_count"])?;
    let admin = server.admin();
    let (d, v1) = decision(&server, &frozen_doc_request())?;
    assert_eq!(d, "allow");

    // A syntax error: rejected with its location, nothing changes.
    let mut broken = demo_files()?;
    broken.insert(
        "freeze.cedar".into(),
        json!("@id(\"x\")\nforbid (principal, action, resource)\n  when { principal.nope ==  };\n"),
    );
    let rejected = admin.post(
        "/v1/admin/deploy",
        &json!({"files": broken, "message": "broken"}),
    )?;
    assert_eq!(
        (rejected.status, rejected.code()),
        (422, "invalid_bundle"),
        "{}",
        rejected.body
    );
    assert_eq!(
        rejected.body["location"]["file"], "freeze.cedar",
        "{}",
        rejected.body
    );
    assert_eq!(rejected.body["location"]["line"], 3, "{}", rejected.body);
    // Failing tests: rejected with the report.
    let mut failing = demo_files()?;
    failing.insert(
        "freeze.cedar".into(),
        json!("@id(\"freeze-carol\")\nforbid (principal == User::\"carol\", action, resource);\n"),
    );
    let rejected = admin.post(
        "/v1/admin/deploy",
        &json!({"files": failing, "message": "breaks tests"}),
    )?;
    assert_eq!(
        (rejected.status, rejected.code()),
        (422, "tests_failed"),
        "{}",
        rejected.body
    );
    assert!(rejected.body["report"]["cases"].is_array());
    assert_eq!(
        decision(&server, &frozen_doc_request())?.1,
        v1,
        "still version 1"
    );

    // A good deploy: new version active, decisions change.
    let mut files = demo_files()?;
    files.insert("freeze.cedar".into(), json!(FREEZE));
    let deployed = admin.post(
        "/v1/admin/deploy",
        &json!({"files": files, "message": "freeze frozen-1"}),
    )?;
    assert_eq!(deployed.status, 200, "{}", deployed.body);
    assert_eq!(deployed.body["version"]["number"], 2);
    assert_eq!(deployed.body["version"]["parent"], v1.as_str());
    let v2 = deployed.body["version"]["digest"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert_eq!(
        decision(&server, &frozen_doc_request())?,
        ("deny".to_string(), v2.clone())
    );

    let diff = admin.get(&format!("/v1/admin/diff?from={v1}&to={v2}"))?;
    assert_eq!(
        diff.body["files_added"],
        json!(["freeze.cedar"]),
        "{}",
        diff.body
    );
    assert_eq!(diff.body["policies_added"], json!(["freeze-frozen-1"]));
    assert_eq!(diff.body["policies_removed"], json!([]));

    // Rollback in one call: version 1 answers again.
    let rolled = admin.post("/v1/admin/rollback", &json!({}))?;
    assert_eq!(rolled.body["digest"], v1.as_str(), "{}", rolled.body);
    assert_eq!(
        decision(&server, &frozen_doc_request())?,
        ("allow".to_string(), v1.clone())
    );

    // Entity deltas: applied on every worker, validated, all-or-nothing.
    let author = server.client(Some("author-secret"));
    let new_doc = json!({"upsert": [{
        "uid": entity("Document", "new-1"),
        "attrs": {"client": {"__entity": entity("Client", "acme")}, "kind": "bank_statement", "archived": false},
        "parents": [entity("Client", "acme")]
    }]});
    let patched = author.send("PATCH", "/v1/entities", Some(&new_doc.to_string()))?;
    assert_eq!(patched.status, 200, "{}", patched.body);
    for _ in 0..4 {
        // Every worker sees the write acknowledged before the decision.
        let (d, _) = decision(
            &server,
            &request("carol", "view_document", ("Document", "new-1")),
        )?;
        assert_eq!(d, "allow");
    }
    let invalid = json!({"upsert": [{"uid": entity("Spaceship", "x"), "attrs": {}, "parents": []}],
                         "remove": [entity("Document", "inv-1")]});
    let refused = author.send("PATCH", "/v1/entities", Some(&invalid.to_string()))?;
    assert_eq!(
        (refused.status, refused.code()),
        (400, "entity_invalid"),
        "{}",
        refused.body
    );
    let (d, _) = decision(
        &server,
        &request("carol", "view_document", ("Document", "inv-1")),
    )?;
    assert_eq!(d, "allow", "the refused delta removed nothing");

    // The decision log masks configured context fields.
    let mut invite = request("alice", "invite_user", ("Firm", "dupont"));
    invite["context"] = json!({"user_count": 3});
    decision(&server, &invite)?;
    let logged = support::wait_until(
        || {
            admin.get("/v1/admin/decisions?limit=50").is_ok_and(|r| {
                r.body.as_array().is_some_and(|records| {
                    records
                        .iter()
                        .any(|rec| rec["request"]["context"]["user_count"] == "***")
                })
            })
        },
        "the masked decision in the log",
    );
    assert!(logged.is_ok(), "{logged:?}");

    // A crash (SIGKILL) loses nothing acknowledged: versions, active pointer, entities, audit.
    server.crash_and_restart()?;
    let admin = server.admin();
    let history = admin.get("/v1/admin/history")?;
    assert_eq!(
        history.body["versions"].as_array().map(Vec::len),
        Some(2),
        "{}",
        history.body
    );
    assert_eq!(history.body["active"]["digest"], v1.as_str());
    let kinds: Vec<&str> = history.body["activations"]
        .as_array()
        .map(|a| a.iter().filter_map(|x| x["kind"].as_str()).collect())
        .unwrap_or_default();
    assert_eq!(kinds, ["bootstrap", "deploy", "rollback"]);
    let (d, _) = decision(
        &server,
        &request("carol", "view_document", ("Document", "new-1")),
    )?;
    assert_eq!(
        d, "allow",
        "the acknowledged entity write survived the crash"
    );

    let audit = admin.get("/v1/admin/audit")?;
    let actions: Vec<&str> = audit
        .body
        .as_array()
        .map(|a| a.iter().filter_map(|x| x["action"].as_str()).collect())
        .unwrap_or_default();
    for expected in [
        "replace_entities",
        "deploy",
        "deploy_rejected",
        "rollback",
        "apply_delta",
    ] {
        assert!(
            actions.contains(&expected),
            "{expected} missing from {actions:?}"
        );
    }
    let verify = admin.get("/v1/admin/audit/verify")?;
    assert_eq!(verify.body["ok"], true, "{}", verify.body);
    Ok(())
}

#[test]
fn activation_under_load_fails_no_request() -> TestResult {
    let server = Server::start("load", &["--decision-log-sample", "0"])?;
    let admin = server.admin();
    let v1 = decision(&server, &frozen_doc_request())?.1;
    let mut files = demo_files()?;
    files.insert("freeze.cedar".into(), json!(FREEZE));
    let deployed = admin.post(
        "/v1/admin/deploy",
        &json!({"files": files, "message": "v2", "activate": false}),
    )?;
    let v2 = deployed.body["version"]["digest"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert_eq!(deployed.body["activated"], false);

    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let workers: Vec<_> = (0..3)
        .map(|_| {
            let (api, stop, v1, v2) = (server.anonymous(), stop.clone(), v1.clone(), v2.clone());
            std::thread::spawn(move || -> Result<usize, String> {
                let mut n = 0;
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    let r = api
                        .post("/v1/decide", &frozen_doc_request())
                        .map_err(|e| e.to_string())?;
                    let digest = r.body["bundle_digest"].as_str().unwrap_or_default();
                    // Each answer is whole: version 1 allows, version 2 denies.
                    let consistent = (digest == v1 && r.body["decision"] == "allow")
                        || (digest == v2 && r.body["decision"] == "deny");
                    if r.status != 200 || !consistent {
                        return Err(format!("request {n} failed: {} {}", r.status, r.body));
                    }
                    n += 1;
                }
                Ok(n)
            })
        })
        .collect();
    for i in 0..10 {
        let target = if i % 2 == 0 { &v2 } else { &v1 };
        let r = admin.post("/v1/admin/activate", &json!({"digest": target}))?;
        assert_eq!(r.status, 200, "{}", r.body);
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let mut total = 0;
    for w in workers {
        total += w.join().map_err(|_| "load thread panicked")??;
    }
    assert!(total > 0);
    assert_eq!(
        decision(&server, &frozen_doc_request())?.1,
        v1,
        "ten switches end on v1"
    );
    Ok(())
}

#[test]
fn the_openapi_document_and_the_router_list_the_same_paths() -> TestResult {
    let doc: Value = serde_json::from_str(include_str!("../openapi.json"))?;
    let documented: std::collections::BTreeSet<String> = doc["paths"]
        .as_object()
        .map(|p| p.keys().cloned().collect())
        .unwrap_or_default();
    let source = include_str!("../src/server/mod.rs");
    let routed: std::collections::BTreeSet<String> = source
        .split(".route(")
        .skip(1)
        .filter_map(|rest| rest.trim_start().strip_prefix('"'))
        .filter_map(|rest| rest.split('"').next().map(String::from))
        .collect();
    assert_eq!(documented, routed);
    Ok(())
}

#[test]
fn limits_end_with_a_clear_json_error() -> TestResult {
    // Over the body limit: 413 with a code, before any evaluation.
    let small = Server::start("limits-body", &["--max-body", "1000"])?;
    let big = format!("{{\"padding\": \"{}\"}}", "x".repeat(1_500));
    let r = small.anonymous().send("POST", "/v1/decide", Some(&big))?;
    assert_eq!((r.status, r.code()), (413, "body_too_large"), "{}", r.body);

    // An evaluation past its budget is cut off (a context the guest needs longer than its
    // budget to read), answered 504, and the next call is served by a rebuilt instance.
    let server = Server::start(
        "limits-eval",
        &["--eval-timeout-ms", "1", "--decision-log-sample", "0"],
    )?;
    let mut slow = request("carol", "view_document", ("Document", "inv-1"));
    slow["context"] = json!({ "noise": (0..20_000).map(|i| json!({"k": i, "v": [i, i, i]})).collect::<Vec<_>>() });
    let r = server.anonymous().post("/v1/decide", &slow)?;
    assert_eq!(
        (r.status, r.code()),
        (504, "deadline_exceeded"),
        "{}",
        r.body
    );
    let (d, _) = decision(
        &server,
        &request("carol", "view_document", ("Document", "inv-1")),
    )?;
    assert_eq!(d, "allow");
    Ok(())
}

#[test]
fn a_viewer_cannot_crash_the_server_with_deeply_nested_policies_or_requests() -> TestResult {
    // Issue 14: 200 nested parentheses overflowed a runtime thread's stack and aborted the
    // process. Now: a located JSON error, and the server keeps answering.
    let server = Server::start("deep", &[])?;
    let viewer = server.client(Some("viewer-secret"));
    let mut files = demo_files()?;
    let deep = format!(
        "@id(\"deep\")\npermit(principal, action, resource) when {{ {}true{} }};\n",
        "(".repeat(200),
        ")".repeat(200)
    );
    files.insert("deep.cedar".into(), Value::String(deep));
    let r = viewer.post("/v1/admin/validate", &json!({ "files": files }))?;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["ok"], false, "{}", r.body);
    let diagnostic = &r.body["diagnostics"][0];
    assert_eq!(diagnostic["code"], "too_deep", "{}", r.body);
    assert_eq!(
        (
            &diagnostic["location"]["file"],
            &diagnostic["location"]["line"]
        ),
        (&json!("deep.cedar"), &json!(2))
    );
    assert!(server.anonymous().get("/readyz")?.ok());

    // The same through a deploy (the native gate refuses it; nothing is stored), and JSON past
    // serde's recursion limit in a decision request (the guest never sees it).
    let r = server
        .client(Some("deployer-secret"))
        .post("/v1/admin/deploy", &json!({ "files": files }))?;
    assert_eq!(r.status, 422, "{}", r.body);
    let mut req = request("carol", "view_document", ("Document", "inv-1"));
    req["context"] = serde_json::from_str(&format!("{}1{}", "[".repeat(120), "]".repeat(120)))?;
    let r = server.anonymous().post("/v1/decide", &req)?;
    assert_eq!((r.status, r.code()), (400, "invalid_request"), "{}", r.body);
    let (d, _) = decision(
        &server,
        &request("carol", "view_document", ("Document", "inv-1")),
    )?;
    assert_eq!(d, "allow");
    Ok(())
}

#[test]
fn firm_administration_is_checked_for_the_acting_user_written_and_audited() -> TestResult {
    let server = Server::start("directory", &[])?;
    let admin = server.admin();
    assert_eq!(
        admin.post("/v1/admin/login", &json!({}))?.body["role"],
        "admin"
    );
    // Firm administration goes through a caller bound to the firm: here Dupont's back end.
    let service = server.client(Some(SERVICE));

    let invite = |actor: &str, id: &str, email: &str| {
        json!({"actor": entity("User", actor), "op": "invite_user", "id": id, "name": "Martin",
               "first_name": id, "email": email, "roles": ["accountant"]})
    };
    // An accountant may not invite: refused with the reason, nothing written.
    let refused = service.post("/v1/directory", &invite("carol", "zoe", "zoe@example.com"))?;
    assert_eq!(
        (refused.status, refused.code()),
        (403, "forbidden"),
        "{}",
        refused.body
    );
    let duplicate = service.post(
        "/v1/directory",
        &invite("alice", "zoe", "carol@example.com"),
    )?;
    assert_eq!(
        (duplicate.status, duplicate.code()),
        (409, "duplicate_email")
    );

    // Two invites fit the 15-user plan, the third is refused with the counts.
    for (id, email) in [("zoe", "zoe@example.com"), ("yves", "yves@example.com")] {
        let done = service.post("/v1/directory", &invite("alice", id, email))?;
        assert!(done.ok(), "{}", done.body);
    }
    let full = service.post(
        "/v1/directory",
        &invite("alice", "xena", "xena@example.com"),
    )?;
    assert_eq!(full.status, 403);
    assert!(
        full.body["message"].as_str().is_some_and(
            |m| m.contains("has 15 user(s) taking a seat; its plan firm_standard allows 15")
        ),
        "{}",
        full.body
    );

    // A widened custom profile is refused with the rule it breaks.
    let wider = service.post(
        "/v1/directory",
        &json!({"actor": entity("User", "alice"), "op": "save_profile", "id": "mine",
                "name": "Mine", "base": entity("AccessProfile", "junior_accountant"),
                "levels": {"invoice.iban": "read"}}),
    )?;
    assert_eq!(
        (wider.status, wider.code()),
        (400, "profile_wider_than_base"),
        "{}",
        wider.body
    );

    // The new users are pending: nothing until they accept the invitation the outbox holds.
    let zoe_edits = || {
        decision(
            &server,
            &request("zoe", "edit_preferences", ("User", "zoe")),
        )
    };
    assert_eq!(zoe_edits()?.0, "deny");
    let events = service.get("/v1/outbox")?;
    assert!(events.ok(), "{}", events.body);
    let events = events.body.as_array().cloned().unwrap_or_default();
    let token_of = |events: &[Value], id: &str| {
        events
            .iter()
            .rev()
            .find(|e| e["payload"]["user"]["id"] == id)
            .and_then(|e| e["payload"]["token"].as_str().map(String::from))
            .unwrap_or_default()
    };
    assert_eq!(
        events
            .iter()
            .map(|e| (e["kind"].as_str(), e["payload"]["email"].as_str()))
            .collect::<Vec<_>>(),
        [
            (Some("invitation"), Some("zoe@example.com")),
            (Some("invitation"), Some("yves@example.com"))
        ]
    );
    // Another firm's service and a firm user's session read none of them.
    assert_eq!(
        server
            .client(Some("alice-session"))
            .get("/v1/outbox")?
            .status,
        403
    );
    // The token alone accepts (no bearer): once.
    let anonymous = server.anonymous();
    let accept = |token: &str| anonymous.post("/v1/invitations/accept", &json!({"token": token}));
    let zoe_token = token_of(&events, "zoe");
    let accepted = accept(&zoe_token)?;
    assert!(accepted.ok(), "{}", accepted.body);
    assert_eq!(
        accepted.body["summary"],
        "zoe accepted the invitation of User::\"zoe\""
    );
    assert_eq!(zoe_edits()?.0, "allow");
    assert_eq!(
        (accept(&zoe_token)?.status, accept(&zoe_token)?.code()),
        (404, "not_found")
    );
    assert_eq!(accept("0000")?.status, 404);
    assert_eq!(accept("")?.status, 400);
    // A session does not accept for its user: the token is the proof.
    let by_session = server.client(Some("alice-session")).post(
        "/v1/directory",
        &json!({"actor": entity("User", "alice"), "op": "accept_invitation", "user": entity("User", "alice")}),
    )?;
    assert_eq!(
        (by_session.status, by_session.code()),
        (403, "not_your_identity")
    );
    // Resent: a new token; the old one stops working.
    let resent = service.post(
        "/v1/directory",
        &json!({"actor": entity("User", "alice"), "op": "resend_invitation", "user": entity("User", "yves")}),
    )?;
    assert!(resent.ok(), "{}", resent.body);
    let after = events.last().map(|e| e["id"].clone()).unwrap_or_default();
    let newer = service.get(&format!("/v1/outbox?after={after}"))?.body;
    let newer = newer.as_array().cloned().unwrap_or_default();
    assert_eq!(newer.len(), 1);
    assert_eq!(newer[0]["kind"], "invitation_resent");
    assert_eq!(accept(&token_of(&events, "yves"))?.status, 404, "replaced");
    assert!(accept(&token_of(&newer, "yves"))?.ok());

    // The activity history says who did what.
    let audit = admin.get("/v1/admin/audit")?;
    let records = audit.body.as_array().cloned().unwrap_or_default();
    assert!(records
        .iter()
        .any(|r| r["action"] == "login" && r["kind"] == "login"));
    // Each record says what kind of change it was: clients filter on it, not on summaries.
    let summaries: Vec<(&str, &str)> = records
        .iter()
        .filter_map(|r| {
            let summary = r["detail"]["directory"]["summary"].as_str()?;
            Some((summary, r["kind"].as_str().unwrap_or("none")))
        })
        .collect();
    assert_eq!(
        summaries,
        [
            ("alice invited User::\"zoe\" (zoe@example.com)", "create"),
            ("alice invited User::\"yves\" (yves@example.com)", "create"),
            ("zoe accepted the invitation of User::\"zoe\"", "modify"),
            ("alice sent User::\"yves\"'s invitation again", "modify"),
            ("yves accepted the invitation of User::\"yves\"", "modify")
        ]
    );
    let bootstrap: Vec<(&Value, &Value)> = records
        .iter()
        .filter(|r| r["actor"] == "bootstrap")
        .map(|r| (&r["action"], &r["kind"]))
        .collect();
    assert_eq!(
        bootstrap,
        [
            (&json!("replace_entities"), &json!("create")),
            (&json!("deploy"), &json!("deploy"))
        ],
        "{records:?}"
    );
    assert_eq!(admin.get("/v1/admin/audit/verify")?.body["ok"], true);
    Ok(())
}

/// "Block this document for carol" as data: a template deployed once, then links made and
/// removed through the admin API, each a new version checked and tested like any deploy.
#[test]
fn template_links_are_made_and_removed_through_the_admin_api() -> TestResult {
    let server = Server::start("links", &[])?;
    let admin = server.admin();
    let mut files = demo_files()?;
    files.insert(
        "block.cedar".into(),
        json!("@id(\"block-document\")\nforbid (principal == ?principal, action, resource == ?resource);\n"),
    );
    let deployed = admin.post(
        "/v1/admin/deploy",
        &json!({"files": files, "message": "the blocking template"}),
    )?;
    assert_eq!(deployed.status, 200, "{}", deployed.body);
    let decide = || server.anonymous().post("/v1/decide", &frozen_doc_request());
    assert_eq!(decide()?.body["decision"], "allow");

    let link = json!({
        "template_id": "block-document",
        "link_id": "block-frozen-1-for-carol",
        "args": {"?principal": "User::\"carol\"", "?resource": "Document::\"frozen-1\""}
    });
    // Linking is a deploy: a viewer may not.
    let viewer = server.client(Some("viewer-secret"));
    assert_eq!(viewer.post("/v1/admin/links", &link)?.status, 403);
    let linked = admin.post("/v1/admin/links", &link)?;
    assert_eq!(linked.status, 200, "{}", linked.body);
    assert_eq!(linked.body["activated"], true);
    let answer = decide()?;
    assert_eq!(answer.body["decision"], "deny", "{}", answer.body);
    assert_eq!(
        answer.body["determining_policies"],
        json!(["block-frozen-1-for-carol"])
    );
    // Ids with a control character are refused at the boundary, as in every other write.
    for bad in [
        json!({"template_id": "block-document", "link_id": "a\u{0}b", "args": link["args"]}),
        json!({"template_id": "block-document", "link_id": "x", "args": {"?principal": "User::\"ca\u{1b}rol\"", "?resource": "Document::\"frozen-1\""}}),
        json!({"template_id": "block-document", "link_id": "x", "args": {"?principal": {"type": "User", "id": "a\nb"}, "?resource": "Document::\"frozen-1\""}}),
    ] {
        let refused = admin.post("/v1/admin/links", &bad)?;
        assert_eq!(
            (refused.status, refused.code()),
            (400, "control_character_in_id"),
            "{}",
            refused.body
        );
    }
    // The same link id twice: a conflict, nothing deployed.
    let again = admin.post("/v1/admin/links", &link)?;
    assert_eq!(
        (again.status, again.code()),
        (409, "conflict"),
        "{}",
        again.body
    );
    // A link to no template: the new version does not load, located in links.json.
    let bad = admin.post(
        "/v1/admin/links",
        &json!({"template_id": "nope", "link_id": "x", "args": {}}),
    )?;
    assert_eq!(
        (bad.status, bad.code()),
        (422, "invalid_bundle"),
        "{}",
        bad.body
    );
    assert_eq!(bad.body["location"]["file"], "links.json", "{}", bad.body);
    assert_eq!(
        decide()?.body["decision"],
        "deny",
        "still the linked version"
    );

    let unlinked = admin.send("DELETE", "/v1/admin/links/block-frozen-1-for-carol", None)?;
    assert_eq!(unlinked.status, 200, "{}", unlinked.body);
    assert_eq!(decide()?.body["decision"], "allow");
    let gone = admin.send("DELETE", "/v1/admin/links/block-frozen-1-for-carol", None)?;
    assert_eq!(gone.status, 404, "{}", gone.body);
    Ok(())
}

#[test]
fn time_bound_access_ends_on_the_servers_clock_whatever_time_a_caller_sends() -> TestResult {
    let server = Server::start("clock", &[])?;
    let interim = |id: &str, until: &str| {
        json!({
            "uid": entity("User", id),
            "attrs": {
                "name": id, "email": format!("{id}@example.com"),
                "firm": {"__entity": entity("Firm", "dupont")}, "external": false,
                "blocked": false, "can_delete": false,
                "access_until": {"__extn": {"fn": "datetime", "arg": until}},
                "profile": {"__entity": entity("AccessProfile", "full_accounting_standard")},
                "department_restricted": false, "departments": []
            },
            "parents": [entity("Role", "accountant"), entity("Team", "acme/accountant")]
        })
    };
    let delta =
        json!({"upsert": [interim("gone", "2020-01-01"), interim("staying", "2999-12-31")]});
    let author = server.client(Some("author-secret"));
    let written = author.send("PATCH", "/v1/entities", Some(&delta.to_string()))?;
    assert_eq!(written.status, 200, "{}", written.body);

    let api = server.anonymous();
    let at = |who: &str, now: Option<&str>| -> Result<Value, Box<dyn std::error::Error>> {
        let mut body = request(who, "view_client", ("Client", "acme"));
        if let Some(now) = now {
            body["context"] = json!({"now": {"__extn": {"fn": "datetime", "arg": now}}});
        }
        Ok(api.post("/v1/decide", &body)?.body)
    };
    // An expired access stays expired with an old date sent: the server's clock replaces it.
    let old_date = at("gone", Some("2019-06-01"))?;
    assert_eq!(old_date["decision"], "deny", "{old_date}");
    assert_eq!(
        old_date["determining_policies"],
        json!(["access-ends-at-its-end-date"])
    );
    // A running access needs no date from the caller: the server puts its own.
    let no_date = at("staying", None)?;
    assert_eq!(no_date["decision"], "allow", "{no_date}");
    let late_date = at("staying", Some("3000-01-01"))?;
    assert_eq!(late_date["decision"], "allow", "{late_date}");
    // The same in a matrix and a batch.
    let matrix = api.post(
        "/v1/matrix",
        &json!({"principal": entity("User", "gone"), "actions": [entity("Action", "view_client")],
                "resources": [entity("Client", "acme")],
                "context": {"now": {"__extn": {"fn": "datetime", "arg": "2019-06-01"}}}}),
    )?;
    assert_eq!(matrix.status, 200, "{}", matrix.body);
    assert_eq!(
        matrix.body["rows"][0]["decisions"]["view_client"], "deny",
        "{}",
        matrix.body
    );
    let batch = api.post(
        "/v1/decide/batch",
        &json!({"requests": [request("staying", "view_client", ("Client", "acme"))]}),
    )?;
    assert_eq!(
        batch.body["results"][0]["decision"], "allow",
        "{}",
        batch.body
    );
    Ok(())
}

/// An invitation accepted after its token expired (`--invitation-days 0`: at once) is refused
/// with 410 and changes nothing.
#[test]
fn an_expired_invitation_is_refused_and_changes_nothing() -> TestResult {
    let server = Server::start("invitation-expiry", &["--invitation-days", "0"])?;
    let service = server.client(Some(SERVICE));
    let invite = json!({"actor": entity("User", "alice"), "op": "invite_user", "id": "zoe",
        "name": "Martin", "first_name": "Zoe", "email": "zoe@example.com", "roles": ["accountant"]});
    assert!(service.post("/v1/directory", &invite)?.ok());
    let token = service.get("/v1/outbox")?.body[0]["payload"]["token"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let expired = server
        .anonymous()
        .post("/v1/invitations/accept", &json!({"token": token}))?;
    assert_eq!(
        (expired.status, expired.code()),
        (410, "invitation_expired"),
        "{}",
        expired.body
    );
    let (d, _) = decision(
        &server,
        &request("zoe", "edit_preferences", ("User", "zoe")),
    )?;
    assert_eq!(d, "deny", "still pending");
    Ok(())
}
