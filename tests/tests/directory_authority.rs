//! Authority over the target: every firm administration operation is planned for six kinds of
//! actor — a firm administrator (alice), a client manager (bob), an accountant (carol), a client
//! company's director (kim, external), a client company's user (ivan, external) and the
//! administrator of another firm (uma) — and only those the bundle's policies give authority over
//! *that* user, client, profile or department get a plan. Everyone else is refused with
//! `forbidden`, whatever the body says.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeSet;

use policy_core::directory::{plan, DirectoryRequest};
use policy_core::wire::EntityRef;
use policy_core::{Engine, EngineError};
use serde_json::{json, Value};
use sesame_tests::{demo_bundle, demo_firm};

const ACTORS: [&str; 6] = ["alice", "bob", "carol", "kim", "ivan", "uma"];

fn user(id: &str) -> Value {
    json!({"type": "User", "id": id})
}

fn client(id: &str) -> Value {
    json!({"type": "Client", "id": id})
}

fn profile(id: &str) -> Value {
    json!({"type": "AccessProfile", "id": id})
}

fn request(actor: &str, op: &Value) -> DirectoryRequest {
    let mut body = op.clone();
    body["actor"] = user(actor);
    serde_json::from_value(body).unwrap()
}

/// The demo firm, plus a custom profile Dupont's administrator made (so that another firm's
/// reach for it can be tried).
fn engine() -> Engine {
    let mut engine = Engine::with_entities(demo_bundle(), demo_firm()).unwrap();
    let made = plan(
        &engine,
        &request(
            "alice",
            &json!({"op": "save_profile", "id": "dupont_custom", "name": "Dupont custom",
                "base": profile("junior_accountant"), "levels": {}}),
        ),
    )
    .unwrap();
    engine.apply_delta(&made.delta).unwrap();
    engine
}

/// Each operation, and who may perform it. Operations that act on the actor's own firm (invite,
/// create a department, make a custom profile) are allowed to the other firm's administrator
/// too: they land in her firm, which the test checks.
fn cases() -> Vec<(&'static str, Value, &'static [&'static str])> {
    vec![
        (
            "invite into own firm",
            json!({"op": "invite_user", "id": "zed", "name": "Zed",
            "first_name": "Zed", "email": "zed@example.com", "roles": ["accountant"]}),
            &["alice", "uma"],
        ),
        (
            "invite with another firm's custom profile",
            json!({"op": "invite_user", "id": "zed",
            "name": "Zed", "first_name": "Zed", "email": "zed@example.com",
            "profile": profile("dupont_custom")}),
            &["alice"],
        ),
        (
            "block a firm user",
            json!({"op": "block_user", "user": user("dave"), "blocked": true}),
            &["alice"],
        ),
        (
            "detach a firm user from a firm client",
            json!({"op": "detach_user", "user": user("carol"),
            "client": client("acme")}),
            &["alice"],
        ),
        (
            "detach from another firm's client",
            json!({"op": "detach_user", "user": user("carol"),
            "client": client("initech")}),
            &[],
        ),
        (
            "change a client user's e-mail",
            json!({"op": "change_email", "user": user("ivan"),
            "email": "ivan@acme.example"}),
            &["alice"],
        ),
        (
            "move a firm user to a shared profile",
            json!({"op": "set_profile", "user": user("carol"),
            "profile": profile("junior_accountant")}),
            &["alice"],
        ),
        (
            "move one's own users between shared profiles",
            json!({"op": "move_profile_users",
            "from": profile("easy_invoicing_standard"), "to": profile("connect_pay_standard")}),
            &["alice", "uma"],
        ),
        (
            "move users to another firm's custom profile",
            json!({"op": "move_profile_users",
            "from": profile("easy_invoicing_standard"), "to": profile("dupont_custom")}),
            &["alice"],
        ),
        (
            "put an unassigned firm accountant on a client",
            json!({"op": "set_company_role",
            "user": user("dave"), "client": client("acme"), "role": "accountant"}),
            &["alice"],
        ),
        (
            "give a client's own staff a role of its plan",
            json!({"op": "set_company_role",
            "user": user("noah"), "client": client("acme"), "role": "billing"}),
            &["alice", "kim"],
        ),
        (
            "put firm staff into a client's team",
            json!({"op": "set_company_role",
            "user": user("carol"), "client": client("acme"), "role": "client"}),
            &["alice"],
        ),
        (
            "put another firm's user on a client",
            json!({"op": "set_company_role",
            "user": user("uma"), "client": client("acme"), "role": "accountant"}),
            &[],
        ),
        (
            "make a custom profile of one's own",
            json!({"op": "save_profile", "id": "mine",
            "name": "Mine", "base": profile("junior_accountant"), "levels": {}}),
            &["alice", "uma"],
        ),
        (
            "change another firm's custom profile",
            json!({"op": "save_profile", "id": "dupont_custom",
            "name": "Taken", "base": profile("junior_accountant"), "levels": {}}),
            &["alice"],
        ),
        (
            "copy another firm's custom profile",
            json!({"op": "save_profile", "id": "copy",
            "name": "Copy", "base": profile("dupont_custom"), "levels": {}}),
            &["alice"],
        ),
        (
            "delete another firm's custom profile",
            json!({"op": "delete_profile",
            "profile": profile("dupont_custom")}),
            &["alice"],
        ),
        (
            "make a firm's custom profile the default",
            json!({"op": "set_default_profile",
            "profile": profile("dupont_custom")}),
            &["alice"],
        ),
        (
            "change a firm user's roles",
            json!({"op": "set_roles", "user": user("carol"),
            "roles": ["accountant", "client_manager"]}),
            &["alice"],
        ),
        (
            "change the roles of Martin's administrator",
            json!({"op": "set_roles", "user": user("uma"),
            "roles": ["administrator", "accountant", "client_manager"]}),
            &["uma"],
        ),
        (
            "hide a section in one's own firm",
            json!({"op": "hide_section", "section": {"type": "Section", "id": "payments"},
            "roles": ["accountant"]}),
            &["alice", "uma"],
        ),
        (
            "create a department of one's own firm",
            json!({"op": "create_department", "id": "east",
            "name": "East"}),
            &["alice", "uma"],
        ),
        (
            "restrict a firm user to departments",
            json!({"op": "restrict_departments",
            "user": user("tom"), "departments": ["south"]}),
            &["alice"],
        ),
        (
            "deactivate a firm user",
            json!({"op": "deactivate_user", "user": user("tom"), "deactivated": true}),
            &["alice"],
        ),
        (
            "delete a firm user",
            json!({"op": "delete_user", "user": user("tom")}),
            &["alice"],
        ),
        (
            "give a firm user deletion rights",
            json!({"op": "set_deletion_rights", "user": user("tom"), "can_delete": true}),
            &["alice"],
        ),
        (
            "give a firm user a site profile",
            json!({"op": "set_site_profile", "user": user("bob"), "site_profile": "manager"}),
            &["alice"],
        ),
    ]
}

#[test]
fn every_operation_by_every_kind_of_actor_is_allowed_only_with_authority_over_its_target() {
    let engine = engine();
    let mut wrong = Vec::new();
    for (what, op, allowed) in cases() {
        for actor in ACTORS {
            let expected = allowed.contains(&actor);
            match plan(&engine, &request(actor, &op)) {
                Ok(planned) => {
                    if !expected {
                        wrong.push(format!("{what}: {actor} was allowed ({})", planned.summary));
                    }
                    // Whatever an allowed plan writes stays in the actor's firm.
                    let firm =
                        EntityRef::new("Firm", if actor == "uma" { "martin" } else { "dupont" });
                    assert_eq!(planned.actor_firm, firm, "{what} by {actor}");
                    for record in &planned.delta.upsert {
                        if let Some(f) = record["attrs"]["firm"]["__entity"]["id"].as_str() {
                            assert_eq!(f, firm.id, "{what} by {actor} writes {record}");
                        }
                    }
                }
                Err(EngineError::Forbidden { message, .. }) => {
                    if expected {
                        wrong.push(format!("{what}: {actor} was refused: {message}"));
                    }
                }
                Err(other) => wrong.push(format!(
                    "{what}: {actor} got {other} instead of a plan or `forbidden`"
                )),
            }
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn the_client_director_escalation_is_refused_with_the_reason() {
    let engine = engine();
    // Reported: acting as kim (director of Acme), an unassigned firm accountant was put on Acme
    // and could then open its invoices.
    let refused = plan(
        &engine,
        &request(
            "kim",
            &json!({"op": "set_company_role", "user": user("dave"), "client": client("acme"),
                "role": "accountant"}),
        ),
    )
    .unwrap_err();
    let EngineError::Forbidden { message, .. } = refused else {
        panic!("expected forbidden, got {refused}");
    };
    assert!(
        message.contains("User::\"kim\" may not assign_client_role on Client::\"acme\"")
            && message.contains("User::\"dave\""),
        "{message}"
    );
    // The same director still runs his company: a director of Acme names another director.
    let delegated = plan(
        &engine,
        &request(
            "kim",
            &json!({"op": "set_company_role", "user": user("liam"), "client": client("acme"),
                "role": "director"}),
        ),
    )
    .unwrap();
    let parents: BTreeSet<String> = delegated.delta.upsert[0]["parents"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["id"].as_str().unwrap().to_string())
        .collect();
    assert!(parents.contains("acme/director"), "{parents:?}");
}
