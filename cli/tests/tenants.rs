//! Tenants loaded on demand (`sesame serve --entity-memory`): on a generated network of firms,
//! a server that holds only the tenants in use (a budget so small that every call unloads the
//! others) answers every request exactly as a server holding everything; writes to a tenant
//! that is not resident land, a write reaching another firm is refused as before, and a
//! restart (the tenants already assigned in the store) changes no decision. Replicas holding
//! tenants on demand on one PostgreSQL replay each other's writes per tenant.

#[path = "../../host-server/tests/support/mod.rs"]
mod support;

use serde_json::{json, Value};
use sesame_tools::firm_gen::{network_entities, FirmSize};
use support::{entity, Postgres, Server, TestResult};

const FIRMS: usize = 4;

/// Requests by users of every firm on documents and clients of every firm.
fn requests() -> Vec<Value> {
    let mut out = Vec::new();
    for a in 0..FIRMS {
        for u in [0, 1, 2, 3, 5, 7] {
            let principal = entity("User", &format!("f{a}-u{u}"));
            for b in 0..FIRMS {
                for k in 0..3 {
                    for action in ["view_document", "edit_document", "delete_document"] {
                        out.push(
                            json!({"principal": principal, "action": entity("Action", action),
                            "resource": entity("Document", &format!("f{b}-doc{k}"))}),
                        );
                    }
                    for action in ["view_client", "update_client"] {
                        out.push(
                            json!({"principal": principal, "action": entity("Action", action),
                            "resource": entity("Client", &format!("f{b}-c{k}"))}),
                        );
                    }
                }
            }
        }
    }
    out
}

fn decide(server: &Server, request: &Value) -> Result<(String, Value), Box<dyn std::error::Error>> {
    let r = server.anonymous().post("/v1/decide", request)?;
    assert_eq!(r.status, 200, "{}", r.body);
    Ok((
        r.body["decision"].as_str().unwrap_or_default().to_string(),
        r.body["determining_policies"].clone(),
    ))
}

fn metric(server: &Server, name: &str) -> Result<f64, Box<dyn std::error::Error>> {
    let (_, text, _) = server.admin().send_text("GET", "/metrics", None, &[])?;
    Ok(text
        .lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or(-1.0))
}

#[test]
fn tenants_loaded_on_demand_decide_as_the_whole_store() -> TestResult {
    let file = std::env::temp_dir().join(format!("sesame-tenants-{}.json", std::process::id()));
    std::fs::write(
        &file,
        serde_json::to_string(&network_entities(FIRMS, FirmSize::of(10, 3, 8)))?,
    )?;
    let whole = Server::start_on("tenants-whole", &file, &[])?;
    let mut partitioned =
        Server::start_on("tenants-partitioned", &file, &["--entity-memory", "1"])?;
    let requests = requests();
    let mut allowed = 0;
    for request in &requests {
        let expected = decide(&whole, request)?;
        assert_eq!(decide(&partitioned, request)?, expected, "{request}");
        allowed += usize::from(expected.0 == "allow");
    }
    assert!(
        allowed > 50,
        "only {allowed} allowed: the comparison is not empty"
    );
    let loads = metric(&partitioned, "sesame_tenant_loads_total")?;
    let evictions = metric(&partitioned, "sesame_tenant_evictions_total")?;
    assert!(
        loads > FIRMS as f64 && evictions > 0.0,
        "{loads} loads, {evictions} evictions"
    );
    assert!(metric(&partitioned, "sesame_tenants_loaded")? <= 2.0);

    // A batch naming every firm has them all resident at once.
    let batch = json!({"requests": requests.iter().step_by(7).cloned().collect::<Vec<_>>()});
    let a = whole.anonymous().post("/v1/decide/batch", &batch)?;
    let b = partitioned.anonymous().post("/v1/decide/batch", &batch)?;
    assert_eq!((a.status, b.status), (200, 200), "{}", b.body);
    let decisions = |v: &Value| -> Vec<Value> {
        v["results"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|r| r["decision"].clone())
            .collect()
    };
    assert!(
        decisions(&a.body).iter().any(|d| d == "allow"),
        "{}",
        a.body
    );
    assert_eq!(decisions(&b.body), decisions(&a.body));

    // A document written to a firm that is not resident (the last call was on another), on
    // both servers; then decided the same.
    let _ = decide(&partitioned, &requests[0])?;
    let doc = json!({"upsert": [{
        "uid": entity("Document", "f3-new"),
        "attrs": {"client": {"__entity": entity("Client", "f3-c1")}, "kind": "receipt", "archived": false},
        "parents": [entity("Client", "f3-c1")]
    }]});
    for server in [&whole, &partitioned] {
        let r = server
            .admin()
            .send("PATCH", "/v1/entities", Some(&doc.to_string()))?;
        assert_eq!(r.status, 200, "{}", r.body);
    }
    let on_new: Vec<Value> = (0..10)
        .map(|u| {
            json!({"principal": entity("User", &format!("f3-u{u}")),
            "action": entity("Action", "view_document"), "resource": entity("Document", "f3-new")})
        })
        .collect();
    for request in &on_new {
        assert_eq!(decide(&partitioned, request)?, decide(&whole, request)?);
    }
    // Filed under another firm's client: refused, as by the whole store, nothing written.
    let crossing = json!({"upsert": [{
        "uid": entity("Document", "f3-crossing"),
        "attrs": {"client": {"__entity": entity("Client", "f3-c1")}, "kind": "receipt", "archived": false},
        "parents": [entity("Client", "f1-c0")]
    }]});
    for server in [&whole, &partitioned] {
        let r = server
            .admin()
            .send("PATCH", "/v1/entities", Some(&crossing.to_string()))?;
        assert_eq!((r.status, r.code()), (400, "cross_tenant"), "{}", r.body);
    }

    // An entity written before what it references exists reaches no firm then (stored as
    // shared); once its client is created in f2 it reaches f2 through it. With f2 unloaded,
    // a decision on it still reads the client and its ancestors, as the whole store does.
    let early = json!({"upsert": [{
        "uid": entity("Document", "f2-early"),
        "attrs": {"client": {"__entity": entity("Client", "f2-late")}, "kind": "receipt", "archived": false},
        "parents": [entity("Client", "f2-late")]
    }]});
    let late = json!({"upsert": [{
        "uid": entity("Client", "f2-late"),
        "attrs": {"name": "Late", "key": "f2-late", "firm": {"__entity": entity("Firm", "f2")},
                  "plan": {"__entity": entity("Plan", "client_business")},
                  "teams": {"accountant": {"__entity": entity("Team", "f2-c0/accountant")},
                            "collaborator": {"__entity": entity("Team", "f2-c0/collaborator")},
                            "client": {"__entity": entity("Team", "f2-c0/client")},
                            "auditor": {"__entity": entity("Team", "f2-c0/auditor")},
                            "director": {"__entity": entity("Team", "f2-c0/director")},
                            "billing": {"__entity": entity("Team", "f2-c0/billing")},
                            "customer_invoicing": {"__entity": entity("Team", "f2-c0/customer_invoicing")},
                            "supplier_invoices": {"__entity": entity("Team", "f2-c0/supplier_invoices")},
                            "internal_accountant": {"__entity": entity("Team", "f2-c0/internal_accountant")}},
                  "detached": []},
        "parents": [entity("Firm", "f2")]
    }]});
    for server in [&whole, &partitioned] {
        for write in [&early, &late] {
            let r = server
                .admin()
                .send("PATCH", "/v1/entities", Some(&write.to_string()))?;
            assert_eq!(r.status, 200, "{}", r.body);
        }
    }
    let mut allowed_early = 0;
    for u in 0..10 {
        // Another firm's call first: f2 is unloaded.
        let _ = decide(&partitioned, &requests[0])?;
        let request = json!({"principal": entity("User", &format!("f2-u{u}")),
            "action": entity("Action", "view_document"), "resource": entity("Document", "f2-early")});
        let expected = decide(&whole, &request)?;
        allowed_early += usize::from(expected.0 == "allow");
        assert_eq!(decide(&partitioned, &request)?, expected, "{request}");
    }
    assert!(
        allowed_early > 0,
        "nobody of f2 sees the document: the case is empty"
    );

    // A new firm (a tenant the store did not have) and its administrator, written in one go.
    let new_firm = json!({"upsert": [
        {"uid": entity("Firm", "f9"), "attrs": {"name": "New", "plan": {"__entity": entity("Plan", "firm_standard")}}, "parents": []},
        {"uid": entity("User", "f9-u0"), "attrs": {"name": "Nina", "email": "nina@f9.example",
            "firm": {"__entity": entity("Firm", "f9")}, "external": false, "blocked": false, "can_delete": true,
            "profile": {"__entity": entity("AccessProfile", "full_accounting_standard")},
            "department_restricted": false, "departments": []},
         "parents": [entity("Role", "administrator")]}
    ]});
    for server in [&whole, &partitioned] {
        let r = server
            .admin()
            .send("PATCH", "/v1/entities", Some(&new_firm.to_string()))?;
        assert_eq!(r.status, 200, "{}", r.body);
    }
    for (who, firm) in [("f9-u0", "f9"), ("f9-u0", "f0"), ("f0-u0", "f9")] {
        let _ = decide(&partitioned, &requests[0])?;
        let request = json!({"principal": entity("User", who), "action": entity("Action", "view_users"),
            "resource": entity("Firm", firm)});
        let expected = decide(&whole, &request)?;
        assert_eq!(decide(&partitioned, &request)?, expected, "{request}");
        assert_eq!(expected.0 == "allow", who.starts_with(firm), "{request}");
    }

    // A caller bound to a tenant reads the same records from either server (the partitioned
    // one reads them by tenant from the store).
    let uids = |server: &Server| -> Result<Vec<String>, Box<dyn std::error::Error>> {
        let r = server
            .client(Some(support::SERVICE))
            .get("/v1/admin/entities")?;
        assert_eq!(r.status, 200, "{}", r.body);
        let mut uids: Vec<String> = r
            .body
            .as_array()
            .into_iter()
            .flatten()
            .map(|e| e["uid"].to_string())
            .collect();
        uids.sort();
        Ok(uids)
    };
    // (The generated data has no shared records of its own; the document written before its
    // client existed is stored as shared but now reaches f2: never given to another tenant.)
    assert_eq!(uids(&partitioned)?, uids(&whole)?);

    // After a restart the store's tenants are already assigned; nothing changes.
    partitioned.crash_and_restart()?;
    for request in requests.iter().step_by(5).chain(&on_new) {
        assert_eq!(
            decide(&partitioned, request)?,
            decide(&whole, request)?,
            "{request}"
        );
    }
    let _ = std::fs::remove_file(&file);
    Ok(())
}

/// Polls `server` until it answers every request in `requests` as `expected`.
fn until_same(
    server: &Server,
    requests: &[Value],
    expected: &[(String, Value)],
) -> Result<(), Box<dyn std::error::Error>> {
    let started = std::time::Instant::now();
    loop {
        let got = requests
            .iter()
            .map(|r| decide(server, r))
            .collect::<Result<Vec<_>, _>>()?;
        if got == expected {
            return Ok(());
        }
        if started.elapsed() > std::time::Duration::from_secs(10) {
            return Err(format!("{} still answers {got:?}, not {expected:?}", server.url).into());
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

/// Replicas that hold tenants on demand (a budget so small that every call unloads the other
/// tenants) on one PostgreSQL store replay each other's writes per tenant: a document written
/// on one to a firm another holds, then to a firm it does not hold, a document changed and one
/// removed are decided by every replica as by the writer and by a replica holding everything.
#[test]
fn replicas_holding_tenants_on_demand_replay_each_others_writes() -> TestResult {
    let pg = Postgres::start("tenants-replicas")?;
    let url = pg.url();
    let file = std::env::temp_dir().join(format!(
        "sesame-tenant-replicas-{}.json",
        std::process::id()
    ));
    std::fs::write(
        &file,
        serde_json::to_string(&network_entities(FIRMS, FirmSize::of(10, 3, 8)))?,
    )?;
    // The first seeds the store; the others find it seeded.
    let whole = Server::start_on("replica-whole", &file, &["--database-url", &url])?;
    let on_demand = ["--database-url", url.as_str(), "--entity-memory", "1"];
    let writer = Server::start_on("replica-writer", &file, &on_demand)?;
    let reader = Server::start_on("replica-reader", &file, &on_demand)?;
    let on = |firm: usize, doc: &str| -> Vec<Value> {
        (0..10)
            .flat_map(|u| {
                ["view_document", "edit_document"].map(|action| {
                    json!({"principal": entity("User", &format!("f{firm}-u{u}")),
                    "action": entity("Action", action), "resource": entity("Document", doc)})
                })
            })
            .collect()
    };
    let patch = |server: &Server, delta: Value| -> TestResult {
        let r = server
            .admin()
            .send("PATCH", "/v1/entities", Some(&delta.to_string()))?;
        assert_eq!(r.status, 200, "{}", r.body);
        Ok(())
    };
    let document = |firm: usize, id: &str, archived: bool| {
        let client = entity("Client", &format!("f{firm}-c1"));
        json!({"uid": entity("Document", id),
            "attrs": {"client": {"__entity": client}, "kind": "receipt", "archived": archived},
            "parents": [client]})
    };
    // The reader holds f1 (its last call read it), not f2.
    let _ = decide(&reader, &on(1, "f1-doc0")[0])?;
    let mut allowed = 0;
    for (firm, id) in [(1, "f1-replayed"), (2, "f2-replayed")] {
        let requests = on(firm, id);
        let before: Vec<_> = requests
            .iter()
            .map(|r| decide(&writer, r))
            .collect::<Result<_, _>>()?;
        patch(&writer, json!({"upsert": [document(firm, id, false)]}))?;
        let after: Vec<_> = requests
            .iter()
            .map(|r| decide(&writer, r))
            .collect::<Result<_, _>>()?;
        assert_ne!(
            before, after,
            "the write changes decisions: the case is not empty"
        );
        allowed += after.iter().filter(|(d, _)| d == "allow").count();
        until_same(&reader, &requests, &after)?;
        until_same(&whole, &requests, &after)?;
        // Back on f1 between writes, so that f2 is not resident when its write arrives.
        let _ = decide(&reader, &on(1, "f1-doc0")[0])?;
    }
    assert!(allowed > 0, "nobody sees the written documents");
    // Changed (archived) on the writer, then removed: each replica follows.
    for delta in [
        json!({"upsert": [document(1, "f1-replayed", true)]}),
        json!({"remove": [entity("Document", "f1-replayed")]}),
    ] {
        patch(&writer, delta)?;
        let requests = on(1, "f1-replayed");
        let expected: Vec<_> = requests
            .iter()
            .map(|r| decide(&writer, r))
            .collect::<Result<_, _>>()?;
        until_same(&reader, &requests, &expected)?;
        until_same(&whole, &requests, &expected)?;
    }
    let _ = std::fs::remove_file(&file);
    Ok(())
}
