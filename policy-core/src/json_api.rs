//! JSON in, JSON out: the one entry point the non-Rust faces (browser package, wasmtime guest)
//! call, so they share not only the wire types but the dispatch and error mapping too.

use serde::{de::DeserializeOwned, Deserialize, Serialize};
use serde_json::Value;

use crate::error::EngineError;
use crate::firm_model::Part;
use crate::wire::{
    BatchRequest, DecisionRequest, EntityDelta, EntityRef, ErrorBody, MatrixRequest,
};
use crate::{Bundle, Engine};

/// A bundle as JSON: `{"files": {"policies.cedar": "...", "schema.cedarschema": "..."}}`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "typescript", derive(ts_rs::TS))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct BundleFiles {
    pub files: std::collections::BTreeMap<String, String>,
}

/// What a face loads its engine from ([`load_bundle`]): a bundle's files, and whether policies
/// that fail validation refuse it (the default) or are only reported, to decide with a draft as
/// Cedar would. The server deploys with validation enforced, whatever a client sends.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "typescript", derive(ts_rs::TS))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct BundleLoad {
    pub files: std::collections::BTreeMap<String, String>,
    /// `enforce` when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "typescript", ts(optional))]
    #[cfg_attr(feature = "openapi", schema(nullable = false))]
    pub policy_validation: Option<crate::PolicyValidation>,
}

/// The input of [`Op::FieldLevel`].
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "typescript", derive(ts_rs::TS))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct FieldLevelRequest {
    pub principal: EntityRef,
    pub resource: EntityRef,
    pub field: String,
}

/// The input of [`Op::Impact`]: a candidate bundle and the decisions to replay on it and on the
/// resident engine.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "typescript", derive(ts_rs::TS))]
pub struct ImpactRequest {
    pub files: std::collections::BTreeMap<String, String>,
    pub log: Vec<crate::impact::LoggedDecision>,
}

/// The input of [`Op::Profiles`]: without `firm`, every profile of the store (`is_default`:
/// the bundle's shared default); with it, the shared profiles and that firm's own, `is_default`
/// marking the firm's default.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "typescript", derive(ts_rs::TS))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ProfilesRequest {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "typescript", ts(optional))]
    #[cfg_attr(feature = "openapi", schema(nullable = false))]
    pub firm: Option<EntityRef>,
}

/// The input of [`Op::CompareProfiles`].
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "typescript", derive(ts_rs::TS))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CompareRequest {
    pub left: EntityRef,
    pub right: EntityRef,
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
#[cfg_attr(feature = "typescript", derive(ts_rs::TS))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Validation {
    pub ok: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "typescript", ts(optional))]
    #[cfg_attr(feature = "openapi", schema(nullable = false))]
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

/// Loads a bundle from its JSON form, a [`BundleLoad`] (a [`BundleFiles`] is one).
pub fn load_bundle(input: &str) -> Result<Bundle, ErrorBody> {
    let load: BundleLoad = parse(input).map_err(|e| ErrorBody::from(&e))?;
    Bundle::load_with(load.files, load.policy_validation.unwrap_or_default())
        .map_err(|e| ErrorBody::from(&EngineError::Bundle(e)))
}

/// The operations of the JSON API. Every face names them with this enum (the browser package and
/// the wasmtime guest receive the name as text and parse it here), so a name is spelled once.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "typescript", derive(ts_rs::TS))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum Op {
    /// `DecisionRequest` → `DecisionResponse`.
    Decide,
    /// `BatchRequest` → `BatchResponse`.
    Batch,
    /// `MatrixRequest` → `MatrixResponse`.
    Matrix,
    /// `FieldLevelRequest` → `FieldLevel`.
    FieldLevel,
    /// `EntityDelta` → `DeltaReport`.
    ApplyDelta,
    /// An array of Cedar entity records → `DeltaReport`.
    ReplaceEntities,
    /// `ProfilesRequest` → `AccessProfile[]`: every profile, or those one firm may use with
    /// its own default marked.
    Profiles,
    /// `CompareRequest` → `ProfileDifference[]`.
    CompareProfiles,
    /// → `BundleInfo`.
    Info,
    /// The bundle's own test files → `TestReport`.
    RunTests,
    /// A candidate `BundleFiles` → `Validation`, engine untouched.
    Validate,
    /// The engine's bundle → a candidate `BundleFiles`, as a `BundleDiff`.
    Diff,
    /// A firm administration operation (`DirectoryRequest`) planned as a checked delta, not
    /// applied: `DirectoryPlan`.
    Directory,
    /// `ImpactRequest` (a candidate's files and logged decisions) → `ImpactReport`: the
    /// decisions replayed on the resident engine and on the candidate over the same data.
    Impact,
    /// → `Licence[]` (empty without a declared firm model).
    Licences,
    /// → `Roles` (empty without a declared firm model).
    Roles,
    /// → every `FieldLevel`, lowest first.
    FieldLevels,
    /// `ResourceQuery` → `ResourceList` (on the whole store, not a slice).
    QueryResources,
    /// `PrincipalQuery` → `PrincipalList`.
    QueryPrincipals,
    /// `PlanRequest` → `PlanResponse`.
    QueryPlan,
}

impl Op {
    pub const ALL: [Op; 20] = [
        Self::Decide,
        Self::Batch,
        Self::Matrix,
        Self::FieldLevel,
        Self::ApplyDelta,
        Self::ReplaceEntities,
        Self::Profiles,
        Self::CompareProfiles,
        Self::Info,
        Self::RunTests,
        Self::Validate,
        Self::Diff,
        Self::Directory,
        Self::Impact,
        Self::Licences,
        Self::Roles,
        Self::FieldLevels,
        Self::QueryResources,
        Self::QueryPrincipals,
        Self::QueryPlan,
    ];

    /// Whether the operation decides on an entity slice ([`slice_for`], [`call_on_slice`]):
    /// the decision operations; the others read the bundle or the whole store.
    pub fn decides_on_slice(self) -> bool {
        matches!(
            self,
            Self::Decide | Self::Batch | Self::Matrix | Self::FieldLevel
        )
    }

    /// The wire name (the serde name; a test holds the two together).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Decide => "decide",
            Self::Batch => "batch",
            Self::Matrix => "matrix",
            Self::FieldLevel => "field_level",
            Self::ApplyDelta => "apply_delta",
            Self::ReplaceEntities => "replace_entities",
            Self::Profiles => "profiles",
            Self::CompareProfiles => "compare_profiles",
            Self::Info => "info",
            Self::RunTests => "run_tests",
            Self::Validate => "validate",
            Self::Diff => "diff",
            Self::Directory => "directory",
            Self::Impact => "impact",
            Self::Licences => "licences",
            Self::Roles => "roles",
            Self::FieldLevels => "field_levels",
            Self::QueryResources => "query_resources",
            Self::QueryPrincipals => "query_principals",
            Self::QueryPlan => "query_plan",
        }
    }
}

impl std::fmt::Display for Op {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Op {
    type Err = EngineError;

    /// An unknown name is an `unsupported` error that lists the known ones.
    fn from_str(name: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|op| op.as_str() == name)
            .ok_or_else(|| {
                let known: Vec<&str> = Self::ALL.iter().map(|op| op.as_str()).collect();
                EngineError::Unsupported(format!(
                    "unknown operation `{name}` (expected one of: {})",
                    known.join(", ")
                ))
            })
    }
}

/// The packed entity slice a decision operation (`decide`, `batch`, `matrix`, `field_level`)
/// reads, for [`call_on_slice`] in an engine that holds the bundle but not the data: a host
/// keeps one entity store and hands each guest instance only this. Only the input's JSON shape
/// is checked here; everything else is the deciding engine's to refuse, with its own error.
pub fn slice_for(engine: &Engine, op: Op, input: &str) -> Result<Vec<u8>, ErrorBody> {
    slice_of(engine, &roots_for(engine, op, input)?)
}

/// Where a decision operation's evaluation can start (its principals, actions, resources, the
/// entities its context and call entities name, the policies' entity literals): a host that
/// holds tenants on demand makes what they reach resident, then packs [`slice_of`] them (the
/// input is read once).
#[derive(Debug, Clone)]
pub struct CallRoots {
    roots: Vec<cedar_policy_core::ast::EntityUID>,
    /// Firms whose plan-limit counts the call reads (`plan_counts.rs`): the host counts them
    /// on its whole store, once the firms' tenants are resident, and packs the counts with
    /// the slice.
    counted_firms: Vec<cedar_policy_core::ast::EntityUID>,
}

impl CallRoots {
    pub fn refs(&self) -> Vec<EntityRef> {
        self.roots
            .iter()
            .map(|u| EntityRef::new(u.entity_type().to_string(), u.eid().as_ref()))
            .collect()
    }
}

/// The roots of a decision operation (see [`CallRoots`]).
pub fn roots_for(engine: &Engine, op: Op, input: &str) -> Result<CallRoots, ErrorBody> {
    roots(engine, op, input).map_err(|e| ErrorBody::from(&e))
}

/// The packed entities a call rooted at `roots` reads (see [`slice_for`]).
pub fn slice_of(engine: &Engine, roots: &CallRoots) -> Result<Vec<u8>, ErrorBody> {
    engine
        .pack_slice(&roots.roots, &roots.counted_firms)
        .map_err(|e| ErrorBody::from(&e))
}

fn roots(engine: &Engine, op: Op, input: &str) -> Result<CallRoots, EngineError> {
    let bundle = engine.bundle();
    let counted = |action: &EntityRef, resource: &EntityRef, context: Option<&Value>| {
        crate::plan_counts::reads_counts(bundle, action, resource, context)
            .then(|| crate::entity_json::to_uid(resource).ok())
            .flatten()
            .map(|uid| uid.as_ref().clone())
    };
    let decisions = |requests: &[DecisionRequest]| CallRoots {
        roots: requests
            .iter()
            .flat_map(|r| crate::engine::decision_roots(bundle, r))
            .collect(),
        counted_firms: requests
            .iter()
            .filter_map(|r| counted(&r.action, &r.resource, r.context.as_ref()))
            .collect(),
    };
    Ok(match op {
        Op::Decide => decisions(&[parse::<DecisionRequest>(input)?]),
        Op::Batch => decisions(&parse::<BatchRequest>(input)?.requests),
        Op::Matrix => {
            let request: MatrixRequest = parse(input)?;
            let counted_firms = request
                .resources
                .iter()
                .flat_map(|resource| {
                    request
                        .actions
                        .iter()
                        .filter_map(|action| counted(action, resource, request.context.as_ref()))
                })
                .collect();
            CallRoots {
                roots: crate::engine::matrix_roots(bundle, &request),
                counted_firms,
            }
        }
        Op::FieldLevel => {
            let r: FieldLevelRequest = parse(input)?;
            CallRoots {
                roots: crate::engine::field_level_roots(bundle, &r.principal, &r.resource),
                counted_firms: Vec::new(),
            }
        }
        other => return Err(not_on_slice(other)),
    })
}

/// Runs a decision operation on `engine`'s bundle over a slice from [`slice_for`] (the
/// engine's own data is not read).
pub fn call_on_slice(
    engine: &Engine,
    op: Op,
    input: &str,
    slice: &[u8],
) -> Result<String, ErrorBody> {
    if !op.decides_on_slice() {
        return Err(ErrorBody::from(&not_on_slice(op)));
    }
    let mut view = engine.on_slice(slice).map_err(|e| ErrorBody::from(&e))?;
    call(&mut view, op, input)
}

fn not_on_slice(op: Op) -> EngineError {
    EngineError::Unsupported(format!(
        "`{op}` does not run on an entity slice (only decide, batch, matrix, field_level)"
    ))
}

/// Runs one operation on the engine; see [`Op`] for what each takes and returns.
pub fn call(engine: &mut Engine, op: Op, input: &str) -> Result<String, ErrorBody> {
    let mut run = || -> Result<String, EngineError> {
        Ok(match op {
            Op::Decide => to_json(&engine.decide(&parse::<DecisionRequest>(input)?)?),
            Op::Batch => to_json(&engine.decide_batch(&parse::<BatchRequest>(input)?.requests)),
            Op::Matrix => to_json(&engine.matrix(&parse::<MatrixRequest>(input)?)?),
            Op::FieldLevel => {
                let r: FieldLevelRequest = parse(input)?;
                to_json(&engine.field_level(&r.principal, &r.resource, &r.field)?)
            }
            Op::ApplyDelta => to_json(&engine.apply_delta(&parse::<EntityDelta>(input)?)?),
            Op::ReplaceEntities => to_json(&engine.replace_entities(&parse::<Vec<Value>>(input)?)?),
            Op::Profiles => match parse::<ProfilesRequest>(input)?.firm {
                Some(firm) => to_json(&engine.firm_profiles(&firm)?),
                None => to_json(&engine.profiles()),
            },
            Op::CompareProfiles => {
                let r: CompareRequest = parse(input)?;
                to_json(&engine.compare_profiles(&r.left, &r.right)?)
            }
            Op::Info => to_json(&engine.bundle().info()),
            Op::RunTests => to_json(&crate::testing::run_tests(engine.bundle())),
            Op::Validate => to_json(&validate(parse::<BundleFiles>(input)?)),
            Op::Diff => {
                let candidate = Bundle::load(parse::<BundleFiles>(input)?.files)?;
                to_json(&crate::diff::diff(engine.bundle(), &candidate))
            }
            Op::Directory => to_json(&crate::directory::plan(
                engine,
                &parse::<crate::directory::DirectoryRequest>(input)?,
            )?),
            Op::QueryResources => to_json(&engine.query_resources(&parse(input)?)?),
            Op::QueryPrincipals => to_json(&engine.query_principals(&parse(input)?)?),
            Op::QueryPlan => to_json(&engine.query_plan(&parse(input)?)?),
            Op::Impact => {
                let r: ImpactRequest = parse(input)?;
                let candidate =
                    Engine::with_entities(Bundle::load(r.files)?, engine.data_records()?)?;
                to_json(&crate::impact::replay(engine, &candidate, &r.log))
            }
            // Without a declared firm model a bundle has no licences or roles: empty lists.
            Op::Licences => to_json(&match engine.firm_model() {
                Some(model) => {
                    // The profiles, and whatever entity each names as its licence.
                    let profiles: Vec<_> = engine
                        .entities_of_type(&model.type_name(Part::Profile))
                        .collect();
                    let named: std::collections::BTreeSet<_> =
                        crate::profile::profiles(model, profiles.iter().copied())
                            .into_iter()
                            .filter_map(|p| p.licence)
                            .collect();
                    let licences = named.iter().filter_map(|l| engine.entity(l));
                    crate::licence::licences(model, profiles.iter().copied().chain(licences))
                }
                None => Vec::new(),
            }),
            Op::Roles => to_json(&match engine.firm_model() {
                Some(model) => crate::roles::roles(
                    model,
                    // Firm roles are entities; company roles are the keys of the `teams`
                    // records (a client's teams).
                    engine
                        .entities_of_type(&model.type_name(Part::Role))
                        .chain(engine.entities_with_attr("teams")),
                ),
                None => crate::roles::Roles::default(),
            }),
            Op::FieldLevels => to_json(&crate::licence::field_levels()),
        })
    };
    run().map_err(|e| ErrorBody::from(&e))
}

/// [`call`] with the operation named as text, for the faces that receive it as text (the
/// browser package, the wasmtime guest): an unknown name is an `unsupported` error.
pub fn call_named(engine: &mut Engine, op: &str, input: &str) -> Result<String, ErrorBody> {
    let op: Op = op.parse().map_err(|e| ErrorBody::from(&e))?;
    call(engine, op, input)
}

/// An error body as JSON, for faces that return errors as text.
pub fn error_json(body: &ErrorBody) -> String {
    to_json(body)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::panic)]
    use super::*;

    #[test]
    fn every_op_is_named_as_serde_names_it_and_parses_back() {
        for op in Op::ALL {
            assert_eq!(
                serde_json::to_value(op).ok(),
                Some(Value::String(op.as_str().into()))
            );
            assert_eq!(op.as_str().parse::<Op>().ok(), Some(op));
        }
    }

    #[test]
    fn an_unknown_op_is_unsupported_and_lists_the_known_ones() {
        let Err(err) = "apply-delta".parse::<Op>() else {
            panic!("`apply-delta` parsed")
        };
        let body = ErrorBody::from(&err);
        assert_eq!(body.code, crate::ErrorCode::Unsupported);
        assert!(body.message.contains("unknown operation `apply-delta`"));
        assert!(body.message.contains("apply_delta, replace_entities"));
    }
}
