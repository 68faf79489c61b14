//! JSON in, JSON out: the one entry point the non-Rust faces (browser package, wasmtime guest)
//! call, so they share not only the wire types but the dispatch and error mapping too.

use serde::{de::DeserializeOwned, Deserialize, Serialize};
use serde_json::Value;

use crate::error::EngineError;
use crate::wire::{
    BatchRequest, DecisionRequest, EntityDelta, EntityRef, ErrorBody, MatrixRequest,
};
use crate::{Bundle, Engine};

/// A bundle as JSON: `{"files": {"policies.cedar": "...", "schema.cedarschema": "..."}}`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BundleFiles {
    pub files: std::collections::BTreeMap<String, String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct FieldLevelRequest {
    principal: EntityRef,
    resource: EntityRef,
    field: String,
}

/// A candidate bundle and the decisions to replay on it and on the resident engine.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct ImpactRequest {
    files: std::collections::BTreeMap<String, String>,
    log: Vec<crate::impact::LoggedDecision>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct CompareRequest {
    left: EntityRef,
    right: EntityRef,
}

fn parse<T: DeserializeOwned>(input: &str) -> Result<T, EngineError> {
    serde_json::from_str(input).map_err(|e| EngineError::MalformedJson(e.to_string()))
}

/// Serializes a wire value (infallible for our types; see below).
pub fn to_json<T: Serialize>(value: &T) -> String {
    // Serializing our own wire types cannot fail (no maps with non-string keys, no NaN).
    serde_json::to_string(value)
        .unwrap_or_else(|e| format!("{{\"serialization_error\":{:?}}}", e.to_string()))
}

/// What an editor needs while an author types: every located problem of a candidate bundle,
/// without touching the resident engine.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Validation {
    pub ok: bool,
    pub digest: Option<String>,
    pub diagnostics: Vec<crate::Diagnostic>,
}

pub fn validate(files: BundleFiles) -> Validation {
    match Bundle::load(files.files) {
        Ok(bundle) => Validation {
            ok: true,
            digest: Some(bundle.digest().to_string()),
            diagnostics: bundle.warnings().to_vec(),
        },
        Err(e) => Validation {
            ok: false,
            digest: None,
            diagnostics: e.diagnostics,
        },
    }
}

/// Loads a bundle from its JSON form.
pub fn load_bundle(input: &str) -> Result<Bundle, ErrorBody> {
    let files: BundleFiles = parse(input).map_err(|e| ErrorBody::from(&e))?;
    Bundle::load(files.files).map_err(|e| ErrorBody::from(&EngineError::Bundle(e)))
}

/// Runs one operation on the engine. `op` names: `decide`, `batch`, `matrix`, `field_level`,
/// `apply_delta`, `replace_entities`, `profiles`, `compare_profiles`, `info`, `run_tests` (the
/// bundle's own test files, as a `TestReport`), `validate` (a candidate `{"files"}` bundle →
/// `Validation`, engine untouched), `diff` (the engine's bundle → a candidate `{"files"}`
/// bundle, as a `BundleDiff`), `directory` (a firm administration operation planned as a
/// checked delta, not applied: `directory::DirectoryPlan`), `impact` (`{"files", "log"}`: the
/// logged decisions replayed on the resident engine and on the candidate over the same data, as
/// an `impact::ImpactReport`), `licences`, `roles`, `field_levels` (every level, lowest first).
pub fn call(engine: &mut Engine, op: &str, input: &str) -> Result<String, ErrorBody> {
    let mut run = || -> Result<String, EngineError> {
        Ok(match op {
            "decide" => to_json(&engine.decide(&parse::<DecisionRequest>(input)?)?),
            "batch" => to_json(&engine.decide_batch(&parse::<BatchRequest>(input)?.requests)),
            "matrix" => to_json(&engine.matrix(&parse::<MatrixRequest>(input)?)?),
            "field_level" => {
                let r: FieldLevelRequest = parse(input)?;
                to_json(&engine.field_level(&r.principal, &r.resource, &r.field)?)
            }
            "apply_delta" => to_json(&engine.apply_delta(&parse::<EntityDelta>(input)?)?),
            "replace_entities" => to_json(&engine.replace_entities(parse::<Vec<Value>>(input)?)?),
            "profiles" => to_json(&engine.profiles()),
            "compare_profiles" => {
                let r: CompareRequest = parse(input)?;
                to_json(&engine.compare_profiles(&r.left, &r.right)?)
            }
            "info" => to_json(&engine.bundle().info()),
            "run_tests" => to_json(&crate::testing::run_tests(engine.bundle())),
            "validate" => to_json(&validate(parse::<BundleFiles>(input)?)),
            "diff" => {
                let candidate = Bundle::load(parse::<BundleFiles>(input)?.files)?;
                to_json(&crate::diff::diff(engine.bundle(), &candidate))
            }
            "directory" => to_json(&crate::directory::plan(
                engine,
                &parse::<crate::directory::DirectoryRequest>(input)?,
            )?),
            "impact" => {
                let r: ImpactRequest = parse(input)?;
                let candidate = Engine::with_entities(
                    Bundle::load(r.files)?,
                    engine.data_records().cloned().collect(),
                )?;
                to_json(&crate::impact::replay(engine, &candidate, &r.log))
            }
            // Without a declared firm model a bundle has no licences or roles: empty lists.
            "licences" => to_json(&match engine.firm_model() {
                Some(model) => crate::licence::licences(model, engine.entities()),
                None => Vec::new(),
            }),
            "roles" => to_json(&match engine.firm_model() {
                Some(model) => crate::roles::roles(model, engine.entities()),
                None => crate::roles::Roles::default(),
            }),
            "field_levels" => to_json(&crate::licence::field_levels()),
            other => {
                return Err(EngineError::Unsupported(format!(
                    "unknown operation `{other}`"
                )))
            }
        })
    };
    run().map_err(|e| ErrorBody::from(&e))
}

/// An error body as JSON, for faces that return errors as text.
pub fn error_json(body: &ErrorBody) -> String {
    to_json(body)
}
