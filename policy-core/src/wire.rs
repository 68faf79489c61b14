//! The one set of JSON types every face of Sesame speaks: the browser package, the wasmtime
//! guest, the HTTP API and the CLI all (de)serialize exactly these. Requests and entities use
//! Cedar's JSON forms: entity references are `{"type": "User", "id": "alice"}`, entity records are
//! Cedar entity JSON (`uid`, `attrs`, `parents`, optional `tags`), and `__entity` / `__extn`
//! escapes are accepted wherever Cedar accepts them.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::{Diagnostic, ErrorCode, Location};
use crate::level::FieldLevel;

/// A reference to an entity: `{"type": "Document", "id": "inv-42"}`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "typescript", derive(ts_rs::TS))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct EntityRef {
    #[serde(rename = "type")]
    pub type_name: String,
    pub id: String,
}

impl EntityRef {
    pub fn new(type_name: impl Into<String>, id: impl Into<String>) -> Self {
        Self {
            type_name: type_name.into(),
            id: id.into(),
        }
    }
}

impl std::fmt::Display for EntityRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}::{:?}", self.type_name, self.id)
    }
}

/// One authorization question.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "typescript", derive(ts_rs::TS))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DecisionRequest {
    pub principal: EntityRef,
    pub action: EntityRef,
    pub resource: EntityRef,
    /// Cedar context record; absent means `{}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "typescript", ts(type = "Record<string, unknown>"))]
    #[cfg_attr(feature = "openapi", schema(nullable = false))]
    pub context: Option<Value>,
    /// Entities for this call only (Cedar entity JSON), added to the resident store or
    /// replacing stored entities of the same uid; never stored.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[cfg_attr(feature = "typescript", ts(type = "Array<CedarEntity>"))]
    pub entities: Vec<Value>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "typescript", derive(ts_rs::TS))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum Decision {
    Allow,
    Deny,
}

/// An error raised while evaluating one policy (the policy is then ignored, as in Cedar).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "typescript", derive(ts_rs::TS))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct EvaluationError {
    pub policy_id: String,
    pub message: String,
}

/// The answer to one `DecisionRequest`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "typescript", derive(ts_rs::TS))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DecisionResponse {
    pub decision: Decision,
    /// `@id`s of the policies that determined the decision, sorted.
    pub determining_policies: Vec<String>,
    #[serde(default)]
    pub errors: Vec<EvaluationError>,
    /// Digest of the bundle version that answered.
    pub bundle_digest: String,
}

/// Many requests in one call; there is no cap in the core (the server sets its own limit).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "typescript", derive(ts_rs::TS))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct BatchRequest {
    pub requests: Vec<DecisionRequest>,
}

/// One batch result: a bad request fails alone, the others are still decided.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
#[cfg_attr(feature = "typescript", derive(ts_rs::TS))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum BatchItem {
    Decided(DecisionResponse),
    Failed { error: ErrorBody },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "typescript", derive(ts_rs::TS))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct BatchResponse {
    pub results: Vec<BatchItem>,
    pub bundle_digest: String,
}

/// What a UI asks to render a page: one principal, many actions and resources, and optionally
/// the level of each named field on each resource.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "typescript", derive(ts_rs::TS))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MatrixRequest {
    pub principal: EntityRef,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub actions: Vec<EntityRef>,
    pub resources: Vec<EntityRef>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fields: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "typescript", ts(type = "Record<string, unknown>"))]
    #[cfg_attr(feature = "openapi", schema(nullable = false))]
    pub context: Option<Value>,
    /// Entities for this call only (e.g. a stand-in user holding one role), as in
    /// `DecisionRequest`; never stored.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[cfg_attr(feature = "typescript", ts(type = "Array<CedarEntity>"))]
    pub entities: Vec<Value>,
}

/// One resource's row of the matrix. `decisions` is keyed by action id, `fields` by field name.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "typescript", derive(ts_rs::TS))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MatrixRow {
    pub resource: EntityRef,
    pub decisions: std::collections::BTreeMap<String, Decision>,
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub fields: std::collections::BTreeMap<String, FieldLevel>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "typescript", derive(ts_rs::TS))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MatrixResponse {
    pub principal: EntityRef,
    pub rows: Vec<MatrixRow>,
    pub bundle_digest: String,
}

/// Changes to the resident entity store. Applied all-or-nothing: removals first, then upserts.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "typescript", derive(ts_rs::TS))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct EntityDelta {
    /// Cedar entity JSON records to add or replace.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[cfg_attr(feature = "typescript", ts(type = "Array<CedarEntity>"))]
    pub upsert: Vec<Value>,
    /// Entities to remove (absent ones are ignored).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub remove: Vec<EntityRef>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "typescript", derive(ts_rs::TS))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DeltaReport {
    pub upserted: usize,
    pub removed: usize,
    pub entity_count: usize,
}

/// The JSON body of every error on every face.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "typescript", derive(ts_rs::TS))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ErrorBody {
    pub code: ErrorCode,
    pub message: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "typescript", ts(optional))]
    #[cfg_attr(feature = "openapi", schema(nullable = false))]
    pub location: Option<Location>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub diagnostics: Vec<Diagnostic>,
}

impl From<&crate::error::EngineError> for ErrorBody {
    fn from(err: &crate::error::EngineError) -> Self {
        let diagnostics = err.diagnostics().to_vec();
        Self {
            code: err.code(),
            message: err.to_string(),
            location: diagnostics
                .iter()
                .find(|d| d.is_error())
                .and_then(|d| d.location.clone()),
            diagnostics,
        }
    }
}

/// Result of comparing two access profiles: only keys whose level differs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "typescript", derive(ts_rs::TS))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ProfileDifference {
    pub key: String,
    pub left: FieldLevel,
    pub right: FieldLevel,
}

/// Summary of a loaded bundle, for faces that show what is active.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "typescript", derive(ts_rs::TS))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct BundleInfo {
    pub digest: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "typescript", ts(optional))]
    #[cfg_attr(feature = "openapi", schema(nullable = false))]
    pub name: Option<String>,
    pub policy_ids: Vec<String>,
    pub entity_count: usize,
    pub files: Vec<String>,
    pub warnings: Vec<Diagnostic>,
}

mod query;
pub use query::*;
