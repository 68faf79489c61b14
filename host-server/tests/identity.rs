//! Who acts is bound to the caller: a firm user's session (a subject-bound token, or a JWT of
//! the embedding app's identity provider verified against its JWKS) acts as that user only; a
//! service token acts only in its tenants; an unbound operator token acts as nobody. Replays the
//! reported cases: the client-director escalation, acting as any user of any firm.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use host_server::server::identity::dev;
use serde_json::{json, Value};
use support::{entity, request, Server, TestResult, SERVICE};

fn set_company_role(actor: &str, user: &str, client: &str, role: &str) -> Value {
    json!({"actor": entity("User", actor), "op": "set_company_role", "user": entity("User", user),
           "client": entity("Client", client), "role": role})
}

fn block(actor: &str, user: &str) -> Value {
    json!({"actor": entity("User", actor), "op": "block_user", "user": entity("User", user),
           "blocked": true})
}

/// The newest record of the server's audit chain (`null` when it has none).
fn last_audit(server: &Server) -> Result<Value, Box<dyn std::error::Error>> {
    let audit = server.admin().get("/v1/admin/audit")?;
    Ok(audit
        .body
        .as_array()
        .and_then(|a| a.last())
        .cloned()
        .unwrap_or_default())
}

fn decision(server: &Server, body: &Value) -> String {
    let r = server.anonymous().post("/v1/decide", body).unwrap();
    r.body["decision"].as_str().unwrap_or_default().to_string()
}

#[test]
fn the_client_director_escalation_is_refused_and_changes_nothing() -> TestResult {
    let server = Server::start("escalation", &[])?;
    let kim = server.client(Some("kim-session"));
    let dave_reads = request("dave", "view_document", ("Document", "inv-1"));
    assert_eq!(decision(&server, &dave_reads), "deny");
    for (user, role) in [
        ("dave", "accountant"), // a firm accountant not assigned to Acme
        ("carol", "client"),    // firm staff into the client's team
        ("uma", "billing"),     // a user of another firm
        ("judy", "director"),   // an auditor the firm assigned, not Acme's staff
    ] {
        let r = kim.post(
            "/v1/directory",
            &set_company_role("kim", user, "acme", role),
        )?;
        assert_eq!(
            (r.status, r.code()),
            (403, "forbidden"),
            "{user}: {}",
            r.body
        );
    }
    assert_eq!(
        decision(&server, &dave_reads),
        "deny",
        "nothing was written"
    );
    // Within his right: one of Acme's own staff, a role of Acme's plan.
    let ok = kim.post(
        "/v1/directory",
        &set_company_role("kim", "noah", "acme", "billing"),
    )?;
    assert!(ok.ok(), "{}", ok.body);
    Ok(())
}

#[test]
fn sessions_act_as_their_user_and_service_tokens_in_their_tenants_only() -> TestResult {
    let server = Server::start("bound-callers", &[])?;
    // An operator token is bound to nobody: it cannot pick a firm user to act as.
    let admin = server
        .admin()
        .post("/v1/directory", &block("alice", "dave"))?;
    assert_eq!(
        (admin.status, admin.code()),
        (403, "not_your_identity"),
        "{}",
        admin.body
    );
    let author = server
        .client(Some("author-secret"))
        .post("/v1/directory", &block("alice", "dave"))?;
    assert_eq!(author.code(), "not_your_identity");
    // alice's session acts as alice, never as anyone else.
    let alice = server.client(Some("alice-session"));
    let login = alice.post("/v1/admin/login", &json!({}))?;
    assert_eq!(
        login.body["subject"],
        json!({"type": "User", "id": "alice"})
    );
    let as_bob = alice.post("/v1/directory", &block("bob", "dave"))?;
    assert_eq!(as_bob.code(), "not_your_identity", "{}", as_bob.body);
    // A session is no operator: no raw entity writes, no deploys.
    let raw = alice.send(
        "PATCH",
        "/v1/entities",
        Some(r#"{"upsert": [], "remove": []}"#),
    )?;
    assert_eq!(raw.status, 403, "{}", raw.body);
    // Dupont's back end acts for Dupont's users, not for the other firm's.
    let service = server.client(Some(SERVICE));
    let uma = service.post(
        "/v1/directory",
        &json!({"actor": entity("User", "uma"), "op": "change_email",
                "user": entity("User", "uma"), "email": "uma@elsewhere.example"}),
    )?;
    assert_eq!(
        (uma.status, uma.code()),
        (403, "not_your_identity"),
        "{}",
        uma.body
    );
    let done = alice.post("/v1/directory", &block("alice", "dave"))?;
    assert!(done.ok(), "{}", done.body);
    let last = last_audit(&server)?;
    assert_eq!(last["actor"], "alice-session", "{last}");
    Ok(())
}

#[test]
fn a_jwt_of_the_identity_provider_signs_a_firm_user_in_bound_to_its_firm() -> TestResult {
    let dir = std::env::temp_dir().join(format!("sesame-jwt-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let key = dev::keygen()?;
    let jwks = dir.join("jwks.json");
    std::fs::write(&jwks, serde_json::to_string(&dev::jwks(&key, "k1")?)?)?;
    let server = Server::start(
        "jwt",
        &[
            "--jwt-jwks",
            jwks.to_str().unwrap(),
            "--jwt-issuer",
            "https://idp.test",
        ],
    )?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_secs();
    let token = |sub: &str, firm: &str, exp: u64| {
        dev::mint(
            &key,
            "k1",
            &json!({"sub": sub, "firm": firm, "iss": "https://idp.test", "exp": exp}),
        )
        .unwrap()
    };
    let alice = server.client(Some(&token("alice", "dupont", now + 600)));
    let login = alice.post("/v1/admin/login", &json!({}))?;
    assert_eq!(
        (login.body["role"].clone(), login.body["subject"].clone()),
        (json!("member"), json!({"type": "User", "id": "alice"})),
        "{}",
        login.body
    );
    // The console reads its firm's data and the shared data, nothing of the other firm.
    let records = alice.get("/v1/admin/entities")?;
    let ids: Vec<&str> = records
        .body
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|r| r["uid"]["id"].as_str())
        .collect();
    assert!(ids.contains(&"carol") && ids.contains(&"acme"), "{ids:?}");
    assert!(!ids.contains(&"uma") && !ids.contains(&"initech") && !ids.contains(&"martin"));
    assert!(alice.post("/v1/directory", &block("alice", "dave"))?.ok());
    assert_eq!(
        alice.post("/v1/directory", &block("bob", "dave"))?.code(),
        "not_your_identity"
    );
    // Decisions asked with alice's token are alice's: the principal comes from the token.
    let own = alice.post(
        "/v1/decide",
        &json!({"action": entity("Action", "edit_preferences"), "resource": entity("User", "alice")}),
    )?;
    assert_eq!(own.body["decision"], "allow", "{}", own.body);
    let someone_else = alice.post(
        "/v1/decide",
        &request("carol", "view_document", ("Document", "inv-1")),
    )?;
    assert_eq!(
        someone_else.code(),
        "not_your_identity",
        "{}",
        someone_else.body
    );
    // A token whose tenant claim lies about the user's firm acts nowhere.
    let lying = server.client(Some(&token("uma", "dupont", now + 600)));
    let r = lying.post("/v1/directory", &block("uma", "uma"))?;
    assert_eq!(r.code(), "not_your_identity", "{}", r.body);
    // Expired, signed by another key, from another issuer, or tampered: 401.
    let other_key = dev::keygen()?;
    let forged = dev::mint(
        &other_key,
        "k1",
        &json!({"sub": "alice", "firm": "dupont", "iss": "https://idp.test", "exp": now + 600}),
    )?;
    let wrong_issuer = dev::mint(
        &key,
        "k1",
        &json!({"sub": "alice", "firm": "dupont", "iss": "https://evil.test", "exp": now + 600}),
    )?;
    let good = token("alice", "dupont", now + 600);
    let tampered = format!("{}x", &good[..good.len() - 1]);
    for bad in [
        token("alice", "dupont", now - 3600),
        forged,
        wrong_issuer,
        tampered,
    ] {
        let r = server
            .client(Some(&bad))
            .post("/v1/admin/login", &json!({}))?;
        assert_eq!((r.status, r.code()), (401, "unauthorized"), "{}", r.body);
    }
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

/// Over HTTP, the plan's user limit is decided on the server's own count: a caller sending
/// `user_count: 0` is not believed once the plan is full, deactivating frees a seat, and a
/// deleted user leaves the data while the audit keeps what was done.
#[test]
fn plan_limits_are_decided_on_the_servers_count_and_users_leave_the_firm() -> TestResult {
    let server = Server::start("leaving", &[])?;
    let alice = server.client(Some("alice-session"));
    let mut may_invite = request("alice", "invite_user", ("Firm", "dupont"));
    may_invite["context"] = json!({"user_count": 0});
    assert_eq!(decision(&server, &may_invite), "allow");
    for id in ["zoe", "yves"] {
        let r = alice.post(
            "/v1/directory",
            &json!({"actor": entity("User", "alice"), "op": "invite_user", "id": id,
                    "name": "Martin", "first_name": id, "email": format!("{id}@example.com")}),
        )?;
        assert!(r.ok(), "{}", r.body);
    }
    assert_eq!(
        decision(&server, &may_invite),
        "deny",
        "15 of 15 seats, whatever the caller says"
    );
    let deactivate = alice.post(
        "/v1/directory",
        &json!({"actor": entity("User", "alice"), "op": "deactivate_user",
                "user": entity("User", "heidi"), "deactivated": true}),
    )?;
    assert!(deactivate.ok(), "{}", deactivate.body);
    assert_eq!(decision(&server, &may_invite), "allow");
    let heidi_reads = request("heidi", "view_client", ("Client", "acme"));
    assert_eq!(decision(&server, &heidi_reads), "deny");

    let delete = alice.post(
        "/v1/directory",
        &json!({"actor": entity("User", "alice"), "op": "delete_user",
                "user": entity("User", "rose")}),
    )?;
    assert!(delete.ok(), "{}", delete.body);
    let rose = server.admin().get("/v1/admin/entities")?;
    let ids: Vec<&str> = rose
        .body
        .as_array()
        .into_iter()
        .flatten()
        .filter(|e| e["uid"]["type"] == "User")
        .filter_map(|e| e["uid"]["id"].as_str())
        .collect();
    assert!(!ids.contains(&"rose") && ids.contains(&"zoe"), "{ids:?}");
    let last = last_audit(&server)?;
    assert_eq!(last["kind"], "delete", "{last}");
    assert!(
        last.to_string().contains("deleted User::\\\"rose\\\""),
        "{last}"
    );

    // The firm's activity history: alice (an administrator: `view_activity`) reads Dupont's,
    // filtered; carol (an accountant) may not; an operator's token acts as no firm user.
    let about_rose = alice.get("/v1/activity?user=rose")?;
    assert!(about_rose.ok(), "{}", about_rose.body);
    let summaries: Vec<&str> = about_rose
        .body
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|e| e["summary"].as_str())
        .collect();
    assert_eq!(
        summaries,
        ["alice deleted User::\"rose\" (the history keeps what they did)"]
    );
    let on_globex = alice.get("/v1/activity?client=globex&kind=delete")?;
    assert_eq!(
        on_globex.body.as_array().map(Vec::len),
        Some(1),
        "{}",
        on_globex.body
    );
    let (status, text, _) =
        alice.send_text("GET", "/v1/activity?format=csv&kind=modify", None, &[])?;
    assert_eq!(status, 200, "{text}");
    assert!(
        text.starts_with("seq,at,kind,user,via,summary,about\n")
            && text.contains("deactivated User::")
            && !text.contains("rose"),
        "{text}"
    );
    let carol = server.client(Some("carol-session")).get("/v1/activity")?;
    assert_eq!(
        (carol.status, carol.code()),
        (403, "forbidden"),
        "{}",
        carol.body
    );
    let operator = server.admin().get("/v1/activity")?;
    assert_eq!(operator.code(), "not_your_identity", "{}", operator.body);
    let bad = alice.get("/v1/activity?format=xml")?;
    assert_eq!(bad.code(), "invalid_query", "{}", bad.body);
    Ok(())
}
