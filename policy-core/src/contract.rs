//! The wire contract's generated faces. The Rust types of `wire`, `json_api` and the modules
//! they use are the one definition; the TypeScript declarations of the browser package
//! (`wasm-bindings/js/wire.d.ts`) are generated from them here, and checked in. A test
//! (`tests/tests/contract.rs`) regenerates the file and fails when the checked-in copy differs.

use ts_rs::{Config, TS};

use crate::diff::BundleDiff;
use crate::directory::{CompanyRole, DirectoryOp, DirectoryPlan, DirectoryRequest};
use crate::impact::{
    ChangedDecision, ImpactReport, LoggedDecision, NotReplayable, NotReplayed, Outcome,
};
use crate::json_api::{
    BundleFiles, BundleLoad, CompareRequest, FieldLevelRequest, ImpactRequest, Op, ProfilesRequest,
    Validation,
};
use crate::licence::Licence;
use crate::roles::Roles;
use crate::testing::{CaseResult, Coverage, TestReport};
use crate::wire::{
    BatchItem, BatchRequest, BatchResponse, BundleInfo, Decision, DecisionRequest,
    DecisionResponse, DeltaReport, EntityDelta, EntityRef, ErrorBody, EvaluationError,
    MatrixRequest, MatrixResponse, MatrixRow, PlanRequest, PlanResponse, PrincipalList,
    PrincipalQuery, ProfileDifference, ResourceList, ResourceQuery,
};
use crate::{
    AccessProfile, Diagnostic, ErrorCode, FieldLevel, Location, PolicyValidation, Severity,
};

/// The command that rewrites the checked-in declarations.
pub const REGENERATE: &str = "SESAME_REGENERATE=1 cargo test -p sesame-tests --test contract";

const HEADER: &str = "\
// GENERATED from policy-core's wire types (policy_core::contract::typescript); do not edit.
// Regenerate: SESAME_REGENERATE=1 cargo test -p sesame-tests --test contract

/** A Cedar entity record (Cedar entity JSON); `__entity` / `__extn` escapes are accepted. */
export type CedarEntity = {
  uid: EntityRef | { __entity: EntityRef };
  attrs: Record<string, unknown>;
  parents: Array<EntityRef | { __entity: EntityRef }>;
  tags?: Record<string, unknown>;
};
";

/// One declaration: its doc comment (from the Rust doc comment) and `export type ...`.
struct Declaration {
    name: String,
    text: String,
    dependencies: Vec<String>,
}

fn declaration<T: TS + 'static>(cfg: &Config) -> Declaration {
    let mut text = T::docs().unwrap_or_default();
    text.push_str("export ");
    text.push_str(&T::decl(cfg));
    Declaration {
        name: T::ident(cfg),
        text,
        dependencies: T::dependencies(cfg)
            .into_iter()
            .map(|d| d.ts_name)
            .collect(),
    }
}

/// JSON numbers: serde_json writes 64-bit integers as plain numbers, not `bigint`.
fn config() -> Config {
    Config::new().with_large_int("number")
}

fn declarations(cfg: &Config) -> Vec<Declaration> {
    vec![
        declaration::<EntityRef>(cfg),
        declaration::<Op>(cfg),
        declaration::<DecisionRequest>(cfg),
        declaration::<Decision>(cfg),
        declaration::<EvaluationError>(cfg),
        declaration::<DecisionResponse>(cfg),
        declaration::<BatchRequest>(cfg),
        declaration::<BatchItem>(cfg),
        declaration::<BatchResponse>(cfg),
        declaration::<MatrixRequest>(cfg),
        declaration::<MatrixRow>(cfg),
        declaration::<MatrixResponse>(cfg),
        declaration::<FieldLevelRequest>(cfg),
        declaration::<FieldLevel>(cfg),
        declaration::<EntityDelta>(cfg),
        declaration::<DeltaReport>(cfg),
        declaration::<CompareRequest>(cfg),
        declaration::<ProfilesRequest>(cfg),
        declaration::<ProfileDifference>(cfg),
        declaration::<AccessProfile>(cfg),
        declaration::<BundleFiles>(cfg),
        declaration::<BundleLoad>(cfg),
        declaration::<PolicyValidation>(cfg),
        declaration::<BundleInfo>(cfg),
        declaration::<Validation>(cfg),
        declaration::<BundleDiff>(cfg),
        declaration::<TestReport>(cfg),
        declaration::<CaseResult>(cfg),
        declaration::<Coverage>(cfg),
        declaration::<DirectoryRequest>(cfg),
        declaration::<DirectoryOp>(cfg),
        declaration::<CompanyRole>(cfg),
        declaration::<DirectoryPlan>(cfg),
        declaration::<ErrorBody>(cfg),
        declaration::<ErrorCode>(cfg),
        declaration::<Diagnostic>(cfg),
        declaration::<Severity>(cfg),
        declaration::<Location>(cfg),
        declaration::<ImpactRequest>(cfg),
        declaration::<LoggedDecision>(cfg),
        declaration::<ImpactReport>(cfg),
        declaration::<ChangedDecision>(cfg),
        declaration::<Outcome>(cfg),
        declaration::<NotReplayed>(cfg),
        declaration::<NotReplayable>(cfg),
        declaration::<Licence>(cfg),
        declaration::<Roles>(cfg),
        declaration::<ResourceQuery>(cfg),
        declaration::<ResourceList>(cfg),
        declaration::<PrincipalQuery>(cfg),
        declaration::<PrincipalList>(cfg),
        declaration::<PlanRequest>(cfg),
        declaration::<PlanResponse>(cfg),
        declaration::<crate::wire::Plan>(cfg),
        declaration::<crate::wire::Condition>(cfg),
        declaration::<crate::wire::PathStep>(cfg),
        declaration::<crate::wire::SqlMapping>(cfg),
        declaration::<crate::wire::SqlDialect>(cfg),
        declaration::<crate::wire::TableMapping>(cfg),
        declaration::<crate::wire::JoinTable>(cfg),
        declaration::<crate::wire::SqlFilter>(cfg),
    ]
}

/// Types a declaration refers to but the file does not declare: empty when the contract is
/// closed (a new wire type used by a listed one must be listed too).
pub fn undeclared_dependencies() -> Vec<String> {
    let all = declarations(&config());
    let declared: std::collections::BTreeSet<&str> = all.iter().map(|d| d.name.as_str()).collect();
    let mut missing: Vec<String> = all
        .iter()
        .flat_map(|d| d.dependencies.iter())
        .filter(|name| !declared.contains(name.as_str()))
        .cloned()
        .collect();
    missing.sort();
    missing.dedup();
    missing
}

/// The TypeScript declarations of the wire contract: the content of
/// `wasm-bindings/js/wire.d.ts`.
pub fn typescript() -> String {
    let cfg = config();
    let mut out = String::from(HEADER);
    for declaration in declarations(&cfg) {
        out.push('\n');
        out.push_str(&declaration.text);
        out.push('\n');
    }
    out
}
