//! The OpenAPI document, generated from the handlers' `#[utoipa::path]` annotations and the
//! Rust types they take and answer (the wire types come from policy-core's `openapi` feature).
//! It is checked in as `host-server/openapi.json` and served at `/openapi.json`; a test
//! (`tests/tests/contract.rs`) regenerates it and fails when the checked-in copy differs.

use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use super::routes::{admin, decide, entities, invitations, ops, query};

/// A Cedar entity record (Cedar entity JSON); `__entity` / `__extn` escapes are accepted.
/// Documentation only: the server passes entity records to the engine as JSON.
#[derive(utoipa::ToSchema)]
#[schema(as = Entity)]
pub struct CedarEntity {
    pub uid: policy_core::wire::EntityRef,
    pub attrs: serde_json::Map<String, serde_json::Value>,
    pub parents: Vec<policy_core::wire::EntityRef>,
    #[schema(nullable = false)]
    pub tags: Option<serde_json::Map<String, serde_json::Value>>,
}

/// The `bearer` scheme the admin endpoints (and, with --decisions-need-token, the decision
/// endpoints) require.
struct Bearer;

impl Modify for Bearer {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Sesame decision server",
        version = "1",
        description = "Every decision is evaluated by policy-core inside a wasmtime guest of the active bundle version. Admin calls need `Authorization: Bearer <token>`; what each role (viewer < author < deployer < admin) may do is decided by the Cedar policy in host-server/admin-policy/. Every error, including an unknown path (404) or method (405), is a JSON `Error`. Every request has a deadline (--request-timeout-s, 408 `request_timeout`); with --rate-limit every /v1 call is counted per client (429 `rate_limited` with Retry-After); with --decisions-need-token the decision endpoints need a token too.",
        license(name = "Apache-2.0", identifier = "Apache-2.0"),
    ),
    paths(
        decide::decide,
        decide::batch,
        decide::matrix,
        query::resources,
        query::principals,
        query::plan,
        entities::replace,
        entities::patch,
        ops::active_bundle,
        entities::directory,
        entities::activity,
        invitations::accept,
        invitations::outbox,
        admin::login,
        admin::deploy,
        admin::activate,
        admin::rollback,
        admin::link,
        admin::unlink,
        admin::history,
        admin::version_files,
        admin::version_diff,
        admin::validate_bundle,
        admin::entities,
        admin::audit_log,
        admin::audit_head,
        admin::audit_verify,
        admin::decisions,
        ops::healthz,
        ops::readyz,
        ops::metrics,
        ops::openapi,
    ),
    modifiers(&Bearer)
)]
struct Api;

/// The command that rewrites the checked-in document.
pub const REGENERATE: &str = "SESAME_REGENERATE=1 cargo test -p sesame-tests --test contract";

/// The OpenAPI document as checked in: pretty JSON with a final newline.
pub fn document() -> String {
    let json = Api::openapi()
        .to_pretty_json()
        .unwrap_or_else(|e| format!("{{\"error\": {:?}}}", e.to_string()));
    json + "\n"
}
