//! The demo firm app in headless Chromium (playwright-core) against a real `sesame serve`:
//! what two users see, a deploy reaching an open page, a rollback. The scenario is
//! `tests/e2e/demo-app.mjs`; screenshots land in `target/screenshots/`.

mod support;

use std::process::Command;

use support::{repo, Server, TestResult, ADMIN};

#[test]
fn the_demo_app_follows_users_deploys_and_rollbacks_in_chromium() -> TestResult {
    let repo = repo();
    let web = repo.join("web");
    let pkg = repo.join("target/pkg");
    assert!(
        pkg.join("sesame.js").is_file(),
        "the browser package is built first (scripts/browser-pkg.sh)"
    );
    let server = Server::start(
        "browser",
        &[
            "--web",
            &web.to_string_lossy(),
            "--pkg",
            &pkg.to_string_lossy(),
        ],
    )?;
    let out = Command::new("node")
        .arg(repo.join("tests/e2e/demo-app.mjs"))
        .current_dir(&repo)
        .env("SESAME_URL", &server.url)
        .env("SESAME_TOKEN", ADMIN)
        .env("SHOTS", repo.join("target/screenshots"))
        .output()?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(
        stdout.contains("ok - after the rollback carol may edit again"),
        "{stdout}"
    );
    Ok(())
}
