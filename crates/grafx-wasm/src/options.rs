//! The client's options: one type for both APIs. JavaScript passes an object
//! (`new GraFxClient({signerUrl})`, read option by option); Rust builds the struct. Every
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
use wasm_bindgen::{JsCast, JsValue};
use web_sys::RequestCredentials;

use crate::error::GraFxError;

/// The signer call's timeout when `timeoutMs` is not given, in milliseconds.
const DEFAULT_SIGNER_TIMEOUT_MS: u32 = 10_000;

/// How the signer call sends cookies: fetch's `credentials`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
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
#[derive(Clone, Default)]
pub struct ClientOptions {
    /// Where grafx-signer is served; a relative URL resolves against the page (`"/"` when
    /// same-origin).
    pub signer_url: String,
    /// A named integration (`POST /token/{integration}`); the signer's default when `None`.
    pub integration: Option<String>,
    /// Refresh this many seconds before expiry (default 60; keep it below the signer's).
    pub leeway_seconds: Option<f64>,
    /// The signer call's cookies (default same-origin).
    pub credentials: Option<Credentials>,
    /// Extra headers for the signer call, e.g. the app's own session: names and values, in the
    /// order they are set (a `Vec`, not a map: it keeps the package small).
    pub signer_headers: Vec<(String, String)>,
    /// Returns the app's session token (a string or a Promise of one), sent to the signer as
    /// `Authorization: Bearer …`.
    pub get_session_token: Option<Function>,
    /// Timeout of the signer call in milliseconds, 1 to 600,000 (default 10,000).
    pub timeout_ms: Option<f64>,
    /// Share tokens with other tabs and workers of this origin (default true). Instances share
    /// only when they ask as the same caller: anonymous ones with each other, and identified ones
    /// (with `get_session_token`, `signer_headers` or `credentials: include`) only with instances
    /// that pass the same `share_key`.
    pub cross_tab: Option<bool>,
    /// Who is asking, for identified callers: e.g. the signed-in user's id. Instances with the
    /// same signer, integration and key share tokens, and `sign_out` reaches all of them. Without
    /// it an identified instance keeps its token to itself.
    pub share_key: Option<String>,
    /// Refresh in the background before expiry (default false).
    pub auto_refresh: Option<bool>,
    /// The clock in milliseconds since the epoch (default `Date.now`); token expiry and every
    /// wait's deadline read it. For tests.
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

    /// Reads the JavaScript options object: its own enumerable keys (what serde-wasm-bindgen
    /// read: nothing inherited, so a polluted `Object.prototype` sets no option), each getter
    /// called once, a misspelt key refused, with serde's rules for optional values (`null` and
    /// `undefined` are the default). Not through serde-wasm-bindgen's `Deserializer`: its error
    /// path linked Rust's float formatting, and with serde's generated code it cost the npm
    /// package about 18 KB gzip (issue #28).
    pub(crate) fn from_js(value: JsValue) -> Result<Self, GraFxError> {
        let plain = "options must be a plain object with at least signerUrl ({signerUrl: \"/\"})";
        let entries = plain_entries(&value, "the options object", plain)?;
        let mut slots: [JsValue; OPTION_NAMES.len()] = Default::default();
        for entry in entries.iter() {
            let pair: js_sys::Array = entry.unchecked_into();
            let key = pair.get(0).as_string().unwrap_or_default();
            let Some(slot) = OPTION_NAMES.iter().position(|n| *n == key) else {
                return Err(GraFxError::options(format!(
                    "unknown option `{key}`, expected one of {}",
                    OPTION_NAMES.join(", ")
                )));
            };
            slots[slot] = pair.get(1);
        }
        let o = OptionReader(slots);
        Ok(Self {
            signer_url: o.signer_url()?,
            integration: o.read("integration", SHOULD_INTEGRATION, JsValue::as_string)?,
            leeway_seconds: o.read("leewaySeconds", SHOULD_LEEWAY, JsValue::as_f64)?,
            credentials: o.read("credentials", SHOULD_CREDENTIALS, Credentials::of)?,
            signer_headers: o.signer_headers()?,
            get_session_token: o.function("getSessionToken")?,
            timeout_ms: o.read("timeoutMs", SHOULD_TIMEOUT, JsValue::as_f64)?,
            cross_tab: o.read("crossTab", SHOULD_BOOL, JsValue::as_bool)?,
            share_key: o.read("shareKey", SHOULD_SHARE_KEY, JsValue::as_string)?,
            auto_refresh: o.read("autoRefresh", SHOULD_BOOL, JsValue::as_bool)?,
            now: o.function("now")?,
        })
    }
}

/// Every option's name in JavaScript, in the order the docs list them.
const OPTION_NAMES: [&str; 11] = [
    "signerUrl",
    "integration",
    "leewaySeconds",
    "credentials",
    "signerHeaders",
    "getSessionToken",
    "timeoutMs",
    "crossTab",
    "shareKey",
    "autoRefresh",
    "now",
];

// What each option must be, in the message that refuses a value of the wrong type.
const SHOULD_SIGNER_URL: &str = "a string: the URL where grafx-signer is served";
const SHOULD_INTEGRATION: &str = "a string: a name of letters, digits, `-` and `_`";
const SHOULD_LEEWAY: &str = "a number of seconds between 0 and 3600";
const SHOULD_CREDENTIALS: &str = "\"omit\", \"same-origin\" or \"include\"";
const SHOULD_TIMEOUT: &str = "a number of milliseconds between 1 and 600000";
const SHOULD_BOOL: &str = "true or false";
const SHOULD_SHARE_KEY: &str = "a string that names the caller, e.g. the user's id";

impl Credentials {
    /// fetch's `credentials` value, as JavaScript spells it.
    fn of(value: &JsValue) -> Option<Self> {
        match value.as_string()?.as_str() {
            "omit" => Some(Self::Omit),
            "same-origin" => Some(Self::SameOrigin),
            "include" => Some(Self::Include),
            _ => None,
        }
    }
}

/// The own enumerable `[key, value]` pairs of a plain object (each getter called once), or
/// `invalid_options`: `not_plain` for anything else, an iterable included (serde-wasm-bindgen read
/// an iterable's pairs: say so rather than drop them), and what a getter or a revoked Proxy threw.
fn plain_entries(
    value: &JsValue,
    what: &str,
    not_plain: &str,
) -> Result<js_sys::Array, GraFxError> {
    if !value.is_object() {
        return Err(GraFxError::options(not_plain));
    }
    // First, as it catches what a getter or a revoked Proxy throws.
    let entries = crate::glue::own_entries(value).map_err(|e| {
        GraFxError::options(format!(
            "{what} could not be read: {}",
            crate::glue::message_of(&e)
        ))
    })?;
    if is_iterable(value) {
        return Err(GraFxError::options(not_plain));
    }
    Ok(entries)
}

/// Whether `value` has a `Symbol.iterator` method (an array, a Map, Headers, URLSearchParams…).
fn is_iterable(value: &JsValue) -> bool {
    js_sys::Reflect::get(value, &js_sys::Symbol::iterator().into()).is_ok_and(|f| f.is_function())
}

/// The options' values, one slot per name of `OPTION_NAMES` (undefined when not given).
struct OptionReader([JsValue; OPTION_NAMES.len()]);

impl OptionReader {
    /// The value given for `name`, one of `OPTION_NAMES`.
    fn value(&self, name: &str) -> JsValue {
        let slot = OPTION_NAMES.iter().position(|n| *n == name);
        // A name not in the list is a bug here, and reads as "not given".
        slot.map_or(JsValue::UNDEFINED, |i| self.0[i].clone())
    }

    /// An optional value: `null` and `undefined` give None; anything `read` refuses is an error
    /// naming the option and what it must be.
    fn read<T>(
        &self,
        name: &str,
        must: &str,
        read: impl Fn(&JsValue) -> Option<T>,
    ) -> Result<Option<T>, GraFxError> {
        let value = self.value(name);
        if value.is_undefined() || value.is_null() {
            return Ok(None);
        }
        read(&value)
            .map(Some)
            .ok_or_else(|| GraFxError::options(format!("{name} must be {must}")))
    }

    /// `signerUrl`: a string, empty when missing (`validate` says it is required); `null` is
    /// refused, as serde refuses `null` for a `String`.
    fn signer_url(&self) -> Result<String, GraFxError> {
        let value = self.value("signerUrl");
        if value.is_undefined() {
            return Ok(String::new());
        }
        value
            .as_string()
            .ok_or_else(|| GraFxError::options(format!("signerUrl must be {SHOULD_SIGNER_URL}")))
    }

    fn function(&self, name: &str) -> Result<Option<Function>, GraFxError> {
        self.read(name, "a function", |v| {
            v.clone().dyn_into::<Function>().ok()
        })
    }

    /// `signerHeaders`: an object of header names to strings, in the order they are set.
    fn signer_headers(&self) -> Result<Vec<(String, String)>, GraFxError> {
        let must = "an object of header names to strings";
        let Some(value) = self.read("signerHeaders", must, |v| v.is_object().then(|| v.clone()))?
        else {
            return Ok(Vec::new());
        };
        // A Map or Headers has no own entries: dropping them would make the caller anonymous.
        let not_plain = format!("signerHeaders must be {must}, not a Map, Headers or array");
        let entries = plain_entries(&value, "signerHeaders", &not_plain)?;
        let mut headers = Vec::new();
        for entry in entries.iter() {
            let pair: js_sys::Array = entry.unchecked_into();
            let name = pair.get(0).as_string().unwrap_or_default();
            let value = pair.get(1).as_string().ok_or_else(|| {
                GraFxError::options(format!("signerHeaders.{name} must be a string"))
            })?;
            headers.push((name, value));
        }
        Ok(headers)
    }
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

#[cfg(all(test, target_arch = "wasm32"))]
mod tests {
    use super::*;
    use wasm_bindgen_test::{wasm_bindgen_test, wasm_bindgen_test_configure};

    wasm_bindgen_test_configure!(run_in_browser);

    fn options(script: &str) -> Result<Options, GraFxError> {
        let value = js_sys::Function::new_no_args(script)
            .call0(&JsValue::NULL)
            .expect("the test's script");
        ClientOptions::from_js(value)?.validate()
    }

    #[wasm_bindgen_test]
    fn every_option_is_read_from_the_objects_own_keys() {
        let o = options(
            "return {signerUrl: 'https://signer.example/base/', integration: 'writer', \
             leewaySeconds: 600, credentials: 'include', timeoutMs: 5000, crossTab: true, \
             shareKey: 'u1', autoRefresh: true, getSessionToken: () => 's', now: () => 1, \
             signerHeaders: {Authorization: 'Bearer x', 'X-App': '1'}};",
        )
        .expect("valid options");
        assert_eq!(o.signer_url, "https://signer.example/base");
        assert_eq!(o.integration.as_deref(), Some("writer"));
        assert_eq!(o.leeway, Duration::from_secs(600));
        assert_eq!(o.credentials, RequestCredentials::Include);
        assert_eq!(o.timeout_ms, 5000);
        assert!(o.cross_tab && o.auto_refresh);
        assert_eq!(o.caller, "caller:id:u1");
        assert!(o.get_session_token.is_some() && o.now.is_some());
        let headers = [("Authorization", "Bearer x"), ("X-App", "1")]
            .map(|(n, v)| (n.to_owned(), v.to_owned()));
        assert_eq!(o.signer_headers, headers, "names and values, in order");
        let defaults = options("return {signerUrl: 'https://signer.example'};").expect("valid");
        assert_eq!(defaults.leeway, BROWSER_DEFAULT_LEEWAY);
        assert_eq!(defaults.credentials, RequestCredentials::SameOrigin);
        assert_eq!(defaults.timeout_ms, DEFAULT_SIGNER_TIMEOUT_MS);
        assert!(defaults.cross_tab && !defaults.auto_refresh && defaults.signer_headers.is_empty());
        let inherited = options(
            "return Object.assign(Object.create({integration: 'evil', crossTab: false}), \
             {signerUrl: 'https://signer.example'});",
        )
        .expect("valid");
        assert_eq!(
            inherited.integration, None,
            "an inherited option is not read"
        );
        assert!(inherited.cross_tab);
    }
}
