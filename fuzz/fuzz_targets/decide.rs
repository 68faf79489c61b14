//! Decision requests through the JSON face: the first byte picks the operation, the rest is its
//! request JSON, decided against the demo bundle and firm.
#![no_main]

use std::sync::{Mutex, OnceLock};

use libfuzzer_sys::fuzz_target;
use policy_core::json_api::Op;
use policy_core::Engine;

const OPS: [Op; 5] = [
    Op::Decide,
    Op::Batch,
    Op::Matrix,
    Op::FieldLevel,
    Op::CompareProfiles,
];

fn engine() -> &'static Mutex<Engine> {
    static ENGINE: OnceLock<Mutex<Engine>> = OnceLock::new();
    ENGINE.get_or_init(|| match sesame_fuzz::demo_engine() {
        Ok(engine) => Mutex::new(engine),
        Err(e) => {
            eprintln!("the demo bundle does not load: {e}");
            std::process::exit(2)
        }
    })
}

fuzz_target!(|data: &[u8]| {
    let Some((&selector, body)) = data.split_first() else {
        return;
    };
    let op = OPS[usize::from(selector) % OPS.len()];
    let Ok(input) = std::str::from_utf8(body) else {
        return;
    };
    // These operations leave the engine unchanged, so one engine serves every run.
    let mut engine = engine().lock().unwrap_or_else(|p| p.into_inner());
    let _ = policy_core::json_api::call(&mut engine, op, input);
});
