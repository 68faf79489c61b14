//! `sesame impact --server URL DIR`: replays the decisions recorded in a server's decision log
//! against a candidate bundle (with the server's entity data) and reports which would change,
//! before anyone deploys it.

use std::io::{IsTerminal, Write};
use std::path::Path;

use policy_core::wire::DecisionRequest;
use policy_core::Engine;
use serde::Serialize;
use serde_json::Value;

use super::{json, load_or_report, remote, CliError, Format, Status};
use host_server::store::DecisionRecord;

#[derive(Serialize)]
struct Change {
    request: Value,
    logged: String,
    candidate: String,
    logged_by: String,
    /// The logged context had masked fields: the replay saw `"***"`, not the original value.
    approximate: bool,
}

#[derive(Serialize, Default)]
struct Impact {
    replayed: usize,
    unchanged: usize,
    allow_to_deny: usize,
    deny_to_allow: usize,
    /// Requests the candidate refuses (e.g. an action it no longer declares).
    refused: usize,
    /// Requests that carried entities for their call only (the log keeps their count, not
    /// their content) or whose context was cut from the log for its size: they cannot be
    /// replayed faithfully.
    skipped: usize,
    changes: Vec<Change>,
}

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
    let entities: Vec<Value> = remote::get_json(&api, "/v1/admin/entities")?;
    let log: Vec<DecisionRecord> =
        remote::get_json(&api, &format!("/v1/admin/decisions?limit={limit}"))?;
    let engine = match Engine::with_entities(bundle, entities) {
        Ok(e) => e,
        Err(e) => {
            eprintln!("the server's entities do not fit this bundle: {e}");
            return Ok(Status::Problems);
        }
    };
    let progress = format == Format::Text && std::io::stderr().is_terminal();
    let mut impact = Impact::default();
    for (i, record) in log.iter().enumerate() {
        if progress && i % 500 == 0 {
            eprint!("\rreplaying {i}/{}", log.len());
            let _ = std::io::stderr().flush();
        }
        let cut = |v: &Value| v.get("_truncated").is_some();
        if record.request.get("entities_count").is_some()
            || cut(&record.request)
            || cut(&record.request["context"])
        {
            impact.skipped += 1;
            continue;
        }
        impact.replayed += 1;
        let Ok(request) = serde_json::from_value::<DecisionRequest>(record.request.clone()) else {
            impact.refused += 1;
            continue;
        };
        let candidate = match engine.decide(&request) {
            Ok(answer) => format!("{:?}", answer.decision).to_lowercase(),
            Err(_) => {
                impact.refused += 1;
                continue;
            }
        };
        if candidate == record.decision {
            impact.unchanged += 1;
            continue;
        }
        if candidate == "deny" {
            impact.allow_to_deny += 1;
        } else {
            impact.deny_to_allow += 1;
        }
        impact.changes.push(Change {
            approximate: record.request.to_string().contains("\"***\""),
            request: record.request.clone(),
            logged: record.decision.clone(),
            candidate,
            logged_by: record.digest.clone(),
        });
    }
    if progress {
        eprintln!("\rreplayed {}/{}", log.len(), log.len());
    }
    match format {
        Format::Json => println!("{}", json(&impact)),
        Format::Text => {
            println!(
                "{} logged decisions replayed on {}: {} unchanged, {} allow -> deny, {} deny -> allow, {} refused by the candidate ({} skipped: call-only entities are not logged)",
                impact.replayed,
                dir.display(),
                impact.unchanged,
                impact.allow_to_deny,
                impact.deny_to_allow,
                impact.refused,
                impact.skipped
            );
            for c in impact.changes.iter().take(20) {
                let r = &c.request;
                println!(
                    "  {}::{} {} {}::{}: {} -> {}{}",
                    r["principal"]["type"].as_str().unwrap_or_default(),
                    r["principal"]["id"],
                    r["action"]["id"].as_str().unwrap_or_default(),
                    r["resource"]["type"].as_str().unwrap_or_default(),
                    r["resource"]["id"],
                    c.logged,
                    c.candidate,
                    if c.approximate {
                        " (masked context: approximate)"
                    } else {
                        ""
                    }
                );
            }
        }
    }
    Ok(Status::Ok)
}
