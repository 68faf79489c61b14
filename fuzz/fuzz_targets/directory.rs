//! Firm administration requests (`directory::plan` with any `DirectoryRequest` JSON) against the
//! demo bundle and firm: planned and checked, never applied.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use policy_core::directory::{plan, DirectoryRequest};
use policy_core::Engine;

fn engine() -> &'static Engine {
    static ENGINE: OnceLock<Engine> = OnceLock::new();
    ENGINE.get_or_init(|| match sesame_fuzz::demo_engine() {
        Ok(engine) => engine,
        Err(e) => {
            eprintln!("the demo bundle does not load: {e}");
            std::process::exit(2)
        }
    })
}

fuzz_target!(|data: &[u8]| {
    let Ok(request) = serde_json::from_slice::<DirectoryRequest>(data) else {
        return;
    };
    let _ = plan(engine(), &request);
});
