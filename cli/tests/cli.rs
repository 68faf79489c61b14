//! The `sesame` binary driven as a user would: exit codes, outputs, located errors.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

fn policies() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../policies")
}

fn sesame(args: &[&str], stdin: Option<&str>) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_sesame"))
        .args(args)
        .env("NO_COLOR", "1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    if let Some(text) = stdin {
        child
            .stdin
            .take()
            .unwrap()
            .write_all(text.as_bytes())
            .unwrap();
    }
    drop(child.stdin.take());
    child.wait_with_output().unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// A copy of `policies/` in a temp dir, to break.
fn copy_of_policies(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("sesame-cli-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    copy_dir(&policies(), &dir);
    dir
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

#[test]
fn check_accepts_the_demo_bundle() {
    let out = sesame(&["check", policies().to_str().unwrap()], None);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).starts_with("ok: 83 policies"),
        "{}",
        text(&out.stdout)
    );
}

#[test]
fn check_points_at_the_broken_line_and_column() {
    let dir = copy_of_policies("broken");
    let file = dir.join("self-service.cedar");
    let original = std::fs::read_to_string(&file).unwrap();
    std::fs::write(
        &file,
        original.replacen(
            "Action::\"edit_preferences\"",
            "Action:\"edit_preferences\"",
            1,
        ),
    )
    .unwrap();
    let out = sesame(&["check", dir.to_str().unwrap()], None);
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    // Golden (miette's graphical report): the code, the message, the location, the source line
    // between its neighbours and the bad token underlined.
    let expected = concat!(
        "policy_parse\n\n",
        "  × unexpected token `:` (expected `,` or `]`)\n",
        "   ╭─[self-service.cedar:5:20]\n",
        " 4 │   principal,\n",
        " 5 │   action in [Action:\"edit_preferences\", Action::\"change_password\"],\n",
        "   ·                    ─\n",
        " 6 │   resource is User\n",
        "   ╰────\n",
    );
    assert!(err.contains(expected), "expected\n{expected}\nin\n{err}");
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn check_json_lists_diagnostics() {
    let dir = copy_of_policies("json");
    std::fs::write(
        dir.join("extra.cedar"),
        "permit (principal, action, resource);\n",
    )
    .unwrap();
    let out = sesame(&["check", "--format", "json", dir.to_str().unwrap()], None);
    assert_eq!(out.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["ok"], false);
    assert_eq!(v["diagnostics"][0]["code"], "policy_id_missing");
    assert_eq!(v["diagnostics"][0]["location"]["file"], "extra.cedar");
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn test_reports_coverage_and_fails_on_a_broken_rule() {
    let ok = sesame(&["test", policies().to_str().unwrap()], None);
    assert_eq!(ok.status.code(), Some(0));
    assert!(
        text(&ok.stdout)
            .contains("coverage: 83/83 policies determining in some test, 46/46 actions tested"),
        "{}",
        text(&ok.stdout)
    );

    let dir = copy_of_policies("failing");
    let file = dir.join("guards.cedar");
    let original = std::fs::read_to_string(&file).unwrap();
    std::fs::write(
        &file,
        original.replace(
            "when { principal.blocked };",
            "when { false && principal.blocked };",
        ),
    )
    .unwrap();
    let out = sesame(&["test", dir.to_str().unwrap()], None);
    assert_eq!(out.status.code(), Some(1));
    let report = text(&out.stdout);
    assert!(report.contains("FAIL tests/guards.test.yaml:"), "{report}");
    assert!(
        report.contains("a blocked accountant opens nothing of his assigned client"),
        "{report}"
    );
    assert!(report.contains("expected:    deny"), "{report}");
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn query_lists_plans_and_refuses_in_json_lines() {
    let fixture = policies().join("tests/fixtures/demo-firm.json");
    let run = |kind: &str, input: &str| {
        let out = sesame(
            &[
                "query",
                kind,
                "--bundle",
                policies().to_str().unwrap(),
                "--entities",
                fixture.to_str().unwrap(),
            ],
            Some(input),
        );
        let lines: Vec<serde_json::Value> = text(&out.stdout)
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        (out.status.code(), lines)
    };
    let (code, lines) = run(
        "resources",
        r#"{"principal":{"type":"User","id":"carol"},"action":{"type":"Action","id":"view_document"},"resource_type":"Document"}"#,
    );
    assert_eq!(code, Some(0));
    let ids: Vec<&str> = lines[0]["resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    assert!(ids.contains(&"inv-1"), "{ids:?}");
    let (code, lines) = run(
        "principals",
        r#"{"action":{"type":"Action","id":"view_document"},"resource":{"type":"Document","id":"inv-1"},"principal_type":"User"}"#,
    );
    assert_eq!(code, Some(0));
    assert!(lines[0]["principals"]
        .as_array()
        .unwrap()
        .iter()
        .any(|p| p["id"] == "carol"));
    let (code, lines) = run(
        "plan",
        "{\"principal\":{\"type\":\"User\",\"id\":\"carol\"},\"action\":{\"type\":\"Action\",\"id\":\"view_document\"},\"resource_type\":\"Document\"}\nnot json\n",
    );
    assert_eq!(code, Some(1), "a bad line makes the exit status 1");
    assert_eq!(lines[0]["plan"]["kind"], "condition", "{}", lines[0]);
    assert_eq!(lines[1]["error"]["code"], "malformed_json");
}

#[test]
fn decide_reads_and_writes_json_lines() {
    let input = concat!(
        r#"{"principal":{"type":"User","id":"carol"},"action":{"type":"Action","id":"view_document"},"resource":{"type":"Document","id":"inv-1"}}"#,
        "\n",
        r#"{"principal":{"type":"User","id":"alice"},"action":{"type":"Action","id":"view_document"},"resource":{"type":"Document","id":"inv-1"}}"#,
        "\nnot json\n"
    );
    let fixture = policies().join("tests/fixtures/demo-firm.json");
    let out = sesame(
        &[
            "decide",
            "--bundle",
            policies().to_str().unwrap(),
            "--entities",
            fixture.to_str().unwrap(),
        ],
        Some(input),
    );
    assert_eq!(
        out.status.code(),
        Some(1),
        "a bad line makes the exit status 1"
    );
    let lines: Vec<serde_json::Value> = text(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 3);
    assert_eq!(lines[0]["decision"], "allow");
    assert_eq!(
        lines[0]["determining_policies"][0],
        "accountant-documents-of-assigned-clients"
    );
    assert_eq!(lines[1]["decision"], "deny");
    assert_eq!(lines[2]["error"]["code"], "malformed_json");
}

#[test]
fn profile_compare_shows_only_differences() {
    let out = sesame(
        &[
            "profile",
            "compare",
            policies().to_str().unwrap(),
            "full_accounting_standard",
            "full_accounting_readonly",
        ],
        None,
    );
    assert_eq!(out.status.code(), Some(0));
    let table = text(&out.stdout);
    assert!(table.contains("invoice.iban"), "{table}");
    let iban = table
        .lines()
        .find(|l| l.starts_with("invoice.iban"))
        .unwrap();
    assert_eq!(
        iban.split_whitespace().collect::<Vec<_>>(),
        ["invoice.iban", "full", "read"]
    );
    assert!(
        !table.contains("section.dashboard"),
        "equal levels are not listed: {table}"
    );
}

#[test]
fn usage_and_io_errors_exit_two() {
    assert_eq!(
        sesame(&["check", "/no/such/dir"], None).status.code(),
        Some(2)
    );
    assert_eq!(sesame(&["frobnicate"], None).status.code(), Some(2));
}

fn plain_cedar() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/plain-cedar")
}

#[test]
fn fmt_checks_then_formats_and_changes_no_decision() {
    let dir = copy_of_policies("fmt");
    assert_eq!(
        sesame(&["fmt", "--check", policies().to_str().unwrap()], None)
            .status
            .code(),
        Some(0),
        "policies/ is kept formatted"
    );
    std::fs::write(
        dir.join("extra.cedar"),
        "@id(\"messy\")\nforbid(principal==User::\"quinn\",action,resource)\nwhen{context has field};\n",
    )
    .unwrap();
    let out = sesame(&["fmt", "--check", dir.to_str().unwrap()], None);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(text(&out.stdout), "not formatted: extra.cedar\n");
    let out = sesame(&["fmt", dir.to_str().unwrap()], None);
    assert_eq!(text(&out.stdout), "formatted: extra.cedar\n");
    assert_eq!(
        std::fs::read_to_string(dir.join("extra.cedar")).unwrap(),
        "@id(\"messy\")\nforbid (\n  principal == User::\"quinn\",\n  action,\n  resource\n)\nwhen { context has field };\n",
        "Cedar's own formatter (the one behind `cedar format`)"
    );
    assert_eq!(
        sesame(&["test", dir.to_str().unwrap()], None).status.code(),
        Some(0)
    );
    // A file the formatter cannot read is reported like `check` reports it.
    std::fs::write(
        dir.join("extra.cedar"),
        "permit (principal,, action, resource);\n",
    )
    .unwrap();
    let out = sesame(&["fmt", dir.to_str().unwrap()], None);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("[extra.cedar:1:19]"),
        "{}",
        text(&out.stderr)
    );
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn diff_names_files_policies_and_the_decisions_that_change() {
    let dir = copy_of_policies("diff");
    std::fs::write(
        dir.join("freeze.cedar"),
        "@id(\"freeze-carol-edits\")\nforbid (principal == User::\"carol\", action == Action::\"edit_document\", resource);\n",
    )
    .unwrap();
    let out = sesame(
        &["diff", policies().to_str().unwrap(), dir.to_str().unwrap()],
        None,
    );
    assert_eq!(out.status.code(), Some(0));
    let stdout = text(&out.stdout);
    assert!(stdout.contains("files: +freeze.cedar\n"), "{stdout}");
    assert!(
        stdout.contains("policies: +freeze-carol-edits\n"),
        "{stdout}"
    );
    assert!(
        stdout.contains(": 3 of 217 decisions change"),
        "the tests of the old version that the new one changes: {stdout}"
    );
    assert!(
        stdout.contains("tests/firm-roles.test.yaml / assigned accountant edits a document: User::\"carol\" Action::\"edit_document\" Document::\"sup-1\": allow -> deny"),
        "{stdout}"
    );
    assert!(
        stdout.contains("User::\"carol\" edit_document Document::\"inv-1\": allow -> deny"),
        "the generated sample finds it too: {stdout}"
    );
    let same = sesame(
        &[
            "diff",
            "--format",
            "json",
            policies().to_str().unwrap(),
            policies().to_str().unwrap(),
        ],
        None,
    );
    let v: serde_json::Value = serde_json::from_slice(&same.stdout).unwrap();
    assert_eq!(v["sample"]["changed"], serde_json::json!([]));
    assert_eq!(v["files_changed"], serde_json::json!([]));
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn a_plain_cedar_folder_works_with_every_local_command() {
    let plain = plain_cedar();
    let p = plain.to_str().unwrap();
    let out = sesame(&["check", p], None);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("named `policy0`"));
    assert_eq!(sesame(&["test", p], None).status.code(), Some(0));
    assert_eq!(sesame(&["fmt", "--check", p], None).status.code(), Some(0));
    let out = sesame(
        &["decide", "--bundle", p],
        Some("{\"principal\":{\"type\":\"User\",\"id\":\"alice\"},\"action\":{\"type\":\"Action\",\"id\":\"view\"},\"resource\":{\"type\":\"Photo\",\"id\":\"beach\"}}\n"),
    );
    assert!(
        text(&out.stdout)
            .starts_with("{\"decision\":\"allow\",\"determining_policies\":[\"policy0\"]"),
        "{}",
        text(&out.stdout)
    );
    let out = sesame(&["diff", p, p], None);
    assert_eq!(out.status.code(), Some(0));
    assert!(
        text(&out.stdout).contains("0 decisions change"),
        "{}",
        text(&out.stdout)
    );
}

#[test]
fn deeply_nested_policies_are_reported_located_by_check_and_fmt_not_a_crash() {
    // Issue 14: Cedar's recursive parser overflowed the stack on such text and aborted.
    let dir = copy_of_policies("deep");
    let deep = format!(
        "@id(\"deep\")\npermit(principal, action, resource) when {{\n  {}true{}\n}};\n",
        "(".repeat(200),
        ")".repeat(200)
    );
    std::fs::write(dir.join("deep.cedar"), deep).unwrap();
    for args in [["check", ""], ["fmt", "--check"]] {
        let mut args: Vec<&str> = args.iter().copied().filter(|a| !a.is_empty()).collect();
        args.push(dir.to_str().unwrap());
        let out = sesame(&args, None);
        assert_eq!(
            out.status.code(),
            Some(1),
            "{args:?}: {}",
            text(&out.stderr)
        );
        let stderr = text(&out.stderr);
        assert!(stderr.contains("deep.cedar:3:66"), "{args:?}: {stderr}");
        assert!(stderr.contains("too_deep"), "{args:?}: {stderr}");
    }
    // The deepest the limits admit formats and checks like any policy.
    let n = policy_core::nesting::MAX_NESTING - 1;
    let deepest = format!(
        "@id(\"deep\")\npermit(principal, action, resource) when {{ {}true{} }};\n",
        "(".repeat(n),
        ")".repeat(n)
    );
    std::fs::write(dir.join("deep.cedar"), deepest).unwrap();
    let out = sesame(&["check", dir.to_str().unwrap()], None);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let out = sesame(&["fmt", dir.to_str().unwrap()], None);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn decide_refuses_a_draft_that_fails_validation_unless_asked_for_the_draft() {
    let dir = std::env::temp_dir().join(format!("sesame-cli-draft-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("schema.cedarschema"),
        "entity U = { age: String };\nentity R;\naction view appliesTo { principal: [U], resource: [R] };\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("policies.cedar"),
        "permit (principal, action, resource) when { principal.age > 3 };\npermit (principal == U::\"ann\", action, resource);\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("entities.json"),
        r#"[{"uid": {"type": "U", "id": "ann"}, "attrs": {"age": "x"}, "parents": []}]"#,
    )
    .unwrap();
    let request = "{\"principal\":{\"type\":\"U\",\"id\":\"ann\"},\"action\":{\"type\":\"Action\",\"id\":\"view\"},\"resource\":{\"type\":\"R\",\"id\":\"r\"}}\n";
    let d = dir.to_str().unwrap();

    let refused = sesame(&["decide", "--bundle", d], Some(request));
    assert_eq!(refused.status.code(), Some(1));
    assert!(text(&refused.stdout).is_empty());
    assert!(
        text(&refused.stderr).contains("policies.cedar:1:"),
        "{}",
        text(&refused.stderr)
    );

    let draft = sesame(&["decide", "--bundle", d, "--draft"], Some(request));
    assert_eq!(draft.status.code(), Some(0), "{}", text(&draft.stderr));
    assert!(
        text(&draft.stderr).contains("warning"),
        "{}",
        text(&draft.stderr)
    );
    let answer: serde_json::Value = serde_json::from_str(text(&draft.stdout).trim()).unwrap();
    assert_eq!(answer["decision"], "allow");
    assert_eq!(
        answer["determining_policies"],
        serde_json::json!(["policy1"])
    );
    assert_eq!(answer["errors"][0]["policy_id"], "policy0");
    std::fs::remove_dir_all(dir).unwrap();
}
