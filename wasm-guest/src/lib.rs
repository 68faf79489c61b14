//! Sesame's wasmtime guest: `policy-core` behind a small C ABI, because wasm-bindgen output
//! imports JS glue and cannot run in wasmtime. The host (`host_server::guest`) owns the
//! encoding below; nothing else calls these exports.
//!
//! ABI (all integers are wasm `i32`, pointers into this module's memory):
//! - `sesame_alloc(len) -> ptr` / `sesame_free(ptr, len)`: buffers the host writes inputs into
//!   and reads outputs from. The host frees every buffer it gets back.
//! - `sesame_load(ptr, len) -> packed`: loads a bundle given as JSON `{"files": {path: text}}`
//!   (a `json_api::BundleLoad`: `"policy_validation": "report"` loads a draft whose policies
//!   fail validation; the server never sends it) and makes it the resident engine (replacing any previous one, data entities kept when the
//!   new schema accepts them).
//! - `sesame_call(op_ptr, op_len, in_ptr, in_len) -> packed`: runs one `policy_core::json_api`
//!   operation on JSON input; `op` is a `json_api::Op` by its wire name (`decide`, `batch`,
//!   `apply_delta`, ...).
//!
//! - `sesame_call_slice(op_ptr, op_len, in_ptr, in_len, slice_ptr, slice_len) -> packed`: a
//!   decision operation (`decide`, `batch`, `matrix`, `field_level`) on the resident bundle over
//!   the entity slice the host packed (`json_api::slice_for`): the host holds the one entity
//!   store of the process, an instance holds only the bundle.
//!
//! Import: `sesame.now_ms() -> i64`, the host's clock (ms since the Unix epoch). The guest
//! installs it as policy-core's clock at its first load, replacing any request time a caller
//! sent (`policy_core::request_time`): time-bound access ends on the server's time.
//!
//! `packed` is an `i64`: output pointer in the high 32 bits, length in the low 32 bits. The
//! output's first byte is a status (`0` ok, `1` error), the rest is JSON: the operation's result,
//! or an `ErrorBody` (stable code, message, location).

use std::cell::RefCell;

use policy_core::json_api;
use policy_core::wire::ErrorBody;
use policy_core::{Engine, EngineError};

thread_local! {
    // wasm32-unknown-unknown is single-threaded: one resident engine per instance.
    static ENGINE: RefCell<Option<Engine>> = const { RefCell::new(None) };
}

const STATUS_OK: u8 = 0;
const STATUS_ERROR: u8 = 1;

/// Hands ownership of `bytes` to the host as a packed (ptr, len).
fn emit(status: u8, json: &str) -> i64 {
    let mut out = Vec::with_capacity(json.len() + 1);
    out.push(status);
    out.extend_from_slice(json.as_bytes());
    let boxed = out.into_boxed_slice();
    let len = boxed.len() as u32;
    let ptr = Box::into_raw(boxed) as *mut u8 as u32;
    ((ptr as i64) << 32) | len as i64
}

fn emit_result(result: Result<String, ErrorBody>) -> i64 {
    match result {
        Ok(json) => emit(STATUS_OK, &json),
        Err(body) => emit(STATUS_ERROR, &policy_core::json_api::error_json(&body)),
    }
}

/// # Safety
/// The host passes a buffer it obtained from `sesame_alloc` with exactly `len` bytes written.
unsafe fn input<'a>(ptr: *const u8, len: usize) -> Result<&'a str, ErrorBody> {
    // SAFETY: guaranteed by the caller (the host ABI contract above).
    let bytes = unsafe { std::slice::from_raw_parts(ptr, len) };
    std::str::from_utf8(bytes)
        .map_err(|e| ErrorBody::from(&EngineError::MalformedJson(e.to_string())))
}

#[no_mangle]
pub extern "C" fn sesame_alloc(len: usize) -> *mut u8 {
    let boxed = vec![0u8; len].into_boxed_slice();
    Box::into_raw(boxed) as *mut u8
}

/// # Safety
/// `ptr`/`len` must come from `sesame_alloc` or from a packed output of this module.
#[no_mangle]
pub unsafe extern "C" fn sesame_free(ptr: *mut u8, len: usize) {
    if !ptr.is_null() {
        // SAFETY: the buffer was created as a boxed slice of exactly `len` bytes.
        drop(unsafe { Box::from_raw(std::ptr::slice_from_raw_parts_mut(ptr, len)) });
    }
}

#[cfg(target_arch = "wasm32")]
#[link(wasm_import_module = "sesame")]
extern "C" {
    #[link_name = "now_ms"]
    fn host_now_ms() -> i64;
}

/// The host's clock (see the module's ABI).
#[cfg(target_arch = "wasm32")]
fn now_ms() -> i64 {
    // SAFETY: a host import without arguments or memory access.
    unsafe { host_now_ms() }
}

fn install_host_clock() {
    #[cfg(target_arch = "wasm32")]
    policy_core::request_time::install_clock(policy_core::request_time::Clock {
        now_ms,
        replaces_caller: true,
    });
}

/// # Safety
/// See the module's ABI: `ptr`/`len` is an input buffer written by the host.
#[no_mangle]
pub unsafe extern "C" fn sesame_load(ptr: *const u8, len: usize) -> i64 {
    install_host_clock();
    // SAFETY: forwarded ABI contract.
    let result = unsafe { input(ptr, len) }
        .and_then(json_api::load_bundle)
        .map(|bundle| {
            ENGINE.with(|slot| {
                let mut slot = slot.borrow_mut();
                let info = bundle.info();
                let engine = match slot.take() {
                    Some(mut previous) => match previous.install_bundle(bundle.clone()) {
                        Ok(()) => previous,
                        Err(_) => Engine::new(bundle),
                    },
                    None => Engine::new(bundle),
                };
                *slot = Some(engine);
                json_api::to_json(&info)
            })
        });
    emit_result(result)
}

/// Runs `f` on the resident engine with the op name and input text the host wrote.
///
/// # Safety
/// Both buffers are input buffers written by the host (see the module's ABI).
unsafe fn with_engine(
    op: (*const u8, usize),
    json: (*const u8, usize),
    f: impl FnOnce(&mut Engine, &str, &str) -> Result<String, ErrorBody>,
) -> i64 {
    // SAFETY: forwarded ABI contract.
    let args =
        unsafe { input(op.0, op.1) }.and_then(|op| Ok((op, unsafe { input(json.0, json.1) }?)));
    let result = args.and_then(|(op, json)| {
        ENGINE.with(|slot| match slot.borrow_mut().as_mut() {
            Some(engine) => f(engine, op, json),
            None => Err(ErrorBody::from(&EngineError::NotFound(
                "no bundle loaded: call sesame_load first".into(),
            ))),
        })
    });
    emit_result(result)
}

/// # Safety
/// See the module's ABI: both buffers are input buffers written by the host.
#[no_mangle]
pub unsafe extern "C" fn sesame_call(
    op_ptr: *const u8,
    op_len: usize,
    in_ptr: *const u8,
    in_len: usize,
) -> i64 {
    // SAFETY: forwarded ABI contract.
    unsafe { with_engine((op_ptr, op_len), (in_ptr, in_len), json_api::call_named) }
}

/// # Safety
/// See the module's ABI: all three buffers are input buffers written by the host.
#[no_mangle]
pub unsafe extern "C" fn sesame_call_slice(
    op_ptr: *const u8,
    op_len: usize,
    in_ptr: *const u8,
    in_len: usize,
    slice_ptr: *const u8,
    slice_len: usize,
) -> i64 {
    // SAFETY: forwarded ABI contract (the slice is bytes, not text).
    let slice = unsafe { std::slice::from_raw_parts(slice_ptr, slice_len) };
    // SAFETY: forwarded ABI contract.
    unsafe {
        with_engine((op_ptr, op_len), (in_ptr, in_len), |engine, op, json| {
            let op = op
                .parse::<json_api::Op>()
                .map_err(|e| ErrorBody::from(&e))?;
            json_api::call_on_slice(engine, op, json, slice)
        })
    }
}
