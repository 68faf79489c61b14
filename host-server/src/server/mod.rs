//! `sesame serve`: the decision server. axum + tokio in front, wasmtime guests behind (every
//! decision is made by the same `.wasm` build of policy-core), a versioned policy store, admin
//! API with audit chain, decision log, metrics.
//!
//! `app(state)` builds the whole service (tests drive it over a socket or in process); `serve`
//! opens the store, seeds it on first start, activates the stored version, binds and serves with
//! graceful shutdown.

pub mod activity;
pub mod admission;
pub mod args;
pub mod auth;
pub mod batch;
pub mod budget;
pub mod config;
pub mod decision_log;
pub mod entity_ids;
pub mod error;
pub mod identity;
pub mod invitations;
pub mod metrics;
pub mod openapi;
pub mod partitions;
pub mod routes;
pub mod run;
pub mod state;
pub mod workers;

use std::path::Path;
use std::sync::Arc;

use arc_swap::ArcSwapOption;
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};
use axum::Router;
use serde_json::Value;
use tower_http::services::ServeDir;
use tower_http::trace::TraceLayer;

use self::auth::{AdminAuth, Caller};
use self::budget::{Budget, RequestDeadline};
use self::config::ServeConfig;
use self::decision_log::DecisionLog;
use self::metrics::Metrics;
use self::state::AppState;
use crate::guest::{GuestLimits, GuestRuntime};
use crate::store::{AuditDraft, PolicyStore};

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    #[error(transparent)]
    Auth(#[from] auth::AuthSetupError),
    #[error("guest module: {0}")]
    Guest(#[from] crate::guest::GuestError),
    #[error("seed bundle {0}: {1}")]
    SeedBundle(String, String),
    #[error("seed entities {0}: {1}")]
    SeedEntities(String, String),
    #[error("cannot activate the stored version: {0}")]
    Activate(String),
    #[error("cannot listen on {0}: {1}")]
    Bind(std::net::SocketAddr, std::io::Error),
    #[error("server: {0}")]
    Serve(std::io::Error),
    #[error("cannot start the runtime: {0}")]
    Runtime(std::io::Error),
    #[error("cannot create the data directory {0}: {1}")]
    DataDir(String, std::io::Error),
}

/// The whole HTTP service.
pub fn app(state: Arc<AppState>) -> Router {
    let limits = state.config.limits.clone();
    let decisions = Router::new()
        .route(
            "/v1/decide",
            // One decision needs far less than a batch: its own, smaller body limit.
            post(routes::decide::decide).layer(DefaultBodyLimit::max(limits.decide_body_bytes())),
        )
        .route("/v1/decide/batch", post(routes::decide::batch))
        .route("/v1/matrix", post(routes::decide::matrix))
        .route("/v1/query/resources", post(routes::query::resources))
        .route("/v1/query/principals", post(routes::query::principals))
        .route("/v1/query/plan", post(routes::query::plan))
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            admission::admit_decisions,
        ));
    let api = Router::new()
        .route(
            "/v1/entities",
            axum::routing::put(routes::entities::replace).patch(routes::entities::patch),
        )
        .route("/v1/bundle/active", get(routes::ops::active_bundle))
        .route("/v1/directory", post(routes::entities::directory))
        .route("/v1/activity", get(routes::entities::activity))
        .route("/v1/invitations/accept", post(routes::invitations::accept))
        .route("/v1/outbox", get(routes::invitations::outbox))
        .route("/v1/admin/login", post(routes::admin::login))
        .route("/v1/admin/deploy", post(routes::admin::deploy))
        .route("/v1/admin/activate", post(routes::admin::activate))
        .route("/v1/admin/rollback", post(routes::admin::rollback))
        .route("/v1/admin/links", post(routes::admin::link))
        .route(
            "/v1/admin/links/{link_id}",
            axum::routing::delete(routes::admin::unlink),
        )
        .route("/v1/admin/history", get(routes::admin::history))
        .route(
            "/v1/admin/versions/{digest}",
            get(routes::admin::version_files),
        )
        .route("/v1/admin/diff", get(routes::admin::version_diff))
        .route("/v1/admin/validate", post(routes::admin::validate_bundle))
        .route("/v1/admin/entities", get(routes::admin::entities))
        .route("/v1/admin/audit", get(routes::admin::audit_log))
        .route("/v1/admin/audit/head", get(routes::admin::audit_head))
        .route("/v1/admin/audit/verify", get(routes::admin::audit_verify))
        .route("/v1/admin/decisions", get(routes::admin::decisions))
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            admission::admit_api,
        ));
    let mut router = Router::new()
        .merge(decisions)
        .merge(api)
        .route("/healthz", get(routes::ops::healthz))
        .route("/readyz", get(routes::ops::readyz))
        .route("/metrics", get(routes::ops::metrics))
        .route("/openapi.json", get(routes::ops::openapi));
    if let Some(dir) = state.config.pkg_dir.as_ref().filter(|d| d.is_dir()) {
        router = router.nest_service("/pkg", ServeDir::new(dir));
    }
    if let Some(dir) = state.config.web_dir.as_ref().filter(|d| d.is_dir()) {
        router = router.fallback_service(ServeDir::new(dir));
    }
    router
        .layer(DefaultBodyLimit::max(limits.max_body_bytes))
        .layer(axum::middleware::from_fn_with_state(
            limits.request_timeout,
            request_timeout,
        ))
        .layer(axum::middleware::from_fn(json_errors))
        .layer(TraceLayer::new_for_http())
        .with_state(state)
}

/// Handlers answer their own 408 at the deadline (their guest calls are cut there); this layer
/// is the backstop for anything that would wait longer, a little after it.
const TIMEOUT_GRACE: std::time::Duration = std::time::Duration::from_millis(250);

/// Puts the request's deadline on it (handlers bound their guest calls and lock waits by it)
/// and ends a request that outlives it with a JSON 408.
async fn request_timeout(
    axum::extract::State(limit): axum::extract::State<std::time::Duration>,
    mut request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    let deadline = RequestDeadline(Budget::new(limit));
    request.extensions_mut().insert(deadline);
    let backstop = deadline.budget().end() + TIMEOUT_GRACE;
    match tokio::time::timeout_at(backstop.into(), next.run(request)).await {
        Ok(response) => response,
        Err(_) => deadline.timeout().into_response(),
    }
}

/// Every error the service answers has the API's JSON shape, including the ones no handler
/// wrote: an unknown path (404), a method a path does not take (405, `Allow` kept), a missing
/// static file.
async fn json_errors(
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    use axum::http::{header, StatusCode};
    use axum::response::IntoResponse;
    let method = request.method().to_string();
    let path = request.uri().path().to_string();
    let response = next.run(request).await;
    let status = response.status();
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if !(status.is_client_error() || status.is_server_error()) || is_json {
        return response;
    }
    let allow = response.headers().get(header::ALLOW).cloned();
    let error = match status {
        StatusCode::NOT_FOUND => {
            error::ApiError::NotFound(format!("no such path: {method} {path}"))
        }
        StatusCode::METHOD_NOT_ALLOWED => error::ApiError::MethodNotAllowed { method, path },
        other => {
            let text = axum::body::to_bytes(response.into_body(), 4096)
                .await
                .map(|b| String::from_utf8_lossy(&b).trim().to_string())
                .unwrap_or_default();
            error::ApiError::Rejected {
                status: other,
                message: if text.is_empty() {
                    other.canonical_reason().unwrap_or("error").to_string()
                } else {
                    text
                },
            }
        }
    };
    let mut answer = error.into_response();
    if let Some(allow) = allow {
        answer.headers_mut().insert(header::ALLOW, allow);
    }
    answer
}

/// Opens the store, seeds it on first start and activates the stored version.
pub fn open_state(config: ServeConfig) -> Result<Arc<AppState>, StartError> {
    // The server's own planning and slicing decide natively: they read the request time from
    // this clock, as the guests do from theirs (a caller's `now` never stands here).
    policy_core::request_time::install_clock(policy_core::request_time::Clock {
        now_ms: crate::guest::now_ms,
        replaces_caller: true,
    });
    // Tokens, the guest cache and the decision-log spool live here, whatever the store.
    std::fs::create_dir_all(&config.data_dir)
        .map_err(|e| StartError::DataDir(config.data_dir.display().to_string(), e))?;
    let store: Arc<dyn PolicyStore> =
        crate::store::open(&config.data_dir, config.database_url.as_deref())?.into();
    let tokens_file = config
        .tokens_file
        .clone()
        .unwrap_or_else(|| config.data_dir.join("tokens.json"));
    let env_admin = std::env::var("SESAME_ADMIN_TOKEN").ok();
    let (mut auth, created) = AdminAuth::from_file(&tokens_file, env_admin.as_deref())?;
    if let Some(jwt) = &config.jwt {
        auth = auth.with_jwt(identity::JwtVerifier::load(jwt.clone())?);
        tracing::info!("firm users' JWTs verified with the keys of {}", jwt.jwks);
    }
    if let Some(path) = created {
        tracing::info!("first start: admin token written to {}", path.display());
    }
    let runtime = Arc::new(GuestRuntime::from_file(
        &config.guest_wasm,
        Some(
            &config
                .guest_cache
                .clone()
                .unwrap_or_else(|| config.data_dir.join("cache")),
        ),
        GuestLimits::default(),
    )?);
    tracing::info!(
        source = ?runtime.source,
        ms = runtime.startup_ms,
        "guest module ready"
    );
    let rate_limiter = admission::RateLimiter::new(
        config.admission.rate_per_second,
        config.admission.rate_burst,
    );
    let decision_log = DecisionLog::start(
        &config.decision_log,
        store.clone(),
        config.data_dir.join("decision-log.spool"),
    );
    let state = Arc::new(AppState {
        store_ok: std::sync::atomic::AtomicBool::new(true),
        config,
        store,
        runtime,
        active: ArcSwapOption::empty(),
        changes: tokio::sync::Mutex::new(()),
        auth,
        metrics: Metrics::default(),
        decision_log,
        rate_limiter,
    });
    seed(&state)?;
    // On a first start the seed's deploy has just activated the version: not loaded twice.
    let seeded = state
        .active
        .load()
        .as_ref()
        .map(|a| a.version.digest.clone());
    if let Some(version) = state
        .store
        .active()?
        .filter(|v| seeded.as_deref() != Some(v.digest.as_str()))
    {
        let active = state
            .build_active(
                version,
                RequestDeadline(Budget::new(workers::LOAD_DEADLINE)),
            )
            .map_err(|e| StartError::Activate(e.to_string()))?;
        state
            .metrics
            .activated(active.version.number, &active.version.digest);
        state.active.store(Some(Arc::new(active)));
    }
    Ok(state)
}

/// First start only: the seed entities, then the seed bundle as version 1.
fn seed(state: &Arc<AppState>) -> Result<(), StartError> {
    let bootstrap = Caller::operator("bootstrap", "admin");
    if let Some(path) = &state.config.seed_entities {
        if state.store.active()?.is_none() && state.store.entities()?.is_empty() {
            let err = |m: String| StartError::SeedEntities(path.display().to_string(), m);
            let text = std::fs::read_to_string(path).map_err(|e| err(e.to_string()))?;
            let records: Vec<Value> =
                serde_json::from_str(&text).map_err(|e| err(e.to_string()))?;
            let n = records.len();
            // Stored without tenants: they are assigned from the first version that loads them.
            state.store.replace_entities(
                &records,
                &crate::store::Tenants::default(),
                AuditDraft {
                    actor: bootstrap.name.clone(),
                    role: bootstrap.role.clone(),
                    action: policy_core::json_api::Op::ReplaceEntities.to_string(),
                    kind: Some(crate::store::AuditKind::Create),
                    version_before: None,
                    version_after: None,
                    detail: serde_json::json!({"upserted": n, "removed": 0, "source": path.display().to_string()}),
                },
            )?;
        }
    }
    if let Some(dir) = &state.config.seed_bundle {
        if state.store.active()?.is_none() {
            seed_bundle(state, dir, &bootstrap)?;
        }
    }
    Ok(())
}

fn seed_bundle(state: &Arc<AppState>, dir: &Path, bootstrap: &Caller) -> Result<(), StartError> {
    let err = |m: String| StartError::SeedBundle(dir.display().to_string(), m);
    let files = bundle_dir::read_files(dir).map_err(|e| err(e.to_string()))?;
    let files = files
        .into_iter()
        .map(|(path, bytes)| {
            String::from_utf8(bytes)
                .map(|text| (path.clone(), text))
                .map_err(|_| err(format!("{path} is not UTF-8")))
        })
        .collect::<Result<_, _>>()?;
    // `open_state` runs before the runtime serves requests but inside it (block_in_place).
    let outcome = tokio::task::block_in_place(|| {
        tokio::runtime::Handle::current().block_on(state.deploy(
            bootstrap,
            files,
            format!("bootstrap from {}", dir.display()),
            Some(crate::store::ActivationKind::Bootstrap),
            // No caller waits: the seed gets as long as loading entities may take (its tests
            // still have their own limit).
            RequestDeadline(Budget::new(workers::LOAD_DEADLINE)),
        ))
    });
    outcome.map(|_| ()).map_err(|e| err(e.to_string()))
}

/// Binds and serves until Ctrl-C or SIGTERM, then lets in-flight requests finish.
pub async fn serve(config: ServeConfig) -> Result<(), StartError> {
    let listen = config.listen;
    let state = tokio::task::block_in_place(|| open_state(config))?;
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .map_err(|e| StartError::Bind(listen, e))?;
    let local = listener.local_addr().map_err(StartError::Serve)?;
    if state.store.is_shared() {
        tokio::spawn(follow_store(state.clone()));
    }
    // One line on stdout that scripts and tests wait for.
    println!("sesame listening on http://{local}");
    // The peer address is the rate limiter's client when a call carries no token.
    let service = app(state).into_make_service_with_connect_info::<std::net::SocketAddr>();
    axum::serve(listener, service)
        .with_graceful_shutdown(shutdown_signal())
        .await
        .map_err(StartError::Serve)
}

/// Replicas on a shared store: re-check it on every notification and at least once a second.
async fn follow_store(state: Arc<AppState>) {
    let mut watch = state.store.watch();
    loop {
        match watch.as_mut() {
            Some(rx) => {
                tokio::select! {
                    _ = rx.recv() => {},
                    () = tokio::time::sleep(std::time::Duration::from_secs(1)) => {},
                }
            }
            None => tokio::time::sleep(std::time::Duration::from_secs(1)).await,
        }
        let ok = match state.sync_once().await {
            Ok(()) => true,
            Err(e) => {
                tracing::warn!("cannot follow the store: {e}");
                false
            }
        };
        state
            .store_ok
            .store(ok, std::sync::atomic::Ordering::SeqCst);
    }
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
    tracing::info!("shutting down: finishing in-flight requests");
}
