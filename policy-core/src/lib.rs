//! # policy-core
//!
//! Sesame's one authorization engine. A pure library (no file or network I/O: callers hand it
//! bytes) that builds for native targets and `wasm32-unknown-unknown`, so the browser, the
//! wasmtime guest, the server and the CLI all decide with the same code.
//!
//! - [`Bundle`]: a policy version (policies named by `@id`, one schema, static entities, an
//!   optional manifest, tests), validated strictly with every problem located at file:line:column.
//! - [`Engine`]: a resident bundle plus entity store; single, batch and matrix decisions, field
//!   levels, entity deltas.
//! - [`wire`]: the JSON types every face speaks, with stable [`ErrorCode`]s.
//! - [`testing`]: policy tests as files, run through the engine, with coverage.
//! - [`diff`]: files and policies changed between two bundle versions.
//! - [`firm_model`]: the accounting-firm layer a bundle declares in its manifest; without it a
//!   bundle is plain Cedar.
//! - [`directory`]: firm administration (invite, block, profiles...) planned as checked deltas.
//! - [`profile`]: access profiles and field levels (`none < print < read < full`).
//! - [`tenancy`]: the records a caller bound to one tenant may read.
//! - [`nesting`]: the bounds on how deeply Cedar text may nest, checked before Cedar parses it.
//! - [`impact`]: logged decisions replayed on the active version and a candidate: what changes.
//! - [`licence`]: licences, the most each field or section key may get under them.
//! - [`roles`]: the firm roles and company roles a bundle's entities declare.

mod bundle;
mod client_roles;
#[cfg(feature = "typescript")]
pub mod contract;
pub mod diff;
pub mod directory;
mod engine;
mod entity_json;
mod entity_parse;
mod error;
pub mod firm_model;
mod firm_profiles;
pub mod impact;
pub mod json_api;
mod level;
pub mod licence;
mod load;
pub mod nesting;
mod packed;
mod partition;
mod plan_counts;
pub mod profile;
mod query;
pub mod request_time;
pub mod roles;
mod rules;
mod source;
mod store;
mod suite;
pub mod tenancy;
mod tenant_rule;
pub mod testing;
pub mod wire;

pub use bundle::{
    classify, Bundle, FieldActions, FileKind, Manifest, PolicyInfo, PolicyValidation,
};
/// Template links: the links file's entries, and editing a version's links.
pub mod links {
    pub use crate::bundle::{
        with_link, without_link, LinkArg, LinkEditError, TemplateLink, LINKS_FILE,
    };
}
pub use engine::Engine;
/// The `uid` of a Cedar entity record, if it has a well-formed one.
pub use entity_json::uid_of_record;
pub use error::{BundleError, Diagnostic, EngineError, ErrorCode, Location, Severity};
pub use partition::Reach;
pub use profile::{AccessProfile, FieldLevel};
