//! Bindings to the JS modules (`js/browser.js`: browser plumbing; `js/resources.js`: the
//! Environment API helpers; `js/studio.js`: the Studio SDK's and studio-ui's adapters) and small
//! helpers for JS values.

use js_sys::{Object, Promise, Reflect};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;

#[wasm_bindgen(module = "/js/browser.js")]
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
    fn linked_signal(outer: &JsValue, timeout_ms: f64) -> JsValue;
    /// Whether `signal` aborted because its time ran out.
    #[wasm_bindgen(js_name = timedOut)]
    pub(crate) fn timed_out(signal: &web_sys::AbortSignal) -> bool;
    /// Whether a RequestInit's body is a stream (with `locked`: one a `fetch` holds).
    #[wasm_bindgen(js_name = hasStreamBody)]
    pub(crate) fn has_stream_body(init: &JsValue, locked: bool) -> bool;
    #[wasm_bindgen(js_name = buildRequest, catch)]
    pub(crate) fn build_request(
        url: &str,
        init: &JsValue,
        signal: &JsValue,
    ) -> Result<web_sys::Request, JsValue>;
    /// `fetch(url, init)` with the bearer over the init's `Authorization`, `signal` and no
    /// redirects; a refused init rejects (see `buildRequest` to tell why).
    #[wasm_bindgen(js_name = fetchWithBearer)]
    pub(crate) fn fetch_with_bearer(
        url: &str,
        init: &JsValue,
        signal: &JsValue,
        bearer: &str,
    ) -> Promise;
    /// `fetchWithBearer`, its reply handed on unless it is a 401 or a redirect, or the call
    /// failed: those go to `after(outcome, [url, init, signal, bearer])`.
    #[wasm_bindgen(js_name = fetchAnswered)]
    pub(crate) fn fetch_answered(
        url: &str,
        init: &JsValue,
        signal: &JsValue,
        bearer: &str,
        after: &JsValue,
    ) -> Promise;
    #[wasm_bindgen(js_name = buildProxyRequest, catch)]
    pub(crate) fn build_proxy_request(
        url: &str,
        init: &JsValue,
        signal: &JsValue,
        credentials: &str,
        extra: &js_sys::Array,
    ) -> Result<web_sys::Request, JsValue>;
    /// Builds a GraFxError from its fields (the single JS definition of its shape).
    #[wasm_bindgen(js_name = grafxError)]
    pub(crate) fn grafx_error(
        code: &str,
        message: &str,
        status: Option<u16>,
        detail: Option<String>,
        signer_code: Option<String>,
        body: Option<String>,
    ) -> JsValue;
    /// Any thrown value as a GraFxError (`timeout`, `aborted` or `api_error`).
    #[wasm_bindgen(js_name = asGraFx)]
    pub(crate) fn as_grafx(error: &JsValue) -> JsValue;
    /// The message of any thrown value.
    #[wasm_bindgen(js_name = messageOf)]
    pub(crate) fn message_of(error: &JsValue) -> String;
    /// The page's or worker's URL, to resolve relative URLs against.
    #[wasm_bindgen(js_name = baseHref)]
    pub(crate) fn base_href() -> Option<String>;
    /// This page's or worker's origin.
    #[wasm_bindgen(js_name = selfOrigin)]
    pub(crate) fn self_origin() -> String;
    /// Holds the shared presence lock; returns the function that releases it.
    #[wasm_bindgen(js_name = holdPresence)]
    pub(crate) fn hold_presence(name: &str) -> js_sys::Function;
    /// Resolves to whether any context holds the presence lock.
    #[wasm_bindgen(js_name = peersPresent)]
    pub(crate) fn peers_present(name: &str) -> Promise;
    #[wasm_bindgen(js_name = onWake)]
    pub(crate) fn on_wake(cb: &js_sys::Function) -> js_sys::Function;
}

#[wasm_bindgen(module = "/js/resources.js")]
extern "C" {
    /// The typed helpers over `fetch`, `json` and `errorFrom`, timing their waits on `now` (the
    /// client's clock: its `now` option, or `undefined` for `Date.now`).
    pub(crate) fn resources(
        fetch: &JsValue,
        json: &JsValue,
        error_from: &JsValue,
        now: &JsValue,
    ) -> JsValue;
}

#[wasm_bindgen(module = "/js/studio.js")]
extern "C" {
    /// The Studio SDK's and studio-ui's adapters over `core` (see `js/studio.js`).
    #[wasm_bindgen(js_name = studioAdapters)]
    pub(crate) fn studio_adapters(core: &JsValue) -> JsValue;
}

// The global timers, on a page and in a worker alike (web-sys binds them to `Window` or
// `WorkerGlobalScope` separately).
#[wasm_bindgen]
extern "C" {
    #[wasm_bindgen(js_name = setTimeout)]
    pub(crate) fn set_timeout(callback: &js_sys::Function, ms: i32) -> JsValue;
    #[wasm_bindgen(js_name = clearTimeout)]
    pub(crate) fn clear_timeout(id: &JsValue);
    /// `Object.entries(value)`: own enumerable string keys, each getter called once; what a
    /// getter or a revoked Proxy throws is returned, not thrown through the wasm.
    #[wasm_bindgen(js_namespace = Object, js_name = entries, catch)]
    pub(crate) fn own_entries(value: &JsValue) -> Result<js_sys::Array, JsValue>;
}

/// An AbortSignal that follows a caller's signal and times out; what it holds (a timer, a
/// listener on the caller's signal, in browsers without `AbortSignal.any`) is released on drop,
/// so on every way out of a call.
pub(crate) struct LinkedSignal {
    pub(crate) signal: web_sys::AbortSignal,
    done: JsValue,
}

impl LinkedSignal {
    /// Follows `outer` (an AbortSignal or undefined); times out after `timeout_ms` when > 0.
    pub(crate) fn new(outer: &JsValue, timeout_ms: f64) -> Self {
        let linked = linked_signal(outer, timeout_ms);
        Self {
            signal: get(&linked, "signal").unchecked_into(),
            done: get(&linked, "done"),
        }
    }
}

impl LinkedSignal {
    /// Keeps the timeout running after the call returns, so that it also covers reading the
    /// body; what it holds is let go when it fires (browsers without `AbortSignal.any`).
    pub(crate) fn keep_for_the_body(mut self) {
        self.done = JsValue::UNDEFINED;
    }
}

impl Drop for LinkedSignal {
    fn drop(&mut self) {
        if let Some(done) = self.done.dyn_ref::<js_sys::Function>() {
            let _ = done.call0(&JsValue::NULL);
        }
    }
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
