//! Tenants as partitions, by property: on a generated network of firms (sharing the demo
//! bundle's plans, licences and base profiles), no user of one firm is allowed any action of
//! the schema on any resource that belongs to another firm, whatever the request's context
//! names (entities of either firm). Ownership is `policy_core::tenancy`'s: what a record
//! reaches through its attributes and parents. The same requests within one firm are allowed
//! often enough to show the denials are the policies' doing, not an empty test.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;

use cedar_policy_core::validator::types::{EntityKind, Type};
use policy_core::directory::{plan, DirectoryOp, DirectoryRequest};
use policy_core::tenancy::tenant_records;
use policy_core::wire::{Decision, DecisionRequest, EntityRef};
use policy_core::{uid_of_record, Engine};
use serde_json::{json, Map, Value};
use sesame_tests::demo_bundle;
use sesame_tools::firm_gen::{network_entities, FirmSize, GenFirm};

const FIRMS: usize = 3;

/// Entities of each firm, by type (shared records are nobody's).
fn owned(records: &[Value]) -> Vec<BTreeMap<String, Vec<EntityRef>>> {
    let shared: Vec<EntityRef> = tenant_records(records, "Firm", &[])
        .iter()
        .filter_map(uid_of_record)
        .collect();
    (0..FIRMS)
        .map(|f| {
            let mut by_type: BTreeMap<String, Vec<EntityRef>> = BTreeMap::new();
            for uid in tenant_records(records, "Firm", &[GenFirm::numbered(f).id])
                .iter()
                .filter_map(uid_of_record)
                .filter(|u| !shared.contains(u))
            {
                by_type.entry(uid.type_name.clone()).or_default().push(uid);
            }
            by_type
        })
        .collect()
}

/// A context of `ty` whose entity-typed attributes name entities of `firm` (the first of the
/// type); `None` when it needs a value this test does not make (an extension value).
fn context(ty: &Type, firm: &BTreeMap<String, Vec<EntityRef>>) -> Option<Value> {
    Some(match ty {
        Type::Bool(_) => json!(false),
        Type::Long => json!(1),
        Type::String => json!("invoice.amount"),
        Type::Entity(EntityKind::Entity(lub)) => {
            let ty = lub.get_single_entity()?.to_string();
            let uid = firm.get(&ty)?.first()?;
            json!({"__entity": {"type": uid.type_name, "id": uid.id}})
        }
        Type::Set { .. } => json!([]),
        Type::Record { attrs, .. } => {
            let mut fields = Map::new();
            for (name, attr) in attrs.iter() {
                if attr.is_required {
                    fields.insert(name.to_string(), context(&attr.attr_type, firm)?);
                }
            }
            Value::Object(fields)
        }
        _ => return None,
    })
}

#[test]
fn no_user_of_one_firm_is_allowed_anything_on_another_firms_entities() {
    let records = network_entities(FIRMS, FirmSize::of(10, 4, 12));
    let firms = owned(&records);
    let engine = Engine::with_entities(demo_bundle(), records).unwrap();
    let schema = engine
        .bundle()
        .schema()
        .expect("the demo bundle has a schema");
    let (mut denied, mut allowed_within, mut unmade) = (0, 0, 0);
    for action in schema.actions() {
        let action_ref = EntityRef::new(action.type_name().to_string(), action.id().unescaped());
        let Some(context_type) = schema.as_ref().context_type(action.as_ref()) else {
            continue;
        };
        let resource_types: Vec<String> = schema
            .resources_for_action(action)
            .map(|types| types.map(ToString::to_string).collect())
            .unwrap_or_default();
        for (a, theirs) in [(0, 1), (1, 2), (2, 0)] {
            let (ours, others) = (&firms[a], &firms[theirs]);
            for principal in ours.get("User").into_iter().flatten() {
                for ty in &resource_types {
                    for (resource, same_firm) in others
                        .get(ty)
                        .into_iter()
                        .flatten()
                        .map(|r| (r, false))
                        .chain(ours.get(ty).into_iter().flatten().map(|r| (r, true)))
                    {
                        for named in [ours, others] {
                            let Some(context) = context(context_type, named) else {
                                unmade += 1;
                                continue;
                            };
                            let request = DecisionRequest {
                                principal: principal.clone(),
                                action: action_ref.clone(),
                                resource: resource.clone(),
                                context: Some(context),
                                entities: Vec::new(),
                            };
                            let Ok(answer) = engine.decide(&request) else {
                                unmade += 1;
                                continue;
                            };
                            match (same_firm, answer.decision) {
                                (true, Decision::Allow) => allowed_within += 1,
                                (true, Decision::Deny) => {}
                                (false, Decision::Deny) => denied += 1,
                                (false, Decision::Allow) => panic!(
                                    "{principal} may {action} on {resource} of another firm ({:?}): {:?}",
                                    request.context, answer.determining_policies
                                ),
                            }
                        }
                    }
                }
            }
        }
    }
    eprintln!(
        "{denied} cross-firm requests denied, {allowed_within} same-firm allowed, {unmade} not made"
    );
    assert!(denied > 5_000, "only {denied} cross-firm requests decided");
    assert!(
        allowed_within > 100,
        "only {allowed_within} allowed within a firm"
    );
    assert!(unmade < denied / 10, "{unmade} requests could not be made");
}

/// A write that would make an entity belong to two firms is refused with `cross_tenant`, naming
/// both, and changes nothing; the same entity within one firm is accepted.
#[test]
fn an_entity_write_reaching_another_firm_is_refused() {
    let mut engine =
        Engine::with_entities(demo_bundle(), network_entities(2, FirmSize::of(5, 3, 6))).unwrap();
    let count = engine.entity_count();
    let document = |client: &str| {
        json!({
            "uid": {"type": "Document", "id": "crossing"},
            "attrs": {"client": {"__entity": {"type": "Client", "id": "f0-c0"}}, "kind": "receipt", "archived": false},
            "parents": [{"type": "Client", "id": client}]
        })
    };
    let delta = |record: Value| policy_core::wire::EntityDelta {
        upsert: vec![record],
        remove: Vec::new(),
    };
    let refused = engine.apply_delta(&delta(document("f1-c0"))).unwrap_err();
    assert_eq!(
        refused.code(),
        policy_core::ErrorCode::CrossTenant,
        "{refused}"
    );
    assert!(
        refused.to_string().contains("Firm::\"f0\"")
            && refused.to_string().contains("Firm::\"f1\""),
        "{refused}"
    );
    assert_eq!(engine.entity_count(), count);
    engine.apply_delta(&delta(document("f0-c1"))).unwrap();
    assert_eq!(engine.entity_count(), count + 1);
    // An entity stays in its firm: a team of f0's client moved under f1's client is refused
    // (every user in the team would reach both firms).
    let team = json!({
        "uid": {"type": "Team", "id": "f0-c0/accountant"},
        "attrs": {"client": {"__entity": {"type": "Client", "id": "f1-c0"}}, "role": "accountant"},
        "parents": []
    });
    let moved = engine.apply_delta(&delta(team)).unwrap_err();
    assert_eq!(moved.code(), policy_core::ErrorCode::CrossTenant, "{moved}");
    assert!(moved.to_string().contains("stays in its firm"), "{moved}");
    // A whole load is held to the same rule.
    let mut records = network_entities(2, FirmSize::of(5, 3, 6));
    records.push(document("f1-c0"));
    let refused = Engine::with_entities(demo_bundle(), records).unwrap_err();
    assert_eq!(
        refused.code(),
        policy_core::ErrorCode::CrossTenant,
        "{refused}"
    );
}

/// Firm administration, by property: an administrator of one firm plans every directory
/// operation on every user, client and custom profile of another firm, and on the shared
/// profiles; each is refused. Whatever an administrator's plan does write (moving its own
/// users, choosing its default, hiding a section) is its own firm's entities or new ones, never
/// another firm's or a shared one.
#[test]
fn no_administrator_of_one_firm_administers_another_or_the_shared_entities() {
    let records = network_entities(FIRMS, FirmSize::of(12, 3, 4));
    let mut engine = Engine::with_entities(demo_bundle(), records).unwrap();
    let admin = |f: usize| EntityRef::new("User", format!("f{f}-u5"));
    let custom = |f: usize| EntityRef::new("AccessProfile", format!("f{f}-custom"));
    let shared_custom = EntityRef::new("AccessProfile", "junior_accountant");
    let shared_base = EntityRef::new("AccessProfile", "full_accounting_standard");
    let save = |id: &EntityRef| DirectoryOp::SaveProfile {
        id: id.id.clone(),
        name: "custom".into(),
        base: EntityRef::new("AccessProfile", "full_accounting_readonly"),
        levels: BTreeMap::new(),
    };
    // Each firm's own custom profile, made by its administrator through the directory.
    for f in 0..FIRMS {
        let request = DirectoryRequest {
            actor: admin(f),
            op: save(&custom(f)),
        };
        let planned = plan(&engine, &request).unwrap();
        engine.apply_delta(&planned.delta).unwrap();
    }
    let firms = owned(&engine.data_records().unwrap());
    let (mut refused, mut planned_own) = (0, 0);
    for (a, b) in [(0, 1), (1, 2), (2, 0)] {
        let theirs = |ty: &str| firms[b].get(ty).cloned().unwrap_or_default();
        let (users, clients) = (theirs("User"), theirs("Client"));
        assert!(users.len() >= 10 && !clients.is_empty());
        let mut ops: Vec<DirectoryOp> = Vec::new();
        for user in &users {
            let client = clients[ops.len() % clients.len()].clone();
            ops.extend([
                DirectoryOp::BlockUser {
                    user: user.clone(),
                    blocked: true,
                },
                DirectoryOp::ChangeEmail {
                    user: user.clone(),
                    email: "x@example.com".into(),
                },
                DirectoryOp::SetProfile {
                    user: user.clone(),
                    profile: shared_base.clone(),
                },
                DirectoryOp::SetProfile {
                    user: user.clone(),
                    profile: custom(a),
                },
                DirectoryOp::DetachUser {
                    user: user.clone(),
                    client: client.clone(),
                },
                DirectoryOp::SetCompanyRole {
                    user: user.clone(),
                    client,
                    role: "director".into(),
                },
                DirectoryOp::RestrictDepartments {
                    user: user.clone(),
                    departments: vec![],
                },
                DirectoryOp::SetRoles {
                    user: user.clone(),
                    roles: vec!["client_manager".into()],
                },
            ]);
        }
        ops.extend([
            DirectoryOp::SetDefaultProfile { profile: custom(b) },
            DirectoryOp::DeleteProfile { profile: custom(b) },
            save(&custom(b)),
            DirectoryOp::DeleteProfile {
                profile: shared_custom.clone(),
            },
            save(&shared_custom),
            save(&shared_base),
            DirectoryOp::MoveProfileUsers {
                from: custom(a),
                to: custom(b),
                client: None,
            },
            DirectoryOp::InviteUser {
                id: users[0].id.clone(),
                name: "Twin".into(),
                first_name: "Evil".into(),
                email: "twin@example.com".into(),
                roles: vec!["administrator".into()],
                external: false,
                profile: None,
                site_profile: None,
                can_delete: false,
                company: None,
                access_until: None,
            },
        ]);
        for op in ops {
            let request = DirectoryRequest {
                actor: admin(a),
                op,
            };
            match plan(&engine, &request) {
                Err(_) => refused += 1,
                Ok(p) => panic!(
                    "{} planned {:?} across firms: {:?}",
                    admin(a),
                    request.op,
                    p.delta
                ),
            }
        }
        // What an administrator may plan writes its own firm's entities (or new ones) only.
        let own = [
            DirectoryOp::MoveProfileUsers {
                from: shared_base.clone(),
                to: custom(a),
                client: None,
            },
            DirectoryOp::SetDefaultProfile {
                profile: shared_custom.clone(),
            },
            DirectoryOp::HideSection {
                section: EntityRef::new("Section", "reports"),
                roles: vec!["accountant".into()],
            },
            save(&EntityRef::new("AccessProfile", format!("f{a}-another"))),
        ];
        for op in own {
            let request = DirectoryRequest {
                actor: admin(a),
                op,
            };
            let p = plan(&engine, &request).unwrap();
            let written = p
                .delta
                .upsert
                .iter()
                .filter_map(uid_of_record)
                .chain(p.delta.remove.clone());
            for uid in written {
                let ours = firms[a]
                    .get(&uid.type_name)
                    .is_some_and(|l| l.contains(&uid));
                assert!(
                    ours || engine.entity(&uid).is_none(),
                    "{:?} by {} writes {uid}, not its firm's",
                    request.op,
                    admin(a)
                );
            }
            planned_own += 1;
        }
    }
    eprintln!("{refused} cross-firm directory operations refused, {planned_own} own planned");
    assert!(refused > 200, "only {refused} refused");
}
