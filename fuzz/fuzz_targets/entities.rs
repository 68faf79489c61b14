//! An entity file's text (a JSON array of Cedar entities) read as a stream into a copy of the
//! demo engine (`Engine::replace_entities_json`, what `sesame decide --entities` and the
//! load benchmarks use): refused with nothing changed, or loaded and then decided on.
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
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let (pristine, work) = engines();
    let mut engine = work.lock().unwrap_or_else(|p| p.into_inner());
    match engine.replace_entities_json(text) {
        Ok(_) => {
            let _ = call(&mut engine, Op::Decide, AFTER);
            *engine = pristine.clone();
        }
        // A refused load changes nothing (the store is replaced only when all of it loads).
        Err(_) => assert_eq!(engine.entity_count(), pristine.entity_count()),
    }
});
