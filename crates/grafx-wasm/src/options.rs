//! Parsing and validating `new GraFxClient(options)`. Every mistake throws `invalid_options`
//! naming the option.

use std::time::Duration;

use grafx_core::BROWSER_DEFAULT_LEEWAY;
use js_sys::{Function, Object, Reflect};
use wasm_bindgen::{JsCast, JsValue};
use web_sys::RequestCredentials;

use crate::error::GraFxError;

const KNOWN: &[&str] = &[
    "signerUrl",
    "integration",
    "leewaySeconds",
    "credentials",
    "signerHeaders",
    "getSessionToken",
    "timeoutMs",
    "crossTab",
    "autoRefresh",
    "now",
];

/// Validated options.
#[derive(Debug, Clone)]
pub(crate) struct Options {
    /// Absolute signer base URL, without a trailing slash.
    pub(crate) signer_url: String,
    pub(crate) integration: Option<String>,
    pub(crate) leeway: Duration,
    pub(crate) credentials: RequestCredentials,
    pub(crate) signer_headers: Vec<(String, String)>,
    pub(crate) get_session_token: Option<Function>,
    pub(crate) timeout_ms: u32,
    pub(crate) cross_tab: bool,
    pub(crate) auto_refresh: bool,
    pub(crate) now: Option<Function>,
}

impl Options {
    /// The signer's token endpoint for this integration.
    pub(crate) fn token_url(&self) -> String {
        match &self.integration {
            Some(i) => format!("{}/token/{i}", self.signer_url),
            None => format!("{}/token", self.signer_url),
        }
    }

    /// What identifies "the same token" across instances and tabs.
    pub(crate) fn dedup_key(&self) -> String {
        format!(
            "grafx-wasm/v1 {} {}",
            self.signer_url,
            self.integration.as_deref().unwrap_or("")
        )
    }
}

fn get(obj: &JsValue, key: &str) -> JsValue {
    Reflect::get(obj, &JsValue::from_str(key)).unwrap_or(JsValue::UNDEFINED)
}

fn opt_bool(obj: &JsValue, key: &str, default: bool) -> Result<bool, GraFxError> {
    let v = get(obj, key);
    if v.is_undefined() {
        return Ok(default);
    }
    v.as_bool()
        .ok_or_else(|| GraFxError::options(format!("{key} must be true or false")))
}

fn opt_number(obj: &JsValue, key: &str) -> Result<Option<f64>, GraFxError> {
    let v = get(obj, key);
    if v.is_undefined() {
        return Ok(None);
    }
    match v.as_f64() {
        Some(n) if n.is_finite() && n >= 0.0 => Ok(Some(n)),
        _ => Err(GraFxError::options(format!(
            "{key} must be a non-negative number"
        ))),
    }
}

fn opt_function(obj: &JsValue, key: &str) -> Result<Option<Function>, GraFxError> {
    let v = get(obj, key);
    if v.is_undefined() {
        return Ok(None);
    }
    v.dyn_into::<Function>()
        .map(Some)
        .map_err(|_| GraFxError::options(format!("{key} must be a function")))
}

/// Resolves `url` against the page (so `"/"` means this origin) and checks it is http(s).
fn absolute_signer_url(raw: &str) -> Result<String, GraFxError> {
    let base = web_sys::window().and_then(|w| w.location().href().ok());
    let parsed = match &base {
        Some(b) => web_sys::Url::new_with_base(raw, b),
        None => web_sys::Url::new(raw),
    }
    .map_err(|_| GraFxError::options(format!("signerUrl `{raw}` is not a valid URL")))?;
    if parsed.protocol() != "https:" && parsed.protocol() != "http:" {
        return Err(GraFxError::options(format!(
            "signerUrl `{raw}` must be an http(s) URL"
        )));
    }
    if !parsed.search().is_empty() || !parsed.hash().is_empty() {
        return Err(GraFxError::options(
            "signerUrl must not have a query or fragment",
        ));
    }
    Ok(format!(
        "{}{}",
        parsed.origin(),
        parsed.pathname().trim_end_matches('/')
    ))
}

/// Parses the options object.
pub(crate) fn parse(options: &JsValue) -> Result<Options, GraFxError> {
    if !options.is_object() {
        return Err(GraFxError::options(
            "options must be an object with at least signerUrl",
        ));
    }
    for key in Object::keys(options.unchecked_ref::<Object>()).iter() {
        let key = key.as_string().unwrap_or_default();
        if !KNOWN.contains(&key.as_str()) {
            return Err(GraFxError::options(format!(
                "unknown option `{key}` (known: {})",
                KNOWN.join(", ")
            )));
        }
    }
    let signer_url = get(options, "signerUrl")
        .as_string()
        .filter(|s| !s.trim().is_empty())
        .ok_or_else(|| {
            GraFxError::options("signerUrl is required (the URL where grafx-signer is served)")
        })?;
    let signer_url = absolute_signer_url(signer_url.trim())?;
    let integration = match get(options, "integration") {
        v if v.is_undefined() || v.is_null() => None,
        v => {
            let name = v.as_string().unwrap_or_default();
            if name.is_empty()
                || !name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
            {
                return Err(GraFxError::options(
                    "integration must be a name of letters, digits, `-` and `_`",
                ));
            }
            Some(name)
        }
    };
    let leeway = match opt_number(options, "leewaySeconds")? {
        None => BROWSER_DEFAULT_LEEWAY,
        Some(s) if s <= 3600.0 => Duration::from_secs_f64(s),
        Some(_) => return Err(GraFxError::options("leewaySeconds must be at most 3600")),
    };
    let credentials = match get(options, "credentials") {
        v if v.is_undefined() => RequestCredentials::SameOrigin,
        v => match v.as_string().as_deref() {
            Some("omit") => RequestCredentials::Omit,
            Some("same-origin") => RequestCredentials::SameOrigin,
            Some("include") => RequestCredentials::Include,
            _ => {
                return Err(GraFxError::options(
                    "credentials must be \"omit\", \"same-origin\" or \"include\"",
                ))
            }
        },
    };
    let mut signer_headers = Vec::new();
    let headers = get(options, "signerHeaders");
    if !headers.is_undefined() {
        if !headers.is_object() {
            return Err(GraFxError::options(
                "signerHeaders must be an object of header names to strings",
            ));
        }
        for entry in Object::entries(headers.unchecked_ref::<Object>()).iter() {
            let pair: js_sys::Array = entry.unchecked_into();
            let (name, value) = (
                pair.get(0).as_string().unwrap_or_default(),
                pair.get(1).as_string(),
            );
            let value = value.ok_or_else(|| {
                GraFxError::options(format!("signerHeaders.{name} must be a string"))
            })?;
            signer_headers.push((name, value));
        }
    }
    let timeout_ms = match opt_number(options, "timeoutMs")? {
        None => 10_000,
        Some(ms) if (1.0..=600_000.0).contains(&ms) => ms as u32,
        Some(_) => {
            return Err(GraFxError::options(
                "timeoutMs must be between 1 and 600000",
            ))
        }
    };
    Ok(Options {
        signer_url,
        integration,
        leeway,
        credentials,
        signer_headers,
        get_session_token: opt_function(options, "getSessionToken")?,
        timeout_ms,
        cross_tab: opt_bool(options, "crossTab", true)?,
        auto_refresh: opt_bool(options, "autoRefresh", false)?,
        now: opt_function(options, "now")?,
    })
}
