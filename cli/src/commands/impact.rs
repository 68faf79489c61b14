//! `sesame impact --server URL DIR`: replays the decisions recorded in a server's decision log
//! on the server's active version and on a candidate bundle, both over the server's entity
//! data, and reports which would change, before anyone deploys it. The replay itself is
//! `policy_core::impact`, the same the admin console runs in the page.

use std::io::{IsTerminal, Write};
use std::path::Path;

use policy_core::impact::{ImpactReport, LoggedDecision, Outcome, Replay};
use policy_core::json_api::BundleFiles;
use policy_core::{Bundle, Engine};
use serde_json::Value;

use super::{json, load_or_report, remote, CliError, Format, Status};

pub fn run(
    server: &str,
    token_file: Option<&Path>,
    dir: &Path,
    limit: usize,
    format: Format,
) -> Result<Status, CliError> {
    let bundle = match load_or_report(dir, format)? {
        Ok(b) => b,
        Err(status) => return Ok(status),
    };
    let api = remote::client(server, token_file)?;
    let active: BundleFiles = remote::get_json(&api, "/v1/bundle/active")?;
    let active = Bundle::load(active.files)
        .map_err(|e| CliError::Server(format!("the server's active version does not load: {e}")))?;
    let entities: Vec<Value> = remote::get_json(&api, "/v1/admin/entities")?;
    let log: Vec<LoggedDecision> =
        remote::get_json(&api, &format!("/v1/admin/decisions?limit={limit}"))?;
    let before = Engine::with_entities(active, entities.clone())
        .map_err(|e| CliError::Server(format!("the server's entities do not load: {e}")))?;
    let after = match Engine::with_entities(bundle, entities) {
        Ok(e) => e,
        Err(e) => {
            eprintln!("the server's entities do not fit this bundle: {e}");
            return Ok(Status::Problems);
        }
    };
    let progress = format == Format::Text && std::io::stderr().is_terminal();
    let mut replay = Replay::new(&before, &after);
    for (i, logged) in log.iter().enumerate() {
        if progress && i % 500 == 0 {
            eprint!("\rreplaying {i}/{}", log.len());
            let _ = std::io::stderr().flush();
        }
        replay.record(logged);
    }
    if progress {
        eprintln!("\rreplayed {}/{}", log.len(), log.len());
    }
    let impact = replay.report();
    match format {
        Format::Json => println!("{}", json(&impact)),
        Format::Text => print_text(&impact, dir),
    }
    Ok(Status::Ok)
}

fn print_text(impact: &ImpactReport, dir: &Path) {
    let skipped = &impact.not_replayed;
    println!(
        "{} logged decisions replayed on {} and on the active version {}: {} unchanged, {} allow -> deny, {} deny -> allow, {} refused by the candidate, {} refused by the active version only",
        impact.replayed,
        dir.display(),
        short(&impact.from_digest),
        impact.unchanged,
        impact.allow_to_deny,
        impact.deny_to_allow,
        impact.newly_refused,
        impact.newly_decided,
    );
    if skipped.total() > 0 {
        println!(
            "{} not replayable: {} carried call-only entities (the log keeps their count), {} cut for size, {} unreadable",
            skipped.total(),
            skipped.call_entities,
            skipped.truncated,
            skipped.unreadable
        );
    }
    if impact.drifted > 0 {
        println!(
            "{} answered otherwise by the active version today than logged (entities changed since, masked context, or another version then)",
            impact.drifted
        );
    }
    for c in impact.changes.iter().take(20) {
        let r = &c.request;
        println!(
            "  {}::{} {} {}::{}: {} -> {}{}",
            r["principal"]["type"].as_str().unwrap_or_default(),
            r["principal"]["id"],
            r["action"]["id"].as_str().unwrap_or_default(),
            r["resource"]["type"].as_str().unwrap_or_default(),
            r["resource"]["id"],
            c.before.label(),
            answer(&c.after),
            if c.masked {
                " (masked context: approximate)"
            } else {
                ""
            }
        );
    }
}

/// A label with what decided it: the determining policies, or the refusal's code.
fn answer(outcome: &Outcome) -> String {
    match outcome {
        Outcome::Decided {
            determining_policies,
            ..
        } if !determining_policies.is_empty() => {
            format!("{} ({})", outcome.label(), determining_policies.join(", "))
        }
        Outcome::Decided { .. } => outcome.label().to_string(),
        Outcome::Refused { error } => format!("error {}", error.code.as_str()),
    }
}

fn short(digest: &str) -> &str {
    digest.get(7..19).unwrap_or(digest)
}
