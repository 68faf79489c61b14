//! Firm administration planned by `policy_core::directory`: each operation is checked against
//! the bundle's policies for the acting user (plan limits with counts taken from the data) and
//! against the domain rules, and refused with a reason; what it plans, applied, does what it says.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;

use policy_core::directory::{plan, DirectoryOp, DirectoryPlan, DirectoryRequest};
use policy_core::json_api;
use policy_core::wire::{Decision, EntityDelta, EntityRef};
use policy_core::{Engine, EngineError, ErrorCode, FieldLevel};
use serde_json::json;
use sesame_tests::{demo_bundle, demo_firm, req};

fn engine() -> Engine {
    Engine::with_entities(demo_bundle(), demo_firm()).unwrap()
}

fn user(id: &str) -> EntityRef {
    EntityRef::new("User", id)
}

fn profile(id: &str) -> EntityRef {
    EntityRef::new("AccessProfile", id)
}

fn as_(actor: &str, op: DirectoryOp) -> DirectoryRequest {
    DirectoryRequest {
        actor: user(actor),
        op,
    }
}

fn invite(id: &str, email: &str) -> DirectoryOp {
    DirectoryOp::InviteUser {
        id: id.into(),
        name: "Martin".into(),
        first_name: id.into(),
        email: email.into(),
        roles: vec!["accountant".into()],
        external: false,
        profile: None,
        site_profile: None,
        can_delete: false,
        company: None,
        access_until: None,
    }
}

fn run(engine: &mut Engine, request: DirectoryRequest) -> Result<DirectoryPlan, EngineError> {
    let planned = plan(engine, &request)?;
    engine.apply_delta(&planned.delta)?;
    Ok(planned)
}

/// `id` accepts his invitation (an invited user is pending: no access until then).
fn accept(engine: &mut Engine, id: &str) {
    run(
        engine,
        as_(id, DirectoryOp::AcceptInvitation { user: user(id) }),
    )
    .unwrap();
}

/// An entity of the store (data or the bundle's) as its Cedar JSON record.
fn record(engine: &Engine, r: &EntityRef) -> serde_json::Value {
    engine.entity_record(r).unwrap().unwrap()
}

fn attr(engine: &Engine, r: &EntityRef, name: &str) -> String {
    engine
        .entity(r)
        .and_then(|e| e.attr(name))
        .map(|v| format!("{:?}", v.unwrap()))
        .unwrap_or_default()
}

#[test]
fn invites_fill_the_plan_then_the_limit_is_refused_with_the_counts() {
    let mut engine = engine();
    // Dupont has 13 staff on a 15-user plan: two invites fit.
    let first = run(&mut engine, as_("alice", invite("zoe", "Zoe@Example.com"))).unwrap();
    assert_eq!(
        first.summary,
        "alice invited User::\"zoe\" (zoe@example.com)"
    );
    assert!(first.checked.iter().any(|c| c.starts_with("invite_user")));
    assert_eq!(
        attr(&engine, &user("zoe"), "email"),
        "String(\"zoe@example.com\")"
    );
    let zoe = engine
        .decide(&req("zoe", "view_client", ("Client", "acme")))
        .unwrap();
    assert_eq!(
        zoe.decision,
        Decision::Deny,
        "an accountant sees nothing until assigned"
    );
    run(
        &mut engine,
        as_("alice", invite("yves", "yves@example.com")),
    )
    .unwrap();

    let err = plan(&engine, &as_("alice", invite("xena", "xena@example.com"))).unwrap_err();
    assert_eq!(err.code(), ErrorCode::Forbidden);
    let message = err.to_string();
    assert!(
        message.contains(
            "Firm::\"dupont\" has 15 user(s) taking a seat; its plan firm_standard allows 15"
        ) && message.contains("plan-limit-users"),
        "{message}"
    );
    assert!(engine.entity(&user("xena")).is_none());
}

#[test]
fn only_administrators_administer_and_emails_stay_unique() {
    let mut engine = engine();
    let err = plan(&engine, &as_("carol", invite("zoe", "zoe@example.com"))).unwrap_err();
    assert_eq!(err.code(), ErrorCode::Forbidden);
    assert!(err
        .to_string()
        .contains("User::\"carol\" may not invite_user"));

    let taken = plan(&engine, &as_("alice", invite("zoe", "CAROL@example.com"))).unwrap_err();
    assert_eq!(taken.code(), ErrorCode::DuplicateEmail);

    // A client user's e-mail: administrators only (the bundle's `client-emails-by-admins-only`).
    let change = |actor: &str| {
        as_(
            actor,
            DirectoryOp::ChangeEmail {
                user: user("ivan"),
                email: "ivan@acme.example".into(),
            },
        )
    };
    assert_eq!(
        plan(&engine, &change("bob")).unwrap_err().code(),
        ErrorCode::Forbidden
    );
    run(&mut engine, change("alice")).unwrap();
    assert_eq!(
        attr(&engine, &user("ivan"), "email"),
        "String(\"ivan@acme.example\")"
    );
    assert_eq!(
        plan(
            &engine,
            &as_(
                "alice",
                DirectoryOp::ChangeEmail {
                    user: user("bob"),
                    email: "not-an-address".into()
                }
            )
        )
        .unwrap_err()
        .code(),
        ErrorCode::InvalidRequest
    );
}

#[test]
fn block_and_detach_take_effect_on_decisions() {
    let mut engine = engine();
    let carol_on_acme = |e: &Engine| {
        e.decide(&req("carol", "view_client", ("Client", "acme")))
            .unwrap()
            .decision
    };
    assert_eq!(carol_on_acme(&engine), Decision::Allow);
    run(
        &mut engine,
        as_(
            "alice",
            DirectoryOp::DetachUser {
                user: user("carol"),
                client: EntityRef::new("Client", "acme"),
            },
        ),
    )
    .unwrap();
    assert_eq!(carol_on_acme(&engine), Decision::Deny);

    let tom_on_acme = |e: &Engine| {
        e.decide(&req("tom", "view_client", ("Client", "acme")))
            .unwrap()
            .decision
    };
    assert_eq!(tom_on_acme(&engine), Decision::Allow);
    let block = |blocked| {
        as_(
            "alice",
            DirectoryOp::BlockUser {
                user: user("tom"),
                blocked,
            },
        )
    };
    run(&mut engine, block(true)).unwrap();
    assert_eq!(tom_on_acme(&engine), Decision::Deny);
    run(&mut engine, block(false)).unwrap();
    assert_eq!(tom_on_acme(&engine), Decision::Allow);
}

#[test]
fn a_custom_profile_may_restrict_its_base_but_never_widen_it() {
    let mut engine = engine();
    let save = |levels: &[(&str, FieldLevel)]| {
        as_(
            "alice",
            DirectoryOp::SaveProfile {
                id: "readonly_notes".into(),
                name: "Read-only notes".into(),
                base: profile("full_accounting_readonly"),
                levels: levels
                    .iter()
                    .map(|(k, l)| (k.to_string(), *l))
                    .collect::<BTreeMap<_, _>>(),
            },
        )
    };
    // The base gives invoice.notes `read`; asking `full` is refused with the reason.
    let wider = plan(&engine, &save(&[("invoice.notes", FieldLevel::Full)])).unwrap_err();
    assert_eq!(wider.code(), ErrorCode::ProfileWiderThanBase);
    assert!(
        wider.to_string().contains("`invoice.notes` level full"),
        "{wider}"
    );
    assert!(engine.entity(&profile("readonly_notes")).is_none());

    run(&mut engine, save(&[("invoice.notes", FieldLevel::Print)])).unwrap();
    let created = engine.profile(&profile("readonly_notes")).unwrap();
    assert_eq!(
        created.licence,
        Some(EntityRef::new("Licence", "full_accounting"))
    );
    let diff = engine
        .compare_profiles(
            &profile("full_accounting_readonly"),
            &profile("readonly_notes"),
        )
        .unwrap();
    assert!(diff.iter().any(|d| d.key == "invoice.notes"));

    // The same rule holds for a raw entity write, which changes nothing when refused.
    let raw = EntityDelta {
        upsert: vec![json!({
            "uid": {"type": "AccessProfile", "id": "readonly_notes"},
            "attrs": {"name": "x", "licence": {"__entity": {"type": "Licence", "id": "full_accounting"}},
                      "base": {"__entity": {"type": "AccessProfile", "id": "full_accounting_readonly"}},
                      "is_default": false},
            "parents": [], "tags": {"invoice.iban": 3}
        })],
        remove: vec![],
    };
    let err = engine.apply_delta(&raw).unwrap_err();
    assert_eq!(err.code(), ErrorCode::ProfileWiderThanBase);
    assert_eq!(
        engine.profile(&profile("readonly_notes")).unwrap(),
        created,
        "a refused write changes nothing"
    );
}

#[test]
fn default_profile_and_moving_users_between_profiles() {
    let mut engine = engine();
    let dupont = EntityRef::new("Firm", "dupont");
    let martin = EntityRef::new("Firm", "martin");
    let planned = run(
        &mut engine,
        as_(
            "alice",
            DirectoryOp::SetDefaultProfile {
                profile: profile("junior_accountant"),
            },
        ),
    )
    .unwrap();
    // The firm's record changes, no profile does: the choice is Dupont's alone.
    assert_eq!(planned.delta.upsert.len(), 1);
    assert_eq!(planned.delta.upsert[0]["uid"]["id"], "dupont");
    let default_of = |engine: &Engine, firm: &EntityRef| {
        let marked: Vec<_> = engine
            .firm_profiles(firm)
            .unwrap()
            .into_iter()
            .filter(|p| p.is_default)
            .map(|p| p.uid.id)
            .collect();
        assert_eq!(marked, [engine.default_profile(firm).unwrap().id]);
        marked[0].clone()
    };
    assert_eq!(default_of(&engine, &dupont), "junior_accountant");
    assert_eq!(
        default_of(&engine, &martin),
        "full_accounting_standard",
        "another firm's default is not changed"
    );
    let shared: Vec<_> = engine
        .profiles()
        .into_iter()
        .filter(|p| p.is_default)
        .map(|p| p.uid.id)
        .collect();
    assert_eq!(shared, ["full_accounting_standard"], "nor the shared one");
    // New users get their own firm's default.
    run(&mut engine, as_("alice", invite("zoe", "zoe@example.com"))).unwrap();
    run(&mut engine, as_("uma", invite("yann", "yann@example.com"))).unwrap();
    assert!(attr(&engine, &user("zoe"), "profile").contains("junior_accountant"));
    assert!(attr(&engine, &user("yann"), "profile").contains("full_accounting_standard"));

    // A firm's own custom profile: its default, never another firm's, and not deleted while
    // it is the default.
    let own = |actor: &str, id: &str| {
        as_(
            actor,
            DirectoryOp::SaveProfile {
                id: id.into(),
                name: id.into(),
                base: profile("full_accounting_readonly"),
                levels: BTreeMap::new(),
            },
        )
    };
    run(&mut engine, own("alice", "dupont_own")).unwrap();
    assert_eq!(
        engine.profile(&profile("dupont_own")).unwrap().firm,
        Some(dupont.clone())
    );
    let set_default = |actor: &str, id: &str| {
        as_(
            actor,
            DirectoryOp::SetDefaultProfile {
                profile: profile(id),
            },
        )
    };
    run(&mut engine, set_default("alice", "dupont_own")).unwrap();
    assert_eq!(default_of(&engine, &dupont), "dupont_own");
    assert!(
        !engine
            .firm_profiles(&martin)
            .unwrap()
            .iter()
            .any(|p| p.uid.id == "dupont_own"),
        "Martin does not see Dupont's profile"
    );
    let refused = plan(&engine, &set_default("uma", "dupont_own")).unwrap_err();
    assert_eq!(refused.code(), ErrorCode::Forbidden, "{refused}");
    let still_default = plan(
        &engine,
        &as_(
            "alice",
            DirectoryOp::DeleteProfile {
                profile: profile("dupont_own"),
            },
        ),
    )
    .unwrap_err();
    assert!(
        still_default.to_string().contains("default profile of"),
        "{still_default}"
    );
    // Nor can a raw write make it the default shared by every firm.
    let mut shared_default = record(&engine, &profile("dupont_own"));
    shared_default["attrs"]["is_default"] = json!(true);
    let mut standard = record(&engine, &profile("full_accounting_standard"));
    standard["attrs"]["is_default"] = json!(false);
    let err = engine
        .apply_delta(&EntityDelta {
            upsert: vec![shared_default, standard],
            remove: vec![],
        })
        .unwrap_err();
    assert_eq!(err.code(), ErrorCode::DefaultProfile);
    assert!(
        err.to_string().contains("cannot be the default shared"),
        "{err}"
    );
    // Another firm cannot overwrite it by saving under its id.
    let overwrite = plan(&engine, &own("uma", "dupont_own")).unwrap_err();
    assert!(
        matches!(
            overwrite.code(),
            ErrorCode::Forbidden | ErrorCode::InvalidRequest
        ),
        "{overwrite}"
    );

    let moved = run(
        &mut engine,
        as_(
            "alice",
            DirectoryOp::MoveProfileUsers {
                from: profile("easy_invoicing_standard"),
                to: profile("connect_pay_standard"),
                client: None,
            },
        ),
    )
    .unwrap();
    assert_eq!(moved.delta.upsert.len(), 5, "kim, liam, mia, noah, pete");
    for u in ["kim", "liam", "mia", "noah", "pete"] {
        assert!(attr(&engine, &user(u), "profile").contains("connect_pay_standard"));
    }
    assert_eq!(
        plan(
            &engine,
            &as_(
                "carol",
                DirectoryOp::SetProfile {
                    user: user("dave"),
                    profile: profile("junior_accountant")
                }
            )
        )
        .unwrap_err()
        .code(),
        ErrorCode::Forbidden
    );
}

#[test]
fn a_company_role_moves_one_user_on_one_company_within_its_plan() {
    let mut engine = engine();
    // Globex's plan includes the director role only.
    let err = plan(
        &engine,
        &as_(
            "alice",
            DirectoryOp::SetCompanyRole {
                user: user("pete"),
                client: EntityRef::new("Client", "globex"),
                role: "billing".into(),
            },
        ),
    )
    .unwrap_err();
    assert!(err.to_string().contains("client-roles-need-plan"), "{err}");

    // Liam goes from billing to supplier invoices on Acme; his other companies are untouched.
    run(
        &mut engine,
        as_(
            "alice",
            DirectoryOp::SetCompanyRole {
                user: user("liam"),
                client: EntityRef::new("Client", "acme"),
                role: "supplier_invoices".into(),
            },
        ),
    )
    .unwrap();
    let liam = engine.entity(&user("liam")).unwrap();
    let parents: Vec<String> = liam
        .clone()
        .into_inner()
        .2
        .into_iter()
        .map(|p| p.id().unescaped().to_string())
        .collect();
    assert!(
        parents.contains(&"acme/supplier_invoices".to_string()),
        "{parents:?}"
    );
    assert!(
        !parents.contains(&"acme/billing".to_string()),
        "{parents:?}"
    );
}

#[test]
fn departments_within_the_plan_and_restrictions_that_take_effect() {
    let mut engine = engine();
    let create = |id: &str| {
        as_(
            "alice",
            DirectoryOp::CreateDepartment {
                id: id.into(),
                name: id.to_uppercase(),
            },
        )
    };
    // Dupont has north and south on a 5-department plan (lyon is Martin's): three more fit.
    for id in ["east", "west", "centre"] {
        run(&mut engine, create(id)).unwrap();
    }
    let full = plan(&engine, &create("coast")).unwrap_err();
    assert_eq!(full.code(), ErrorCode::Forbidden);
    assert!(
        full.to_string()
            .contains("has 5 department(s); its plan allows 5"),
        "{full}"
    );

    // Tom (accountant on acme, in north) restricted to south loses acme; lifted, he has it back.
    let tom_on_acme = |e: &Engine| {
        e.decide(&req("tom", "view_client", ("Client", "acme")))
            .unwrap()
            .decision
    };
    assert_eq!(tom_on_acme(&engine), Decision::Allow);
    let restrict = |departments: &[&str]| {
        as_(
            "alice",
            DirectoryOp::RestrictDepartments {
                user: user("tom"),
                departments: departments.iter().map(|d| d.to_string()).collect(),
            },
        )
    };
    run(&mut engine, restrict(&["south"])).unwrap();
    assert_eq!(tom_on_acme(&engine), Decision::Deny);
    run(&mut engine, restrict(&[])).unwrap();
    assert_eq!(tom_on_acme(&engine), Decision::Allow);
    assert_eq!(
        plan(&engine, &restrict(&["nowhere"])).unwrap_err().code(),
        ErrorCode::NotFound
    );
}

#[test]
fn only_unused_custom_profiles_are_deleted() {
    let mut engine = engine();
    let delete = |id: &str| {
        as_(
            "alice",
            DirectoryOp::DeleteProfile {
                profile: profile(id),
            },
        )
    };
    run(
        &mut engine,
        as_(
            "alice",
            DirectoryOp::SaveProfile {
                id: "dupont_notes".into(),
                name: "Notes".into(),
                base: profile("full_accounting_readonly"),
                levels: BTreeMap::new(),
            },
        ),
    )
    .unwrap();
    run(
        &mut engine,
        as_(
            "alice",
            DirectoryOp::SetProfile {
                user: user("vera"),
                profile: profile("dupont_notes"),
            },
        ),
    )
    .unwrap();
    let in_use = plan(&engine, &delete("dupont_notes")).unwrap_err();
    assert!(
        in_use.to_string().contains("1 user(s) still have"),
        "{in_use}"
    );
    assert_eq!(
        plan(&engine, &delete("full_accounting_standard"))
            .unwrap_err()
            .code(),
        ErrorCode::InvalidRequest,
        "a licence's base profile stays"
    );
    // A custom profile without a firm is shared by every firm: the bundle changes it, not one
    // firm's administrator (even when no user has it).
    let shared = plan(&engine, &delete("full_accounting_readonly")).unwrap_err();
    assert!(
        shared.to_string().contains("shared by every firm"),
        "{shared}"
    );
    run(
        &mut engine,
        as_(
            "alice",
            DirectoryOp::SetProfile {
                user: user("vera"),
                profile: profile("full_accounting_standard"),
            },
        ),
    )
    .unwrap();
    let deleted = run(&mut engine, delete("dupont_notes")).unwrap();
    assert_eq!(deleted.delta.remove, [profile("dupont_notes")]);
    assert!(engine.entity(&profile("dupont_notes")).is_none());
}

#[test]
fn a_firm_hides_a_section_from_its_own_roles_only() {
    let mut engine = engine();
    let sees = |engine: &Engine, who: &str| {
        engine
            .decide(&req(who, "view_section", ("Section", "dashboard")))
            .unwrap()
            .decision
    };
    assert_eq!(sees(&engine, "carol"), Decision::Allow);
    assert_eq!(sees(&engine, "uma"), Decision::Allow);
    let hide = |actor: &str, roles: &[&str]| {
        as_(
            actor,
            DirectoryOp::HideSection {
                section: EntityRef::new("Section", "dashboard"),
                roles: roles.iter().map(|r| r.to_string()).collect(),
            },
        )
    };
    let planned = run(&mut engine, hide("alice", &["accountant"])).unwrap();
    assert_eq!(
        planned.delta.upsert.len(),
        1,
        "only Dupont's record changes"
    );
    assert_eq!(planned.delta.upsert[0]["uid"]["id"], "dupont");
    assert_eq!(
        sees(&engine, "carol"),
        Decision::Deny,
        "Dupont's accountant"
    );
    assert_eq!(
        sees(&engine, "uma"),
        Decision::Allow,
        "Martin's accountant: another firm's choice"
    );
    // Only administrators choose; an unknown role is refused, nothing written.
    assert_eq!(
        plan(&engine, &hide("carol", &[])).unwrap_err().code(),
        ErrorCode::Forbidden
    );
    assert_eq!(
        plan(&engine, &hide("alice", &["astronaut"]))
            .unwrap_err()
            .code(),
        ErrorCode::NotFound
    );
    run(&mut engine, hide("alice", &[])).unwrap();
    assert_eq!(sees(&engine, "carol"), Decision::Allow, "shown again");
}

/// A client-side role only where the client's plan includes it, on every entity write: a user
/// put into such a team, or a team turned into one, is refused; what a write leaves as it was
/// (Pete's supplier-invoices role on Globex, from before its plan lost it) does not block an
/// unrelated edit.
#[test]
fn a_client_role_outside_the_plan_is_refused_on_any_entity_write() {
    let mut engine = engine();
    let write = |engine: &mut Engine, r: serde_json::Value| {
        engine.apply_delta(&EntityDelta {
            upsert: vec![r],
            remove: vec![],
        })
    };
    // Globex's plan (client_essential) includes the director only.
    let mut carol = record(&engine, &user("carol"));
    carol["parents"]
        .as_array_mut()
        .unwrap()
        .push(json!({"type": "Team", "id": "globex/billing"}));
    let err = write(&mut engine, carol.clone()).unwrap_err();
    assert_eq!(err.code(), ErrorCode::ClientRoleOutsidePlan, "{err}");
    assert!(err.to_string().contains("billing"), "{err}");
    carol["parents"].as_array_mut().unwrap().pop();
    carol["parents"]
        .as_array_mut()
        .unwrap()
        .push(json!({"type": "Team", "id": "globex/director"}));
    write(&mut engine, carol).unwrap();
    // A team turned into one the plan lacks, with members: refused, nothing changed.
    let mut team = record(&engine, &EntityRef::new("Team", "globex/accountant"));
    team["attrs"]["role"] = json!("billing");
    let err = write(&mut engine, team).unwrap_err();
    assert_eq!(err.code(), ErrorCode::ClientRoleOutsidePlan, "{err}");
    assert!(attr(
        &engine,
        &EntityRef::new("Team", "globex/accountant"),
        "role"
    )
    .contains("accountant"));
    // Pete's old role stays his; editing him otherwise is not refused.
    run(
        &mut engine,
        as_(
            "alice",
            DirectoryOp::ChangeEmail {
                user: user("pete"),
                email: "pete.new@example.com".into(),
            },
        ),
    )
    .unwrap();
}

/// Firm roles change at any time after the invitation (one's own included), each role given or
/// taken decided for the acting user; a firm always keeps an active administrator.
#[test]
fn roles_change_after_the_invitation_and_a_firm_keeps_an_administrator() {
    let mut engine = engine();
    let set = |actor: &str, who: &str, roles: &[&str]| {
        as_(
            actor,
            DirectoryOp::SetRoles {
                user: user(who),
                roles: roles.iter().map(|r| r.to_string()).collect(),
            },
        )
    };
    let roles_of = |engine: &Engine, who: &str| -> Vec<String> {
        let mut roles: Vec<String> = record(engine, &user(who))["parents"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|p| p["type"] == "Role")
            .map(|p| p["id"].as_str().unwrap().to_string())
            .collect();
        roles.sort();
        roles
    };
    run(
        &mut engine,
        set("alice", "carol", &["accountant", "client_manager"]),
    )
    .unwrap();
    assert_eq!(roles_of(&engine, "carol"), ["accountant", "client_manager"]);
    assert!(
        attr(&engine, &user("carol"), "email").contains("carol"),
        "the rest of the record stays"
    );
    assert_eq!(
        plan(&engine, &set("carol", "dave", &["administrator"]))
            .unwrap_err()
            .code(),
        ErrorCode::Forbidden,
        "only administrators give roles"
    );
    assert_eq!(
        plan(&engine, &set("alice", "dave", &["astronaut"]))
            .unwrap_err()
            .code(),
        ErrorCode::NotFound
    );
    // Alice may give up her own role while Erin is an administrator too; then Erin is the
    // last one: she can neither drop the role nor be blocked.
    run(&mut engine, set("alice", "alice", &["accountant"])).unwrap();
    let last = plan(&engine, &set("erin", "erin", &["accountant"])).unwrap_err();
    assert!(
        last.to_string().contains("last active administrator"),
        "{last}"
    );
    let blocked = plan(
        &engine,
        &as_(
            "erin",
            DirectoryOp::BlockUser {
                user: user("erin"),
                blocked: true,
            },
        ),
    )
    .unwrap_err();
    assert!(
        blocked.to_string().contains("last active administrator"),
        "{blocked}"
    );
    // With another administrator she may.
    run(
        &mut engine,
        set("erin", "dave", &["accountant", "administrator"]),
    )
    .unwrap();
    run(&mut engine, set("erin", "erin", &["accountant"])).unwrap();
    assert_eq!(roles_of(&engine, "erin"), ["accountant"]);
}

/// The plan's user limit is decided on the engine's own count of the seats taken (internal,
/// active users): a caller's number is replaced, a deactivated user frees his seat and takes it
/// back only if one is free, and the last active administrator is never deactivated.
#[test]
fn deactivating_frees_a_seat_and_the_count_is_the_engines_own() {
    let mut engine = engine();
    let may_invite = |engine: &Engine, sent: serde_json::Value| {
        let mut request = req("alice", "invite_user", ("Firm", "dupont"));
        request.context = Some(sent);
        let decision = engine.decide(&request).unwrap().decision;
        // A guest deciding on the slice its host packed takes the host's count: the same
        // answer, from a slice that does not carry the firm's users.
        let input = serde_json::to_string(&request).unwrap();
        let slice = json_api::slice_for(engine, json_api::Op::Decide, &input).unwrap();
        assert!(
            !slice.windows(3).any(|w| w == b"zoe"),
            "the firm's users are counted by the host, not packed"
        );
        let on_slice = json_api::call_on_slice(engine, json_api::Op::Decide, &input, &slice);
        let on_slice: policy_core::wire::DecisionResponse =
            serde_json::from_str(&on_slice.unwrap()).unwrap();
        assert_eq!(on_slice.decision, decision, "slice and store disagree");
        decision
    };
    run(&mut engine, as_("alice", invite("zoe", "zoe@example.com"))).unwrap();
    run(
        &mut engine,
        as_("alice", invite("yves", "yves@example.com")),
    )
    .unwrap();
    // 15 of 15 seats: whatever the caller says, no more invitations.
    assert_eq!(
        may_invite(&engine, json!({"user_count": 0})),
        Decision::Deny
    );
    assert_eq!(may_invite(&engine, json!({})), Decision::Deny);
    // An external user takes no seat: still invited.
    let mut auditor = invite("xavier", "xavier@audit.example");
    if let DirectoryOp::InviteUser {
        external, roles, ..
    } = &mut auditor
    {
        *external = true;
        roles.clear();
    }
    run(&mut engine, as_("alice", auditor)).unwrap();
    // ... but never with a firm role (which would work for the firm without a seat).
    let mut external_accountant = invite("walt", "walt@audit.example");
    if let DirectoryOp::InviteUser { external, .. } = &mut external_accountant {
        *external = true;
    }
    let refused = plan(&engine, &as_("alice", external_accountant)).unwrap_err();
    assert!(
        refused.to_string().contains("firm-roles-for-staff-only"),
        "{refused}"
    );

    let deactivate = |who: &str, deactivated| {
        as_(
            "alice",
            DirectoryOp::DeactivateUser {
                user: user(who),
                deactivated,
            },
        )
    };
    let tom_on_acme = |e: &Engine| {
        e.decide(&req("tom", "view_client", ("Client", "acme")))
            .unwrap()
            .decision
    };
    assert_eq!(tom_on_acme(&engine), Decision::Allow);
    let done = run(&mut engine, deactivate("tom", true)).unwrap();
    assert_eq!(done.summary, "alice deactivated User::\"tom\"");
    assert_eq!(tom_on_acme(&engine), Decision::Deny, "no access at all");
    assert_eq!(
        may_invite(&engine, json!({"user_count": 99})),
        Decision::Allow
    );
    assert_eq!(
        plan(&engine, &deactivate("tom", true)).unwrap_err().code(),
        ErrorCode::InvalidRequest,
        "already deactivated"
    );
    // His seat is taken by someone else: he cannot come back until one is free.
    run(
        &mut engine,
        as_("alice", invite("xena", "xena@example.com")),
    )
    .unwrap();
    let full = plan(&engine, &deactivate("tom", false)).unwrap_err();
    assert!(
        full.to_string().contains("15 user(s) taking a seat"),
        "{full}"
    );
    run(&mut engine, deactivate("xena", true)).unwrap();
    run(&mut engine, deactivate("tom", false)).unwrap();
    assert_eq!(tom_on_acme(&engine), Decision::Allow);
    // Only administrators; never the last active one.
    assert_eq!(
        plan(
            &engine,
            &as_(
                "carol",
                DirectoryOp::DeactivateUser {
                    user: user("tom"),
                    deactivated: true
                }
            )
        )
        .unwrap_err()
        .code(),
        ErrorCode::Forbidden
    );
    run(&mut engine, deactivate("erin", true)).unwrap();
    let last = plan(&engine, &deactivate("alice", true)).unwrap_err();
    assert!(
        last.to_string().contains("last active administrator"),
        "{last}"
    );
}

/// Deleting a user removes him and every mention of him (a company's detached list), keeps
/// the firm's last active administrator, and is an administrator's act.
#[test]
fn a_deleted_user_is_gone_from_every_list_and_the_last_administrator_stays() {
    let mut engine = engine();
    let delete = |actor: &str, who: &str| as_(actor, DirectoryOp::DeleteUser { user: user(who) });
    assert_eq!(
        plan(&engine, &delete("carol", "rose")).unwrap_err().code(),
        ErrorCode::Forbidden
    );
    // Rose is detached from Globex: deleting her rewrites Globex without her.
    let email = record(&engine, &user("rose"))["attrs"]["email"]
        .as_str()
        .unwrap()
        .to_string();
    let done = run(&mut engine, delete("alice", "rose")).unwrap();
    assert_eq!(done.delta.remove, vec![user("rose")]);
    assert_eq!(done.delta.upsert.len(), 1);
    assert!(engine.entity(&user("rose")).is_none());
    let globex = record(&engine, &EntityRef::new("Client", "globex"));
    assert_eq!(globex["attrs"]["detached"], json!([]));
    // Her e-mail is free again.
    run(&mut engine, as_("alice", invite("rosa", &email))).unwrap();
    // Alice may delete herself while Erin administers; then Erin is the last one.
    run(&mut engine, delete("alice", "alice")).unwrap();
    let last = plan(&engine, &delete("erin", "erin")).unwrap_err();
    assert!(
        last.to_string().contains("last active administrator"),
        "{last}"
    );
    // Authority first: whether a user exists is not told to whoever may not delete him.
    assert_eq!(
        plan(&engine, &delete("erin", "nobody")).unwrap_err().code(),
        ErrorCode::Forbidden
    );
}

/// Deletion rights and site profiles are given and taken after the invitation (and at it),
/// each decided for the acting user; site profiles are for staff only.
#[test]
fn deletion_rights_and_site_profiles_are_given_and_taken() {
    let mut engine = engine();
    let tom_deletes = |e: &Engine| {
        e.decide(&req("tom", "delete_document", ("Document", "inv-1")))
            .unwrap()
            .decision
    };
    let rights = |actor: &str, can_delete| {
        as_(
            actor,
            DirectoryOp::SetDeletionRights {
                user: user("tom"),
                can_delete,
            },
        )
    };
    assert_eq!(tom_deletes(&engine), Decision::Deny, "no-deletion-rights");
    assert_eq!(
        plan(&engine, &rights("carol", true)).unwrap_err().code(),
        ErrorCode::Forbidden
    );
    let done = run(&mut engine, rights("alice", true)).unwrap();
    assert_eq!(done.summary, "alice gave User::\"tom\" deletion rights");
    assert_eq!(tom_deletes(&engine), Decision::Allow);
    run(&mut engine, rights("alice", false)).unwrap();
    assert_eq!(tom_deletes(&engine), Decision::Deny);

    let site = |who: &str, profile: Option<&str>| {
        as_(
            "alice",
            DirectoryOp::SetSiteProfile {
                user: user(who),
                site_profile: profile.map(String::from),
            },
        )
    };
    let bob_reads = |e: &Engine| {
        e.decide(&req("bob", "view_document", ("Document", "inv-1")))
            .unwrap()
            .decision
    };
    assert_eq!(
        bob_reads(&engine),
        Decision::Deny,
        "a client manager reads no documents"
    );
    run(&mut engine, site("bob", Some("collaborator"))).unwrap();
    assert_eq!(bob_reads(&engine), Decision::Allow);
    run(&mut engine, site("bob", None)).unwrap();
    assert_eq!(bob_reads(&engine), Decision::Deny);
    let external = plan(&engine, &site("ivan", Some("manager"))).unwrap_err();
    assert!(
        external
            .to_string()
            .contains("site-profiles-for-staff-only"),
        "{external}"
    );
    assert_eq!(
        plan(&engine, &site("bob", Some("astronaut")))
            .unwrap_err()
            .code(),
        ErrorCode::NotFound
    );
    // At the invitation: a site manager with deletion rights.
    let mut manager = invite("zoe", "zoe@example.com");
    if let DirectoryOp::InviteUser {
        site_profile,
        can_delete,
        ..
    } = &mut manager
    {
        *site_profile = Some("manager".into());
        *can_delete = true;
    }
    let done = run(&mut engine, as_("alice", manager)).unwrap();
    assert!(done
        .checked
        .iter()
        .any(|c| c.starts_with("assign_site_profile")));
    assert!(done.checked.iter().any(|c| c.starts_with("grant_deletion")));
    accept(&mut engine, "zoe");
    assert_eq!(
        engine
            .decide(&req("zoe", "delete_document", ("Document", "inv-1")))
            .unwrap()
            .decision,
        Decision::Allow
    );
}

/// A client company's user is invited straight onto the company with a client role: external,
/// employed by the company, in its team; a role the company's plan lacks is refused, and so is
/// a client user invited as staff.
#[test]
fn a_client_user_is_invited_onto_his_company_with_a_role() {
    let mut engine = engine();
    let onto = |id: &str, client: &str, role: &str, external: bool| {
        let mut op = invite(id, &format!("{id}@client.example"));
        if let DirectoryOp::InviteUser {
            external: ext,
            roles,
            company,
            ..
        } = &mut op
        {
            *ext = external;
            roles.clear();
            *company = Some(policy_core::directory::CompanyRole {
                client: EntityRef::new("Client", client),
                role: role.into(),
            });
        }
        as_("alice", op)
    };
    let done = run(&mut engine, onto("paul", "acme", "billing", true)).unwrap();
    assert_eq!(
        done.summary,
        "alice invited User::\"paul\" (paul@client.example) as billing on Client::\"acme\""
    );
    let paul = record(&engine, &user("paul"));
    assert_eq!(paul["attrs"]["external"], json!(true));
    assert_eq!(
        paul["attrs"]["companies"],
        json!([{"__entity": {"type": "Client", "id": "acme"}}])
    );
    accept(&mut engine, "paul");
    assert_eq!(
        engine
            .decide(&req("paul", "upload_document", ("Client", "acme")))
            .unwrap()
            .decision,
        Decision::Allow,
        "a billing manager uploads his invoices"
    );
    // Globex's plan has the director only; a client user is external.
    let outside = plan(&engine, &onto("rita", "globex", "billing", true)).unwrap_err();
    assert!(
        outside.to_string().contains("client-roles-need-plan"),
        "{outside}"
    );
    assert_eq!(
        plan(&engine, &onto("rita", "acme", "billing", false))
            .unwrap_err()
            .code(),
        ErrorCode::InvalidRequest
    );
    assert!(engine.entity(&user("rita")).is_none());
}

#[test]
fn an_access_end_date_ends_access_at_the_request_time_and_a_firm_keeps_a_lasting_administrator() {
    let mut engine = engine();
    // No clock is installed in this process: the request states its time, as a test does.
    let tom_at = |e: &Engine, now: Option<&str>| {
        let mut r = req("tom", "view_client", ("Client", "acme"));
        r.context = now.map(|t| json!({"now": {"__extn": {"fn": "datetime", "arg": t}}}));
        e.decide(&r).unwrap().decision
    };
    let end = |until: Option<&str>| {
        as_(
            "alice",
            DirectoryOp::SetAccessEnd {
                user: user("tom"),
                access_until: until.map(String::from),
            },
        )
    };
    assert_eq!(tom_at(&engine, None), Decision::Allow);
    let planned = run(&mut engine, end(Some("2027-06-30T18:00:00Z"))).unwrap();
    assert!(planned
        .checked
        .contains(&"restrict_user on User::\"tom\"".to_string()));
    assert!(!attr(&engine, &user("tom"), "access_until").is_empty());
    assert_eq!(
        tom_at(&engine, Some("2027-06-30T17:59:59Z")),
        Decision::Allow
    );
    assert_eq!(
        tom_at(&engine, Some("2027-06-30T18:00:00Z")),
        Decision::Deny
    );
    // Without a time, a time-bound user is refused: nobody gets in by leaving it out.
    assert_eq!(tom_at(&engine, None), Decision::Deny);

    // Lifted, the access has no end again; lifting it twice says so.
    run(&mut engine, end(None)).unwrap();
    assert_eq!(tom_at(&engine, Some("2999-01-01")), Decision::Allow);
    let again = plan(&engine, &end(None)).unwrap_err();
    assert!(again.to_string().contains("has no end date"), "{again}");

    // Malformed or impossible instants are refused before anything is written.
    let refused = plan(&engine, &end(Some("soon"))).unwrap_err();
    assert_eq!(refused.code(), ErrorCode::InvalidRequest, "{refused}");
    let refused = plan(&engine, &end(Some("2027-06-31"))).unwrap_err();
    assert_eq!(refused.code(), ErrorCode::EntityInvalid, "{refused}");
    assert!(refused.to_string().contains("invalid date"), "{refused}");
    // Only user administration gives one.
    let by_carol = as_(
        "carol",
        DirectoryOp::SetAccessEnd {
            user: user("tom"),
            access_until: Some("2027-06-30".into()),
        },
    );
    assert_eq!(
        plan(&engine, &by_carol).unwrap_err().code(),
        ErrorCode::Forbidden
    );
    // Martin Conseil's only administrator never gets an end date: the firm would lock itself
    // out on that day.
    let uma_ends = as_(
        "uma",
        DirectoryOp::SetAccessEnd {
            user: user("uma"),
            access_until: Some("2027-06-30".into()),
        },
    );
    let refused = plan(&engine, &uma_ends).unwrap_err();
    assert!(
        refused.to_string().contains("whose access has no end date"),
        "{refused}"
    );

    // An interim accountant is invited with his end date.
    let mut interim = invite("ines", "ines@example.com");
    if let DirectoryOp::InviteUser { access_until, .. } = &mut interim {
        *access_until = Some("2027-01-31".into());
    }
    run(&mut engine, as_("alice", interim)).unwrap();
    assert!(!attr(&engine, &user("ines"), "access_until").is_empty());
}

/// An invited user is pending: he takes a seat at once, may do nothing but accept his own
/// invitation (once), and an administrator sends it again while it is pending; a pending
/// administrator does not count as one who keeps the firm administered.
#[test]
fn an_invited_user_is_pending_until_he_accepts() {
    let mut engine = engine();
    let done = run(&mut engine, as_("alice", invite("zoe", "zoe@example.com"))).unwrap();
    assert_eq!(done.delta.upsert[0]["attrs"]["pending"], json!(true));
    let zoe_may = |engine: &Engine, action: &str, resource: (&str, &str)| {
        engine
            .decide(&req("zoe", action, resource))
            .unwrap()
            .decision
    };
    assert_eq!(
        zoe_may(&engine, "edit_preferences", ("User", "zoe")),
        Decision::Deny,
        "nothing before accepting"
    );
    // Her seat is taken from the invitation on: 14 + 1 of 15.
    run(
        &mut engine,
        as_("alice", invite("yves", "yves@example.com")),
    )
    .unwrap();
    let full = plan(&engine, &as_("alice", invite("xena", "xena@example.com"))).unwrap_err();
    assert!(full.to_string().contains("15 user(s)"), "{full}");

    // Resent by an administrator, not by an accountant, not by another firm's.
    let resend = |actor: &str| as_(actor, DirectoryOp::ResendInvitation { user: user("zoe") });
    let resent = plan(&engine, &resend("alice")).unwrap();
    assert_eq!(
        resent.summary,
        "alice sent User::\"zoe\"'s invitation again"
    );
    assert!(resent.delta.upsert.is_empty() && resent.delta.remove.is_empty());
    for outsider in ["carol", "uma"] {
        assert_eq!(
            plan(&engine, &resend(outsider)).unwrap_err().code(),
            ErrorCode::Forbidden,
            "{outsider}"
        );
    }
    // Accepted by herself only.
    let by_alice = as_("alice", DirectoryOp::AcceptInvitation { user: user("zoe") });
    assert_eq!(
        plan(&engine, &by_alice).unwrap_err().code(),
        ErrorCode::InvalidRequest
    );
    let accepted = run(
        &mut engine,
        as_("zoe", DirectoryOp::AcceptInvitation { user: user("zoe") }),
    )
    .unwrap();
    assert_eq!(
        accepted.summary,
        "zoe accepted the invitation of User::\"zoe\""
    );
    assert!(attr(&engine, &user("zoe"), "pending").is_empty());
    assert_eq!(
        zoe_may(&engine, "edit_preferences", ("User", "zoe")),
        Decision::Allow
    );
    // Once: nothing left to accept or resend.
    let again = as_("zoe", DirectoryOp::AcceptInvitation { user: user("zoe") });
    assert_eq!(
        plan(&engine, &again).unwrap_err().code(),
        ErrorCode::InvalidRequest
    );
    assert!(plan(&engine, &resend("alice"))
        .unwrap_err()
        .to_string()
        .contains("no pending invitation"));

    // A pending administrator does not keep the firm administered: alice stays the last.
    let mut admin = invite("adam", "adam@example.com");
    if let DirectoryOp::InviteUser {
        roles, external, ..
    } = &mut admin
    {
        *roles = vec!["administrator".into()];
        *external = false;
    }
    run(
        &mut engine,
        as_(
            "alice",
            DirectoryOp::DeactivateUser {
                user: user("yves"),
                deactivated: true,
            },
        ),
    )
    .unwrap();
    run(&mut engine, as_("alice", admin)).unwrap();
    let block = |who: &str| {
        as_(
            "alice",
            DirectoryOp::BlockUser {
                user: user(who),
                blocked: true,
            },
        )
    };
    // Erin is Dupont's other administrator: blocked, alice is the last active one.
    run(&mut engine, block("erin")).unwrap();
    assert!(plan(&engine, &block("alice"))
        .unwrap_err()
        .to_string()
        .contains("last active administrator"));
    accept(&mut engine, "adam");
    assert!(
        plan(&engine, &block("alice")).is_ok(),
        "adam administers now"
    );
}

/// Custom roles are data: an administrator makes one granting action groups within the firm's
/// plan, gives it like any firm role, and deletes it once nobody holds it; another firm neither
/// changes nor gives it.
#[test]
fn custom_roles_grant_what_they_name_within_the_plan() {
    let mut engine = engine();
    let save = |actor: &str, grants: &[&str]| {
        as_(
            actor,
            DirectoryOp::SaveRole {
                id: "junior".into(),
                name: "Junior bookkeeper".into(),
                grants: grants.iter().map(|g| g.to_string()).collect(),
            },
        )
    };
    let dave_reads = |engine: &Engine| {
        engine
            .decide(&req("dave", "view_document", ("Document", "inv-1")))
            .unwrap()
            .decision
    };
    assert_eq!(dave_reads(&engine), Decision::Deny, "unassigned");
    // The standard plan offers custom roles reading and writing, never deleting.
    let wider = plan(
        &engine,
        &save("alice", &["document_read", "document_delete"]),
    )
    .unwrap_err();
    assert!(
        wider.to_string().contains("custom-role-grants-within-plan"),
        "{wider}"
    );
    assert_eq!(
        plan(&engine, &save("alice", &["fly"])).unwrap_err().code(),
        ErrorCode::InvalidRequest
    );
    assert_eq!(
        plan(&engine, &save("carol", &["document_read"]))
            .unwrap_err()
            .code(),
        ErrorCode::Forbidden
    );
    let saved = run(&mut engine, save("alice", &["entry_read", "document_read"])).unwrap();
    assert_eq!(
        saved.summary,
        "alice saved custom role Role::\"junior\" (Junior bookkeeper) granting document_read, entry_read"
    );
    let firm = record(&engine, &EntityRef::new("Firm", "dupont"));
    assert_eq!(
        firm["tags"]["grant.document_read"],
        json!([{"__entity": {"type": "Role", "id": "junior"}}])
    );
    // Given like any firm role; another firm's administrator neither gives nor changes it.
    let give = |actor: &str, who: &str, roles: &[&str]| {
        as_(
            actor,
            DirectoryOp::SetRoles {
                user: user(who),
                roles: roles.iter().map(|r| r.to_string()).collect(),
            },
        )
    };
    let foreign = plan(&engine, &give("uma", "uma", &["administrator", "junior"])).unwrap_err();
    assert!(
        foreign
            .to_string()
            .contains("tenant-isolation-custom-roles"),
        "{foreign}"
    );
    assert!(plan(&engine, &save("uma", &["document_read"]))
        .unwrap_err()
        .to_string()
        .contains("Firm::\"dupont\"'s custom role"));
    run(
        &mut engine,
        give("alice", "dave", &["accountant", "junior"]),
    )
    .unwrap();
    assert_eq!(
        dave_reads(&engine),
        Decision::Allow,
        "the role grants reading"
    );
    assert_eq!(
        engine
            .decide(&req("dave", "edit_document", ("Document", "inv-1")))
            .unwrap()
            .decision,
        Decision::Deny,
        "and nothing it does not name"
    );
    // Changed: the grant goes at once.
    run(&mut engine, save("alice", &["entry_read"])).unwrap();
    assert_eq!(dave_reads(&engine), Decision::Deny);
    // Deleted once nobody holds it; a role of the bundle is never deleted.
    let delete = |role: &str| {
        as_(
            "alice",
            DirectoryOp::DeleteRole {
                role: EntityRef::new("Role", role),
            },
        )
    };
    assert!(plan(&engine, &delete("junior"))
        .unwrap_err()
        .to_string()
        .contains("1 user(s) hold"));
    assert_eq!(
        plan(&engine, &delete("accountant")).unwrap_err().code(),
        ErrorCode::InvalidRequest
    );
    run(&mut engine, give("alice", "dave", &["accountant"])).unwrap();
    let deleted = run(&mut engine, delete("junior")).unwrap();
    assert_eq!(deleted.delta.remove, [EntityRef::new("Role", "junior")]);
    let firm = record(&engine, &EntityRef::new("Firm", "dupont"));
    assert!(firm["tags"].get("grant.entry_read").is_none(), "{firm}");
}

/// Profiles per dossier: an administrator gives a user another profile on one client dossier,
/// which decides the user's field levels on that client's documents only; all the users of a
/// profile on one dossier move together; a custom profile held on a dossier is not deleted;
/// another firm's dossier is out of reach.
#[test]
fn a_profile_on_one_dossier_decides_there_only() {
    let mut engine = engine();
    let on_acme = |actor: &str, who: &str, p: Option<&str>| {
        as_(
            actor,
            DirectoryOp::SetDossierProfile {
                user: user(who),
                client: EntityRef::new("Client", "acme"),
                profile: p.map(profile),
            },
        )
    };
    let carol_edits_iban = |engine: &Engine| {
        let mut request = req("carol", "edit_field", ("Document", "inv-1"));
        request.context = Some(json!({"field": "invoice.iban"}));
        engine.decide(&request).unwrap().decision
    };
    assert_eq!(
        carol_edits_iban(&engine),
        Decision::Allow,
        "her own full profile"
    );
    let given = run(
        &mut engine,
        on_acme("alice", "carol", Some("junior_accountant")),
    )
    .unwrap();
    assert_eq!(
        given.summary,
        "alice gave User::\"carol\" the profile AccessProfile::\"junior_accountant\" on Client::\"acme\""
    );
    // Her record names the dossier by the client's key.
    assert_eq!(given.delta.upsert.len(), 1);
    assert_eq!(
        given.delta.upsert[0]["tags"]["acme"],
        json!({"__entity": {"type": "AccessProfile", "id": "junior_accountant"}})
    );
    assert_eq!(
        carol_edits_iban(&engine),
        Decision::Deny,
        "the junior profile has no IBAN"
    );
    let mut elsewhere = req("carol", "view_document", ("Document", "inv-1"));
    elsewhere.context = None;
    assert_eq!(engine.decide(&elsewhere).unwrap().decision, Decision::Allow);
    // Only administrators, only on their own firm's dossiers.
    assert_eq!(
        plan(&engine, &on_acme("carol", "carol", None))
            .unwrap_err()
            .code(),
        ErrorCode::Forbidden
    );
    let foreign = plan(&engine, &on_acme("uma", "uma", Some("junior_accountant"))).unwrap_err();
    assert!(
        foreign
            .to_string()
            .contains("tenant-isolation-dossier-profiles"),
        "{foreign}"
    );
    // A custom profile held on a dossier stays until its users move.
    run(
        &mut engine,
        as_(
            "alice",
            DirectoryOp::SaveProfile {
                id: "acme_notes".into(),
                name: "Acme notes".into(),
                base: profile("junior_accountant"),
                levels: BTreeMap::new(),
            },
        ),
    )
    .unwrap();
    run(&mut engine, on_acme("alice", "vera", Some("acme_notes"))).unwrap();
    let delete = as_(
        "alice",
        DirectoryOp::DeleteProfile {
            profile: profile("acme_notes"),
        },
    );
    assert!(plan(&engine, &delete)
        .unwrap_err()
        .to_string()
        .contains("on a client dossier"));
    // Everybody holding it on Acme moves at once.
    let moved = run(
        &mut engine,
        as_(
            "alice",
            DirectoryOp::MoveProfileUsers {
                from: profile("acme_notes"),
                to: profile("full_accounting_readonly"),
                client: Some(EntityRef::new("Client", "acme")),
            },
        ),
    )
    .unwrap();
    assert_eq!(
        moved.summary,
        "alice moved 1 user(s) from AccessProfile::\"acme_notes\" to AccessProfile::\"full_accounting_readonly\" on Client::\"acme\""
    );
    run(&mut engine, delete).unwrap();
    // Taken away: her own profile decides on Acme again.
    run(&mut engine, on_acme("alice", "carol", None)).unwrap();
    assert_eq!(carol_edits_iban(&engine), Decision::Allow);
    assert_eq!(
        plan(&engine, &on_acme("alice", "carol", None))
            .unwrap_err()
            .code(),
        ErrorCode::InvalidRequest,
        "nothing to take away"
    );
}
