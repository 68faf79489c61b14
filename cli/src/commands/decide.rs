//! `sesame decide --bundle DIR [--entities FILE] [--draft]`: JSON lines in (one decision request
//! per line), JSON lines out (one response or `{"error": ...}` per line), for scripts and
//! pipelines. `--draft` decides with policies that fail validation, as Cedar's own CLI does, their
//! validation errors printed as warnings; a deploy always enforces validation.

use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};

use policy_core::wire::{DecisionRequest, ErrorBody};
use policy_core::{Engine, EngineError, PolicyValidation};

use super::{load_or_report_with, read_text, CliError, Format, Status};

pub fn run(dir: &Path, entities: Option<&PathBuf>, draft: bool) -> Result<Status, CliError> {
    let validation = if draft {
        PolicyValidation::Report
    } else {
        PolicyValidation::Enforce
    };
    let bundle = match load_or_report_with(dir, Format::Text, validation)? {
        Ok(b) => b,
        Err(status) => return Ok(status),
    };
    let mut engine = Engine::new(bundle);
    if let Some(path) = entities {
        let text = read_text(path)?;
        // Read as a stream: a large file is never held as JSON values whole.
        if let Err(e) = engine.replace_entities_json(&text) {
            eprintln!("error[{}]: {}: {e}", e.code(), path.display());
            return Ok(Status::Problems);
        }
    }
    let stdin = std::io::stdin();
    let mut stdout = std::io::BufWriter::new(std::io::stdout().lock());
    let mut status = Status::Ok;
    for line in stdin.lock().lines() {
        let line = line?;
        if line.trim().is_empty() {
            continue;
        }
        let answer = serde_json::from_str::<DecisionRequest>(&line)
            .map_err(|e| EngineError::MalformedJson(e.to_string()))
            .and_then(|request| engine.decide(&request));
        let out = match answer {
            Ok(response) => serde_json::to_string(&response),
            Err(e) => {
                status = Status::Problems;
                serde_json::to_string(&serde_json::json!({ "error": ErrorBody::from(&e) }))
            }
        }
        .map_err(|e| CliError::Usage(e.to_string()))?;
        writeln!(stdout, "{out}")?;
    }
    stdout.flush()?;
    Ok(status)
}
