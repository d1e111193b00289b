//! `GraFxError`: the one error of this crate. In Rust it is an error value with a [`code`]
//! (`grafx_core::ErrorCode`) to branch on; in JavaScript every rejection and throw is a real
//! `Error` named `GraFxError` with the same fields.
//!
//! ```js
//! try { await grafx.accessToken(); }
//! catch (e) {
//!   if (isGraFxError(e) && e.code === "caller_unauthenticated") login();
//! }
//! ```
//!
//! [`code`]: GraFxError::code

use grafx_core::ErrorCode;
use wasm_bindgen::prelude::*;

use crate::fields::{Fields, Mismatch};

/// An error from the client: a code from [`ErrorCode::BROWSER`], a message that says what to fix,
/// and what the server said when one answered. Boxed: it travels through many `Result`s.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{}", .0.message)]
pub struct GraFxError(Box<ErrorFields>);

/// The fields, as JavaScript sees them on the `Error` object (camelCase: `code`, `message`,
/// `status`, `detail`, `signerCode`, `body`).
#[derive(Debug, Clone, PartialEq)]
struct ErrorFields {
    code: ErrorCode,
    message: String,
    status: Option<u16>,
    detail: Option<String>,
    signer_code: Option<String>,
    body: Option<String>,
}

impl ErrorFields {
    /// The fields of a `GraFxError` thrown back into Rust: `code` and `message` required, the
    /// rest optional (null or absent), each of its type, or nothing is read.
    fn from_js(e: &JsValue) -> Option<Self> {
        let f = Fields::of(e)?;
        let read = || -> Result<Option<Self>, Mismatch> {
            let (Some(code), Some(message)) = (f.text("code")?, f.text("message")?) else {
                return Ok(None);
            };
            Ok(Some(Self {
                code: code
                    .parse()
                    .unwrap_or_else(|e: std::convert::Infallible| match e {}),
                message,
                status: f
                    .whole("status", u32::from(u16::MAX), true)?
                    .map(|s| s as u16),
                detail: f.optional_text("detail")?,
                signer_code: f.optional_text("signerCode")?,
                body: f.optional_text("body")?,
            }))
        };
        read().ok().flatten()
    }
}

impl GraFxError {
    pub(crate) fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self(Box::new(ErrorFields {
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

    /// What went wrong, to branch on.
    pub fn code(&self) -> &ErrorCode {
        &self.0.code
    }

    /// A sentence that says what happened and what to fix.
    pub fn message(&self) -> &str {
        &self.0.message
    }

    /// The HTTP status, when a server answered (0 for a network error).
    pub fn http_status(&self) -> Option<u16> {
        self.0.status
    }

    /// The server's own explanation (problem-details `detail`, the signer's `error_description`).
    pub fn server_detail(&self) -> Option<&str> {
        self.0.detail.as_deref()
    }

    /// For `signer_rejected`: the signer's code, e.g. `origin_not_allowed`.
    pub fn signer_error_code(&self) -> Option<&str> {
        self.0.signer_code.as_deref()
    }

    /// The raw response body, for `api_error` and `invalid_response` (never a token).
    pub fn response_body(&self) -> Option<&str> {
        self.0.body.as_deref()
    }

    /// A rejection that came back from JavaScript: a GraFxError keeps its fields; anything else
    /// (an app callback's own error, a browser API's) becomes `code` with its message.
    pub(crate) fn from_js(value: JsValue, code: ErrorCode) -> Self {
        if is_grafx_error(&value) {
            if let Some(fields) = ErrorFields::from_js(&value) {
                return Self(Box::new(fields));
            }
        }
        let message = crate::glue::message_of(&value);
        Self::new(code, message)
    }
}

impl From<GraFxError> for JsValue {
    fn from(e: GraFxError) -> JsValue {
        let f = *e.0;
        crate::glue::grafx_error(
            f.code.as_str(),
            &f.message,
            f.status,
            f.detail,
            f.signer_code,
            f.body,
        )
    }
}

/// The message of a serde-wasm-bindgen error (its `Display` prefixes `Error: `).
pub(crate) fn serde_message(e: serde_wasm_bindgen::Error) -> String {
    crate::glue::message_of(&JsValue::from(e))
}

/// Whether `value` is an error thrown by this module (a `GraFxError`).
#[wasm_bindgen(js_name = isGraFxError, unchecked_return_type = "value is GraFxError")]
pub fn is_grafx_error(#[wasm_bindgen(unchecked_param_type = "unknown")] value: &JsValue) -> bool {
    value.is_instance_of::<js_sys::Error>()
        && crate::glue::get(value, "name").as_string().as_deref() == Some("GraFxError")
}
