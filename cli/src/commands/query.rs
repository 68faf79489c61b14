//! `sesame query resources|principals|plan --bundle DIR [--entities FILE]`: JSON lines in (one
//! query per line, the body of `POST /v1/query/…`), JSON lines out (its answer or
//! `{"error": ...}`), as `sesame decide` does for decisions.

use std::path::{Path, PathBuf};

use policy_core::wire::{PlanRequest, PrincipalQuery, ResourceQuery};
use policy_core::{Engine, EngineError, PolicyValidation};

use super::{engine_on, json_lines, CliError, Status};

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
    json_lines(|line| answer(&engine, kind, line))
}
