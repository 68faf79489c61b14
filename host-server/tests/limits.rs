//! The server's limits hold against callers who push on them (issue 14): time budgets that stop
//! work, storage that stays bounded, who may call and how often, and every refusal a JSON error
//! with a stable code. Each test replays one of the cases that were found to break, against a
//! real `sesame serve` process.

mod support;

use std::thread;
use std::time::Duration;

use host_server::store::audit::{verify, verify_with_head, ChainCheck};
use host_server::store::sqlite::SqliteStore;
use host_server::store::PolicyStore;
use serde_json::{json, Value};
use support::{demo_files, entity, request, Server, TestResult};

/// Context entries of a slow request: about 140 ms for the guest to read (10 ms per 1,000
/// here), three times the 50 ms evaluation budget the tests give; 450 KB to send.
const SLOW: usize = 12_000;

/// A request whose context takes the guest a while to read: slow to decide, small enough to
/// send.
fn slow_request(entries: usize) -> Value {
    let mut r = request("carol", "view_document", ("Document", "inv-1"));
    r["context"] = json!({ "noise": (0..entries).map(|i| json!({"k": i, "v": [i, i, i]})).collect::<Vec<_>>() });
    r
}

fn carol_views_inv1() -> Value {
    request("carol", "view_document", ("Document", "inv-1"))
}

/// `decision` or `error.code` of each batch result.
fn outcomes(answer: &Value) -> Vec<String> {
    answer["results"]
        .as_array()
        .map(|items| {
            items
                .iter()
                .map(|item| {
                    item["decision"]
                        .as_str()
                        .or_else(|| item["error"]["code"].as_str())
                        .unwrap_or("?")
                        .to_string()
                })
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn a_batch_item_fails_alone_and_a_batch_stops_at_its_budget() -> TestResult {
    // Seed: each item gets one evaluation budget (50 ms here).
    let server = Server::start(
        "limits-batch",
        &["--eval-timeout-ms", "50", "--decision-log-sample", "0"],
    )?;
    let api = server.anonymous();
    let mut nul = carol_views_inv1();
    nul["principal"]["id"] = json!("ca\u{0}rol");
    let items = [
        carol_views_inv1(),
        slow_request(SLOW),
        request("dave", "view_document", ("Document", "inv-1")),
        json!({"principal": 5}),
        nul,
        carol_views_inv1(),
    ];
    let r = api.post("/v1/decide/batch", &json!({ "requests": items }))?;
    assert_eq!(r.status, 200, "{}", r.body);
    // The slow item is cut at its own budget, the malformed and the NUL ones fail alone; the
    // others are decided.
    assert_eq!(
        outcomes(&r.body),
        [
            "allow",
            "deadline_exceeded",
            "deny",
            "malformed_json",
            "control_character_in_id",
            "allow"
        ],
        "{}",
        r.body
    );

    // A batch gets 1.5 s in all. A slow item costs its budget and the rebuild of the instance
    // it was cut on: sixty of them do not fit. What was not evaluated says so.
    let server = Server::start(
        "limits-batch-budget",
        &[
            "--eval-timeout-ms",
            "50",
            "--max-body",
            "67108864",
            "--batch-budget-ms",
            "1500",
            "--decision-log-sample",
            "0",
        ],
    )?;
    let api = server.anonymous();
    let mut slow: Vec<Value> = (0..60).map(|_| slow_request(SLOW)).collect();
    slow.push(carol_views_inv1());
    let r = api.post("/v1/decide/batch", &json!({ "requests": slow }))?;
    assert_eq!(r.status, 200, "{}", r.body);
    let got = outcomes(&r.body);
    assert_eq!(got.len(), slow.len());
    assert_eq!(got.last().map(String::as_str), Some("budget_exceeded"));
    assert!(
        r.body["results"][got.len() - 1]["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("budget of 1.5s")),
        "{}",
        r.body["results"][got.len() - 1]
    );
    Ok(())
}

#[test]
fn two_slow_batches_do_not_starve_a_single_decision() -> TestResult {
    // Two workers, each batch 8 s of guest time at most.
    let server = Server::start(
        "limits-starve",
        &[
            "--workers",
            "2",
            "--max-body",
            "67108864",
            "--batch-budget-ms",
            "8000",
            "--decision-log-sample",
            "0",
        ],
    )?;
    // Each item about 70 ms (6,000 context entries, well within its 500 ms budget): a hundred
    // and fifty are more than eight seconds of work.
    let slow_batch =
        json!({ "requests": (0..150).map(|_| slow_request(6_000)).collect::<Vec<_>>() });
    let batches: Vec<_> = (0..2)
        .map(|_| {
            let (api, body) = (server.anonymous(), slow_batch.clone());
            thread::spawn(move || api.post("/v1/decide/batch", &body))
        })
        .collect();
    // Both batches hold both workers, slice after slice; a single decision gets a worker
    // between two slices.
    thread::sleep(Duration::from_millis(1000));
    let single = server.anonymous().post("/v1/decide", &carol_views_inv1())?;
    let batches_running = batches.iter().filter(|b| !b.is_finished()).count();
    assert_eq!(
        (single.status, single.body["decision"].as_str()),
        (200, Some("allow")),
        "{}",
        single.body
    );
    assert_eq!(
        batches_running, 2,
        "the single decision was answered while both batches ran"
    );
    // Each batch is cut off at its budget, with the right error for what it did not evaluate.
    for batch in batches {
        let r = batch.join().map_err(|_| "batch thread panicked")??;
        assert_eq!(r.status, 200, "{}", r.body);
        let got = outcomes(&r.body);
        // The slow requests carry a context the schema refuses: evaluated, they answer
        // invalid_request.
        assert_eq!(got.first().map(String::as_str), Some("invalid_request"));
        assert_eq!(got.last().map(String::as_str), Some("budget_exceeded"));
    }
    Ok(())
}

#[test]
fn the_request_timeout_cuts_a_slow_decision_and_frees_its_worker() -> TestResult {
    // One worker, a one-second request timeout, an evaluation budget far longer than that.
    let server = Server::start(
        "limits-timeout",
        &[
            "--workers",
            "1",
            "--request-timeout-s",
            "1",
            "--eval-timeout-ms",
            "60000",
            "--max-decide-body",
            "16777216",
            "--decision-log-sample",
            "0",
        ],
    )?;
    // About three seconds of guest work: cut at the request's deadline.
    let r = server
        .anonymous()
        .post("/v1/decide", &slow_request(250_000))?;
    assert_eq!((r.status, r.code()), (408, "request_timeout"), "{}", r.body);
    // Nothing runs on after the answer: the only worker takes the next call (had the slow
    // evaluation gone on, this one would wait for it and time out too).
    let next = server.anonymous().post("/v1/decide", &carol_views_inv1())?;
    assert_eq!(
        (next.status, next.body["decision"].as_str()),
        (200, Some("allow")),
        "{}",
        next.body
    );
    Ok(())
}

#[test]
fn a_matrix_row_past_its_budget_ends_the_matrix_with_504() -> TestResult {
    let server = Server::start(
        "limits-matrix",
        &["--eval-timeout-ms", "50", "--decision-log-sample", "0"],
    )?;
    let api = server.anonymous();
    let mut matrix = json!({
        "principal": entity("User", "carol"),
        "actions": [entity("Action", "view_document")],
        "resources": (0..40).map(|i| entity("Document", &format!("d{i}"))).collect::<Vec<_>>(),
    });
    let fast = api.post("/v1/matrix", &matrix)?;
    assert_eq!(fast.status, 200, "{}", fast.body);
    assert_eq!(fast.body["rows"].as_array().map(Vec::len), Some(40));
    matrix["context"] = slow_request(SLOW)["context"].clone();
    let slow = api.post("/v1/matrix", &matrix)?;
    assert_eq!(
        (slow.status, slow.code()),
        (504, "deadline_exceeded"),
        "{}",
        slow.body
    );
    Ok(())
}

/// The demo bundle with `cases` more test cases (each a decision to check): a bundle whose
/// tests take long.
fn bundle_with_many_tests(cases: usize) -> Result<Value, Box<dyn std::error::Error>> {
    let mut files = demo_files()?;
    let mut yaml = String::from(
        "description: many cases\nfixtures: [tests/fixtures/demo-firm.json]\ncases:\n",
    );
    for i in 0..cases {
        yaml.push_str(&format!(
            "  - name: case {i}\n    principal: User::\"carol\"\n    action: view_document\n    resource: Document::\"inv-1\"\n    expect: allow\n"
        ));
    }
    files.insert("tests/many.test.yaml".into(), json!(yaml));
    Ok(json!({"files": files, "message": "slow tests", "activate": true}))
}

#[test]
fn deploy_tests_have_a_time_limit_and_do_not_hold_the_change_lock() -> TestResult {
    let server = Server::start("limits-deploy", &["--deploy-tests-timeout-ms", "1000"])?;
    let admin = server.admin();
    let before = admin.get("/v1/admin/history")?;
    // About five seconds of tests (measured 0.28 ms a case).
    let body = bundle_with_many_tests(20_000)?;
    let deploy = {
        let admin = admin.clone();
        thread::spawn(move || admin.post("/v1/admin/deploy", &body))
    };
    // While the tests run, an entity write goes through: the change lock is not held.
    thread::sleep(Duration::from_millis(300));
    let write = admin.send(
        "PATCH",
        "/v1/entities",
        Some(
            &json!({"upsert": [{"uid": entity("Document", "during-deploy"), "attrs": {
                "client": {"__entity": entity("Client", "acme")}, "kind": "customer_invoice",
                "archived": false}, "parents": [entity("Client", "acme")]}]})
            .to_string(),
        ),
    )?;
    let deploy_still_running = !deploy.is_finished();
    assert!(write.ok(), "{}", write.body);
    assert!(
        deploy_still_running,
        "the entity write was answered while the deploy's tests ran"
    );
    let r = deploy.join().map_err(|_| "deploy thread panicked")??;
    assert_eq!((r.status, r.code()), (422, "tests_timeout"), "{}", r.body);
    // Nothing changed but the audit of the rejection.
    let after = admin.get("/v1/admin/history")?;
    assert_eq!(after.body["versions"], before.body["versions"]);
    assert_eq!(after.body["active"], before.body["active"]);
    let audit = admin.get("/v1/admin/audit")?;
    let rejected = audit.body.as_array().and_then(|records| {
        records
            .iter()
            .rev()
            .find(|r| r["action"] == "deploy_rejected")
            .cloned()
    });
    assert_eq!(
        rejected.map(|r| r["detail"]["code"].clone()),
        Some(json!("tests_timeout"))
    );
    Ok(())
}

/// Sends only the headers of a POST announcing a body of `length` bytes, and reads the answer:
/// what a server says before it reads a body (a client that sent the body would see the
/// connection closed under it).
fn announce_body(
    server: &Server,
    path: &str,
    length: usize,
) -> Result<(u16, Value), Box<dyn std::error::Error>> {
    use std::io::{Read, Write};
    let addr = server.url.trim_start_matches("http://");
    let mut stream = std::net::TcpStream::connect(addr)?;
    stream.set_read_timeout(Some(Duration::from_secs(30)))?;
    write!(
        stream,
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {length}\r\nConnection: close\r\n\r\n"
    )?;
    let mut answer = String::new();
    stream.read_to_string(&mut answer)?;
    let status = answer
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = answer.split("\r\n\r\n").nth(1).unwrap_or_default();
    Ok((status, serde_json::from_str(body)?))
}

/// Total bytes of decision records in a server's SQLite store.
fn logged_bytes(server: &Server) -> Result<(i64, i64), Box<dyn std::error::Error>> {
    let db = rusqlite::Connection::open(server.data.join("sesame.db"))?;
    Ok(db.query_row(
        "SELECT COUNT(*), COALESCE(SUM(length(CAST(record AS BLOB))), 0) FROM decisions",
        [],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )?)
}

#[test]
fn the_decision_log_stays_within_its_record_and_total_size() -> TestResult {
    let server = Server::start(
        "limits-log",
        &[
            "--decision-log-max-bytes",
            "200000",
            "--decision-log-max-record-bytes",
            "2048",
        ],
    )?;
    let api = server.anonymous();
    let admin = server.admin();
    // The replayed case: a 4 MiB context on /v1/decide is refused (its body read and dropped,
    // so that the client reads the answer), and one announced far larger without being read.
    let mut huge = carol_views_inv1();
    huge["context"] = json!({ "blob": "x".repeat(4 << 20) });
    let r = api.post("/v1/decide", &huge)?;
    assert_eq!((r.status, r.code()), (413, "body_too_large"), "{}", r.body);
    let (status, body) = announce_body(&server, "/v1/decide", 1 << 30)?;
    assert_eq!(
        (status, body["code"].as_str()),
        (413, Some("body_too_large")),
        "{body}"
    );

    // Under the body limit but over the record cap: decided, logged with its context cut.
    let mut large = request("kim", "assign_client_role", ("Client", "acme"));
    large["context"] =
        json!({ "role": "x".repeat(500_000), "user": {"__entity": entity("User", "noah")} });
    let r = api.post("/v1/decide", &large)?;
    assert_eq!(r.status, 200, "{}", r.body);
    let logged = support::wait_until(
        || {
            admin.get("/v1/admin/decisions?limit=5").is_ok_and(|r| {
                r.body.as_array().is_some_and(|records| {
                    records
                        .iter()
                        .any(|rec| rec["request"]["context"]["_truncated"] == true)
                })
            })
        },
        "the large request logged with its context cut",
    );
    assert!(logged.is_ok(), "{logged:?}");
    let records = admin.get("/v1/admin/decisions?limit=5")?;
    let cut = records.body.as_array().and_then(|records| {
        records
            .iter()
            .find(|rec| rec["request"]["context"]["_truncated"] == true)
            .cloned()
    });
    assert_eq!(
        cut.as_ref()
            .map(|c| c["request"]["principal"]["id"].clone()),
        Some(json!("kim"))
    );
    assert!(
        cut.as_ref()
            .and_then(|c| c["request"]["context"]["bytes"].as_u64())
            .is_some_and(|b| b > 500_000),
        "{cut:?}"
    );

    // Thousands of decisions later the log holds about its cap, newest kept.
    let batch = json!({ "requests": (0..1_000).map(|_| carol_views_inv1()).collect::<Vec<_>>() });
    for _ in 0..4 {
        let r = api.post("/v1/decide/batch", &batch)?;
        assert_eq!(r.status, 200, "{}", r.body);
    }
    let bounded = support::wait_until(
        || logged_bytes(&server).is_ok_and(|(rows, bytes)| rows > 100 && bytes <= 200_000 + 60_000),
        "the decision log pruned to its size cap",
    );
    assert!(bounded.is_ok(), "{bounded:?}: {:?}", logged_bytes(&server));
    let newest = admin.get("/v1/admin/decisions?limit=1")?;
    assert_eq!(newest.body[0]["request"]["principal"]["id"], "carol");
    Ok(())
}

#[test]
fn decisions_can_need_a_token_and_each_client_has_a_rate() -> TestResult {
    let server = Server::start(
        "limits-admission",
        &[
            "--decisions-need-token",
            "--rate-limit",
            "0.5",
            "--rate-burst",
            "3",
        ],
    )?;
    let anonymous = server.anonymous().post("/v1/decide", &carol_views_inv1())?;
    assert_eq!(
        (anonymous.status, anonymous.code()),
        (401, "unauthorized"),
        "{}",
        anonymous.body
    );
    let unknown = server
        .client(Some("guess"))
        .post("/v1/decide", &carol_views_inv1())?;
    assert_eq!((unknown.status, unknown.code()), (401, "unauthorized"));
    // Any role the admin policy allows `decide`: a viewer's token will do.
    let viewer = server.client(Some("viewer-secret"));
    for _ in 0..2 {
        let r = viewer.post("/v1/decide", &carol_views_inv1())?;
        assert_eq!(r.body["decision"], "allow", "{}", r.body);
    }
    // The burst of three is spent (the unknown token counted against the peer address, not
    // against this token): the next call waits.
    let third = viewer.post("/v1/decide", &carol_views_inv1())?;
    assert!(third.ok(), "{}", third.body);
    let limited = viewer.post("/v1/decide", &carol_views_inv1())?;
    assert_eq!(
        (limited.status, limited.code()),
        (429, "rate_limited"),
        "{}",
        limited.body
    );
    assert!(
        limited
            .retry_after
            .as_deref()
            .and_then(|s| s.parse::<u64>().ok())
            .is_some_and(|s| (1..=2).contains(&s)),
        "{:?}",
        limited.retry_after
    );
    // Another client has its own bucket.
    let other = server
        .client(Some("author-secret"))
        .post("/v1/decide", &carol_views_inv1())?;
    assert!(other.ok(), "{}", other.body);
    Ok(())
}

#[test]
fn errors_no_handler_writes_are_json_too() -> TestResult {
    let server = Server::start("limits-json", &[])?;
    let api = server.admin();
    let unknown = api.get("/v1/no-such-thing")?;
    assert_eq!((unknown.status, unknown.code()), (404, "not_found"));
    let (status, text, headers) = api.exchange("GET", "/v1/decide", None, &[])?;
    let body: Value = serde_json::from_str(&text)?;
    assert_eq!(
        (status, body["code"].as_str()),
        (405, Some("method_not_allowed"))
    );
    assert_eq!(
        headers.get("allow").and_then(|v| v.to_str().ok()),
        Some("POST")
    );
    let query = api.get("/v1/admin/audit?limit=many")?;
    assert_eq!(
        (query.status, query.code()),
        (400, "invalid_query"),
        "{}",
        query.body
    );
    let missing = api.get("/v1/admin/diff")?;
    assert_eq!(
        (missing.status, missing.code()),
        (400, "invalid_query"),
        "{}",
        missing.body
    );
    Ok(())
}

#[test]
fn ids_with_control_characters_are_refused_at_the_boundary() -> TestResult {
    let server = Server::start("limits-ids", &[])?;
    let admin = server.admin();
    let mut nul = carol_views_inv1();
    nul["resource"]["id"] = json!("inv-1\u{0}");
    let r = server.anonymous().post("/v1/decide", &nul)?;
    assert_eq!(
        (r.status, r.code()),
        (400, "control_character_in_id"),
        "{}",
        r.body
    );
    assert!(
        r.body["message"]
            .as_str()
            .is_some_and(|m| m.contains("resource.id") && m.contains("U+0000")),
        "{}",
        r.body
    );
    let entities_before = admin.get("/v1/admin/entities")?.body;
    let write = admin.send(
        "PATCH",
        "/v1/entities",
        Some(
            &json!({"upsert": [{"uid": entity("User", "mallory\u{1b}[2J"), "attrs": {},
                "parents": []}]})
            .to_string(),
        ),
    )?;
    assert_eq!(
        (write.status, write.code()),
        (400, "control_character_in_id"),
        "{}",
        write.body
    );
    let remove = admin.send(
        "PATCH",
        "/v1/entities",
        Some(&json!({"remove": [entity("User", "alice\n")]}).to_string()),
    )?;
    assert_eq!(remove.code(), "control_character_in_id", "{}", remove.body);
    assert_eq!(admin.get("/v1/admin/entities")?.body, entities_before);
    Ok(())
}

#[test]
fn one_patch_names_each_uid_once() -> TestResult {
    let server = Server::start("limits-dup", &[])?;
    let admin = server.admin();
    let doc = |archived: bool| {
        json!({"uid": entity("Document", "twice"), "attrs": {
            "client": {"__entity": entity("Client", "acme")}, "kind": "customer_invoice",
            "archived": archived}, "parents": [entity("Client", "acme")]})
    };
    let audit_len = |a: &host_server::client::ApiClient| {
        a.get("/v1/admin/audit")
            .map(|r| r.body.as_array().map_or(0, Vec::len))
    };
    let before = audit_len(&admin)?;
    let twice = admin.send(
        "PATCH",
        "/v1/entities",
        Some(&json!({"upsert": [doc(false), doc(true)]}).to_string()),
    )?;
    assert_eq!(
        (twice.status, twice.code()),
        (409, "entity_duplicate"),
        "{}",
        twice.body
    );
    let upsert_and_remove = admin.send(
        "PATCH",
        "/v1/entities",
        Some(&json!({"upsert": [doc(false)], "remove": [entity("Document", "twice")]}).to_string()),
    )?;
    assert_eq!(
        (upsert_and_remove.status, upsert_and_remove.code()),
        (409, "entity_duplicate"),
        "{}",
        upsert_and_remove.body
    );
    assert_eq!(audit_len(&admin)?, before, "nothing was written");
    let once = admin.send(
        "PATCH",
        "/v1/entities",
        Some(&json!({"upsert": [doc(false)]}).to_string()),
    )?;
    assert!(once.ok(), "{}", once.body);
    Ok(())
}

#[test]
fn admin_writes_check_the_token_before_reading_the_body() -> TestResult {
    let server = Server::start("limits-token-first", &[])?;
    let garbage = Some("{\"files\": [this is not json");
    for (method, path) in [
        ("POST", "/v1/admin/deploy"),
        ("POST", "/v1/admin/activate"),
        ("POST", "/v1/admin/rollback"),
        ("POST", "/v1/admin/validate"),
        ("PUT", "/v1/entities"),
        ("PATCH", "/v1/entities"),
    ] {
        let r = server.anonymous().send(method, path, garbage)?;
        assert_eq!(
            (r.status, r.code()),
            (401, "unauthorized"),
            "{method} {path}: {}",
            r.body
        );
    }
    // A known token with too little role is refused before its body is read too.
    let viewer = server.client(Some("viewer-secret"));
    let r = viewer.send("POST", "/v1/admin/deploy", garbage)?;
    assert_eq!((r.status, r.code()), (403, "forbidden"), "{}", r.body);
    // With the right token the body is read, and refused for what it is.
    let r = server.admin().send("POST", "/v1/admin/deploy", garbage)?;
    assert_eq!((r.status, r.code()), (400, "malformed_json"), "{}", r.body);
    Ok(())
}

/// The audit chain as stored in a (stopped) server's SQLite store, checked against `head`.
fn stored_chain(
    data: &std::path::Path,
    head: Option<&str>,
) -> Result<ChainCheck, Box<dyn std::error::Error>> {
    let records = SqliteStore::open(data)?.audit(0, usize::MAX >> 1)?;
    Ok(match head {
        Some(head) => verify_with_head(&records, head),
        None => verify(&records),
    })
}

#[test]
fn a_published_audit_head_reveals_a_truncated_chain() -> TestResult {
    let mut server = Server::start("limits-audit-head", &[])?;
    let admin = server.admin();
    assert!(admin.post("/v1/admin/login", &json!({}))?.ok());
    // A viewer may read the head to publish it.
    let head = server
        .client(Some("viewer-secret"))
        .get("/v1/admin/audit/head")?;
    assert!(head.ok(), "{}", head.body);
    let (seq, hash) = (
        head.body["seq"].as_u64().unwrap_or_default(),
        head.body["hash"].as_str().unwrap_or_default().to_string(),
    );
    assert!(seq >= 2, "{}", head.body);
    let verified = admin.get(&format!("/v1/admin/audit/verify?head={hash}"))?;
    assert_eq!(verified.body["ok"], true, "{}", verified.body);

    // The last record is deleted: the chain still links up, only the published head shows it.
    server.kill();
    let db = rusqlite::Connection::open(server.data.join("sesame.db"))?;
    db.execute("DELETE FROM audit WHERE seq = ?1", [seq as i64])?;
    drop(db);
    // (`sesame audit verify` prints these checks: cli/tests/remote.rs.)
    assert!(
        stored_chain(&server.data, None)?.ok,
        "a shorter chain still links up"
    );
    let check = stored_chain(&server.data, Some(&hash))?;
    assert_eq!(check.broken_at, Some(seq), "{check:?}");
    assert!(
        check
            .reason
            .as_deref()
            .unwrap_or_default()
            .contains("removed"),
        "{check:?}"
    );
    // The server says the same.
    server.crash_and_restart()?;
    let check = server
        .admin()
        .get(&format!("/v1/admin/audit/verify?head={hash}"))?;
    assert_eq!(check.body["ok"], false, "{}", check.body);
    assert_eq!(check.body["broken_at"], seq, "{}", check.body);
    Ok(())
}
