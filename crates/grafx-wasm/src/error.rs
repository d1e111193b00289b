//! `GraFxError`: a real JavaScript `Error` whose `code` an app can branch on.
//!
//! ```js
//! try { await grafx.accessToken(); }
//! catch (e) {
//!   if (isGraFxError(e) && e.code === "signer_rejected" && e.signerCode === "caller_unauthenticated") login();
//! }
//! ```

use grafx_core::ErrorCode;
use js_sys::Reflect;
use wasm_bindgen::prelude::*;

/// An error on its way to JavaScript (boxed: it travels through many `Result`s).
#[derive(Debug, Clone)]
pub(crate) struct GraFxError(Box<ErrorData>);

#[derive(Debug, Clone)]
struct ErrorData {
    code: ErrorCode,
    message: String,
    status: Option<u16>,
    detail: Option<String>,
    signer_code: Option<String>,
    body: Option<String>,
}

impl GraFxError {
    pub(crate) fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self(Box::new(ErrorData {
            code,
            message: message.into(),
            status: None,
            detail: None,
            signer_code: None,
            body: None,
        }))
    }

    pub(crate) fn options(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::InvalidOptions, message)
    }

    pub(crate) fn status(mut self, status: u16) -> Self {
        self.0.status = Some(status);
        self
    }

    pub(crate) fn detail(mut self, detail: impl Into<String>) -> Self {
        self.0.detail = Some(detail.into());
        self
    }

    pub(crate) fn signer_code(mut self, code: impl Into<String>) -> Self {
        self.0.signer_code = Some(code.into());
        self
    }

    pub(crate) fn body(mut self, body: impl Into<String>) -> Self {
        self.0.body = Some(body.into());
        self
    }
}

impl From<GraFxError> for JsValue {
    fn from(e: GraFxError) -> JsValue {
        let e = *e.0;
        let text = |s: Option<String>| s.map_or(JsValue::UNDEFINED, |s| JsValue::from_str(&s));
        crate::glue::grafx_error(
            e.code.as_str(),
            &e.message,
            e.status
                .map_or(JsValue::UNDEFINED, |s| JsValue::from_f64(f64::from(s))),
            text(e.detail),
            text(e.signer_code),
            text(e.body),
        )
    }
}

/// Whether `value` is an error thrown by this module (a `GraFxError`).
#[wasm_bindgen(js_name = isGraFxError, unchecked_return_type = "value is GraFxError")]
pub fn is_grafx_error(#[wasm_bindgen(unchecked_param_type = "unknown")] value: &JsValue) -> bool {
    value.is_instance_of::<js_sys::Error>()
        && Reflect::get(value, &JsValue::from_str("name"))
            .ok()
            .and_then(|n| n.as_string())
            .as_deref()
            == Some("GraFxError")
}
