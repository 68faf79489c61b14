//! Shared helpers for Sesame's cross-crate tests: the demo bundle's files, and small ways to
//! change one file and reload.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

pub mod conformance;

use std::collections::BTreeMap;
use std::path::PathBuf;

use policy_core::wire::{DecisionRequest, EntityRef};
use policy_core::{Bundle, BundleError, Diagnostic, ErrorCode};
use serde_json::{json, Value};

/// The repository root (this crate lives in `tests/`).
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The files of `policies/` as `path -> text`.
pub fn demo_files() -> BTreeMap<String, String> {
    bundle_dir::read_files(&repo_root().join("policies"))
        .expect("policies/ is readable")
        .into_iter()
        .map(|(p, b)| (p, String::from_utf8(b).expect("utf-8")))
        .collect()
}

pub fn load(files: &BTreeMap<String, String>) -> Result<Bundle, BundleError> {
    Bundle::load(files.clone())
}

pub fn demo_bundle() -> Bundle {
    load(&demo_files()).expect("the demo bundle loads")
}

/// The demo firm fixture's records (the data a host would load into the engine).
pub fn demo_firm() -> Vec<serde_json::Value> {
    let text = &demo_files()["tests/fixtures/demo-firm.json"];
    serde_json::from_str(text).expect("fixture is JSON")
}

/// The first diagnostic with `code`, or a panic listing what was found.
pub fn find(err: &BundleError, code: ErrorCode) -> Diagnostic {
    err.diagnostics
        .iter()
        .find(|d| d.code == code)
        .cloned()
        .unwrap_or_else(|| panic!("no {code} among {:#?}", err.diagnostics))
}

pub fn req(principal: &str, action: &str, resource: (&str, &str)) -> DecisionRequest {
    DecisionRequest {
        principal: EntityRef::new("User", principal),
        action: EntityRef::new("Action", action),
        resource: EntityRef::new(resource.0, resource.1),
        context: None,
        entities: Vec::new(),
    }
}

/// Every (user, action, resource) the schema allows on the demo firm.
pub fn all_requests() -> Vec<DecisionRequest> {
    let firm = demo_firm();
    let ids = |ty: &str| -> Vec<String> {
        firm.iter()
            .filter(|r| r["uid"]["type"] == ty)
            .map(|r| r["uid"]["id"].as_str().unwrap().to_string())
            .collect()
    };
    let users = ids("User");
    let mut out = Vec::new();
    let on = |actions: &[&str],
              ty: &str,
              ctx: Option<Value>,
              out: &mut Vec<DecisionRequest>,
              resources: &[String]| {
        for u in &users {
            for a in actions {
                for r in resources {
                    out.push(DecisionRequest {
                        principal: EntityRef::new("User", u.as_str()),
                        action: EntityRef::new("Action", *a),
                        resource: EntityRef::new(ty, r.as_str()),
                        context: ctx.clone(),
                        entities: Vec::new(),
                    });
                }
            }
        }
    };
    let docs = [
        "view_document",
        "download_document",
        "export_document",
        "edit_document",
        "approve_document",
        "send_document",
        "delete_document",
    ];
    on(&docs, "Document", None, &mut out, &ids("Document"));
    on(
        &["read_field", "edit_field"],
        "Document",
        Some(json!({"field": "invoice.iban"})),
        &mut out,
        &ids("Document"),
    );
    on(
        &[
            "view_client",
            "update_client",
            "delete_client",
            "upload_document",
            "search_documents",
            "create_entry",
            "view_entries",
        ],
        "Client",
        None,
        &mut out,
        &ids("Client"),
    );
    on(
        &["view_entry", "edit_entry", "delete_entry"],
        "Entry",
        None,
        &mut out,
        &ids("Entry"),
    );
    on(
        &["deactivate_user", "change_email", "edit_preferences"],
        "User",
        None,
        &mut out,
        &users,
    );
    on(
        &["manage_subscription", "view_users"],
        "Firm",
        None,
        &mut out,
        &ids("Firm"),
    );
    on(
        &["invite_user"],
        "Firm",
        Some(json!({"user_count": 5})),
        &mut out,
        &ids("Firm"),
    );
    out
}

/// Firm administration requests on the demo firm, allowed and refused (each kind of refusal):
/// every face must plan them identically.
pub fn directory_requests() -> Vec<serde_json::Value> {
    let user = |id: &str| serde_json::json!({"type": "User", "id": id});
    let profile = |id: &str| serde_json::json!({"type": "AccessProfile", "id": id});
    let client = |id: &str| serde_json::json!({"type": "Client", "id": id});
    vec![
        serde_json::json!({"actor": user("alice"), "op": "invite_user", "id": "zoe", "name": "Martin",
            "first_name": "Zoe", "email": "zoe@example.com", "roles": ["accountant"]}),
        serde_json::json!({"actor": user("carol"), "op": "invite_user", "id": "zoe", "name": "Martin",
            "first_name": "Zoe", "email": "zoe@example.com"}),
        serde_json::json!({"actor": user("alice"), "op": "invite_user", "id": "zoe", "name": "Martin",
            "first_name": "Zoe", "email": "carol@example.com"}),
        serde_json::json!({"actor": user("alice"), "op": "block_user", "user": user("dave"), "blocked": true}),
        serde_json::json!({"actor": user("alice"), "op": "detach_user", "user": user("carol"), "client": client("acme")}),
        serde_json::json!({"actor": user("bob"), "op": "change_email", "user": user("ivan"), "email": "i@acme.example"}),
        serde_json::json!({"actor": user("alice"), "op": "set_company_role", "user": user("pete"), "client": client("globex"), "role": "billing"}),
        serde_json::json!({"actor": user("alice"), "op": "save_profile", "id": "mine", "name": "Mine",
            "base": profile("junior_accountant"), "levels": {"invoice.iban": "read"}}),
        serde_json::json!({"actor": user("alice"), "op": "save_profile", "id": "mine", "name": "Mine",
            "base": profile("junior_accountant"), "levels": {"invoice.amount": "print"}}),
        serde_json::json!({"actor": user("alice"), "op": "move_profile_users",
            "from": profile("easy_invoicing_standard"), "to": profile("connect_pay_standard")}),
        serde_json::json!({"actor": user("alice"), "op": "create_department", "id": "east", "name": "East"}),
        serde_json::json!({"actor": user("alice"), "op": "restrict_departments", "user": user("tom"), "departments": ["south"]}),
        serde_json::json!({"actor": user("alice"), "op": "delete_profile", "profile": profile("junior_accountant")}),
        // A client's director: his company's own staff, roles of its plan; nobody else.
        serde_json::json!({"actor": user("kim"), "op": "set_company_role", "user": user("noah"), "client": client("acme"), "role": "billing"}),
        serde_json::json!({"actor": user("kim"), "op": "set_company_role", "user": user("dave"), "client": client("acme"), "role": "accountant"}),
        serde_json::json!({"actor": user("kim"), "op": "set_company_role", "user": user("uma"), "client": client("acme"), "role": "billing"}),
        serde_json::json!({"actor": user("alice"), "op": "detach_user", "user": user("carol"), "client": client("initech")}),
        // Firm roles after the invitation: an administrator changes them, nobody else, never
        // another firm's; the firm's last administrator (uma, for martin) keeps the role and
        // cannot block himself.
        serde_json::json!({"actor": user("alice"), "op": "set_roles", "user": user("carol"), "roles": ["accountant", "client_manager"]}),
        serde_json::json!({"actor": user("carol"), "op": "set_roles", "user": user("carol"), "roles": ["administrator"]}),
        serde_json::json!({"actor": user("alice"), "op": "set_roles", "user": user("uma"), "roles": ["accountant"]}),
        serde_json::json!({"actor": user("uma"), "op": "set_roles", "user": user("uma"), "roles": ["accountant"]}),
        serde_json::json!({"actor": user("uma"), "op": "block_user", "user": user("uma"), "blocked": true}),
        serde_json::json!({"actor": user("alice"), "op": "set_roles", "user": user("alice"), "roles": ["accountant"]}),
        // Leaving the firm: deactivate (frees a seat), delete (Globex forgets rose), never the
        // last administrator, administrators only.
        serde_json::json!({"actor": user("alice"), "op": "deactivate_user", "user": user("tom"), "deactivated": true}),
        serde_json::json!({"actor": user("alice"), "op": "deactivate_user", "user": user("tom"), "deactivated": false}),
        serde_json::json!({"actor": user("uma"), "op": "deactivate_user", "user": user("uma"), "deactivated": true}),
        serde_json::json!({"actor": user("alice"), "op": "delete_user", "user": user("rose")}),
        serde_json::json!({"actor": user("carol"), "op": "delete_user", "user": user("rose")}),
        serde_json::json!({"actor": user("uma"), "op": "delete_user", "user": user("uma")}),
        // Deletion rights and site profiles (staff only), at the invitation too.
        serde_json::json!({"actor": user("alice"), "op": "set_deletion_rights", "user": user("tom"), "can_delete": true}),
        serde_json::json!({"actor": user("carol"), "op": "set_deletion_rights", "user": user("tom"), "can_delete": true}),
        serde_json::json!({"actor": user("alice"), "op": "set_site_profile", "user": user("bob"), "site_profile": "collaborator"}),
        serde_json::json!({"actor": user("alice"), "op": "set_site_profile", "user": user("frank"), "site_profile": null}),
        serde_json::json!({"actor": user("alice"), "op": "set_site_profile", "user": user("ivan"), "site_profile": "manager"}),
        serde_json::json!({"actor": user("alice"), "op": "invite_user", "id": "zoe", "name": "Martin",
            "first_name": "Zoe", "email": "zoe@example.com", "site_profile": "manager", "can_delete": true}),
        serde_json::json!({"actor": user("alice"), "op": "invite_user", "id": "xavier", "name": "Audit",
            "first_name": "Xavier", "email": "xavier@audit.example", "external": true, "site_profile": "manager"}),
        // A client's user invited onto his company with a role; not with a role its plan lacks.
        serde_json::json!({"actor": user("alice"), "op": "invite_user", "id": "paul", "name": "Client",
            "first_name": "Paul", "email": "paul@acme.example", "external": true,
            "company": {"client": client("acme"), "role": "billing"}}),
        serde_json::json!({"actor": user("alice"), "op": "invite_user", "id": "paul", "name": "Client",
            "first_name": "Paul", "email": "paul@acme.example", "external": true,
            "company": {"client": client("globex"), "role": "billing"}}),
        // Time-bound access: an end date given (at the invitation too), lifted, refused when
        // malformed, to a non-administrator, or on the last administrator without one.
        serde_json::json!({"actor": user("alice"), "op": "set_access_end", "user": user("tom"), "access_until": "2027-06-30T18:00:00Z"}),
        serde_json::json!({"actor": user("alice"), "op": "set_access_end", "user": user("tom"), "access_until": "2027-06-31"}),
        serde_json::json!({"actor": user("alice"), "op": "set_access_end", "user": user("tom"), "access_until": "next week"}),
        serde_json::json!({"actor": user("alice"), "op": "set_access_end", "user": user("tom"), "access_until": null}),
        serde_json::json!({"actor": user("carol"), "op": "set_access_end", "user": user("tom"), "access_until": "2027-06-30"}),
        serde_json::json!({"actor": user("uma"), "op": "set_access_end", "user": user("uma"), "access_until": "2027-06-30"}),
        serde_json::json!({"actor": user("alice"), "op": "invite_user", "id": "ines", "name": "Interim",
            "first_name": "Ines", "email": "ines@example.com", "roles": ["accountant"], "access_until": "2027-01-31"}),
        // Invitations: an active user has none to accept or resend; nobody accepts another's.
        serde_json::json!({"actor": user("tom"), "op": "accept_invitation", "user": user("tom")}),
        serde_json::json!({"actor": user("alice"), "op": "accept_invitation", "user": user("tom")}),
        serde_json::json!({"actor": user("alice"), "op": "resend_invitation", "user": user("tom")}),
        serde_json::json!({"actor": user("carol"), "op": "resend_invitation", "user": user("tom")}),
        // Custom roles: within the firm's plan (reading and writing, never deleting), by
        // administrators, never a role of the bundle.
        serde_json::json!({"actor": user("alice"), "op": "save_role", "id": "junior", "name": "Junior", "grants": ["document_read", "entry_write"]}),
        serde_json::json!({"actor": user("alice"), "op": "save_role", "id": "junior", "name": "Junior", "grants": ["document_delete"]}),
        serde_json::json!({"actor": user("carol"), "op": "save_role", "id": "junior", "name": "Junior", "grants": ["document_read"]}),
        serde_json::json!({"actor": user("alice"), "op": "save_role", "id": "accountant", "name": "Mine", "grants": []}),
        serde_json::json!({"actor": user("alice"), "op": "delete_role", "role": {"type": "Role", "id": "accountant"}}),
        // Profiles per dossier: given and moved on one of the firm's dossiers, never another's.
        serde_json::json!({"actor": user("alice"), "op": "set_dossier_profile", "user": user("carol"), "client": client("acme"), "profile": profile("junior_accountant")}),
        serde_json::json!({"actor": user("alice"), "op": "set_dossier_profile", "user": user("carol"), "client": client("initech"), "profile": profile("junior_accountant")}),
        serde_json::json!({"actor": user("alice"), "op": "set_dossier_profile", "user": user("carol"), "client": client("acme"), "profile": null}),
        serde_json::json!({"actor": user("carol"), "op": "set_dossier_profile", "user": user("carol"), "client": client("acme"), "profile": profile("junior_accountant")}),
        serde_json::json!({"actor": user("alice"), "op": "move_profile_users", "from": profile("junior_accountant"), "to": profile("full_accounting_readonly"), "client": client("acme")}),
    ]
}
