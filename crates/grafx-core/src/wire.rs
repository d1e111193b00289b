//! What the signer sends to the browser: the token body and the error body.
//!
//! ```
//! use grafx_core::{ErrorBody, ErrorCode, SignerToken};
//!
//! let token: SignerToken = serde_json::from_str(r#"{
//!   "access_token": "eyJ.x", "token_type": "Bearer", "expires_in": 3540,
//!   "expires_at": 1700003540, "scope": "template:read", "environment": "acme",
//!   "environment_api_url": "https://acme.chili-publish.online/grafx/api/v1/environment/acme/"
//! }"#)?;
//! assert_eq!(token.expires_in.as_secs(), 3540);
//!
//! let err = ErrorBody::new(ErrorCode::OriginNotAllowed, "origin https://evil.example is not allowed");
//! assert_eq!(
//!     serde_json::to_string(&err)?,
//!     r#"{"error":"origin_not_allowed","error_description":"origin https://evil.example is not allowed"}"#
//! );
//! # Ok::<(), serde_json::Error>(())
//! ```

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::grant::validate_expires_in;
use crate::{
    AccessToken, EnvironmentApiUrl, EnvironmentName, Error, ErrorCode, PlatformApiUrl, Scopes,
};

/// The request header every token request must carry. A custom header forces a CORS preflight,
/// so another site cannot make a "simple" cross-origin POST to the signer (Duende BFF's convention).
pub const CSRF_HEADER: &str = "x-csrf";
/// The value [`CSRF_HEADER`] must have.
pub const CSRF_HEADER_VALUE: &str = "1";

/// The token type. Only bearer tokens exist in GraFx; any other value is refused on parse.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum TokenType {
    /// `Bearer` (matched case-insensitively, always written as `Bearer`).
    #[default]
    Bearer,
}

impl Serialize for TokenType {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str("Bearer")
    }
}

impl TokenType {
    /// Parses a token type (`Bearer`, in any case).
    pub fn parse(s: &str) -> Result<Self, Error> {
        if s.eq_ignore_ascii_case("bearer") {
            Ok(TokenType::Bearer)
        } else {
            Err(Error::UnsupportedTokenType(s.to_owned()))
        }
    }
}

impl<'de> Deserialize<'de> for TokenType {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        TokenType::parse(&String::deserialize(d)?).map_err(serde::de::Error::custom)
    }
}

/// A token lifetime in whole seconds, at least 1 and at most [`crate::MAX_EXPIRES_IN`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct ExpiresIn(Duration);

impl ExpiresIn {
    /// Validates a lifetime, rounding sub-second parts down; less than one second is refused.
    pub fn new(d: Duration) -> Result<Self, Error> {
        validate_expires_in(d.as_secs() as f64).map(Self)
    }

    /// Validates a lifetime given as a JSON number of seconds (whole, positive, bounded).
    pub fn from_secs_f64(secs: f64) -> Result<Self, Error> {
        validate_expires_in(secs).map(Self)
    }

    /// The lifetime.
    pub fn duration(self) -> Duration {
        self.0
    }

    /// The lifetime in seconds.
    pub fn as_secs(self) -> u64 {
        self.0.as_secs()
    }
}

impl Serialize for ExpiresIn {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(self.0.as_secs())
    }
}

impl<'de> Deserialize<'de> for ExpiresIn {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let secs = f64::deserialize(d)?;
        validate_expires_in(secs)
            .map(Self)
            .map_err(serde::de::Error::custom)
    }
}

/// The signer's 200 reply to `POST /token`: everything a browser needs to call GraFx.
///
/// Deserializing validates every field, so a value of this type is always usable.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignerToken {
    /// The bearer token for the Environment API and the Studio editor.
    pub access_token: AccessToken,
    /// Always `Bearer`.
    pub token_type: TokenType,
    /// Lifetime remaining when the signer answered. Stamp it with the local clock on receipt.
    pub expires_in: ExpiresIn,
    /// The signer's wall-clock expiry (Unix seconds), for display only: never compare it with the
    /// local clock to decide freshness.
    pub expires_at: u64,
    /// The permissions the token carries.
    pub scope: Scopes,
    /// The GraFx environment name.
    pub environment: EnvironmentName,
    /// The Environment API base URL, ending with `/`.
    pub environment_api_url: EnvironmentApiUrl,
    /// The Platform API base URL the same token calls (absent from older signers).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform_api_url: Option<PlatformApiUrl>,
}

/// The signer's error reply: `{"error": code, "error_description": text}` (OAuth2's shape).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    /// The machine-readable code.
    pub error: ErrorCode,
    /// A sentence for humans that says what to fix. Never contains a secret. (Empty when a
    /// server sends only the code, as OAuth2 allows.)
    #[serde(default)]
    pub error_description: String,
}

impl ErrorBody {
    /// An error body.
    pub fn new(error: ErrorCode, description: impl Into<String>) -> Self {
        Self {
            error,
            error_description: description.into(),
        }
    }
}

impl fmt::Display for ErrorBody {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.error, self.error_description)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    fn body(token_type: &str, expires_in: &str, url: &str) -> String {
        format!(
            r#"{{"access_token":"tok","token_type":"{token_type}","expires_in":{expires_in},"expires_at":1,
            "scope":"a b","environment":"acme","environment_api_url":"{url}"}}"#
        )
    }
    const URL: &str = "https://acme.chili-publish.online/grafx/api/v1/environment/acme/";

    #[test]
    fn round_trips() {
        let t: SignerToken = serde_json::from_str(&body("bearer", "60", URL)).unwrap();
        assert_eq!(t.token_type, TokenType::Bearer);
        assert_eq!(t.environment.as_str(), "acme");
        let json = serde_json::to_string(&t).unwrap();
        assert!(json.contains(r#""token_type":"Bearer""#), "{json}");
        assert_eq!(serde_json::from_str::<SignerToken>(&json).unwrap(), t);
    }

    #[test]
    fn refuses_invalid_fields() {
        assert!(serde_json::from_str::<SignerToken>(&body("mac", "60", URL)).is_err());
        assert!(serde_json::from_str::<SignerToken>(&body("Bearer", "0", URL)).is_err());
        assert!(serde_json::from_str::<SignerToken>(&body("Bearer", "-3", URL)).is_err());
        assert!(serde_json::from_str::<SignerToken>(&body("Bearer", "60", "ftp://x/")).is_err());
        let empty = body("Bearer", "60", URL).replace(r#""tok""#, r#""""#);
        assert!(serde_json::from_str::<SignerToken>(&empty).is_err());
        assert!(serde_json::from_str::<SignerToken>("{}").is_err());
    }

    #[test]
    fn expires_in_rounds_down_and_refuses_sub_second() {
        assert_eq!(
            ExpiresIn::new(Duration::from_millis(1999))
                .unwrap()
                .as_secs(),
            1
        );
        assert!(ExpiresIn::new(Duration::from_millis(999)).is_err());
    }

    #[test]
    fn error_body_round_trips() {
        let e = ErrorBody::new(ErrorCode::RateLimited, "slow down");
        let json = serde_json::to_string(&e).unwrap();
        assert_eq!(serde_json::from_str::<ErrorBody>(&json).unwrap(), e);
        assert_eq!(e.to_string(), "rate_limited: slow down");
    }
}
