//! A token held by the browser, stamped with the local clock on receipt.

use grafx_core::{EnvironmentApiUrl, Expiry, Timestamp};
use wasm_bindgen::JsValue;

use crate::glue::{get, object};

/// A token and where it may be used.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Token {
    pub(crate) access_token: String,
    pub(crate) expiry: Expiry,
    pub(crate) environment: String,
    pub(crate) api: EnvironmentApiUrl,
    /// The Platform API the same token calls (None from signers that do not name it).
    pub(crate) platform: Option<EnvironmentApiUrl>,
    pub(crate) scope: String,
}

impl Token {
    /// The public shape: `{accessToken, expiresAt, environment, environmentApiUrl,
    /// platformApiUrl, scope}`.
    pub(crate) fn to_js(&self) -> JsValue {
        object(&[
            ("accessToken", JsValue::from_str(&self.access_token)),
            (
                "expiresAt",
                JsValue::from_f64(self.expiry.expires_at().as_millis() as f64),
            ),
            ("environment", JsValue::from_str(&self.environment)),
            ("environmentApiUrl", JsValue::from_str(self.api.as_str())),
            ("platformApiUrl", self.platform_js()),
            ("scope", JsValue::from_str(&self.scope)),
        ])
    }

    fn platform_js(&self) -> JsValue {
        self.platform
            .as_ref()
            .map_or(JsValue::NULL, |p| JsValue::from_str(p.as_str()))
    }

    /// What is broadcast to other tabs of this origin (same machine, so the same clock).
    pub(crate) fn to_message(&self) -> JsValue {
        object(&[
            ("v", JsValue::from_f64(1.0)),
            ("type", JsValue::from_str("token")),
            ("accessToken", JsValue::from_str(&self.access_token)),
            (
                "receivedAt",
                JsValue::from_f64(self.expiry.received_at().as_millis() as f64),
            ),
            (
                "expiresAt",
                JsValue::from_f64(self.expiry.expires_at().as_millis() as f64),
            ),
            ("environment", JsValue::from_str(&self.environment)),
            ("environmentApiUrl", JsValue::from_str(self.api.as_str())),
            ("platformApiUrl", self.platform_js()),
            ("scope", JsValue::from_str(&self.scope)),
        ])
    }

    /// The question a cold tab asks its peers: "does anyone hold a fresh token?".
    pub(crate) fn query_message() -> JsValue {
        object(&[
            ("v", JsValue::from_f64(1.0)),
            ("type", JsValue::from_str("query")),
        ])
    }

    /// Whether a message is that question.
    pub(crate) fn is_query(m: &JsValue) -> bool {
        get(m, "v").as_f64() == Some(1.0) && get(m, "type").as_string().as_deref() == Some("query")
    }

    /// Reads a broadcast message; None for anything malformed.
    pub(crate) fn from_message(m: &JsValue) -> Option<Self> {
        if get(m, "v").as_f64() != Some(1.0)
            || get(m, "type").as_string().as_deref() != Some("token")
        {
            return None;
        }
        let received = Timestamp::from_js_millis(get(m, "receivedAt").as_f64()?);
        let expires = Timestamp::from_js_millis(get(m, "expiresAt").as_f64()?);
        let access_token = get(m, "accessToken")
            .as_string()
            .filter(|t| !t.is_empty())?;
        Some(Self {
            access_token,
            expiry: Expiry::stamp(received, expires.since(received)),
            environment: get(m, "environment").as_string()?,
            api: EnvironmentApiUrl::parse(&get(m, "environmentApiUrl").as_string()?).ok()?,
            platform: get(m, "platformApiUrl")
                .as_string()
                .and_then(|u| EnvironmentApiUrl::parse(&u).ok()),
            scope: get(m, "scope").as_string().unwrap_or_default(),
        })
    }
}
