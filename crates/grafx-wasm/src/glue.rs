//! Bindings to `js/glue.js` and small helpers for JS values.

use js_sys::{Object, Promise, Reflect};
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;

#[wasm_bindgen(module = "/js/glue.js")]
extern "C" {
    #[wasm_bindgen(js_name = sleep)]
    fn sleep_promise(ms: f64) -> Promise;
    #[wasm_bindgen(js_name = hasLocks)]
    pub(crate) fn has_locks() -> bool;
    /// Resolves to the task's result, `undefined` (`if_available` and busy) or `"timeout"`.
    #[wasm_bindgen(js_name = withLock)]
    pub(crate) fn with_lock(
        name: &str,
        if_available: bool,
        task: &js_sys::Function,
        wait_ms: f64,
    ) -> Promise;
    /// `promise`, or a GraFxError `timeout` rejection after `ms`.
    #[wasm_bindgen(js_name = withTimeout)]
    pub(crate) fn with_timeout(promise: &JsValue, ms: f64, what: &str) -> Promise;
    /// `{signal, done}`.
    #[wasm_bindgen(js_name = linkedSignal)]
    pub(crate) fn linked_signal(outer: &JsValue, timeout_ms: f64) -> JsValue;
    #[wasm_bindgen(js_name = buildRequest, catch)]
    pub(crate) fn build_request(
        url: &str,
        init: &JsValue,
        signal: &JsValue,
    ) -> Result<web_sys::Request, JsValue>;
    /// Builds a GraFxError (the single JS definition of its shape).
    #[wasm_bindgen(js_name = grafxError)]
    pub(crate) fn grafx_error(
        code: &str,
        message: &str,
        status: JsValue,
        detail: JsValue,
        signer_code: JsValue,
        body: JsValue,
    ) -> JsValue;
    /// The typed helpers over `fetch`, `json` and `errorFrom`.
    pub(crate) fn resources(fetch: &JsValue, json: &JsValue, error_from: &JsValue) -> JsValue;
    /// Holds the shared presence lock; returns the function that releases it.
    #[wasm_bindgen(js_name = holdPresence)]
    pub(crate) fn hold_presence(name: &str) -> js_sys::Function;
    /// Resolves to whether any context holds the presence lock.
    #[wasm_bindgen(js_name = peersPresent)]
    pub(crate) fn peers_present(name: &str) -> Promise;
    #[wasm_bindgen(js_name = onWake)]
    pub(crate) fn on_wake(cb: &js_sys::Function) -> js_sys::Function;
}

/// Waits `ms` milliseconds.
pub(crate) async fn sleep(ms: f64) {
    let _ = JsFuture::from(sleep_promise(ms)).await;
}

/// `obj[key]`, or undefined.
pub(crate) fn get(obj: &JsValue, key: &str) -> JsValue {
    if !obj.is_object() {
        return JsValue::UNDEFINED;
    }
    Reflect::get(obj, &JsValue::from_str(key)).unwrap_or(JsValue::UNDEFINED)
}

/// A plain object from key/value pairs.
pub(crate) fn object(pairs: &[(&str, JsValue)]) -> JsValue {
    let obj = Object::new();
    for (k, v) in pairs {
        let _ = Reflect::set(&obj, &JsValue::from_str(k), v);
    }
    obj.into()
}

/// `Date.now()`.
pub(crate) fn date_now() -> f64 {
    js_sys::Date::now()
}
