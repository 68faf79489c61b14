//! `sesame decide --bundle DIR [--entities FILE] [--draft]`: JSON lines in (one decision request
//! per line), JSON lines out (one response or `{"error": ...}` per line), for scripts and
//! pipelines. `--draft` decides with policies that fail validation, as Cedar's own CLI does, their
//! validation errors printed as warnings; a deploy always enforces validation.

use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};

use policy_core::wire::{DecisionRequest, ErrorBody};
use policy_core::{EngineError, PolicyValidation};

use super::{engine_on, CliError, Status};

pub fn run(dir: &Path, entities: Option<&PathBuf>, draft: bool) -> Result<Status, CliError> {
    let validation = if draft {
        PolicyValidation::Report
    } else {
        PolicyValidation::Enforce
    };
    let engine = match engine_on(dir, entities, validation)? {
        Ok(engine) => engine,
        Err(status) => return Ok(status),
    };
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
