//! The client's one clock: `Date.now`, or the `now` option (for tests). Everything the client
//! times reads it: token expiry, when a refresh was asked for and a sign-out happened, a peer's
//! failure, the signer-call stats, and the waits' deadlines in js/resources.js (`resources` is handed
//! the same function). `Clock::new(None)` is `Date.now`; `Clock::new(Some(f))` reads `f()`.

use grafx_core::Timestamp;
use js_sys::Function;
use wasm_bindgen::JsValue;

/// `Date.now`, or an injected clock; a reading that is not a finite number falls back to
/// `Date.now` (js/resources.js's `clock` reads the same way).
#[derive(Debug, Clone, Default)]
pub(crate) struct Clock(Option<Function>);

impl Clock {
    /// The clock `now` (milliseconds since the epoch), or `Date.now` without one.
    pub(crate) fn new(now: Option<Function>) -> Self {
        Self(now)
    }

    /// Milliseconds since the epoch.
    pub(crate) fn now_ms(&self) -> f64 {
        self.0
            .as_ref()
            .and_then(|f| f.call0(&JsValue::NULL).ok())
            .and_then(|v| v.as_f64())
            .filter(|t| t.is_finite())
            .unwrap_or_else(js_sys::Date::now)
    }

    /// The time, as grafx-core's policy reads it.
    pub(crate) fn now(&self) -> Timestamp {
        Timestamp::from_js_millis(self.now_ms())
    }

    /// The injected function for js/resources.js (`undefined`: `Date.now`).
    pub(crate) fn as_js(&self) -> JsValue {
        self.0.as_ref().map_or(JsValue::UNDEFINED, |f| f.into())
    }
}
