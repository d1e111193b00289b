//! A token held by the page, stamped with the local clock on receipt; its JavaScript shape
//! (`GraFxToken`) and the messages tabs exchange about it, built as plain objects and read with
//! serde's rules (see `fields.rs`).

use grafx_core::{EnvironmentApiUrl, Expiry, Timestamp};
use wasm_bindgen::JsValue;

use crate::error::GraFxError;
use crate::fields::{Fields, Mismatch};
use crate::glue::object;

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

    /// The public JavaScript shape, `GraFxToken` (`platformApiUrl` null, not absent, when the
    /// signer names none, as the type says).
    pub(crate) fn to_js(&self) -> JsValue {
        object(&[
            ("accessToken", self.access_token.as_str().into()),
            ("expiresAt", self.expires_at_ms().into()),
            ("environment", self.environment.as_str().into()),
            ("environmentApiUrl", self.api.as_str().into()),
            ("platformApiUrl", self.platform_url()),
            ("scope", self.scope.as_str().into()),
        ])
    }

    fn platform_url(&self) -> JsValue {
        self.platform
            .as_ref()
            .map_or(JsValue::NULL, |p| p.as_str().into())
    }

    /// What is broadcast to other tabs of this origin (same machine, so the same clock).
    pub(crate) fn to_message(&self) -> JsValue {
        PeerMessage {
            access_token: &self.access_token,
            received_at: self.expiry.received_at().as_millis() as f64,
            expires_at: self.expires_at_ms(),
            environment: &self.environment,
            environment_api_url: self.api.as_str(),
            platform_api_url: self.platform_url(),
            scope: &self.scope,
            requested_at: self.requested_at,
            ..PeerMessage::of(TOKEN)
        }
        .to_js()
    }

    /// The question a cold tab asks its peers: "does anyone hold a fresh token?".
    pub(crate) fn query_message() -> JsValue {
        PeerMessage::of(QUERY).to_js()
    }

    /// What `signOut()` tells the other instances of the same caller, with when (`Date.now()`).
    pub(crate) fn sign_out_message(at: f64) -> JsValue {
        PeerMessage {
            requested_at: at,
            ..PeerMessage::of(SIGN_OUT)
        }
        .to_js()
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
        PeerMessage {
            code: e.code().as_str(),
            ..PeerMessage::of(FAILED)
        }
        .to_js()
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

/// "Does anyone hold a fresh token?"
const QUERY: &str = "query";
/// "Here is mine."
const TOKEN: &str = "token";
/// "The caller signed out: forget it."
const SIGN_OUT: &str = "signout";
/// "My refresh failed: here is why."
const FAILED: &str = "failed";

/// What instances of one signer and integration say on their BroadcastChannel, as sent: a query,
/// a token, a sign-out or a failure, in one flat shape with every field present (`platformApiUrl`
/// null when there is none), which [`Received`] reads.
struct PeerMessage<'a> {
    kind: &'static str,
    access_token: &'a str,
    received_at: f64,
    expires_at: f64,
    environment: &'a str,
    environment_api_url: &'a str,
    platform_api_url: JsValue,
    scope: &'a str,
    /// For a failure: its code.
    code: &'a str,
    /// For a token: when it was asked for; for a sign-out: when it happened.
    requested_at: f64,
}

impl PeerMessage<'_> {
    /// A message of `kind` with every other field empty.
    fn of(kind: &'static str) -> Self {
        Self {
            kind,
            access_token: "",
            received_at: 0.0,
            expires_at: 0.0,
            environment: "",
            environment_api_url: "",
            platform_api_url: JsValue::NULL,
            scope: "",
            code: "",
            requested_at: 0.0,
        }
    }

    fn to_js(&self) -> JsValue {
        object(&[
            ("v", 1.into()),
            ("type", self.kind.into()),
            ("accessToken", self.access_token.into()),
            ("receivedAt", self.received_at.into()),
            ("expiresAt", self.expires_at.into()),
            ("environment", self.environment.into()),
            ("environmentApiUrl", self.environment_api_url.into()),
            ("platformApiUrl", self.platform_api_url.clone()),
            ("scope", self.scope.into()),
            ("code", self.code.into()),
            ("requestedAt", self.requested_at.into()),
        ])
    }
}

/// A message as read: a missing field is empty, a field of the wrong type makes the message
/// unreadable (serde's rules, as older versions of this package read them).
struct Received {
    v: u32,
    kind: String,
    access_token: String,
    received_at: f64,
    expires_at: f64,
    environment: String,
    environment_api_url: String,
    platform_api_url: Option<String>,
    scope: String,
    code: String,
    requested_at: f64,
}

fn read(m: &JsValue) -> Option<Received> {
    let f = Fields::of(m)?;
    let text = |key| f.text(key).map(Option::unwrap_or_default);
    let number = |key| f.number(key).map(|n| n.unwrap_or(0.0));
    let read = || -> Result<Received, Mismatch> {
        Ok(Received {
            v: f.whole("v", u32::from(u8::MAX), false)?.unwrap_or(0),
            kind: text("type")?,
            access_token: text("accessToken")?,
            received_at: number("receivedAt")?,
            expires_at: number("expiresAt")?,
            environment: text("environment")?,
            environment_api_url: text("environmentApiUrl")?,
            platform_api_url: f.optional_text("platformApiUrl")?,
            scope: text("scope")?,
            code: text("code")?,
            requested_at: number("requestedAt")?,
        })
    };
    read().ok()
}

#[cfg(all(test, target_arch = "wasm32"))]
mod tests {
    use std::time::Duration;

    use wasm_bindgen_test::wasm_bindgen_test;

    use super::*;

    fn token() -> Token {
        let received = Timestamp::from_js_millis(1_000.0);
        Token {
            access_token: "eyJ.t".into(),
            expiry: Expiry::stamp(received, Duration::from_secs(3_600)),
            environment: "acme".into(),
            api: EnvironmentApiUrl::parse(
                "https://acme.chili-publish.online/grafx/api/v1/environment/acme/",
            )
            .expect("a URL"),
            platform: None,
            scope: "template:read".into(),
            requested_at: 900.0,
        }
    }

    fn json(v: &JsValue) -> String {
        js_sys::JSON::stringify(v)
            .ok()
            .and_then(|s| s.as_string())
            .unwrap_or_default()
    }

    fn parse(text: &str) -> JsValue {
        js_sys::JSON::parse(text).expect("test JSON")
    }

    /// Exactly what earlier versions of this package, in other tabs, read and send.
    #[wasm_bindgen_test]
    fn peer_messages_keep_their_wire_shape() {
        assert_eq!(
            json(&token().to_message()),
            r#"{"v":1,"type":"token","accessToken":"eyJ.t","receivedAt":1000,"expiresAt":3601000,"environment":"acme","environmentApiUrl":"https://acme.chili-publish.online/grafx/api/v1/environment/acme/","platformApiUrl":null,"scope":"template:read","code":"","requestedAt":900}"#
        );
        assert_eq!(
            json(&Token::query_message()),
            r#"{"v":1,"type":"query","accessToken":"","receivedAt":0,"expiresAt":0,"environment":"","environmentApiUrl":"","platformApiUrl":null,"scope":"","code":"","requestedAt":0}"#
        );
        assert_eq!(
            json(&Token::sign_out_message(42.0)),
            r#"{"v":1,"type":"signout","accessToken":"","receivedAt":0,"expiresAt":0,"environment":"","environmentApiUrl":"","platformApiUrl":null,"scope":"","code":"","requestedAt":42}"#
        );
        let failed = GraFxError::new(grafx_core::ErrorCode::SignerUnreachable, "secret detail");
        let message = json(&Token::failure_message(&failed));
        assert!(
            message.contains(r#""type":"failed""#)
                && message.contains(r#""code":"signer_unreachable""#)
        );
        assert!(!message.contains("secret detail"), "the code only");
    }

    #[wasm_bindgen_test]
    fn peer_messages_read_back_and_a_mistyped_field_spoils_the_whole() {
        let t = token();
        assert_eq!(Token::from_message(&t.to_message()), Some(t.clone()));
        assert_eq!(
            Token::sign_out_from(&Token::sign_out_message(42.0)),
            Some(42.0)
        );
        assert!(Token::is_query(&Token::query_message()));
        let failed = GraFxError::new(grafx_core::ErrorCode::SignerUnreachable, "x");
        let code = Token::failure_from(&Token::failure_message(&failed)).map(|e| e.code().clone());
        assert_eq!(code, Some(grafx_core::ErrorCode::SignerUnreachable));
        // An older sender leaves keys out: they take their defaults.
        let minimal = parse(
            r#"{"v":1,"type":"token","accessToken":"eyJ.m","receivedAt":1000,"expiresAt":61000,"environmentApiUrl":"https://acme.chili-publish.online/grafx/api/v1/environment/acme/"}"#,
        );
        let read = Token::from_message(&minimal).expect("defaults for the rest");
        assert_eq!((read.scope.as_str(), read.platform), ("", None));
        // One field of the wrong type, or the wrong version: nothing is read.
        let text = json(&t.to_message());
        for spoiled in [
            text.replace(r#""scope":"template:read""#, r#""scope":5"#),
            text.replace(r#""v":1"#, r#""v":"1""#),
            text.replace(r#""v":1"#, r#""v":2"#),
            text.replace(r#""requestedAt":900"#, r#""requestedAt":"900""#),
            text.replace(r#""platformApiUrl":null"#, r#""platformApiUrl":7"#),
        ] {
            assert_eq!(Token::from_message(&parse(&spoiled)), None, "{spoiled}");
        }
        assert_eq!(Token::from_message(&JsValue::from_str("token")), None);
    }
}
