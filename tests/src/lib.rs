//! Shared helpers for Sesame's cross-crate tests: the demo bundle's files, and small ways to
//! change one file and reload.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;
use std::path::PathBuf;

use policy_core::wire::{DecisionRequest, EntityRef};
use policy_core::{Bundle, BundleError, Diagnostic, ErrorCode};

/// The repository root (this crate lives in `tests/`).
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The files of `policies/` as `path -> text`.
pub fn demo_files() -> BTreeMap<String, String> {
    host_server::bundle_dir::read_files(&repo_root().join("policies"))
        .expect("policies/ is readable")
        .into_iter()
        .map(|(p, b)| (p, String::from_utf8(b).expect("utf-8")))
        .collect()
}

pub fn load(files: &BTreeMap<String, String>) -> Result<Bundle, BundleError> {
    Bundle::load(files.clone())
}

pub fn demo_bundle() -> Bundle {
    load(&demo_files()).expect("the demo bundle loads")
}

/// The demo firm fixture's records (the data a host would load into the engine).
pub fn demo_firm() -> Vec<serde_json::Value> {
    let text = &demo_files()["tests/fixtures/demo-firm.json"];
    serde_json::from_str(text).expect("fixture is JSON")
}

/// The first diagnostic with `code`, or a panic listing what was found.
pub fn find(err: &BundleError, code: ErrorCode) -> Diagnostic {
    err.diagnostics
        .iter()
        .find(|d| d.code == code)
        .cloned()
        .unwrap_or_else(|| panic!("no {code} among {:#?}", err.diagnostics))
}

pub fn req(principal: &str, action: &str, resource: (&str, &str)) -> DecisionRequest {
    DecisionRequest {
        principal: EntityRef::new("User", principal),
        action: EntityRef::new("Action", action),
        resource: EntityRef::new(resource.0, resource.1),
        context: None,
    }
}
