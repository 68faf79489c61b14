//! Loading bundles: every problem at once, each located at file:line:column; plain Cedar
//! folders load; the digest identifies the content only.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;

use policy_core::{Bundle, ErrorCode};
use sesame_tests::{demo_files, find, load};

fn files(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(p, t)| (p.to_string(), t.to_string()))
        .collect()
}

const PLAIN_SCHEMA: &str = "entity User in [Group];\nentity Group in [Group];\nentity Doc = { owner: User };\naction view appliesTo { principal: User, resource: Doc };\n";

#[test]
fn a_plain_cedar_folder_loads_as_a_bundle() {
    let bundle = load(&files(&[
        ("schema.cedarschema", PLAIN_SCHEMA),
        ("policies.cedar", "@id(\"owner-views\")\npermit (principal, action == Action::\"view\", resource is Doc) when { resource.owner == principal };\n"),
        ("entities.json", r#"[{"uid":{"type":"Group","id":"g"},"attrs":{},"parents":[]}]"#),
    ]))
    .expect("plain folder loads");
    assert_eq!(bundle.policy_index().len(), 1);
    assert!(bundle.digest().starts_with("sha256:"));
}

#[test]
fn a_syntax_error_points_at_its_line_and_column() {
    let mut f = demo_files();
    let text = f["self-service.cedar"].clone();
    // Break line 5: `principal,` becomes `principal` + a stray token on that line.
    let broken = text.replacen(
        "  action in [Action::\"edit_preferences\"",
        "  action in [Action:\"edit_preferences\"",
        1,
    );
    let line = broken
        .lines()
        .position(|l| l.contains("Action:\"edit"))
        .unwrap()
        + 1;
    let column = broken
        .lines()
        .nth(line - 1)
        .unwrap()
        .find("Action:")
        .unwrap()
        + 1;
    f.insert("self-service.cedar".into(), broken);
    let err = load(&f).unwrap_err();
    let d = find(&err, ErrorCode::PolicyParse);
    let loc = d.location.expect("located");
    assert_eq!(loc.file, "self-service.cedar");
    assert_eq!(loc.line as usize, line);
    assert!(
        (loc.column as usize) >= column && (loc.column as usize) <= column + "Action:".len(),
        "column {} should point into `Action:` at {column}",
        loc.column
    );
}

#[test]
fn all_problems_are_reported_at_once() {
    let mut f = demo_files();
    f.insert(
        "extra.cedar".into(),
        "permit (principal, action, resource);\n".into(),
    );
    f.insert(
        "more.cedar".into(),
        "@id(\"typo\")\npermit (principal, action == Action::\"view_document\", resource is Document) when { resource.no_such_attr };\n".into(),
    );
    let err = load(&f).unwrap_err();
    let id_missing = find(&err, ErrorCode::PolicyIdMissing);
    assert_eq!(id_missing.location.unwrap().file, "extra.cedar");
    let invalid = find(&err, ErrorCode::PolicyValidation);
    let loc = invalid.location.unwrap();
    assert_eq!((loc.file.as_str(), loc.line), ("more.cedar", 2));
    assert!(
        invalid.message.contains("no_such_attr"),
        "{}",
        invalid.message
    );
}

#[test]
fn duplicate_policy_ids_are_located_at_the_second() {
    let mut f = demo_files();
    f.insert(
        "zz-dup.cedar".into(),
        "\n\n@id(\"self-service\")\npermit (principal, action, resource) when { false };\n".into(),
    );
    let err = load(&f).unwrap_err();
    let d = find(&err, ErrorCode::PolicyIdDuplicate);
    let loc = d.location.unwrap();
    assert_eq!((loc.file.as_str(), loc.line), ("zz-dup.cedar", 3));
}

#[test]
fn an_unknown_entity_type_in_entities_is_located() {
    let mut f = demo_files();
    let text = f["entities.json"].replacen("\"type\": \"Plan\"", "\"type\": \"Plann\"", 1);
    f.insert("entities.json".into(), text);
    let err = load(&f).unwrap_err();
    let d = find(&err, ErrorCode::EntityInvalid);
    let loc = d.location.unwrap();
    assert_eq!((loc.file.as_str(), loc.line), ("entities.json", 2));
    assert!(d.message.contains("Plann"), "{}", d.message);
}

#[test]
fn a_cycle_in_parents_is_an_error() {
    let err = load(&files(&[
        ("schema.cedarschema", PLAIN_SCHEMA),
        ("entities.json", "[\n {\"uid\":{\"type\":\"User\",\"id\":\"a\"},\"attrs\":{},\"parents\":[{\"type\":\"Group\",\"id\":\"g\"}]},\n {\"uid\":{\"type\":\"Group\",\"id\":\"g\"},\"attrs\":{},\"parents\":[{\"type\":\"Group\",\"id\":\"h\"}]},\n {\"uid\":{\"type\":\"Group\",\"id\":\"h\"},\"attrs\":{},\"parents\":[{\"type\":\"Group\",\"id\":\"g\"}]}\n]\n"),
    ]))
    .unwrap_err();
    let d = find(&err, ErrorCode::EntityCycle);
    assert_eq!(d.location.unwrap().file, "entities.json");
}

#[test]
fn the_digest_depends_on_content_only() {
    let f = demo_files();
    let a = load(&f).unwrap();
    // Same files, CRLF line endings, other insertion order.
    let crlf: BTreeMap<String, String> = f
        .iter()
        .rev()
        .map(|(p, t)| (p.clone(), t.replace('\n', "\r\n")))
        .collect();
    let b = Bundle::load(crlf.into_iter().collect::<Vec<_>>()).unwrap();
    assert_eq!(a.digest(), b.digest());
    let mut changed = f.clone();
    changed.insert(
        "self-service.cedar".into(),
        format!("{}\n// a comment\n", f["self-service.cedar"]),
    );
    assert_ne!(a.digest(), load(&changed).unwrap().digest());
}

#[test]
fn a_profile_wider_than_its_licence_is_refused_naming_profile_and_field() {
    let mut f = demo_files();
    // Connect & pay allows notes at print (1); the standard profile claims full (3).
    let text = f["entities.json"].clone();
    let mut records: Vec<serde_json::Value> = serde_json::from_str(&text).unwrap();
    for r in &mut records {
        if r["uid"]["id"] == "connect_pay_standard" {
            r["tags"]["invoice.notes"] = 3.into();
        }
    }
    f.insert(
        "entities.json".into(),
        serde_json::to_string_pretty(&records).unwrap(),
    );
    let err = load(&f).unwrap_err();
    let d = find(&err, ErrorCode::ProfileWiderThanLicence);
    assert!(
        d.message.contains("connect_pay_standard") && d.message.contains("invoice.notes"),
        "{}",
        d.message
    );
    assert_eq!(d.location.unwrap().file, "entities.json");
}

#[test]
fn a_custom_profile_wider_than_its_base_is_refused() {
    let mut f = demo_files();
    let mut records: Vec<serde_json::Value> = serde_json::from_str(&f["entities.json"]).unwrap();
    for r in &mut records {
        if r["uid"]["id"] == "full_accounting_readonly" {
            r["tags"]["section.payments"] = 1.into();
        }
    }
    // The base grants payments; restrict the base first so the copy is wider than it.
    for r in &mut records {
        if r["uid"]["id"] == "full_accounting_standard" {
            r["tags"]
                .as_object_mut()
                .unwrap()
                .remove("section.payments");
        }
    }
    f.insert(
        "entities.json".into(),
        serde_json::to_string_pretty(&records).unwrap(),
    );
    let err = load(&f).unwrap_err();
    let d = find(&err, ErrorCode::ProfileWiderThanBase);
    assert!(
        d.message.contains("full_accounting_readonly") && d.message.contains("section.payments"),
        "{}",
        d.message
    );
}

#[test]
fn exactly_one_default_profile() {
    let mut f = demo_files();
    let text = f["entities.json"].replace("\"is_default\": true", "\"is_default\": false");
    f.insert("entities.json".into(), text);
    find(&load(&f).unwrap_err(), ErrorCode::DefaultProfile);
}

#[test]
fn a_client_role_outside_the_plan_is_refused() {
    let mut f = demo_files();
    // Make the fixture's firm data static entities: Pete holds supplier_invoices on Globex,
    // whose plan (client_essential) only includes the director.
    f.insert(
        "firm.json".into(),
        f["tests/fixtures/demo-firm.json"].clone(),
    );
    let err = load(&f).unwrap_err();
    let d = find(&err, ErrorCode::ClientRoleOutsidePlan);
    assert!(
        d.message.contains("pete") && d.message.contains("supplier_invoices"),
        "{}",
        d.message
    );
    assert_eq!(d.location.unwrap().file, "firm.json");
}

#[test]
fn a_failing_policy_test_is_reported_with_its_location() {
    let mut f = demo_files();
    let text = f["tests/self-service.test.yaml"].replacen("expect: allow", "expect: deny", 1);
    f.insert("tests/self-service.test.yaml".into(), text);
    let bundle = load(&f).unwrap();
    let report = policy_core::testing::run_tests(&bundle);
    assert_eq!(report.failed, 1);
    let failed = report.cases.iter().find(|c| !c.passed).unwrap();
    assert_eq!(failed.location.file, "tests/self-service.test.yaml");
    assert_eq!(failed.got, "allow");
}
