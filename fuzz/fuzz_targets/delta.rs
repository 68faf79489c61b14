//! Entity deltas (`apply_delta` JSON) on the demo engine: checked against the schema and the
//! domain rules, applied when valid, then one decision on the result.
#![no_main]

use std::sync::{Mutex, OnceLock};

use libfuzzer_sys::fuzz_target;
use policy_core::json_api::{call, Op};
use policy_core::Engine;

/// The demo engine as loaded, and the one each run works on.
fn engines() -> &'static (Engine, Mutex<Engine>) {
    static ENGINES: OnceLock<(Engine, Mutex<Engine>)> = OnceLock::new();
    ENGINES.get_or_init(|| match sesame_fuzz::demo_engine() {
        Ok(engine) => (engine.clone(), Mutex::new(engine)),
        Err(e) => {
            eprintln!("the demo bundle does not load: {e}");
            std::process::exit(2)
        }
    })
}

const AFTER: &str = r#"{"principal": {"type": "User", "id": "carol"},
 "action": {"type": "Action", "id": "view_document"},
 "resource": {"type": "Document", "id": "inv-1"}}"#;

fuzz_target!(|data: &[u8]| {
    let Ok(input) = std::str::from_utf8(data) else {
        return;
    };
    let (pristine, work) = engines();
    let mut engine = work.lock().unwrap_or_else(|p| p.into_inner());
    // A refused delta leaves the engine exactly as it was (apply_delta is all-or-nothing), so
    // only an applied one costs a copy of the pristine engine: every run starts from the same
    // state, and a crash never depends on what earlier runs applied.
    if call(&mut engine, Op::ApplyDelta, input).is_ok() {
        let _ = call(&mut engine, Op::Decide, AFTER);
        *engine = pristine.clone();
    }
});
