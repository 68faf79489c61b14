//! The service in process: `app(state)` driven with `tower::ServiceExt::oneshot`, no socket and
//! no server binary. The state is opened as `serve` opens it (store seeded from the demo bundle
//! and firm, wasmtime guests), so the answers are the real server's.

use std::path::PathBuf;

use axum::body::{to_bytes, Body};
use axum::http::{Request, StatusCode};
use axum::Router;
use host_server::guest::default_guest_path;
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
    let request = Request::builder()
        .method(method)
        .uri(path)
        .header("content-type", "application/json")
        .body(body.map_or_else(Body::empty, |b| Body::from(b.to_string())))?;
    let response = router.clone().oneshot(request).await?;
    let status = response.status();
    let bytes = to_bytes(response.into_body(), 1 << 20).await?;
    Ok((status, serde_json::from_slice(&bytes)?))
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
    let mut config = ServeConfig::new(data.clone(), default_guest_path());
    config.seed_bundle = Some(repo().join("policies"));
    config.seed_entities = Some(repo().join("policies/tests/fixtures/demo-firm.json"));
    // One compiled module for every test server (compiling takes seconds).
    config.guest_cache = Some(repo().join("target/guest-cache"));
    config.workers = 1;
    // `open_state` seeds the store by blocking on the runtime, as `serve` calls it.
    let router = app(tokio::task::block_in_place(|| open_state(config))?);

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
