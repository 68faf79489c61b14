//! The `sesame` CLI against a running server (`sesame serve`, started by the shared test
//! support of host-server): deploy, rollback, history, diff and impact over HTTP, and
//! `audit verify` on the server's store.

#[path = "../../host-server/tests/support/mod.rs"]
mod support;

use support::{decision, demo_files, frozen_doc_request, request, Server, TestResult, FREEZE};

fn sesame(args: &[&str], token: &str) -> Result<std::process::Output, std::io::Error> {
    std::process::Command::new(env!("CARGO_BIN_EXE_sesame"))
        .args(args)
        .env("SESAME_TOKEN", token)
        .output()
}

#[test]
fn the_cli_deploys_rolls_back_lists_history_and_verifies_the_audit_chain() -> TestResult {
    let mut server = Server::start("cli", &[])?;
    let url = server.url.clone();
    let dir = std::env::temp_dir().join(format!("sesame-cli-bundle-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir)?;
    for (path, text) in demo_files()? {
        let target = dir.join(&path);
        std::fs::create_dir_all(target.parent().ok_or("no parent")?)?;
        std::fs::write(target, text.as_str().unwrap_or_default())?;
    }
    std::fs::write(dir.join("freeze.cedar"), FREEZE)?;
    let d = dir.to_string_lossy().to_string();

    let out = sesame(
        &["deploy", &d, "--server", &url, "-m", "freeze frozen-1"],
        "deployer-secret",
    )?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.starts_with("deployed and activated v2 sha256:"),
        "{stdout}"
    );
    assert_eq!(decision(&server, &frozen_doc_request())?.0, "deny");

    // A policy error is caught before upload, located, exit 1; the server is untouched.
    std::fs::write(
        dir.join("freeze.cedar"),
        "@id(\"x\")\nforbid (principal, action, resource) when { 1 + };\n",
    )?;
    let out = sesame(&["deploy", &d, "--server", &url], "deployer-secret")?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("[freeze.cedar:2:49]"), "{stderr}");

    // Too little role: exit 2 with the server's reason.
    let out = sesame(&["rollback", "--server", &url], "viewer-secret")?;
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("forbidden"));

    let out = sesame(&["rollback", "--server", &url], "deployer-secret")?;
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("active: v1 "));
    assert_eq!(decision(&server, &frozen_doc_request())?.0, "allow");

    let out = sesame(&["history", "--server", &url], "viewer-secret")?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("* v1 ") && stdout.contains("  v2 "),
        "{stdout}"
    );
    assert!(stdout.contains("rollback"), "{stdout}");

    // Diff of two stored versions, by digest.
    let history = server.admin().get("/v1/admin/history")?;
    let digest = |i: usize| {
        history.body["versions"][i]["digest"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    };
    let (v1, v2) = (digest(0), digest(1));
    let out = sesame(&["diff", "--server", &url, &v1, &v2], "viewer-secret")?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("policies: +freeze-frozen-1"), "{stdout}");

    // Impact: the logged decisions replayed on a candidate, before deploying it.
    let (logged, _) = decision(
        &server,
        &request("carol", "edit_document", ("Document", "sup-1")),
    )?;
    assert_eq!(logged, "allow");
    let admin = server.admin();
    support::wait_until(
        || {
            admin.get("/v1/admin/decisions").is_ok_and(|r| {
                r.body.as_array().is_some_and(|l| {
                    l.iter()
                        .any(|x| x["request"]["action"]["id"] == "edit_document")
                })
            })
        },
        "the logged edit decision",
    )?;
    std::fs::write(
        dir.join("freeze.cedar"),
        "@id(\"freeze-carol-edits\")\nforbid (principal == User::\"carol\", action == Action::\"edit_document\", resource);\n",
    )?;
    let out = sesame(&["impact", &d, "--server", &url], "viewer-secret")?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("1 allow -> deny, 0 deny -> allow"),
        "{stdout}"
    );
    assert!(
        stdout.contains(
            "User::\"carol\" edit_document Document::\"sup-1\": allow -> deny (freeze-carol-edits)"
        ),
        "{stdout}"
    );

    // The audit chain verifies from the store itself; an edited record is found.
    server.kill();
    let data = server.data.to_string_lossy().to_string();
    let out = sesame(&["audit", "verify", "--data", &data], "")?;
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let db = rusqlite::Connection::open(server.data.join("sesame.db"))?;
    db.execute(
        "UPDATE audit SET draft = replace(draft, 'deployer-token', 'someone-else') WHERE seq = 3",
        [],
    )?;
    let out = sesame(&["audit", "verify", "--data", &data], "")?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains("BROKEN at record 3"), "{stdout}");
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}
