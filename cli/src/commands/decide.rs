//! `sesame decide --bundle DIR [--entities FILE] [--draft]`: JSON lines in (one decision request
//! per line), JSON lines out (one response or `{"error": ...}` per line), for scripts and
//! pipelines. `--draft` decides with policies that fail validation, as Cedar's own CLI does, their
//! validation errors printed as warnings; a deploy always enforces validation.

use std::path::{Path, PathBuf};

use policy_core::wire::DecisionRequest;
use policy_core::{EngineError, PolicyValidation};

use super::{engine_on, json_lines, CliError, Status};

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
    json_lines(|line| {
        let request = serde_json::from_str::<DecisionRequest>(line)
            .map_err(|e| EngineError::MalformedJson(e.to_string()))?;
        serde_json::to_string(&engine.decide(&request)?)
            .map_err(|e| EngineError::MalformedJson(e.to_string()))
    })
}
