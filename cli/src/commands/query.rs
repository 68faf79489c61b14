//! `sesame query resources|principals|plan --bundle DIR [--entities FILE]`: JSON lines in (one
//! query per line, the body of `POST /v1/query/…`), JSON lines out (its answer or
//! `{"error": ...}`), as `sesame decide` does for decisions.

use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};

use policy_core::wire::{ErrorBody, PlanRequest, PrincipalQuery, ResourceQuery};
use policy_core::{Engine, EngineError, PolicyValidation};

use super::{engine_on, CliError, Status};

/// Which query each line asks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum QueryKind {
    /// The resources of a type a principal may act on.
    Resources,
    /// The principals of a type that may act on a resource.
    Principals,
    /// A condition (and SQL, given a mapping) on resources of a type.
    Plan,
}

fn answer(engine: &Engine, kind: QueryKind, line: &str) -> Result<String, EngineError> {
    let bad = |e: serde_json::Error| EngineError::MalformedJson(e.to_string());
    let text = match kind {
        QueryKind::Resources => {
            let query: ResourceQuery = serde_json::from_str(line).map_err(bad)?;
            serde_json::to_string(&engine.query_resources(&query)?)
        }
        QueryKind::Principals => {
            let query: PrincipalQuery = serde_json::from_str(line).map_err(bad)?;
            serde_json::to_string(&engine.query_principals(&query)?)
        }
        QueryKind::Plan => {
            let query: PlanRequest = serde_json::from_str(line).map_err(bad)?;
            serde_json::to_string(&engine.query_plan(&query)?)
        }
    };
    text.map_err(|e| EngineError::MalformedJson(e.to_string()))
}

pub fn run(kind: QueryKind, dir: &Path, entities: Option<&PathBuf>) -> Result<Status, CliError> {
    let engine = match engine_on(dir, entities, PolicyValidation::Enforce)? {
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
        let out = match answer(&engine, kind, &line) {
            Ok(json) => json,
            Err(e) => {
                status = Status::Problems;
                serde_json::to_string(&serde_json::json!({ "error": ErrorBody::from(&e) }))
                    .map_err(|e| CliError::Usage(e.to_string()))?
            }
        };
        writeln!(stdout, "{out}")?;
    }
    stdout.flush()?;
    Ok(status)
}
