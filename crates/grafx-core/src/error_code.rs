//! The one error-code vocabulary of the project, shared by the signer (in its error bodies) and the
//! browser module (in `GraFxError.code`).
//!
//! ```
//! use grafx_core::ErrorCode;
//!
//! assert_eq!(ErrorCode::OriginNotAllowed.as_str(), "origin_not_allowed");
//! assert_eq!(ErrorCode::OriginNotAllowed.http_status(), Some(403));
//! assert_eq!("rate_limited".parse::<ErrorCode>().unwrap(), ErrorCode::RateLimited);
//! // Codes from a newer signer survive the round trip instead of failing to parse.
//! assert_eq!("brand_new".parse::<ErrorCode>().unwrap(), ErrorCode::Other("brand_new".into()));
//! ```

use std::convert::Infallible;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

macro_rules! error_codes {
    ($( $(#[$doc:meta])* $variant:ident = $code:literal, $status:expr; )*) => {
        /// A machine-readable error code. Signer codes carry the HTTP status the signer answers
        /// with; browser-side codes have none.
        #[derive(Debug, Clone, PartialEq, Eq, Hash)]
        #[non_exhaustive]
        pub enum ErrorCode {
            $( $(#[$doc])* $variant, )*
            /// A code this version does not know (from a newer peer); kept verbatim.
            Other(String),
        }

        impl ErrorCode {
            /// Every known code, in declaration order.
            pub const ALL: &'static [ErrorCode] = &[$(ErrorCode::$variant),*];

            /// The wire form, e.g. `origin_not_allowed`.
            pub fn as_str(&self) -> &str {
                match self {
                    $(ErrorCode::$variant => $code,)*
                    ErrorCode::Other(s) => s,
                }
            }

            /// The HTTP status the signer replies with for this code, if the signer emits it.
            pub fn http_status(&self) -> Option<u16> {
                match self {
                    $(ErrorCode::$variant => $status,)*
                    ErrorCode::Other(_) => None,
                }
            }
        }

        impl FromStr for ErrorCode {
            type Err = Infallible;
            fn from_str(s: &str) -> Result<Self, Infallible> {
                Ok(match s {
                    $($code => ErrorCode::$variant,)*
                    other => ErrorCode::Other(other.to_owned()),
                })
            }
        }
    };
}

error_codes! {
    // --- Emitted by the signer ---
    /// The request's `Origin` is not in the integration's allowlist (or is missing or `null`).
    OriginNotAllowed = "origin_not_allowed", Some(403);
    /// The request lacks the `X-CSRF: 1` header.
    CsrfHeaderMissing = "csrf_header_missing", Some(403);
    /// No integration has the requested name.
    UnknownIntegration = "unknown_integration", Some(404);
    /// No such route.
    NotFound = "not_found", Some(404);
    /// The route exists but not for this HTTP method.
    MethodNotAllowed = "method_not_allowed", Some(405);
    /// The request body is larger than the signer accepts.
    PayloadTooLarge = "payload_too_large", Some(413);
    /// The request (its body) did not arrive in time.
    RequestTimeout = "request_timeout", Some(408);
    /// The request is malformed in some other way.
    InvalidRequest = "invalid_request", Some(400);
    /// The caller sent too many requests; see `Retry-After`.
    RateLimited = "rate_limited", Some(429);
    /// CHILI's auth server refused the integration's credentials: check the client id, the secret
    /// and that the integration still exists.
    UpstreamRejected = "upstream_rejected", Some(502);
    /// CHILI's auth server could not be reached or failed, and no valid token is cached; see
    /// `Retry-After`.
    UpstreamUnavailable = "upstream_unavailable", Some(503);
    /// The token carries scopes outside the integration's `browser_scopes`, so it is not handed out.
    ScopeNotAllowed = "scope_not_allowed", Some(403);
    /// Caller authentication is configured and the request has no valid session.
    CallerUnauthenticated = "caller_unauthenticated", Some(401);
    /// The app's session check could not be reached; the caller is refused, never let in.
    CallerCheckUnavailable = "caller_check_unavailable", Some(503);
    /// The API proxy's allow-list does not name this method and path (or the integration has no
    /// proxy); nothing was sent to CHILI.
    ProxyPathNotAllowed = "proxy_path_not_allowed", Some(403);
    /// The caller used up a proxy quota (e.g. renders per hour); see `Retry-After`.
    QuotaExceeded = "quota_exceeded", Some(429);
    /// The API proxy could not reach the Environment API, or its reply broke off.
    ProxyUpstreamFailed = "proxy_upstream_failed", Some(502);
    /// The Environment API did not answer the API proxy in time.
    ProxyUpstreamTimeout = "proxy_upstream_timeout", Some(504);
    /// The API proxy cannot tell who owns a project or output right now (its store is down), so
    /// it refuses rather than risk one user reaching another's.
    OwnershipUnavailable = "ownership_unavailable", Some(503);
    /// The API proxy holds as much request-body memory as it may (all clients together, or this
    /// client's share of it); nothing was sent to CHILI. Retry after `Retry-After`.
    ProxyBusy = "proxy_busy", Some(503);
    /// An unexpected failure inside the signer.
    Internal = "internal_error", Some(500);
    // --- Raised by the browser module ---
    /// The signer could not be reached (network error, CORS refusal, DNS).
    SignerUnreachable = "signer_unreachable", None;
    /// The signer answered with an error; `detail` carries the signer's own code.
    SignerRejected = "signer_rejected", None;
    /// The Environment API still refused the token after one forced refresh.
    Unauthorized = "unauthorized", None;
    /// The Environment API answered with a non-2xx status.
    ApiError = "api_error", None;
    /// The operation did not finish within its timeout.
    Timeout = "timeout", None;
    /// The operation was aborted through its `AbortSignal`.
    Aborted = "aborted", None;
    /// A reply did not have the expected shape.
    InvalidResponse = "invalid_response", None;
    /// The options passed to a constructor or method are invalid; the message names the option.
    InvalidOptions = "invalid_options", None;
}

impl ErrorCode {
    /// Every `code` a browser `GraFxError` can carry: the browser module's own codes, and the
    /// signer codes it passes through because an app acts on them (retry later, send the user to
    /// the login). grafx-wasm's TypeScript `GraFxErrorCode` union must list exactly these; its
    /// test fails when they differ.
    pub const BROWSER: &'static [ErrorCode] = &[
        ErrorCode::SignerUnreachable,
        ErrorCode::SignerRejected,
        ErrorCode::UpstreamUnavailable,
        ErrorCode::CallerUnauthenticated,
        ErrorCode::CallerCheckUnavailable,
        ErrorCode::Unauthorized,
        ErrorCode::ApiError,
        ErrorCode::Timeout,
        ErrorCode::Aborted,
        ErrorCode::InvalidResponse,
        ErrorCode::InvalidOptions,
    ];
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for ErrorCode {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for ErrorCode {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Ok(s.parse().unwrap_or_else(|e: Infallible| match e {}))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    #[test]
    fn every_code_round_trips_and_is_unique() {
        let mut seen = std::collections::HashSet::new();
        for code in ErrorCode::ALL {
            assert!(seen.insert(code.as_str()), "duplicate {code}");
            assert_eq!(&code.as_str().parse::<ErrorCode>().unwrap(), code);
            let json = serde_json::to_string(code).unwrap();
            assert_eq!(&serde_json::from_str::<ErrorCode>(&json).unwrap(), code);
            assert!(code
                .as_str()
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b == b'_'));
        }
    }

    #[test]
    fn signer_codes_have_error_statuses() {
        for code in ErrorCode::ALL {
            if let Some(status) = code.http_status() {
                assert!((400..600).contains(&status), "{code}");
            }
        }
        assert_eq!(ErrorCode::UpstreamUnavailable.http_status(), Some(503));
        assert_eq!(ErrorCode::Timeout.http_status(), None);
    }

    #[test]
    fn unknown_codes_are_kept() {
        let c: ErrorCode = serde_json::from_str(r#""brand_new_code""#).unwrap();
        assert_eq!(c, ErrorCode::Other("brand_new_code".into()));
        assert_eq!(serde_json::to_string(&c).unwrap(), r#""brand_new_code""#);
        assert_eq!(c.http_status(), None);
    }
}
