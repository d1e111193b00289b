//! CHILI GraFx's OAuth2 client-credentials token reply, parsed and validated.
//!
//! ```
//! use grafx_core::{Error, TokenGrant};
//!
//! let grant = TokenGrant::from_json(
//!     br#"{"access_token":"eyJ.x","token_type":"bearer","expires_in":3600,"scope":"template:read"}"#,
//! )?;
//! assert_eq!(grant.expires_in().as_secs(), 3600);
//! assert!(matches!(
//!     TokenGrant::from_json(br#"{"access_token":"x","token_type":"mac","expires_in":1}"#),
//!     Err(Error::UnsupportedTokenType(_))
//! ));
//! # Ok::<(), Error>(())
//! ```

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::{Error, Scopes};

/// The longest token lifetime accepted (7 days). CHILI issues tokens of up to about 24 hours; a
/// larger value is a broken or hostile reply and would pin a token in caches for too long.
pub const MAX_EXPIRES_IN: Duration = Duration::from_secs(7 * 24 * 3600);

/// A bearer access token. `Debug` never prints it, so it cannot leak through `{:?}` in logs.
#[derive(Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct AccessToken(String);

impl AccessToken {
    /// Wraps a token, refusing an empty one.
    pub fn new(token: impl Into<String>) -> Result<Self, Error> {
        let token = token.into();
        if token.is_empty() {
            return Err(Error::EmptyAccessToken);
        }
        Ok(Self(token))
    }

    /// The token itself, for an `Authorization` header. Deliberately named: every call site that
    /// exposes the token is easy to find.
    pub fn secret(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for AccessToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AccessToken([redacted])")
    }
}

impl TryFrom<String> for AccessToken {
    type Error = Error;
    fn try_from(value: String) -> Result<Self, Error> {
        Self::new(value)
    }
}

impl From<AccessToken> for String {
    fn from(token: AccessToken) -> Self {
        token.0
    }
}

/// A validated token reply from CHILI's auth server (`POST /oauth/token`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenGrant {
    access_token: AccessToken,
    expires_in: Duration,
    scope: Scopes,
}

/// The reply as it arrives, before validation. Every field is optional so that each way the reply
/// can be wrong maps to its own [`Error`] variant instead of one opaque deserializer message.
#[derive(Deserialize)]
struct RawTokenReply {
    access_token: Option<String>,
    token_type: Option<String>,
    expires_in: Option<f64>,
    scope: Option<String>,
}

impl TokenGrant {
    /// Parses and validates a token reply body.
    pub fn from_json(body: &[u8]) -> Result<Self, Error> {
        let raw: RawTokenReply =
            serde_json::from_slice(body).map_err(|e| Error::MalformedJson(e.to_string()))?;
        Self::validate(raw)
    }

    /// Builds a grant from already-separated fields, applying the same validation as
    /// [`TokenGrant::from_json`]. `expires_in` is in seconds.
    pub fn from_parts(
        access_token: impl Into<String>,
        token_type: &str,
        expires_in: f64,
        scope: impl Into<String>,
    ) -> Result<Self, Error> {
        Self::validate(RawTokenReply {
            access_token: Some(access_token.into()),
            token_type: Some(token_type.to_owned()),
            expires_in: Some(expires_in),
            scope: Some(scope.into()),
        })
    }

    fn validate(raw: RawTokenReply) -> Result<Self, Error> {
        let access_token = AccessToken::new(
            raw.access_token
                .ok_or(Error::MissingField("access_token"))?,
        )?;
        let token_type = raw.token_type.ok_or(Error::MissingField("token_type"))?;
        if !token_type.eq_ignore_ascii_case("bearer") {
            return Err(Error::UnsupportedTokenType(token_type));
        }
        let expires_in =
            validate_expires_in(raw.expires_in.ok_or(Error::MissingField("expires_in"))?)?;
        // Auth0 omits `scope` when the grant has none; that is an empty scope, not an error.
        let scope = Scopes::parse(raw.scope.as_deref().unwrap_or(""));
        Ok(Self {
            access_token,
            expires_in,
            scope,
        })
    }

    /// The access token.
    pub fn access_token(&self) -> &AccessToken {
        &self.access_token
    }

    /// The lifetime the server reported, counted from when the reply was received.
    pub fn expires_in(&self) -> Duration {
        self.expires_in
    }

    /// The permissions the token carries.
    pub fn scope(&self) -> &Scopes {
        &self.scope
    }
}

/// Checks a lifetime in seconds: finite, whole, positive and at most [`MAX_EXPIRES_IN`].
pub(crate) fn validate_expires_in(secs: f64) -> Result<Duration, Error> {
    // No float formatting in these messages: it would add ~20 KB to the browser module.
    if !secs.is_finite() {
        return Err(Error::InvalidExpiresIn("must be a finite number".into()));
    }
    if secs.fract() != 0.0 {
        return Err(Error::InvalidExpiresIn(
            "must be a whole number of seconds".into(),
        ));
    }
    if secs <= 0.0 {
        return Err(Error::InvalidExpiresIn(format!(
            "{} is not positive",
            secs as i64
        )));
    }
    if secs > MAX_EXPIRES_IN.as_secs() as f64 {
        return Err(Error::InvalidExpiresIn(format!(
            "exceeds the maximum of {} seconds",
            MAX_EXPIRES_IN.as_secs()
        )));
    }
    // Whole, positive and bounded above, so the conversion is exact.
    Ok(Duration::from_secs(secs as u64))
}

#[cfg(test)]
mod tests {
    use super::*;
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    fn parse(s: &str) -> Result<TokenGrant, Error> {
        TokenGrant::from_json(s.as_bytes())
    }

    #[test]
    fn parses_a_chili_reply() {
        let g = parse(r#"{"access_token":"eyJ.a.b","token_type":"Bearer","expires_in":86400,"scope":"template:read template:write"}"#).unwrap();
        assert_eq!(g.access_token().secret(), "eyJ.a.b");
        assert_eq!(g.expires_in(), Duration::from_secs(86400));
        assert!(g.scope().contains("template:write"));
    }

    #[test]
    fn token_type_is_case_insensitive() {
        for t in ["Bearer", "bearer", "BEARER", "bEaReR"] {
            let body = format!(r#"{{"access_token":"x","token_type":"{t}","expires_in":60}}"#);
            assert!(parse(&body).is_ok(), "{t}");
        }
    }

    #[test]
    fn missing_scope_is_empty() {
        let g = parse(r#"{"access_token":"x","token_type":"Bearer","expires_in":60}"#).unwrap();
        assert!(g.scope().is_empty());
    }

    #[test]
    fn unknown_fields_are_ignored() {
        assert!(parse(
            r#"{"access_token":"x","token_type":"Bearer","expires_in":60,"id_token":"y"}"#
        )
        .is_ok());
    }

    #[test]
    fn each_defect_has_its_own_error() {
        assert!(matches!(
            parse("<html>502</html>"),
            Err(Error::MalformedJson(_))
        ));
        assert!(matches!(parse(""), Err(Error::MalformedJson(_))));
        assert!(matches!(parse("[]"), Err(Error::MalformedJson(_))));
        assert!(matches!(
            parse(r#"{"access_token":1,"token_type":"Bearer","expires_in":60}"#),
            Err(Error::MalformedJson(_))
        ));
        assert_eq!(
            parse(r#"{"token_type":"Bearer","expires_in":60}"#),
            Err(Error::MissingField("access_token"))
        );
        assert_eq!(
            parse(r#"{"access_token":null,"token_type":"Bearer","expires_in":60}"#),
            Err(Error::MissingField("access_token"))
        );
        assert_eq!(
            parse(r#"{"access_token":"x","expires_in":60}"#),
            Err(Error::MissingField("token_type"))
        );
        assert_eq!(
            parse(r#"{"access_token":"x","token_type":"Bearer"}"#),
            Err(Error::MissingField("expires_in"))
        );
        assert_eq!(
            parse(r#"{"access_token":"","token_type":"Bearer","expires_in":60}"#),
            Err(Error::EmptyAccessToken)
        );
        assert_eq!(
            parse(r#"{"access_token":"x","token_type":"mac","expires_in":60}"#),
            Err(Error::UnsupportedTokenType("mac".into()))
        );
    }

    #[test]
    fn expires_in_must_be_positive_whole_and_bounded() {
        for bad in [
            "0",
            "-1",
            "-86400",
            "1.5",
            "1e300",
            "604801",
            "18446744073709551616",
        ] {
            let body =
                format!(r#"{{"access_token":"x","token_type":"Bearer","expires_in":{bad}}}"#);
            assert!(
                matches!(parse(&body), Err(Error::InvalidExpiresIn(_))),
                "{bad}"
            );
        }
        for good in ["1", "60.0", "86400", "604800"] {
            let body =
                format!(r#"{{"access_token":"x","token_type":"Bearer","expires_in":{good}}}"#);
            assert!(parse(&body).is_ok(), "{good}");
        }
        assert!(matches!(
            validate_expires_in(f64::NAN),
            Err(Error::InvalidExpiresIn(_))
        ));
        assert!(matches!(
            validate_expires_in(f64::INFINITY),
            Err(Error::InvalidExpiresIn(_))
        ));
    }

    #[test]
    fn debug_never_shows_the_token() {
        let g =
            parse(r#"{"access_token":"super-secret-token","token_type":"Bearer","expires_in":60}"#)
                .unwrap();
        let dbg = format!("{g:?}");
        assert!(!dbg.contains("super-secret-token"), "{dbg}");
        assert!(dbg.contains("[redacted]"));
    }

    #[test]
    fn from_parts_validates_like_json() {
        assert!(TokenGrant::from_parts("x", "Bearer", 60.0, "a b").is_ok());
        assert_eq!(
            TokenGrant::from_parts("", "Bearer", 60.0, ""),
            Err(Error::EmptyAccessToken)
        );
        assert!(matches!(
            TokenGrant::from_parts("x", "Bearer", -5.0, ""),
            Err(Error::InvalidExpiresIn(_))
        ));
    }
}
