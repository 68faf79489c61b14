//! One module per `sesame` command. Each returns a [`Status`] (policy problems are not errors of
//! the tool) or a [`CliError`] (usage or I/O), which `main` maps to exit codes 0 / 1 / 2.

// The authoring commands: policy-core and files only.
pub mod check;
pub mod decide;
pub mod diff;
pub mod fmt;
pub mod profile;
pub mod query;
pub mod test;

// Commands that reach a server, its store or its guest (the `server` feature).
#[cfg(feature = "server")]
pub mod audit;
#[cfg(feature = "server")]
pub mod bench;
#[cfg(feature = "server")]
pub mod impact;
#[cfg(feature = "server")]
pub mod jwt;
#[cfg(feature = "server")]
pub mod loadtest;
#[cfg(feature = "server")]
pub mod remote;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use bundle_dir::{read_files, ReadError};
use policy_core::{Bundle, PolicyValidation};

use crate::render::{self, Colour};

/// How a command's output is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Text,
    Json,
}

/// The command ran; did it find policy problems?
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Ok,
    Problems,
}

#[derive(Debug, thiserror::Error)]
pub enum CliError {
    #[error(transparent)]
    Read(#[from] ReadError),
    #[error("{0}")]
    Usage(String),
    #[error("cannot write output: {0}")]
    Output(#[from] std::io::Error),
    #[error("{0}")]
    Server(String),
}

/// A bundle folder read from disk: its texts (for snippets) and the loaded bundle or the
/// rendered diagnostics.
pub struct LoadedDir {
    pub sources: BTreeMap<String, String>,
    pub bundle: Result<Bundle, policy_core::BundleError>,
}

pub fn load(dir: &Path) -> Result<LoadedDir, CliError> {
    load_with(dir, PolicyValidation::Enforce)
}

fn load_with(dir: &Path, validation: PolicyValidation) -> Result<LoadedDir, CliError> {
    let files = read_files(dir)?;
    let sources = files
        .iter()
        .map(|(p, b)| (p.clone(), String::from_utf8_lossy(b).into_owned()))
        .collect();
    Ok(LoadedDir {
        sources,
        bundle: Bundle::load_with(files, validation),
    })
}

/// Loads a bundle or prints its problems (exit status 1 for the caller).
pub fn load_or_report(dir: &Path, format: Format) -> Result<Result<Bundle, Status>, CliError> {
    load_or_report_with(dir, format, PolicyValidation::Enforce)
}

/// [`load_or_report`], policy validation enforced or only reported (a draft, whose warnings
/// are then printed to stderr).
pub fn load_or_report_with(
    dir: &Path,
    format: Format,
    validation: PolicyValidation,
) -> Result<Result<Bundle, Status>, CliError> {
    let loaded = load_with(dir, validation)?;
    if let (Ok(bundle), PolicyValidation::Report) = (&loaded.bundle, validation) {
        eprint!(
            "{}",
            render::diagnostics(bundle.warnings(), &loaded.sources, Colour::detect())
        );
    }
    match loaded.bundle {
        Ok(b) => Ok(Ok(b)),
        Err(e) => {
            match format {
                Format::Json => println!(
                    "{}",
                    json(&serde_json::json!({ "diagnostics": e.diagnostics }))
                ),
                Format::Text => eprint!(
                    "{}",
                    render::diagnostics(&e.diagnostics, &loaded.sources, Colour::detect())
                ),
            }
            Ok(Err(Status::Problems))
        }
    }
}

/// Serializes a value the CLI produced itself (cannot fail for our wire types).
pub fn json<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_string_pretty(value)
        .unwrap_or_else(|e| format!("{{\"error\":{:?}}}", e.to_string()))
}

/// An engine on a bundle folder and, optionally, an entity file (read as a stream: a large file
/// is never held as JSON values whole); its problems printed, as `Err(status)`.
pub fn engine_on(
    dir: &Path,
    entities: Option<&PathBuf>,
    validation: PolicyValidation,
) -> Result<Result<policy_core::Engine, Status>, CliError> {
    let bundle = match load_or_report_with(dir, Format::Text, validation)? {
        Ok(b) => b,
        Err(status) => return Ok(Err(status)),
    };
    let mut engine = policy_core::Engine::new(bundle);
    if let Some(path) = entities {
        let text = read_text(path)?;
        if let Err(e) = engine.replace_entities_json(&text) {
            eprintln!("error[{}]: {}: {e}", e.code(), path.display());
            return Ok(Err(Status::Problems));
        }
    }
    Ok(Ok(engine))
}

/// JSON lines in, JSON lines out: `answer` turns each non-empty line of stdin into its JSON
/// answer, or an engine error written as `{"error": ErrorBody}` (the status is then
/// `Problems`).
pub fn json_lines(
    mut answer: impl FnMut(&str) -> Result<String, policy_core::EngineError>,
) -> Result<Status, CliError> {
    use std::io::{BufRead, Write};
    let stdin = std::io::stdin();
    let mut stdout = std::io::BufWriter::new(std::io::stdout().lock());
    let mut status = Status::Ok;
    for line in stdin.lock().lines() {
        let line = line?;
        if line.trim().is_empty() {
            continue;
        }
        let out = match answer(&line) {
            Ok(json) => json,
            Err(e) => {
                status = Status::Problems;
                let body = policy_core::wire::ErrorBody::from(&e);
                serde_json::to_string(&serde_json::json!({ "error": body }))
                    .map_err(|e| CliError::Usage(e.to_string()))?
            }
        };
        writeln!(stdout, "{out}")?;
    }
    stdout.flush()?;
    Ok(status)
}

pub fn read_text(path: &PathBuf) -> Result<String, CliError> {
    std::fs::read_to_string(path).map_err(|source| {
        CliError::Read(ReadError::Io {
            path: path.clone(),
            source,
        })
    })
}
