//! The client's options: one serde type for both APIs. JavaScript passes an object
//! (`new GraFxClient({signerUrl})`, read with serde-wasm-bindgen); Rust builds the struct. Every
//! mistake is an `invalid_options` error naming the option, a misspelt one included.
//!
//! ```no_run
//! use grafx_wasm::{ClientOptions, GraFxClient};
//!
//! let grafx = GraFxClient::new(ClientOptions {
//!     auto_refresh: Some(true),
//!     ..ClientOptions::new("https://signer.example.com")
//! })?;
//! # Ok::<(), grafx_wasm::GraFxError>(())
//! ```

use std::time::Duration;

use grafx_core::BROWSER_DEFAULT_LEEWAY;
use js_sys::Function;
use serde::de::{Error as _, Visitor};
use serde::{Deserialize, Deserializer};
use wasm_bindgen::{JsCast, JsValue};
use web_sys::RequestCredentials;

use crate::error::GraFxError;

/// The signer call's timeout when `timeoutMs` is not given, in milliseconds.
const DEFAULT_SIGNER_TIMEOUT_MS: u32 = 10_000;

/// How the signer call sends cookies: fetch's `credentials`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Credentials {
    /// Never.
    Omit,
    /// Only to the page's own origin (the default).
    #[default]
    SameOrigin,
    /// Also cross-origin: for a signer on another origin that checks the app's cookie session.
    Include,
}

/// Options of a [`GraFxClient`](crate::GraFxClient) (`GraFxClientOptions` in TypeScript). Only
/// `signer_url` is required; `None` means the documented default.
#[derive(Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ClientOptions {
    /// Where grafx-signer is served; a relative URL resolves against the page (`"/"` when
    /// same-origin).
    #[serde(default, deserialize_with = "signer_url")]
    pub signer_url: String,
    /// A named integration (`POST /token/{integration}`); the signer's default when `None`.
    #[serde(default, deserialize_with = "integration")]
    pub integration: Option<String>,
    /// Refresh this many seconds before expiry (default 60; keep it below the signer's).
    #[serde(default, deserialize_with = "leeway_seconds")]
    pub leeway_seconds: Option<f64>,
    /// The signer call's cookies (default same-origin).
    #[serde(default, deserialize_with = "credentials")]
    pub credentials: Option<Credentials>,
    /// Extra headers for the signer call, e.g. the app's own session: names and values, in the
    /// order they are set (a `Vec`, not a map: it keeps the package small).
    #[serde(default, deserialize_with = "signer_headers")]
    pub signer_headers: Vec<(String, String)>,
    /// Returns the app's session token (a string or a Promise of one), sent to the signer as
    /// `Authorization: Bearer …`.
    #[serde(default, deserialize_with = "get_session_token")]
    pub get_session_token: Option<Function>,
    /// Timeout of the signer call in milliseconds, 1 to 600,000 (default 10,000).
    #[serde(default, deserialize_with = "timeout_ms")]
    pub timeout_ms: Option<f64>,
    /// Share tokens with other tabs and workers of this origin (default true). Instances share
    /// only when they ask as the same caller: anonymous ones with each other, and identified ones
    /// (with `get_session_token`, `signer_headers` or `credentials: include`) only with instances
    /// that pass the same `share_key`.
    #[serde(default, deserialize_with = "cross_tab")]
    pub cross_tab: Option<bool>,
    /// Who is asking, for identified callers: e.g. the signed-in user's id. Instances with the
    /// same signer, integration and key share tokens, and `sign_out` reaches all of them. Without
    /// it an identified instance keeps its token to itself.
    #[serde(default, deserialize_with = "share_key")]
    pub share_key: Option<String>,
    /// Refresh in the background before expiry (default false).
    #[serde(default, deserialize_with = "auto_refresh")]
    pub auto_refresh: Option<bool>,
    /// The clock in milliseconds since the epoch (default `Date.now`); token expiry and every
    /// wait's deadline read it. For tests.
    #[serde(default, deserialize_with = "now")]
    pub now: Option<Function>,
}

/// The signer headers may carry the app's session: only their names are shown.
impl std::fmt::Debug for ClientOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientOptions")
            .field("signer_url", &self.signer_url)
            .field("integration", &self.integration)
            .field("credentials", &self.credentials)
            .field(
                "signer_headers",
                &self
                    .signer_headers
                    .iter()
                    .map(|(name, _)| name)
                    .collect::<Vec<_>>(),
            )
            .field("share_key", &self.share_key)
            .finish_non_exhaustive()
    }
}

impl ClientOptions {
    /// Options with the signer's URL and every default.
    pub fn new(signer_url: impl Into<String>) -> Self {
        Self {
            signer_url: signer_url.into(),
            ..Self::default()
        }
    }

    /// Reads the JavaScript options object.
    pub(crate) fn from_js(value: JsValue) -> Result<Self, GraFxError> {
        if !value.is_object() {
            return Err(GraFxError::options(
                "options must be an object with at least signerUrl",
            ));
        }
        Self::deserialize(Entries(serde_wasm_bindgen::Deserializer::from(value)))
            .map_err(|e| GraFxError::options(crate::error::serde_message(e)))
    }
}

/// serde-wasm-bindgen reads a struct's known fields only, so `deny_unknown_fields` would never
/// see a misspelt option: this reads the object as a map of all its entries instead.
struct Entries(serde_wasm_bindgen::Deserializer);

impl<'de> Deserializer<'de> for Entries {
    type Error = serde_wasm_bindgen::Error;

    fn deserialize_any<V: Visitor<'de>>(self, v: V) -> Result<V::Value, Self::Error> {
        self.0.deserialize_any(v)
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        _: &'static [&'static str],
        v: V,
    ) -> Result<V::Value, Self::Error> {
        self.0.deserialize_map(v)
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf option
        unit unit_struct newtype_struct seq tuple tuple_struct map enum identifier ignored_any
    }
}

// One reader per option, so that a value of the wrong type is reported with the option's name
// and what it must be (serde's own message names neither).
macro_rules! option_reader {
    ($fn:ident: $ty:ty = $name:literal, $must:literal) => {
        fn $fn<'de, D: Deserializer<'de>>(d: D) -> Result<$ty, D::Error> {
            Deserialize::deserialize(d)
                .map_err(|_: D::Error| D::Error::custom(concat!($name, " must be ", $must)))
        }
    };
}
option_reader!(signer_url: String = "signerUrl", "a string: the URL where grafx-signer is served");
option_reader!(integration: Option<String> = "integration", "a string: a name of letters, digits, `-` and `_`");
option_reader!(leeway_seconds: Option<f64> = "leewaySeconds", "a number of seconds between 0 and 3600");
option_reader!(credentials: Option<Credentials> = "credentials", "\"omit\", \"same-origin\" or \"include\"");
option_reader!(timeout_ms: Option<f64> = "timeoutMs", "a number of milliseconds between 1 and 600000");
option_reader!(cross_tab: Option<bool> = "crossTab", "true or false");
option_reader!(share_key: Option<String> = "shareKey", "a string that names the caller, e.g. the user's id");
option_reader!(auto_refresh: Option<bool> = "autoRefresh", "true or false");

/// A JavaScript value as it is (functions, header objects).
fn js_value<'de, D: Deserializer<'de>>(d: D) -> Result<Option<JsValue>, D::Error> {
    let value: JsValue = serde_wasm_bindgen::preserve::deserialize(d)?;
    Ok(Some(value).filter(|v| !v.is_undefined() && !v.is_null()))
}

fn signer_headers<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<(String, String)>, D::Error> {
    let mut headers = Vec::new();
    let Some(value) = js_value(d)? else {
        return Ok(headers);
    };
    if !value.is_object() {
        return Err(D::Error::custom(
            "signerHeaders must be an object of header names to strings",
        ));
    }
    for entry in js_sys::Object::entries(value.unchecked_ref()).iter() {
        let pair: js_sys::Array = entry.unchecked_into();
        let name = pair.get(0).as_string().unwrap_or_default();
        let value = pair
            .get(1)
            .as_string()
            .ok_or_else(|| D::Error::custom(format!("signerHeaders.{name} must be a string")))?;
        headers.push((name, value));
    }
    Ok(headers)
}

fn function<'de, D: Deserializer<'de>>(d: D, name: &str) -> Result<Option<Function>, D::Error> {
    js_value(d)?
        .map(|v| v.dyn_into::<Function>())
        .transpose()
        .map_err(|_| D::Error::custom(format!("{name} must be a function")))
}

fn get_session_token<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Function>, D::Error> {
    function(d, "getSessionToken")
}

fn now<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Function>, D::Error> {
    function(d, "now")
}

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
    /// Who is asking, in the cross-tab key: `anonymous`, or the app's share key.
    pub(crate) caller: String,
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

    /// What identifies "the same token" across instances and tabs: the signer, the integration,
    /// the cookies sent, and who is asking.
    pub(crate) fn dedup_key(&self) -> String {
        let credentials = match self.credentials {
            RequestCredentials::Omit => "omit",
            RequestCredentials::Include => "include",
            _ => "same-origin",
        };
        format!(
            "grafx-wasm/v2 {} {} {credentials} {}",
            self.signer_url,
            self.integration.as_deref().unwrap_or(""),
            self.caller
        )
    }
}

/// Resolves `url` against the page or worker (so `"/"` means this origin) and checks it is http(s).
fn absolute_signer_url(raw: &str) -> Result<String, GraFxError> {
    let base = crate::glue::base_href();
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

/// Checks an integration name as the signer's routes take it.
pub(crate) fn check_integration_name(name: &str, what: &str) -> Result<(), GraFxError> {
    let valid = !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if valid {
        Ok(())
    } else {
        Err(GraFxError::options(format!(
            "{what} must be a name of letters, digits, `-` and `_`"
        )))
    }
}

impl ClientOptions {
    /// Checks every value and applies the defaults.
    pub(crate) fn validate(self) -> Result<Options, GraFxError> {
        let signer_url = self.signer_url.trim();
        if signer_url.is_empty() {
            return Err(GraFxError::options(
                "signerUrl is required (the URL where grafx-signer is served)",
            ));
        }
        let signer_url = absolute_signer_url(signer_url)?;
        if let Some(name) = &self.integration {
            check_integration_name(name, "integration")?;
        }
        let leeway = self.leeway()?;
        let timeout_ms = self.timeout_ms()?;
        self.check_signer_headers()?;
        let (cross_tab, caller) = self.sharing()?;
        Ok(Options {
            signer_url,
            integration: self.integration,
            leeway,
            credentials: match self.credentials.unwrap_or_default() {
                Credentials::Omit => RequestCredentials::Omit,
                Credentials::SameOrigin => RequestCredentials::SameOrigin,
                Credentials::Include => RequestCredentials::Include,
            },
            signer_headers: self.signer_headers,
            get_session_token: self.get_session_token,
            timeout_ms,
            cross_tab,
            caller,
            auto_refresh: self.auto_refresh.unwrap_or(false),
            now: self.now,
        })
    }

    fn leeway(&self) -> Result<Duration, GraFxError> {
        match self.leeway_seconds {
            None => Ok(BROWSER_DEFAULT_LEEWAY),
            Some(s) if (0.0..=3600.0).contains(&s) => Ok(Duration::from_secs_f64(s)),
            Some(_) => Err(GraFxError::options(
                "leewaySeconds must be a number of seconds between 0 and 3600",
            )),
        }
    }

    fn timeout_ms(&self) -> Result<u32, GraFxError> {
        match self.timeout_ms {
            None => Ok(DEFAULT_SIGNER_TIMEOUT_MS),
            Some(ms) if (1.0..=600_000.0).contains(&ms) => Ok(ms as u32),
            Some(_) => Err(GraFxError::options(
                "timeoutMs must be a number of milliseconds between 1 and 600000",
            )),
        }
    }

    /// Each of `signerHeaders` is a header the browser will send.
    fn check_signer_headers(&self) -> Result<(), GraFxError> {
        for (name, value) in &self.signer_headers {
            if web_sys::Headers::new()
                .and_then(|h| h.set(name, value))
                .is_err()
            {
                return Err(GraFxError::options(format!(
                    "signerHeaders: `{name}` is not a valid header"
                )));
            }
        }
        Ok(())
    }

    /// Whether tabs share the token, and the caller key they share it under.
    fn sharing(&self) -> Result<(bool, String), GraFxError> {
        let identified = self.get_session_token.is_some()
            || !self.signer_headers.is_empty()
            || self.credentials == Some(Credentials::Include);
        if self.share_key.as_deref().is_some_and(str::is_empty) {
            return Err(GraFxError::options(
                "shareKey must be a non-empty string that names the caller",
            ));
        }
        // An identified caller shares only under a key the app gives: otherwise a signed-out
        // tab, or another user's, could adopt this one's token.
        Ok(match (&self.share_key, identified) {
            // Identified and anonymous instances never share, whatever key they pass.
            (Some(key), true) => (self.cross_tab.unwrap_or(true), format!("caller:id:{key}")),
            (Some(key), false) => (self.cross_tab.unwrap_or(true), format!("caller:anon:{key}")),
            (None, false) => (self.cross_tab.unwrap_or(true), "anonymous".to_owned()),
            (None, true) => (false, String::new()),
        })
    }
}
