//! Plain Cedar folders are plain Cedar: no firm rule applies unless the manifest declares the
//! firm model, whatever the types are called; templates with a links file and schema-less
//! folders load; every decision equals `cedar-policy`'s own on the same files.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::{BTreeMap, HashMap};
use std::str::FromStr;

use cedar_policy::{
    Authorizer, Context, Entities, EntityUid, PolicyId, PolicySet, Request, Schema,
};
use policy_core::directory::{plan, DirectoryOp, DirectoryRequest};
use policy_core::wire::{Decision, DecisionRequest, EntityRef};
use policy_core::{Bundle, Engine, ErrorCode, PolicyValidation, Severity};
use sesame_tests::{find, load};

fn files(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(p, t)| (p.to_string(), t.to_string()))
        .collect()
}

/// The folder of the report: a namespace `Firm` with an `AccessProfile` that has no licence
/// and no default, a `Licence` and a `Plan`, none of them following the firm model.
const FIRM_NAMED_SCHEMA: &str = r#"namespace Firm {
  entity Plan = { client_roles: Set<String> };
  entity Licence;
  entity AccessProfile = { is_default: Bool } tags Long;
  entity User = { profile: AccessProfile };
  entity Team = { client: User, role: String };
  action view appliesTo { principal: User, resource: AccessProfile };
}
"#;
const FIRM_NAMED_POLICIES: &str = "permit (principal, action == Firm::Action::\"view\", resource)\nwhen { principal.profile == resource };\n";
const FIRM_NAMED_ENTITIES: &str = r#"[
  {"uid": {"type": "Firm::AccessProfile", "id": "full"}, "attrs": {"is_default": false}, "parents": [], "tags": {"x": 9}},
  {"uid": {"type": "Firm::AccessProfile", "id": "lite"}, "attrs": {"is_default": false}, "parents": []},
  {"uid": {"type": "Firm::User", "id": "ann"}, "attrs": {"profile": {"type": "Firm::AccessProfile", "id": "full"}}, "parents": []}
]"#;

/// What `cedar-policy` itself answers on the same texts: the oracle.
fn cedar_decides(
    schema: Option<&str>,
    policies: &str,
    entities: &str,
    request: &DecisionRequest,
) -> (Decision, Vec<String>) {
    let schema = schema.map(|s| Schema::from_cedarschema_str(s).unwrap().0);
    let set = PolicySet::from_str(policies).unwrap();
    let entities =
        Entities::from_json_str(entities, schema.as_ref()).expect("cedar parses the entities");
    let uid = |r: &EntityRef| EntityUid::from_json(serde_json::to_value(r).unwrap()).unwrap();
    let cedar_request = Request::new(
        uid(&request.principal),
        uid(&request.action),
        uid(&request.resource),
        Context::empty(),
        schema.as_ref(),
    )
    .unwrap();
    let response = Authorizer::new().is_authorized(&cedar_request, &set, &entities);
    let mut reasons: Vec<String> = response
        .diagnostics()
        .reason()
        .map(PolicyId::to_string)
        .collect();
    reasons.sort();
    let decision = match response.decision() {
        cedar_policy::Decision::Allow => Decision::Allow,
        cedar_policy::Decision::Deny => Decision::Deny,
    };
    (decision, reasons)
}

fn request(
    principal: (&str, &str),
    action: (&str, &str),
    resource: (&str, &str),
) -> DecisionRequest {
    DecisionRequest {
        principal: EntityRef::new(principal.0, principal.1),
        action: EntityRef::new(action.0, action.1),
        resource: EntityRef::new(resource.0, resource.1),
        context: None,
        entities: vec![],
    }
}

#[test]
fn types_named_like_the_firm_model_are_plain_cedar_without_a_declaration() {
    // The reported refusal: `profile Firm::AccessProfile::"full" has no licence; exactly one
    // access profile must have is_default = true` — neither applies to a plain folder.
    let folder = files(&[
        ("schema.cedarschema", FIRM_NAMED_SCHEMA),
        ("policies.cedar", FIRM_NAMED_POLICIES),
        ("entities.json", FIRM_NAMED_ENTITIES),
    ]);
    let bundle = load(&folder).expect("a valid Cedar folder loads whatever its type names");
    let engine = Engine::new(bundle);
    assert!(
        engine.profiles().is_empty(),
        "no access profiles without the model"
    );
    for (resource, expected) in [("full", Decision::Allow), ("lite", Decision::Deny)] {
        let req = request(
            ("Firm::User", "ann"),
            ("Firm::Action", "view"),
            ("Firm::AccessProfile", resource),
        );
        let ours = engine.decide(&req).unwrap();
        let cedar = cedar_decides(
            Some(FIRM_NAMED_SCHEMA),
            FIRM_NAMED_POLICIES,
            FIRM_NAMED_ENTITIES,
            &req,
        );
        assert_eq!(ours.decision, expected);
        assert_eq!((ours.decision, ours.determining_policies), cedar);
    }
    // Writing a "profile" wider than anything is data like any other.
    let delta = serde_json::json!({"upsert": [{"uid": {"type": "Firm::AccessProfile", "id": "x"}, "attrs": {"is_default": true}, "parents": [], "tags": {"y": 99}}]});
    let mut engine = engine;
    engine
        .apply_delta(&serde_json::from_value(delta).unwrap())
        .expect("no firm rule applies to plain data");
}

#[test]
fn the_directory_answers_that_a_plain_bundle_declares_no_firm_model() {
    let bundle = load(&files(&[
        ("schema.cedarschema", FIRM_NAMED_SCHEMA),
        ("policies.cedar", FIRM_NAMED_POLICIES),
        ("entities.json", FIRM_NAMED_ENTITIES),
    ]))
    .unwrap();
    let engine = Engine::new(bundle);
    let err = plan(
        &engine,
        &DirectoryRequest {
            actor: EntityRef::new("Firm::User", "ann"),
            op: DirectoryOp::BlockUser {
                user: EntityRef::new("Firm::User", "ann"),
                blocked: true,
            },
        },
    )
    .unwrap_err();
    assert!(err.to_string().contains("declares no firm model"), "{err}");
}

#[test]
fn a_declared_model_checks_its_rules_and_its_type_names() {
    let mut folder = files(&[
        ("schema.cedarschema", FIRM_NAMED_SCHEMA),
        ("policies.cedar", FIRM_NAMED_POLICIES),
        ("entities.json", FIRM_NAMED_ENTITIES),
        (
            "manifest.json",
            r#"{"require_policy_ids": false, "firm_model": {"namespace": "Firm"}}"#,
        ),
    ]);
    // `Firm::Firm`, `Firm::Role`, `Firm::Department` are not in this schema: named, refused.
    let err = load(&folder).unwrap_err();
    let d = find(&err, ErrorCode::ManifestInvalid);
    assert!(d.message.contains("`Firm::Firm`"), "{}", d.message);
    // The same folder with the model's types: the firm rules apply to its profiles.
    let schema = FIRM_NAMED_SCHEMA.replace(
        "  entity Plan",
        "  entity Firm;\n  entity Role;\n  entity Department;\n  entity Plan",
    );
    folder.insert("schema.cedarschema".into(), schema);
    let err = load(&folder).unwrap_err();
    let says = |code: ErrorCode, text: &str| {
        err.diagnostics
            .iter()
            .any(|d| d.code == code && d.message.contains(text))
    };
    assert!(says(ErrorCode::ProfileInvalid, "has no licence"), "{err:?}");
    assert!(
        says(ErrorCode::ProfileInvalid, "`x` has level 9"),
        "{err:?}"
    );
    assert!(says(ErrorCode::DefaultProfile, "exactly one"), "{err:?}");
}

#[test]
fn a_folder_without_a_schema_decides_as_cedar_without_one() {
    let policies = "permit (principal in Group::\"staff\", action == Action::\"read\", resource)\nwhen { resource.public || resource.level < 3 };\nforbid (principal, action, resource) when { resource.level == 2 };\n";
    let entities = r#"[
      {"uid": {"type": "User", "id": "ann"}, "attrs": {}, "parents": [{"type": "Group", "id": "staff"}]},
      {"uid": {"type": "Group", "id": "staff"}, "attrs": {}, "parents": []},
      {"uid": {"type": "Doc", "id": "a"}, "attrs": {"public": true, "level": 1}, "parents": []},
      {"uid": {"type": "Doc", "id": "b"}, "attrs": {"public": false, "level": 2}, "parents": []},
      {"uid": {"type": "Doc", "id": "c"}, "attrs": {"public": "yes", "level": 5}, "parents": []}
    ]"#;
    let bundle = load(&files(&[
        ("policies.cedar", policies),
        ("entities.json", entities),
    ]))
    .expect("a schema is optional, as in Cedar");
    assert!(bundle.schema().is_none());
    assert!(bundle
        .warnings()
        .iter()
        .any(|w| w.code == ErrorCode::SchemaMissing));
    let engine = Engine::new(bundle);
    // Doc c: `resource.public` is a String, an evaluation error Cedar skips the policy for.
    for doc in ["a", "b", "c", "missing"] {
        let req = request(("User", "ann"), ("Action", "read"), ("Doc", doc));
        let ours = engine.decide(&req).unwrap();
        assert_eq!(
            (ours.decision, ours.determining_policies.clone()),
            cedar_decides(None, policies, entities, &req),
            "Doc::{doc}"
        );
    }
    let allowed = engine
        .decide(&request(("User", "ann"), ("Action", "read"), ("Doc", "a")))
        .unwrap();
    assert_eq!(allowed.decision, Decision::Allow);
    assert_eq!(allowed.determining_policies, vec!["policy0".to_string()]);
}

const SHARE_SCHEMA: &str =
    "entity User;\nentity Photo;\naction view appliesTo { principal: User, resource: Photo };\n";
const SHARE_TEMPLATE: &str = "@id(\"share\")\npermit (principal == ?principal, action == Action::\"view\", resource == ?resource);\n";

#[test]
fn templates_link_from_a_links_file_as_in_cedars_cli() {
    let links = r#"[
  {"template_id": "share", "link_id": "share-beach-with-bob", "args": {"?principal": "User::\"bob\"", "?resource": "Photo::\"beach\""}},
  {"template_id": "share", "link_id": "share-dunes-with-eve", "args": {"?principal": {"type": "User", "id": "eve"}, "?resource": {"__entity": {"type": "Photo", "id": "dunes"}}}}
]"#;
    let bundle = load(&files(&[
        ("schema.cedarschema", SHARE_SCHEMA),
        ("policies.cedar", SHARE_TEMPLATE),
        ("links.json", links),
    ]))
    .expect("templates and their links load");
    assert!(bundle.template_index().contains_key("share"));
    assert!(bundle.policy_index().contains_key("share-beach-with-bob"));
    let engine = Engine::new(bundle);
    let decide = |who: &str, photo: &str| {
        engine
            .decide(&request(
                ("User", who),
                ("Action", "view"),
                ("Photo", photo),
            ))
            .unwrap()
    };
    let bob = decide("bob", "beach");
    assert_eq!(bob.decision, Decision::Allow);
    assert_eq!(bob.determining_policies, vec!["share-beach-with-bob"]);
    assert_eq!(decide("eve", "dunes").decision, Decision::Allow);
    assert_eq!(decide("bob", "dunes").decision, Decision::Deny);

    // The same answers as cedar-policy linking the same template.
    let mut set = PolicySet::from_str(SHARE_TEMPLATE).unwrap();
    let template_id = set.templates().next().unwrap().id().clone();
    set.link(
        template_id,
        PolicyId::new("share-beach-with-bob"),
        HashMap::from([
            (
                cedar_policy::SlotId::principal(),
                "User::\"bob\"".parse().unwrap(),
            ),
            (
                cedar_policy::SlotId::resource(),
                "Photo::\"beach\"".parse().unwrap(),
            ),
        ]),
    )
    .unwrap();
    let req = request(("User", "bob"), ("Action", "view"), ("Photo", "beach"));
    let schema = Schema::from_cedarschema_str(SHARE_SCHEMA).unwrap().0;
    let cedar = Authorizer::new().is_authorized(
        &Request::new(
            "User::\"bob\"".parse().unwrap(),
            "Action::\"view\"".parse().unwrap(),
            "Photo::\"beach\"".parse().unwrap(),
            Context::empty(),
            Some(&schema),
        )
        .unwrap(),
        &set,
        &Entities::empty(),
    );
    assert_eq!(cedar.decision(), cedar_policy::Decision::Allow);
    assert_eq!(engine.decide(&req).unwrap().decision, Decision::Allow);
}

#[test]
fn a_bad_link_is_located_at_its_entry() {
    let links = "[\n  {\"template_id\": \"share\", \"link_id\": \"ok\", \"args\": {\"?principal\": \"User::\\\"bob\\\"\", \"?resource\": \"Photo::\\\"beach\\\"\"}},\n  {\"template_id\": \"nope\", \"link_id\": \"bad\", \"args\": {}}\n]";
    let err = load(&files(&[
        ("schema.cedarschema", SHARE_SCHEMA),
        ("policies.cedar", SHARE_TEMPLATE),
        ("share.links.json", links),
    ]))
    .unwrap_err();
    let d = find(&err, ErrorCode::LinkInvalid);
    assert!(d.message.contains("no template `nope`"), "{}", d.message);
    let at = d.location.expect("located");
    assert_eq!((at.file.as_str(), at.line), ("share.links.json", 3));
    // A link to a type the schema does not know is a validation error, as in Cedar.
    let wrong_type = "[{\"template_id\": \"share\", \"link_id\": \"w\", \"args\": {\"?principal\": \"Nope::\\\"x\\\"\", \"?resource\": \"Photo::\\\"beach\\\"\"}}]";
    let err = load(&files(&[
        ("schema.cedarschema", SHARE_SCHEMA),
        ("policies.cedar", SHARE_TEMPLATE),
        ("links.json", wrong_type),
    ]))
    .unwrap_err();
    find(&err, ErrorCode::PolicyValidation);
}

#[test]
fn unnamed_policies_get_cedars_positional_ids() {
    let policies = "permit (principal, action, resource) when { false };\n@id(\"named\")\nforbid (principal, action, resource) when { false };\npermit (principal, action, resource);\n";
    let bundle = load(&files(&[("policies.cedar", policies)])).unwrap();
    let ids: Vec<&String> = bundle.policy_index().keys().collect();
    assert_eq!(ids, ["named", "policy0", "policy2"]);
    let engine = Engine::new(bundle);
    let answer = engine
        .decide(&request(("U", "a"), ("Action", "x"), ("R", "r")))
        .unwrap();
    assert_eq!(answer.determining_policies, vec!["policy2".to_string()]);
}

#[test]
fn an_entity_named_only_by_a_policy_is_read_as_cedar_reads_it() {
    // Found by Cedar's corpus (case 35c8d8ff…): the forbid reads `A::""`, which no request
    // names; a slice built from the request alone missed it and the forbid went unseen.
    let schema = "entity A = { r?: String };\naction \"action\" appliesTo { principal: [A], resource: [A] };\n";
    let policies = "forbid (principal == A::\"p\", action, resource) when { A::\"\" has r };\npermit (principal, action, resource) when { A::\"cfg\" has r && A::\"cfg\".r == \"open\" };\n";
    let entities = r#"[
      {"uid": {"type": "A", "id": "p"}, "attrs": {}, "parents": []},
      {"uid": {"type": "A", "id": ""}, "attrs": {"r": "De"}, "parents": []},
      {"uid": {"type": "A", "id": "cfg"}, "attrs": {"r": "open"}, "parents": []}
    ]"#;
    let engine = Engine::new(
        load(&files(&[
            ("schema.cedarschema", schema),
            ("policies.cedar", policies),
            ("entities.json", entities),
        ]))
        .unwrap(),
    );
    for (principal, expected) in [("p", Decision::Deny), ("q", Decision::Allow)] {
        let req = request(("A", principal), ("Action", "action"), ("A", "p"));
        let ours = engine.decide(&req).unwrap();
        let cedar = cedar_decides(Some(schema), policies, entities, &req);
        assert_eq!(ours.decision, expected, "A::{principal}");
        assert_eq!((ours.decision, ours.determining_policies), cedar);
    }
}

#[test]
fn a_draft_that_fails_validation_is_refused_unless_validation_is_only_reported() {
    // `principal.age` is a type error (a String compared with a Long): strict validation
    // refuses it; Cedar still decides with it, the policy erroring at evaluation.
    let schema = "entity U = { age: String };\nentity R;\naction view appliesTo { principal: [U], resource: [R] };\n";
    let policies = "permit (principal, action, resource) when { principal.age > 3 };\npermit (principal == U::\"ann\", action, resource);\n";
    let entities = r#"[{"uid": {"type": "U", "id": "ann"}, "attrs": {"age": "x"}, "parents": []},
      {"uid": {"type": "U", "id": "bob"}, "attrs": {"age": "y"}, "parents": []}]"#;
    let folder = files(&[
        ("schema.cedarschema", schema),
        ("policies.cedar", policies),
        ("entities.json", entities),
    ]);
    let refused = load(&folder).unwrap_err();
    let validation = find(&refused, ErrorCode::PolicyValidation);
    assert_eq!(validation.severity, Severity::Error);
    assert_eq!(
        validation
            .location
            .as_ref()
            .map(|l| (l.file.as_str(), l.line)),
        Some(("policies.cedar", 1))
    );

    let draft = Bundle::load_with(folder, PolicyValidation::Report).unwrap();
    let reported = draft
        .warnings()
        .iter()
        .find(|d| d.code == ErrorCode::PolicyValidation)
        .expect("the validation error, as a warning");
    assert_eq!(reported.severity, Severity::Warning);
    let engine = Engine::new(draft);
    for principal in ["ann", "bob"] {
        let req = request(("U", principal), ("Action", "view"), ("R", "r"));
        let ours = engine.decide(&req).unwrap();
        let cedar = cedar_decides(Some(schema), policies, entities, &req);
        assert_eq!(
            (ours.decision, ours.determining_policies),
            cedar,
            "{principal}"
        );
        let erroring: Vec<&str> = ours.errors.iter().map(|e| e.policy_id.as_str()).collect();
        assert_eq!(erroring, ["policy0"], "{principal}");
    }
}
