//! Bundle files: policies, schema (both syntaxes), entities, manifest and tests, loaded as a
//! whole (and, when they load, their tests run), as `sesame check` and the deploy gate do; a
//! bundle refused is loaded again as a draft (policy validation only reported), as
//! `sesame decide --draft` and the browser package's drafts do.
#![no_main]

use libfuzzer_sys::fuzz_target;
use policy_core::{Bundle, PolicyValidation};

fuzz_target!(|data: &[u8]| {
    let files = sesame_fuzz::split_files(data);
    match Bundle::load(files.clone()) {
        Ok(bundle) => {
            let _ = policy_core::testing::run_tests(&bundle);
        }
        Err(_) => {
            let _ = Bundle::load_with(files, PolicyValidation::Report);
        }
    }
});
