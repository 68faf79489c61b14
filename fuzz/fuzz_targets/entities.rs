//! An entity file's text (a JSON array of Cedar entities) read as a stream into a copy of the
//! demo engine (`Engine::replace_entities_json`, what `sesame decide --entities` and the
//! load benchmarks use): refused with nothing changed, or loaded and then decided on.
#![no_main]

use libfuzzer_sys::fuzz_target;
use policy_core::json_api::{call, Op};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let (pristine, work) = sesame_fuzz::demo_engines();
    let mut engine = work.lock().unwrap_or_else(|p| p.into_inner());
    match engine.replace_entities_json(text) {
        Ok(_) => {
            let _ = call(&mut engine, Op::Decide, sesame_fuzz::DECISION_AFTER);
            *engine = pristine.clone();
        }
        // A refused load changes nothing (the store is replaced only when all of it loads).
        Err(_) => assert_eq!(engine.entity_count(), pristine.entity_count()),
    }
});
