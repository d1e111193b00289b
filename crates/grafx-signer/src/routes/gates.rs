//! The gates `/token` and the API proxy share, in the order both apply them: the client IP's rate
//! limit, the `X-CSRF: 1` header, the caller's session and the signed-in user's rate limit; and
//! the reply's CORS and no-store headers.
//!
//! ```ignore
//! let ip = gates::client_ip(&state, &headers, peer);
//! gates::check_ip_limit(&state, ip)?;
//! gates::require_csrf(&headers)?;
//! let caller = gates::authenticate(&state, name, &integration, &headers).await?;
//! gates::check_user_limit(&state, caller.as_ref())?;
//! ```

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use grafx_core::{ErrorCode, CSRF_HEADER, CSRF_HEADER_VALUE};

use crate::metrics::ReasonLabel;
use crate::{AppError, AppState, CallerRefusal};

/// The client's IP: the socket peer, or behind trusted proxies what they saw (see `client_ip`).
pub(crate) fn client_ip(
    state: &AppState,
    req_headers: &HeaderMap,
    peer: Option<SocketAddr>,
) -> IpAddr {
    let peer_ip = peer.map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |p| p.ip());
    let config = state.config();
    crate::client_ip(
        peer_ip,
        req_headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok()),
        config.trust_proxy,
        &config.trusted_proxies,
    )
}

/// The client IP's allowance (per IP, IPv6 per /64): checked before any work for the caller.
pub(crate) fn check_ip_limit(state: &AppState, ip: IpAddr) -> Result<(), AppError> {
    state.limits().check_ip(ip).map_err(rate_limited)
}

/// A signed-in user's allowance, on top of their IP's (anonymous callers have only the IP's).
pub(crate) fn check_user_limit(
    state: &AppState,
    caller: Option<&crate::Caller>,
) -> Result<(), AppError> {
    match caller.and_then(|c| c.subject.as_deref()) {
        Some(user) => state.limits().check_user(user).map_err(rate_limited),
        None => Ok(()),
    }
}

pub(crate) fn rate_limited(wait: Duration) -> AppError {
    AppError::new(
        ErrorCode::RateLimited,
        "too many requests from this client or user; retry later",
    )
    .retry_after(wait)
}

/// The CORS grant for an admitted request: its own `Origin` (echoed exactly, never `*`), and
/// whether it may send credentials (cookies for caller authentication) — never with
/// `--dev-allow-any-origin`, which would let any site use a visitor's session.
pub(crate) fn cors_for(
    cache: &crate::TokenCache,
    headers: &HeaderMap,
) -> Option<(HeaderValue, bool)> {
    let origin = headers.get(header::ORIGIN)?.clone();
    let credentials = !matches!(
        cache.integration().allowed_origins,
        crate::OriginPolicy::AnyForDevelopment
    );
    Some((origin, credentials))
}

/// Adds the CORS and no-store headers.
pub(crate) fn decorate(mut res: Response, cors: Option<(HeaderValue, bool)>) -> Response {
    let h = res.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    h.insert(header::VARY, HeaderValue::from_static("Origin"));
    if let Some((value, credentials)) = cors {
        h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, value);
        if credentials {
            h.insert(
                header::ACCESS_CONTROL_ALLOW_CREDENTIALS,
                HeaderValue::from_static("true"),
            );
        }
        h.insert(
            header::ACCESS_CONTROL_EXPOSE_HEADERS,
            HeaderValue::from_static("retry-after, www-authenticate"),
        );
    }
    res
}

/// A code's wire form borrowed from `ErrorCode::ALL`, so a refusal's label allocates nothing; a
/// code this version does not know (the signer never emits one) is labelled `other`.
fn code_label(code: &ErrorCode) -> &'static str {
    ErrorCode::ALL
        .iter()
        .find(|known| *known == code)
        .map_or("other", ErrorCode::as_str)
}

pub(crate) fn refuse(state: &AppState, err: AppError) -> AppError {
    state
        .metrics()
        .refusals
        .get_or_create(&ReasonLabel {
            reason: code_label(&err.code),
        })
        .inc();
    err
}

/// `X-CSRF: 1`: a custom header forces a CORS preflight, so other sites cannot send it.
pub(crate) fn require_csrf(headers: &HeaderMap) -> Result<(), AppError> {
    if headers.get(CSRF_HEADER).and_then(|v| v.to_str().ok()) == Some(CSRF_HEADER_VALUE) {
        Ok(())
    } else {
        Err(AppError::new(
            ErrorCode::CsrfHeaderMissing,
            "the request needs the header `X-CSRF: 1` (it forces a CORS preflight, so other sites cannot send it)",
        ))
    }
}

/// The caller, when the integration wants one: 401 without a valid session, 503 when the check
/// itself is unusable.
pub(crate) async fn authenticate(
    state: &AppState,
    name: &str,
    integration: &crate::Integration,
    headers: &HeaderMap,
) -> Result<Option<crate::Caller>, AppError> {
    if integration.caller.is_none() {
        return Ok(None);
    }
    let Some(auth) = state.caller_auth(name) else {
        return Err(AppError::new(
            ErrorCode::CallerCheckUnavailable,
            "caller authentication is configured but unusable (see the signer's log)",
        ));
    };
    match auth.check(headers).await {
        Ok(caller) => Ok(Some(caller)),
        Err(refusal) => {
            // Refused callers were throttled by IP first, so guessing sessions is slow.
            state.metrics().count_caller_refusal(refusal.reason());
            Err(caller_error(refusal))
        }
    }
}

/// A caller refusal as the reply: 401 with `WWW-Authenticate`, or 503 when the check failed.
fn caller_error(refusal: CallerRefusal) -> AppError {
    match refusal {
        CallerRefusal::Unauthenticated { reason, message } => {
            let challenge = if reason == crate::RefusalReason::Missing {
                r#"Bearer realm="grafx-signer""#.to_owned()
            } else {
                format!(
                    r#"Bearer realm="grafx-signer", error="invalid_token", error_description="{}""#,
                    message.replace('"', "'")
                )
            };
            AppError {
                www_authenticate: Some(challenge),
                ..AppError::new(ErrorCode::CallerUnauthenticated, message)
            }
        }
        CallerRefusal::Unavailable { message, .. } => {
            AppError::new(ErrorCode::CallerCheckUnavailable, message)
                .retry_after(Duration::from_secs(5))
        }
    }
}

/// A granted CORS preflight: 204 with the methods and headers a page may use, cached 10 minutes.
pub(crate) fn preflight_reply(methods: &'static str, headers: &'static str) -> Response {
    let mut res = StatusCode::NO_CONTENT.into_response();
    let h = res.headers_mut();
    h.insert(
        header::ACCESS_CONTROL_ALLOW_METHODS,
        HeaderValue::from_static(methods),
    );
    h.insert(
        header::ACCESS_CONTROL_ALLOW_HEADERS,
        HeaderValue::from_static(headers),
    );
    h.insert(
        header::ACCESS_CONTROL_MAX_AGE,
        HeaderValue::from_static("600"),
    );
    res
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csrf_needs_exactly_the_header() {
        let mut h = HeaderMap::new();
        assert_eq!(
            require_csrf(&h).unwrap_err().code,
            ErrorCode::CsrfHeaderMissing
        );
        h.insert(CSRF_HEADER, HeaderValue::from_static("0"));
        assert!(require_csrf(&h).is_err());
        h.insert(CSRF_HEADER, HeaderValue::from_static(CSRF_HEADER_VALUE));
        assert!(require_csrf(&h).is_ok());
    }
}
