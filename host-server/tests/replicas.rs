//! Several `sesame serve` replicas on one real PostgreSQL: a deploy or an entity write on one is
//! answered by every replica within a second; concurrent activations keep the history linear
//! and the audit chain valid; a replica killed mid-deploy leaves nothing half-done; a replica
//! that loses the database keeps deciding, reports not-ready, and catches up when it returns.

mod support;

use std::time::{Duration, Instant};

use serde_json::{json, Value};
use support::{
    demo_files, entity, frozen_doc_request, request, Postgres, Server, TestResult, FREEZE,
};

fn decide(server: &Server, req: &Value) -> Result<Value, Box<dyn std::error::Error>> {
    let r = server.anonymous().post("/v1/decide", req)?;
    assert_eq!(r.status, 200, "{}", r.body);
    Ok(r.body)
}

/// Polls until `ok` holds on the answer to `req`; returns how long it took.
fn until(
    server: &Server,
    req: &Value,
    ok: impl Fn(&Value) -> bool,
) -> Result<Duration, Box<dyn std::error::Error>> {
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(10) {
        if ok(&decide(server, req)?) {
            return Ok(started.elapsed());
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    Err(format!("{} never answered as expected", server.url).into())
}

fn freeze_files(
    policy: &str,
) -> Result<serde_json::Map<String, Value>, Box<dyn std::error::Error>> {
    let mut files = demo_files()?;
    files.insert("freeze.cedar".into(), json!(policy));
    Ok(files)
}

#[test]
fn replicas_follow_one_postgres_store() -> TestResult {
    let pg = Postgres::start("replicas")?;
    let url = pg.url();
    let db = ["--database-url", url.as_str()];
    // The first replica seeds the empty store; the others find it seeded.
    let r1 = Server::start("rep1", &db)?;
    let r2 = Server::start("rep2", &db)?;
    let mut r3 = Server::start("rep3", &db)?;
    let view_inv1 = frozen_doc_request();
    for r in [&r1, &r2, &r3] {
        assert_eq!(decide(r, &view_inv1)?["decision"], "allow");
    }

    // A deploy on one replica is answered by the others within a second.
    let deployed = r1.admin().post(
        "/v1/admin/deploy",
        &json!({"files": freeze_files(FREEZE)?, "message": "freeze frozen-1"}),
    )?;
    assert_eq!(deployed.status, 200, "{}", deployed.body);
    let v2 = deployed.body["version"]["digest"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    for r in [&r2, &r3] {
        let took = until(r, &view_inv1, |a| a["bundle_digest"] == v2.as_str())?;
        println!("deploy propagation to {}: {took:?}", r.url);
        assert!(took < Duration::from_secs(1), "took {took:?}");
        assert_eq!(decide(r, &view_inv1)?["decision"], "deny");
    }

    // An entity write on one replica reaches the others the same way.
    let new_doc = json!({"upsert": [{
        "uid": entity("Document", "new-1"),
        "attrs": {"client": {"__entity": entity("Client", "acme")}, "kind": "bank_statement", "archived": false},
        "parents": [entity("Client", "acme")]
    }]});
    let patched = r2
        .admin()
        .send("PATCH", "/v1/entities", Some(&new_doc.to_string()))?;
    assert_eq!(patched.status, 200, "{}", patched.body);
    let view_new = request("carol", "view_document", ("Document", "new-1"));
    for r in [&r1, &r3] {
        let took = until(r, &view_new, |a| a["decision"] == "allow")?;
        println!("entity propagation to {}: {took:?}", r.url);
        assert!(took < Duration::from_secs(1), "took {took:?}");
    }

    // Two replicas moving the active version at once: one linear history, one valid chain.
    let v1 = r1.admin().get("/v1/admin/history")?.body["versions"][0]["digest"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let switchers: Vec<_> = [&r1, &r2]
        .into_iter()
        .map(|r| {
            let (api, v1, v2) = (r.admin(), v1.clone(), v2.clone());
            std::thread::spawn(move || -> Result<(), String> {
                for i in 0..8 {
                    let target = if i % 2 == 0 { &v1 } else { &v2 };
                    let res = api
                        .post("/v1/admin/activate", &json!({ "digest": target }))
                        .map_err(|e| e.to_string())?;
                    if res.status != 200 {
                        return Err(res.body.to_string());
                    }
                }
                Ok(())
            })
        })
        .collect();
    for s in switchers {
        s.join().map_err(|_| "switcher panicked")??;
    }
    let history = r3.admin().get("/v1/admin/history")?.body;
    let activations = history["activations"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    for pair in activations.windows(2) {
        assert_eq!(
            pair[1]["previous"], pair[0]["digest"],
            "each activation follows the one before: {pair:?}"
        );
    }
    let audit = r3.admin().get("/v1/admin/audit/verify")?.body;
    assert_eq!(audit["ok"], true, "{audit}");
    // Everyone converges on the last activation.
    let last = activations
        .last()
        .map(|a| a["digest"].clone())
        .unwrap_or_default();
    for r in [&r1, &r2, &r3] {
        until(r, &view_inv1, |a| a["bundle_digest"] == last)?;
    }

    // A replica killed in the middle of a deploy leaves all-or-nothing behind.
    let api = r3.admin();
    let files = freeze_files(
        "@id(\"freeze-frozen-2\")\nforbid (principal, action, resource == Document::\"frozen-2\");\n",
    )?;
    let deploy = std::thread::spawn(move || {
        api.post(
            "/v1/admin/deploy",
            &json!({"files": files, "message": "interrupted"}),
        )
    });
    std::thread::sleep(Duration::from_millis(30));
    r3.kill();
    let _ = deploy.join();
    let history = r1.admin().get("/v1/admin/history")?.body;
    let versions = history["versions"]
        .as_array()
        .map(Vec::len)
        .unwrap_or_default();
    let activations = history["activations"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let last = activations
        .last()
        .map(|a| a["digest"].clone())
        .unwrap_or_default();
    assert!(versions == 2 || (versions == 3 && last == history["versions"][2]["digest"]));
    assert_eq!(r1.admin().get("/v1/admin/audit/verify")?.body["ok"], true);

    // The database goes away: decisions go on from memory, readiness says why; it comes back.
    pg.stop()?;
    assert_eq!(decide(&r1, &view_inv1)?["bundle_digest"], last);
    // A decision made while the database is away is spooled by r1 and logged once it is back.
    let while_down = request("carol", "view_document", ("Document", "decided-while-down"));
    decide(&r1, &while_down)?;
    let started = Instant::now();
    loop {
        let ready = r1.anonymous().get("/readyz")?;
        if ready.status == 503 {
            assert_eq!(ready.body["code"], "store_unavailable");
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "still ready without a database"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    pg.resume()?;
    let started = Instant::now();
    while r1.anonymous().get("/readyz")?.status != 200 {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "did not recover"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let started = Instant::now();
    loop {
        let log = r2.admin().get("/v1/admin/decisions?limit=100000")?;
        let spooled = log.body.as_array().is_some_and(|records| {
            records
                .iter()
                .any(|r| r["request"]["resource"]["id"] == "decided-while-down")
        });
        if spooled {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "the decision made without the database never reached the log"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let redeployed = r1
        .admin()
        .post("/v1/admin/activate", &json!({"digest": v2}))?;
    assert_eq!(redeployed.status, 200, "{}", redeployed.body);
    until(&r2, &view_inv1, |a| a["bundle_digest"] == v2.as_str())?;
    Ok(())
}

/// A decision record logged at `at`, about `padding` bytes long.
fn logged_at(at: &str, padding: usize) -> host_server::store::DecisionRecord {
    host_server::store::DecisionRecord {
        at: at.into(),
        request: json!({ "padding": "x".repeat(padding) }),
        decision: "allow".into(),
        determining_policies: vec![],
        digest: "d".into(),
        latency_us: 1,
    }
}

#[test]
fn the_postgres_store_bounds_its_decision_log_and_its_published_head_catches_truncation(
) -> TestResult {
    use host_server::store::audit::{verify, verify_with_head, ChainCheck};
    use host_server::store::postgres::PgStore;
    use host_server::store::{AuditDraft, PolicyStore};
    let pg = Postgres::start("bounds")?;
    let url = pg.url();
    let store = PgStore::open(&url)?;

    // Retention by age, then by size (about 1,100 bytes a record: 5,000 keep four).
    let old: Vec<_> = (0..3)
        .map(|_| logged_at("2020-01-01T00:00:00.000Z", 10))
        .collect();
    let new: Vec<_> = (0..10)
        .map(|_| logged_at("2030-01-01T00:00:00.000Z", 1_000))
        .collect();
    store.append_decisions(&old)?;
    store.append_decisions(&new)?;
    let cut = "2025-01-01T00:00:00.000Z";
    assert_eq!(store.prune_decisions(cut, u64::MAX)?, 3);
    assert_eq!(store.prune_decisions(cut, 5_000)?, 6);
    assert_eq!(store.decisions(100)?.len(), 4);
    assert_eq!(store.prune_decisions(cut, 5_000)?, 0);

    // The audit chain on PostgreSQL: a published head catches its last record deleted.
    for action in ["deploy", "activate", "rollback"] {
        store.append_audit(AuditDraft {
            actor: "t".into(),
            role: "admin".into(),
            action: action.into(),
            version_before: None,
            version_after: None,
            detail: Value::Null,
        })?;
    }
    let head = store.audit_head()?.ok_or("no head")?;
    assert_eq!(head.seq, 3);
    // What `sesame audit verify --database-url URL [--head H]` checks (its exit codes and
    // text: cli/tests/remote.rs).
    let check = |head: Option<&str>| -> Result<ChainCheck, Box<dyn std::error::Error>> {
        let records = PgStore::open(&url)?.audit(0, usize::MAX >> 1)?;
        Ok(match head {
            Some(head) => verify_with_head(&records, head),
            None => verify(&records),
        })
    };
    assert!(check(Some(&head.hash))?.ok);
    let mut client = postgres::Client::connect(&url, postgres::NoTls)?;
    client.execute("DELETE FROM audit WHERE seq = 3", &[])?;
    assert!(check(None)?.ok, "still links up");
    let broken = check(Some(&head.hash))?;
    assert_eq!(broken.broken_at, Some(3), "{broken:?}");
    Ok(())
}
