//! The service in process: `app(state)` driven with `tower::ServiceExt::oneshot`, no socket and
//! no server binary. The state is opened as `serve` opens it (store seeded from the demo bundle
//! and firm, wasmtime guests), so the answers are the real server's.

use std::path::PathBuf;

use axum::body::{to_bytes, Body};
use axum::http::{Request, StatusCode};
use axum::Router;
use host_server::guest::default_guest_path;
use host_server::server::auth::{hash_token, TokenEntry, TokensFile};
use host_server::server::config::ServeConfig;
use host_server::server::{app, open_state};
use serde_json::{json, Value};
use tower::ServiceExt;

type TestResult = Result<(), Box<dyn std::error::Error>>;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

async fn call(
    router: &Router,
    method: &str,
    path: &str,
    body: Option<&Value>,
) -> Result<(StatusCode, Value), Box<dyn std::error::Error>> {
    call_as(router, None, method, path, body).await
}

async fn call_as(
    router: &Router,
    token: Option<&str>,
    method: &str,
    path: &str,
    body: Option<&Value>,
) -> Result<(StatusCode, Value), Box<dyn std::error::Error>> {
    let mut request = Request::builder()
        .method(method)
        .uri(path)
        .header("content-type", "application/json");
    if let Some(token) = token {
        request = request.header("authorization", format!("Bearer {token}"));
    }
    let request = request.body(body.map_or_else(Body::empty, |b| Body::from(b.to_string())))?;
    let response = router.clone().oneshot(request).await?;
    let status = response.status();
    let bytes = to_bytes(response.into_body(), 1 << 20).await?;
    Ok((status, serde_json::from_slice(&bytes)?))
}

/// The service on a store in `data` seeded from the demo bundle and firm, as `serve` opens it.
fn demo_router(data: &std::path::Path) -> Result<Router, Box<dyn std::error::Error>> {
    let mut config = ServeConfig::new(data.to_path_buf(), default_guest_path());
    config.seed_bundle = Some(repo().join("policies"));
    config.seed_entities = Some(repo().join("policies/tests/fixtures/demo-firm.json"));
    // One compiled module for every test server (compiling takes seconds).
    config.guest_cache = Some(repo().join("target/guest-cache"));
    config.workers = 1;
    // `open_state` seeds the store by blocking on the runtime, as `serve` calls it.
    Ok(app(tokio::task::block_in_place(|| open_state(config))?))
}

fn view_inv1(user: &str) -> Value {
    json!({
        "principal": {"type": "User", "id": user},
        "action": {"type": "Action", "id": "view_document"},
        "resource": {"type": "Document", "id": "inv-1"},
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_service_answers_in_process_from_the_seeded_version() -> TestResult {
    let data = std::env::temp_dir().join(format!("sesame-app-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&data);
    let router = demo_router(&data)?;

    let (status, ready) = call(&router, "GET", "/readyz", None).await?;
    assert_eq!(
        (status, &ready["version"]),
        (StatusCode::OK, &json!(1)),
        "{ready}"
    );

    let (status, allow) = call(&router, "POST", "/v1/decide", Some(&view_inv1("carol"))).await?;
    assert_eq!(status, StatusCode::OK, "{allow}");
    assert_eq!(allow["decision"], "allow", "{allow}");
    assert_eq!(
        allow["determining_policies"],
        json!(["accountant-documents-of-assigned-clients"])
    );
    assert_eq!(allow["bundle_digest"], ready["digest"]);
    let (_, deny) = call(&router, "POST", "/v1/decide", Some(&view_inv1("dave"))).await?;
    assert_eq!(deny["decision"], "deny", "{deny}");

    // Failures are typed JSON here too: an unknown path, an admin call without a token.
    let (status, unknown) = call(&router, "GET", "/v1/no-such-thing", None).await?;
    assert_eq!(
        (status, &unknown["code"]),
        (StatusCode::NOT_FOUND, &json!("not_found"))
    );
    let (status, history) = call(&router, "GET", "/v1/admin/history", None).await?;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{history}");
    drop(router);
    let _ = std::fs::remove_dir_all(&data);
    Ok(())
}

/// The ids of a fixture's entities of one type.
fn fixture_ids(ty: &str) -> Result<Vec<String>, Box<dyn std::error::Error>> {
    let text = std::fs::read_to_string(repo().join("policies/tests/fixtures/demo-firm.json"))?;
    let records: Vec<Value> = serde_json::from_str(&text)?;
    Ok(records
        .iter()
        .filter(|r| r["uid"]["type"] == ty)
        .filter_map(|r| r["uid"]["id"].as_str().map(String::from))
        .collect())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_query_endpoints_list_what_the_decide_endpoint_allows() -> TestResult {
    let data = std::env::temp_dir().join(format!("sesame-app-query-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&data);
    // Queries need a token: a service's, one bound to the firm dupont, and carol's session.
    let entry =
        |name: &str, role: &str, tenants: Option<Vec<String>>, subject: Option<&str>| TokenEntry {
            name: name.into(),
            role: role.into(),
            sha256: hash_token(&format!("{name}-secret")),
            subject: subject.map(|s| policy_core::wire::EntityRef::new("User", s)),
            tenants,
        };
    let tokens = TokensFile {
        tokens: vec![
            entry("service", "viewer", None, None),
            entry(
                "dupont-service",
                "viewer",
                Some(vec!["dupont".into()]),
                None,
            ),
            entry("carol", "member", None, Some("carol")),
        ],
    };
    std::fs::create_dir_all(&data)?;
    std::fs::write(data.join("tokens.json"), serde_json::to_string(&tokens)?)?;
    let router = demo_router(&data)?;
    let documents = fixture_ids("Document")?;
    let users = fixture_ids("User")?;

    // Every user's document list (pages of 2) is exactly what /v1/decide allows, one by one.
    let mut listed_any = false;
    for user in &users {
        let mut listed: Vec<String> = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let mut body = json!({
                "principal": {"type": "User", "id": user},
                "action": {"type": "Action", "id": "view_document"},
                "resource_type": "Document", "limit": 2,
            });
            if let Some(c) = &cursor {
                body["cursor"] = json!(c);
            }
            let (status, page) = call_as(
                &router,
                Some("service-secret"),
                "POST",
                "/v1/query/resources",
                Some(&body),
            )
            .await?;
            assert_eq!(status, StatusCode::OK, "{page}");
            listed.extend(
                page["resources"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|r| r["id"].as_str().map(String::from)),
            );
            match page["next"].as_str() {
                Some(next) => cursor = Some(next.to_string()),
                None => break,
            }
        }
        let mut allowed = Vec::new();
        for doc in &documents {
            let request = json!({
                "principal": {"type": "User", "id": user},
                "action": {"type": "Action", "id": "view_document"},
                "resource": {"type": "Document", "id": doc},
            });
            let (_, answer) = call(&router, "POST", "/v1/decide", Some(&request)).await?;
            if answer["decision"] == "allow" {
                allowed.push(doc.clone());
            }
        }
        allowed.sort();
        assert_eq!(listed, allowed, "{user}");
        listed_any |= !listed.is_empty();
    }
    assert!(listed_any);

    // Who may view inv-1: the users /v1/decide allows.
    let body = json!({
        "action": {"type": "Action", "id": "view_document"},
        "resource": {"type": "Document", "id": "inv-1"},
        "principal_type": "User",
    });
    let (status, who) = call_as(
        &router,
        Some("service-secret"),
        "POST",
        "/v1/query/principals",
        Some(&body),
    )
    .await?;
    assert_eq!(status, StatusCode::OK, "{who}");
    let who: Vec<&str> = who["principals"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|r| r["id"].as_str())
        .collect();
    for user in &users {
        let (_, answer) = call(&router, "POST", "/v1/decide", Some(&view_inv1(user))).await?;
        assert_eq!(
            who.contains(&user.as_str()),
            answer["decision"] == "allow",
            "{user}"
        );
    }

    // A plan with its SQL; an unknown resource type is a typed 400.
    let body = json!({
        "principal": {"type": "User", "id": "carol"},
        "action": {"type": "Action", "id": "view_document"},
        "resource_type": "Document",
        "sql": {"dialect": "sqlite", "tables": {
            "Document": {"table": "documents", "id": "id", "columns": {"client": "client_id", "kind": "kind", "archived": "archived"},
                         "ancestors": {"table": "document_ancestors", "owner": "document_id", "value": "ancestor_id"}},
            "Client": {"table": "clients", "id": "id", "columns": {"firm": "firm_id", "plan": "plan_id",
                "teams.accountant": "a", "teams.collaborator": "b", "teams.client": "c", "teams.auditor": "d",
                "teams.director": "e", "teams.billing": "f", "teams.customer_invoicing": "g",
                "teams.supplier_invoices": "h", "teams.internal_accountant": "i"},
                "sets": {"detached": {"table": "client_detached", "owner": "client_id", "value": "user_id"}}},
            "Plan": {"table": "plans", "id": "id", "sets": {"client_roles": {"table": "plan_client_roles", "owner": "plan_id", "value": "role"}}}
        }}
    });
    let (status, plan) = call_as(
        &router,
        Some("service-secret"),
        "POST",
        "/v1/query/plan",
        Some(&body),
    )
    .await?;
    assert_eq!(status, StatusCode::OK, "{plan}");
    assert_eq!(plan["plan"]["kind"], "condition", "{plan}");
    assert!(
        plan["sql"]["where"]
            .as_str()
            .is_some_and(|w| w.contains("\"client_id\"")),
        "{plan}"
    );
    let mut bad = body.clone();
    bad["resource_type"] = json!("No Such Type");
    let (status, error) = call_as(
        &router,
        Some("service-secret"),
        "POST",
        "/v1/query/plan",
        Some(&bad),
    )
    .await?;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{error}");
    assert_eq!(error["code"], "invalid_request", "{error}");

    // No token, no list; a token bound to dupont cannot ask about martin's user; carol's
    // session lists her own documents only.
    let uma = json!({
        "principal": {"type": "User", "id": "uma"},
        "action": {"type": "Action", "id": "view_document"},
        "resource_type": "Document",
    });
    let (status, _) = call(&router, "POST", "/v1/query/resources", Some(&uma)).await?;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, error) = call_as(
        &router,
        Some("dupont-service-secret"),
        "POST",
        "/v1/query/resources",
        Some(&uma),
    )
    .await?;
    assert_eq!(
        (status, &error["code"]),
        (StatusCode::FORBIDDEN, &json!("not_your_identity")),
        "{error}"
    );
    let (status, error) = call_as(
        &router,
        Some("carol-secret"),
        "POST",
        "/v1/query/resources",
        Some(&uma),
    )
    .await?;
    assert_eq!(status, StatusCode::FORBIDDEN, "{error}");
    let mut own = uma.clone();
    own.as_object_mut().map(|o| o.remove("principal"));
    let (status, mine) = call_as(
        &router,
        Some("carol-secret"),
        "POST",
        "/v1/query/resources",
        Some(&own),
    )
    .await?;
    assert_eq!(status, StatusCode::OK, "{mine}");
    assert!(
        mine["resources"].as_array().is_some_and(|r| !r.is_empty()),
        "{mine}"
    );
    let _ = std::fs::remove_dir_all(&data);
    Ok(())
}
