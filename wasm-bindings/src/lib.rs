//! The browser face of Sesame: a resident engine object over `policy-core`'s JSON API, so the
//! page decides with exactly the code the server enforces. Every call speaks the wire types of
//! `policy_core::wire` as JSON; failures are thrown as JS `Error`s whose message is the JSON
//! `ErrorBody` (stable `code`, `message`, `location`, `diagnostics`).

use policy_core::json_api;
use policy_core::wire::ErrorBody;
use wasm_bindgen::prelude::*;

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
