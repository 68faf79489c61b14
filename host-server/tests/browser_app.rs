//! The demo firm app in headless Chromium (playwright-core) against a real `sesame serve`:
//! what two users see, a deploy reaching an open page, a rollback. The scenario is
//! `tests/e2e/demo-app.mjs`; screenshots land in `target/screenshots/` (under `$CARGO_TARGET_DIR` when set). The admin console the
//! same way: `tests/e2e/admin-console.mjs`.

mod support;

use std::process::Command;

use host_server::build_output::TargetDir;
use host_server::server::identity::dev;
use support::{repo, Server, TestResult, ADMIN};

/// Runs one scenario of `tests/e2e/` in Chromium against a fresh server serving `web/` and the
/// browser package; returns its output (each check prints `ok - ...`).
fn scenario(script: &str, name: &str) -> Result<String, Box<dyn std::error::Error>> {
    let repo = repo();
    let web = repo.join("web");
    let pkg = TargetDir::current().pkg();
    assert!(
        pkg.join("sesame.js").is_file() && pkg.join("editor/codemirror.js").is_file(),
        "the browser package and editor are built first (scripts/browser-pkg.sh)"
    );
    // Firm users sign in with tokens of an identity provider: a key made for this run.
    let idp = std::env::temp_dir().join(format!("sesame-idp-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&idp)?;
    let key = dev::keygen()?;
    let jwks = idp.join("jwks.json");
    std::fs::write(&jwks, serde_json::to_string(&dev::jwks(&key, "idp")?)?)?;
    let exp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_secs()
        + 3600;
    let session = |user: &str| {
        dev::mint(
            &key,
            "idp",
            &serde_json::json!({"sub": user, "firm": "dupont", "exp": exp}),
        )
    };
    let server = Server::start(
        name,
        &[
            "--web",
            &web.to_string_lossy(),
            "--pkg",
            &pkg.to_string_lossy(),
            "--jwt-jwks",
            &jwks.to_string_lossy(),
        ],
    )?;
    let out = Command::new("node")
        .arg(repo.join("tests/e2e").join(script))
        .current_dir(&repo)
        .env("SESAME_URL", &server.url)
        .env("SESAME_TOKEN", ADMIN)
        .env("SESAME_ALICE_TOKEN", session("alice")?)
        .env("SESAME_CAROL_TOKEN", session("carol")?)
        .env("SHOTS", TargetDir::current().dir.join("screenshots"))
        .output()?;
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    Ok(stdout)
}

#[test]
fn the_demo_app_follows_users_deploys_and_rollbacks_in_chromium() -> TestResult {
    let stdout = scenario("demo-app.mjs", "browser")?;
    assert!(
        stdout.contains("ok - after the rollback carol may edit again"),
        "{stdout}"
    );
    Ok(())
}

#[test]
fn the_admin_console_edits_deploys_rolls_back_and_administers_in_chromium() -> TestResult {
    let stdout = scenario("admin-console.mjs", "console")?;
    assert!(stdout.contains("ok - no page errors"), "{stdout}");
    Ok(())
}
