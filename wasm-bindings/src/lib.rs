//! The browser face of Sesame: a resident engine object over `policy-core`'s JSON API, so the
//! page decides with exactly the code the server enforces. Every call speaks the wire types of
//! `policy_core::wire` as JSON; failures are thrown as JS `Error`s whose message is the JSON
//! `ErrorBody` (stable `code`, `message`, `location`, `diagnostics`).

use policy_core::json_api;
use policy_core::wire::ErrorBody;
use wasm_bindgen::prelude::*;

#[cfg(target_arch = "wasm32")]
#[wasm_bindgen]
extern "C" {
    #[wasm_bindgen(js_namespace = Date, js_name = now)]
    fn date_now() -> f64;
}

/// The page's clock, for time-bound access: it fills the request time a caller leaves out and
/// keeps one a caller sends (a page pre-checks; the server decides on its own clock).
fn install_page_clock() {
    #[cfg(target_arch = "wasm32")]
    policy_core::request_time::install_clock(policy_core::request_time::Clock {
        // Whole milliseconds since the epoch: exactly representable in an f64 for ±285,000
        // years.
        now_ms: || date_now() as i64,
        replaces_caller: false,
    });
}

fn js_error(body: &ErrorBody) -> JsError {
    JsError::new(&serde_json::to_string(body).unwrap_or_else(|_| body.message.clone()))
}

/// A loaded bundle plus its entity store, resident in the page.
#[wasm_bindgen]
pub struct SesameEngine {
    engine: policy_core::Engine,
}

#[wasm_bindgen]
impl SesameEngine {
    /// Loads a bundle from `{"files": {"path": "text", ...}}` (a `json_api::BundleLoad`, with
    /// `"policy_validation": "report"` for a draft whose policies fail validation).
    #[wasm_bindgen(constructor)]
    pub fn new(bundle_json: &str) -> Result<SesameEngine, JsError> {
        install_page_clock();
        let bundle = json_api::load_bundle(bundle_json).map_err(|e| js_error(&e))?;
        let mut engine = policy_core::Engine::new(bundle);
        // A page holds one firm's data: memory for speed (see `keep_rebuilt_entities`).
        engine.keep_rebuilt_entities(true);
        Ok(Self { engine })
    }

    /// The bundle digest decisions are made with.
    pub fn digest(&self) -> String {
        self.engine.digest().to_string()
    }

    /// Runs one operation, named as `policy_core::json_api::Op` serializes it (`decide`,
    /// `apply_delta`, ...; the `Op` type of `wire.d.ts`), on JSON input.
    pub fn call(&mut self, op: &str, input_json: &str) -> Result<String, JsError> {
        json_api::call_named(&mut self.engine, op, input_json).map_err(|e| js_error(&e))
    }
}
