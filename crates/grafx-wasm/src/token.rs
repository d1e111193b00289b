//! A token held by the page, stamped with the local clock on receipt; its JavaScript shape
//! (`GraFxToken`) and the messages tabs exchange about it, all through serde.

use grafx_core::{EnvironmentApiUrl, Expiry, Timestamp};
use serde::{Deserialize, Serialize};
use wasm_bindgen::JsValue;

use crate::error::GraFxError;

/// A token and where it may be used. Its `Debug` never shows the bearer.
#[derive(Clone, PartialEq)]
pub struct Token {
    pub(crate) access_token: String,
    pub(crate) expiry: Expiry,
    pub(crate) environment: String,
    pub(crate) api: EnvironmentApiUrl,
    /// The Platform API the same token calls (None from signers that do not name it).
    pub(crate) platform: Option<EnvironmentApiUrl>,
    pub(crate) scope: String,
    /// When the signer was asked for it (`Date.now()`, the clock every tab shares): a token asked
    /// for before a sign-out belongs to the session that ended.
    pub(crate) requested_at: f64,
}

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Token")
            .field("access_token", &"[redacted]")
            .field("expiry", &self.expiry)
            .field("environment", &self.environment)
            .field("api", &self.api)
            .field("scope", &self.scope)
            .finish_non_exhaustive()
    }
}

impl Token {
    /// The bearer token.
    pub fn access_token(&self) -> &str {
        &self.access_token
    }

    /// When it expires, on this machine's clock (milliseconds since the epoch).
    pub fn expires_at_ms(&self) -> f64 {
        self.expiry.expires_at().as_millis() as f64
    }

    /// The GraFx environment's name.
    pub fn environment(&self) -> &str {
        &self.environment
    }

    /// The Environment API base URL, ending with `/`.
    pub fn environment_api_url(&self) -> &EnvironmentApiUrl {
        &self.api
    }

    /// The Platform API base URL, when the signer names it.
    pub fn platform_api_url(&self) -> Option<&EnvironmentApiUrl> {
        self.platform.as_ref()
    }

    /// The scopes it carries, space-separated.
    pub fn scope(&self) -> &str {
        &self.scope
    }

    /// The public JavaScript shape, `GraFxToken`.
    pub(crate) fn to_js(&self) -> JsValue {
        to_js(&TokenView {
            access_token: &self.access_token,
            expires_at: self.expires_at_ms(),
            environment: &self.environment,
            environment_api_url: self.api.as_str(),
            platform_api_url: self.platform.as_ref().map(EnvironmentApiUrl::as_str),
            scope: &self.scope,
        })
    }

    /// What is broadcast to other tabs of this origin (same machine, so the same clock).
    pub(crate) fn to_message(&self) -> JsValue {
        to_js(&PeerMessage {
            v: 1,
            kind: TOKEN.into(),
            access_token: self.access_token.clone(),
            received_at: self.expiry.received_at().as_millis() as f64,
            expires_at: self.expires_at_ms(),
            environment: self.environment.clone(),
            environment_api_url: self.api.as_str().to_owned(),
            platform_api_url: self.platform.as_ref().map(|p| p.as_str().to_owned()),
            scope: self.scope.clone(),
            requested_at: self.requested_at,
            ..PeerMessage::default()
        })
    }

    /// The question a cold tab asks its peers: "does anyone hold a fresh token?".
    pub(crate) fn query_message() -> JsValue {
        to_js(&PeerMessage {
            v: 1,
            kind: QUERY.into(),
            ..PeerMessage::default()
        })
    }

    /// What `signOut()` tells the other instances of the same caller, with when (`Date.now()`).
    pub(crate) fn sign_out_message(at: f64) -> JsValue {
        to_js(&PeerMessage {
            v: 1,
            kind: SIGN_OUT.into(),
            requested_at: at,
            ..PeerMessage::default()
        })
    }

    /// When the caller signed out, if the message says so.
    pub(crate) fn sign_out_from(m: &JsValue) -> Option<f64> {
        read(m)
            .filter(|m| m.v == 1 && m.kind == SIGN_OUT)
            .map(|m| m.requested_at)
    }

    /// What the refresher tells the instances waiting for it when its refresh failed: the code
    /// only. (Its message may quote the app's session callback or the signer's description of
    /// the user, and any script of the origin can listen on the channel.)
    pub(crate) fn failure_message(e: &GraFxError) -> JsValue {
        to_js(&PeerMessage {
            v: 1,
            kind: FAILED.into(),
            code: e.code().as_str().to_owned(),
            ..PeerMessage::default()
        })
    }

    /// The failure a peer reported, if the message is one.
    pub(crate) fn failure_from(m: &JsValue) -> Option<GraFxError> {
        let m = read(m).filter(|m| m.v == 1 && m.kind == FAILED)?;
        let code: grafx_core::ErrorCode = m
            .code
            .parse()
            .unwrap_or_else(|e: std::convert::Infallible| match e {});
        let message = format!(
            "the token refresh in another tab or worker of this app failed ({code}); its own error says why"
        );
        Some(GraFxError::new(code, message))
    }

    /// Whether a message is that question.
    pub(crate) fn is_query(m: &JsValue) -> bool {
        read(m).is_some_and(|m| m.v == 1 && m.kind == QUERY)
    }

    /// Reads a broadcast token; None for anything malformed.
    pub(crate) fn from_message(m: &JsValue) -> Option<Self> {
        let t = read(m)?;
        if t.v != 1 || t.kind != TOKEN || t.access_token.is_empty() {
            return None;
        }
        let received = Timestamp::from_js_millis(t.received_at);
        let expires = Timestamp::from_js_millis(t.expires_at);
        Some(Self {
            access_token: t.access_token,
            expiry: Expiry::stamp(received, expires.since(received)),
            environment: t.environment,
            api: EnvironmentApiUrl::parse(&t.environment_api_url).ok()?,
            platform: t
                .platform_api_url
                .and_then(|u| EnvironmentApiUrl::parse(&u).ok()),
            scope: t.scope,
            requested_at: t.requested_at,
        })
    }
}

/// `GraFxToken`: `null` (not absent) for a missing Platform API, as the type says.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct TokenView<'a> {
    access_token: &'a str,
    expires_at: f64,
    environment: &'a str,
    environment_api_url: &'a str,
    platform_api_url: Option<&'a str>,
    scope: &'a str,
}

/// "Does anyone hold a fresh token?"
const QUERY: &str = "query";
/// "Here is mine."
const TOKEN: &str = "token";
/// "The caller signed out: forget it."
const SIGN_OUT: &str = "signout";
/// "My refresh failed: here is why."
const FAILED: &str = "failed";

/// What instances of one signer and integration say on their BroadcastChannel: a query, or a
/// token. One flat struct rather than a tagged enum, whose buffering costs kilobytes of wasm.
#[derive(Default, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct PeerMessage {
    v: u8,
    #[serde(rename = "type")]
    kind: String,
    access_token: String,
    received_at: f64,
    expires_at: f64,
    environment: String,
    environment_api_url: String,
    platform_api_url: Option<String>,
    scope: String,
    /// For a failure: its code.
    code: String,
    /// For a token: when it was asked for; for a sign-out: when it happened.
    requested_at: f64,
}

fn to_js<T: Serialize>(value: &T) -> JsValue {
    value
        .serialize(&serde_wasm_bindgen::Serializer::new().serialize_missing_as_null(true))
        .unwrap_or(JsValue::UNDEFINED)
}

fn read(m: &JsValue) -> Option<PeerMessage> {
    serde_wasm_bindgen::from_value(m.clone()).ok()
}
