//! Bundle files: policies, schema (both syntaxes), entities, manifest and tests, loaded as a
//! whole (and, when they load, their tests run), as `sesame check` and the deploy gate do.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let files = sesame_fuzz::split_files(data);
    if let Ok(bundle) = policy_core::Bundle::load(files) {
        let _ = policy_core::testing::run_tests(&bundle);
    }
});
