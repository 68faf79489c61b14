//! The resident engine: decisions, batches beyond 30, matrices, deltas that equal a reload, and
//! bad input that changes nothing.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use policy_core::json_api;
use policy_core::wire::{BatchItem, Decision, EntityDelta, EntityRef, MatrixRequest};
use policy_core::{Engine, ErrorCode, FieldLevel};
use serde_json::json;
use sesame_tests::{demo_bundle, demo_firm, req};

fn engine() -> Engine {
    Engine::with_entities(demo_bundle(), demo_firm()).unwrap()
}

/// A fixed set of requests covering every user and many actions: the engine's observable state.
fn observe(engine: &Engine) -> Vec<(String, Decision, Vec<String>)> {
    let users = [
        "alice", "bob", "carol", "dave", "erin", "frank", "grace", "ivan", "kim", "liam", "rose",
        "sam", "tom", "vera",
    ];
    let targets = [
        ("view_document", ("Document", "inv-1")),
        ("edit_document", ("Document", "glx-sup-1")),
        ("delete_document", ("Document", "bank-1")),
        ("view_client", ("Client", "globex")),
        ("edit_entry", ("Entry", "e-1")),
        ("view_section", ("Section", "payments")),
    ];
    let mut out = Vec::new();
    for u in users {
        for (action, resource) in targets {
            let r = engine.decide(&req(u, action, resource)).unwrap();
            out.push((
                format!("{u} {action} {resource:?}"),
                r.decision,
                r.determining_policies,
            ));
        }
    }
    out
}

#[test]
fn a_decision_names_its_policies_and_bundle() {
    let e = engine();
    let r = e
        .decide(&req("carol", "view_document", ("Document", "inv-1")))
        .unwrap();
    assert_eq!(r.decision, Decision::Allow);
    assert_eq!(
        r.determining_policies,
        vec!["accountant-documents-of-assigned-clients"]
    );
    assert_eq!(r.bundle_digest, e.digest());
}

#[test]
fn batches_have_no_thirty_request_cap() {
    let e = engine();
    let requests: Vec<_> = (0..1000)
        .map(|i| {
            if i % 2 == 0 {
                req("carol", "view_document", ("Document", "inv-1"))
            } else {
                req("dave", "view_document", ("Document", "inv-1"))
            }
        })
        .collect();
    let batch = e.decide_batch(&requests);
    assert_eq!(batch.results.len(), 1000);
    for (i, item) in batch.results.iter().enumerate() {
        let BatchItem::Decided(d) = item else {
            panic!("#{i} failed")
        };
        assert_eq!(
            d.decision,
            if i % 2 == 0 {
                Decision::Allow
            } else {
                Decision::Deny
            }
        );
    }
}

#[test]
fn one_bad_request_in_a_batch_fails_alone() {
    let e = engine();
    let mut bad = req("carol", "view_document", ("Document", "inv-1"));
    bad.action = EntityRef::new("Action", "no_such_action");
    let batch = e.decide_batch(&[req("carol", "view_document", ("Document", "inv-1")), bad]);
    assert!(matches!(batch.results[0], BatchItem::Decided(_)));
    let BatchItem::Failed { error } = &batch.results[1] else {
        panic!("should fail")
    };
    assert_eq!(error.code, ErrorCode::InvalidRequest);
}

#[test]
fn a_matrix_gives_decisions_and_field_levels_per_resource() {
    let e = engine();
    let m = e
        .matrix(&MatrixRequest {
            principal: EntityRef::new("User", "vera"),
            actions: ["view_document", "edit_document", "delete_document"]
                .iter()
                .map(|a| EntityRef::new("Action", *a))
                .collect(),
            resources: vec![
                EntityRef::new("Document", "inv-1"),
                EntityRef::new("Document", "old-1"),
            ],
            fields: vec![
                "invoice.amount".into(),
                "invoice.iban".into(),
                "invoice.notes".into(),
            ],
            context: None,
            entities: Vec::new(),
        })
        .unwrap();
    let inv = &m.rows[0];
    assert_eq!(inv.decisions["edit_document"], Decision::Allow);
    assert_eq!(inv.fields["invoice.amount"], FieldLevel::Read);
    assert_eq!(inv.fields["invoice.iban"], FieldLevel::None);
    assert_eq!(inv.fields["invoice.notes"], FieldLevel::Print);
    let archived = &m.rows[1];
    assert_eq!(archived.decisions["view_document"], Decision::Allow);
    assert_eq!(archived.decisions["edit_document"], Decision::Deny);
}

#[test]
fn one_matrix_serves_a_whole_page_of_mixed_resource_types() {
    // A page shows sections, a client and its documents: one call, and a cell exists only
    // where the action applies to the row's resource type.
    let m = engine()
        .matrix(&MatrixRequest {
            principal: EntityRef::new("User", "carol"),
            actions: [
                "view_section",
                "view_client",
                "view_document",
                "edit_document",
            ]
            .iter()
            .map(|a| EntityRef::new("Action", *a))
            .collect(),
            resources: vec![
                EntityRef::new("Section", "dashboard"),
                EntityRef::new("Client", "acme"),
                EntityRef::new("Document", "inv-1"),
            ],
            fields: vec!["invoice.amount".into()],
            context: None,
            entities: Vec::new(),
        })
        .unwrap();
    let keys = |i: usize| m.rows[i].decisions.keys().cloned().collect::<Vec<_>>();
    assert_eq!(keys(0), ["view_section"]);
    assert_eq!(keys(1), ["view_client"]);
    assert_eq!(keys(2), ["edit_document", "view_document"]);
    assert!(m.rows[0].fields.is_empty() && m.rows[1].fields.is_empty());
    assert_eq!(m.rows[2].decisions["view_document"], Decision::Allow);
    assert!(m.rows[2].fields.contains_key("invoice.amount"));
}

#[test]
fn a_delta_assigns_and_unassigns_an_accountant() {
    let mut e = engine();
    let dave_view = req("dave", "view_document", ("Document", "inv-1"));
    assert_eq!(e.decide(&dave_view).unwrap().decision, Decision::Deny);
    let mut dave = demo_firm()
        .into_iter()
        .find(|r| r["uid"]["id"] == "dave")
        .unwrap();
    dave["parents"]
        .as_array_mut()
        .unwrap()
        .push(json!({"type": "Team", "id": "acme/accountant"}));
    e.apply_delta(&EntityDelta {
        upsert: vec![dave.clone()],
        remove: vec![],
    })
    .unwrap();
    assert_eq!(e.decide(&dave_view).unwrap().decision, Decision::Allow);
    // Unassigning is a delta on the user alone.
    dave["parents"].as_array_mut().unwrap().pop();
    e.apply_delta(&EntityDelta {
        upsert: vec![dave],
        remove: vec![],
    })
    .unwrap();
    assert_eq!(e.decide(&dave_view).unwrap().decision, Decision::Deny);
}

#[test]
fn changing_a_parent_updates_every_descendant() {
    let mut e = engine();
    // Make SiteProfile::"manager" no longer a collaborator: Grace (manager) loses what only
    // collaborators get, through the manager profile's ancestors.
    let view = req("grace", "view_document", ("Document", "inv-1"));
    assert_eq!(e.decide(&view).unwrap().decision, Decision::Allow);
    e.apply_delta(&EntityDelta {
        upsert: vec![
            json!({"uid": {"type": "SiteProfile", "id": "manager"}, "attrs": {}, "parents": []}),
        ],
        remove: vec![],
    })
    .unwrap();
    assert_eq!(e.decide(&view).unwrap().decision, Decision::Deny);
    // And back.
    e.apply_delta(&EntityDelta {
        upsert: vec![json!({"uid": {"type": "SiteProfile", "id": "manager"}, "attrs": {}, "parents": [{"type": "SiteProfile", "id": "collaborator"}]})],
        remove: vec![],
    })
    .unwrap();
    assert_eq!(e.decide(&view).unwrap().decision, Decision::Allow);
}

#[test]
fn any_sequence_of_deltas_equals_a_reload() {
    let mut incremental = engine();
    let mut records = demo_firm();
    let deltas: Vec<EntityDelta> = vec![
        EntityDelta {
            upsert: vec![],
            remove: vec![
                EntityRef::new("User", "tom"),
                EntityRef::new("Department", "north"),
            ],
        },
        EntityDelta {
            upsert: vec![
                json!({"uid": {"type": "SiteProfile", "id": "manager"}, "attrs": {}, "parents": []}),
            ],
            remove: vec![EntityRef::new("Team", "globex/accountant")],
        },
        EntityDelta {
            upsert: vec![
                json!({"uid": {"type": "Department", "id": "north"}, "attrs": {"name": "North again"}, "parents": [{"type": "Firm", "id": "dupont"}]}),
                json!({"uid": {"type": "Team", "id": "globex/accountant"}, "attrs": {"client": {"__entity": {"type": "Client", "id": "globex"}}, "role": "accountant"}, "parents": []}),
            ],
            remove: vec![],
        },
    ];
    for delta in &deltas {
        incremental.apply_delta(delta).unwrap();
        records.retain(|r| {
            !delta.remove.iter().any(|x| {
                r["uid"]["type"] == x.type_name.as_str() && r["uid"]["id"] == x.id.as_str()
            })
        });
        for u in &delta.upsert {
            records.retain(|r| r["uid"] != u["uid"]);
            records.push(u.clone());
        }
        let reloaded = Engine::with_entities(demo_bundle(), records.clone()).unwrap();
        let (a, b) = (observe(&incremental), observe(&reloaded));
        // Decisions about removed users error in both; compare the ones both can answer.
        assert_eq!(a, b);
    }
}

#[test]
fn bad_input_changes_nothing() {
    let mut e = engine();
    let before = observe(&e);
    let count = e.entity_count();
    let bad: Vec<EntityDelta> = vec![
        // Unknown entity type.
        EntityDelta {
            upsert: vec![
                json!({"uid": {"type": "Martian", "id": "x"}, "attrs": {}, "parents": []}),
            ],
            remove: vec![],
        },
        // Violates the schema (missing attributes).
        EntityDelta {
            upsert: vec![
                json!({"uid": {"type": "User", "id": "carol"}, "attrs": {}, "parents": []}),
            ],
            remove: vec![],
        },
        // A cycle: north's parent becomes a department whose parent is north; plus a good entity
        // in the same delta, which must not land either.
        EntityDelta {
            upsert: vec![
                json!({"uid": {"type": "SiteProfile", "id": "collaborator"}, "attrs": {}, "parents": [{"type": "SiteProfile", "id": "manager"}]}),
                json!({"uid": {"type": "Role", "id": "auditor"}, "attrs": {}, "parents": []}),
            ],
            remove: vec![EntityRef::new("User", "carol")],
        },
        // Action entities come from the schema only.
        EntityDelta {
            upsert: vec![],
            remove: vec![EntityRef::new("Action", "view_document")],
        },
    ];
    let codes: Vec<ErrorCode> = bad
        .iter()
        .map(|d| e.apply_delta(d).unwrap_err().code())
        .collect();
    assert_eq!(
        codes,
        vec![
            ErrorCode::EntityInvalid,
            ErrorCode::EntityInvalid,
            ErrorCode::EntityCycle,
            ErrorCode::EntityInvalid
        ]
    );
    // Malformed JSON through the JSON face, and a request that violates the schema.
    assert_eq!(
        json_api::call(&mut e, policy_core::json_api::Op::ApplyDelta, "{not json")
            .unwrap_err()
            .code,
        ErrorCode::MalformedJson
    );
    let mut wrong_context = req("alice", "detach_user", ("User", "carol"));
    wrong_context.context = Some(json!({"client": "six"}));
    assert_eq!(
        e.decide(&wrong_context).unwrap_err().code(),
        ErrorCode::InvalidRequest
    );
    assert_eq!(e.entity_count(), count);
    assert_eq!(observe(&e), before);
}

#[test]
fn a_new_bundle_installs_over_the_same_data() {
    let mut e = engine();
    let mut files = sesame_tests::demo_files();
    files.insert(
        "deny-all.cedar".into(),
        "@id(\"deny-all\")\nforbid (principal, action, resource);\n".into(),
    );
    let stricter = sesame_tests::load(&files).unwrap();
    let digest = stricter.digest().to_string();
    e.install_bundle(stricter).unwrap();
    let r = e
        .decide(&req("carol", "view_document", ("Document", "inv-1")))
        .unwrap();
    assert_eq!((r.decision, r.bundle_digest), (Decision::Deny, digest));
}

#[test]
fn profiles_compare_lists_only_differences() {
    let e = engine();
    let diffs = e
        .compare_profiles(
            &EntityRef::new("AccessProfile", "full_accounting_standard"),
            &EntityRef::new("AccessProfile", "junior_accountant"),
        )
        .unwrap();
    let keys: Vec<&str> = diffs.iter().map(|d| d.key.as_str()).collect();
    assert_eq!(
        keys,
        vec![
            "invoice.amount",
            "invoice.customer",
            "invoice.iban",
            "invoice.notes",
            "section.payments",
            "section.reports"
        ]
    );
    let iban = diffs.iter().find(|d| d.key == "invoice.iban").unwrap();
    assert_eq!(
        (iban.left, iban.right),
        (FieldLevel::Full, FieldLevel::None)
    );
}

#[test]
fn a_matrix_can_decide_for_a_stand_in_user_given_with_the_call() {
    // "What would an accountant assigned to acme with the junior profile see?" — a user who
    // does not exist, sent with the call; the store is untouched.
    let e = engine();
    let stand_in = json!({
        "uid": {"type": "User", "id": "role:accountant"},
        "attrs": {"name": "accountant", "email": "a@role.invalid",
                  "firm": {"__entity": {"type": "Firm", "id": "dupont"}}, "external": false,
                  "blocked": false, "can_delete": false,
                  "profile": {"__entity": {"type": "AccessProfile", "id": "junior_accountant"}},
                  "department_restricted": false, "departments": []},
        "parents": [{"type": "Role", "id": "accountant"}, {"type": "Team", "id": "acme/accountant"}]
    });
    let m = e
        .matrix(&MatrixRequest {
            principal: EntityRef::new("User", "role:accountant"),
            actions: vec![EntityRef::new("Action", "view_document")],
            resources: vec![EntityRef::new("Document", "inv-1")],
            fields: vec!["invoice.amount".into(), "invoice.iban".into()],
            context: None,
            entities: vec![stand_in],
        })
        .unwrap();
    assert_eq!(m.rows[0].decisions["view_document"], Decision::Allow);
    assert_eq!(m.rows[0].fields["invoice.amount"], FieldLevel::Read);
    assert_eq!(m.rows[0].fields["invoice.iban"], FieldLevel::None);
    assert!(e
        .entity(&EntityRef::new("User", "role:accountant"))
        .is_none());
}

/// The engine reads plain records itself rather than through Cedar's parser (policy-core's
/// `entity_parse`): every entity of the demo firm and of a generated firm must come out as
/// `cedar_policy::Entities` holds it — attributes, tags, ancestors.
#[test]
fn entities_are_held_exactly_as_cedar_holds_them() {
    let bundle = demo_bundle();
    let mut records = demo_firm();
    records.extend(sesame_tools::firm_gen::firm_entities(
        sesame_tools::firm_gen::FirmSize::of(40, 60, 400),
    ));
    let mut all = bundle.entity_records().to_vec();
    all.extend(records.iter().cloned());
    let cedar =
        cedar_policy::Entities::from_json_value(serde_json::Value::Array(all), bundle.schema())
            .unwrap();
    let engine = Engine::with_entities(bundle, records).unwrap();
    let mut compared = 0;
    for theirs in cedar.iter() {
        let uid = theirs.uid();
        let ours = engine
            .entity(&EntityRef::new(
                uid.type_name().to_string(),
                uid.id().unescaped(),
            ))
            .unwrap_or_else(|| panic!("{uid} is missing"));
        assert!(ours.as_ref().deep_eq(theirs.as_ref()), "{uid} differs");
        compared += 1;
    }
    assert_eq!(compared, engine.entity_count());
    assert!(compared > 1_000, "{compared}");
}

/// The records the engine gives back (to persist, to load into another version, to edit) list
/// each entity's direct parents only, as given: never its closure.
#[test]
fn data_records_keep_direct_parents_not_the_closure() {
    let given = demo_firm();
    let engine = Engine::with_entities(demo_bundle(), given.clone()).unwrap();
    let parents = |record: &serde_json::Value| -> std::collections::BTreeSet<String> {
        record["parents"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|p| format!("{}::{}", p["type"], p["id"]))
            .collect()
    };
    let back: std::collections::BTreeMap<String, serde_json::Value> = engine
        .data_records()
        .unwrap()
        .into_iter()
        .map(|r| (r["uid"].to_string(), r))
        .collect();
    let mut nested = 0;
    for record in &given {
        let uid = record["uid"].to_string();
        let ours = back
            .get(&uid)
            .unwrap_or_else(|| panic!("{uid} not given back"));
        assert_eq!(parents(ours), parents(record), "{uid}");
        let uid_ref = policy_core::uid_of_record(record).unwrap();
        let ancestors = engine
            .entity(&uid_ref)
            .unwrap()
            .as_ref()
            .ancestors()
            .count();
        if ancestors > parents(record).len() {
            nested += 1;
        }
    }
    assert!(
        nested > 0,
        "no entity of the demo data has an indirect ancestor"
    );
}
