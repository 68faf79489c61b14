//! Entity deltas (`apply_delta` JSON) on the demo engine: checked against the schema and the
//! domain rules, applied when valid, then one decision on the result.
#![no_main]

use libfuzzer_sys::fuzz_target;
use policy_core::json_api::{call, Op};

fuzz_target!(|data: &[u8]| {
    let Ok(input) = std::str::from_utf8(data) else {
        return;
    };
    let (pristine, work) = sesame_fuzz::demo_engines();
    let mut engine = work.lock().unwrap_or_else(|p| p.into_inner());
    // A refused delta leaves the engine exactly as it was (apply_delta is all-or-nothing), so
    // only an applied one costs a copy of the pristine engine: every run starts from the same
    // state, and a crash never depends on what earlier runs applied.
    if call(&mut engine, Op::ApplyDelta, input).is_ok() {
        let _ = call(&mut engine, Op::Decide, sesame_fuzz::DECISION_AFTER);
        *engine = pristine.clone();
    }
});
