//! `sesame check DIR`: every problem of a bundle at once, located, with source snippets.

use std::path::Path;

use super::{json, load, CliError, Format, Status};
use crate::render::{self, Colour};

pub fn run(dir: &Path, format: Format) -> Result<Status, CliError> {
    let loaded = load(dir)?;
    let colour = Colour::detect();
    match loaded.bundle {
        Ok(bundle) => {
            match format {
                Format::Json => println!(
                    "{}",
                    json(&serde_json::json!({
                        "ok": true,
                        "bundle": bundle.info(),
                        "diagnostics": bundle.warnings(),
                    }))
                ),
                Format::Text => {
                    if !bundle.warnings().is_empty() {
                        eprint!(
                            "{}",
                            render::diagnostics(bundle.warnings(), &loaded.sources, colour)
                        );
                    }
                    let info = bundle.info();
                    println!(
                        "ok: {} policies, {} static entities, {} test file(s); digest {}",
                        info.policy_ids.len(),
                        info.entity_count,
                        bundle.tests().len(),
                        info.digest
                    );
                }
            }
            Ok(Status::Ok)
        }
        Err(e) => {
            match format {
                Format::Json => println!(
                    "{}",
                    json(&serde_json::json!({ "ok": false, "diagnostics": e.diagnostics }))
                ),
                Format::Text => eprint!(
                    "{}",
                    render::diagnostics(&e.diagnostics, &loaded.sources, colour)
                ),
            }
            Ok(Status::Problems)
        }
    }
}
