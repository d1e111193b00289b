//! The proxy's own gates: which integration, which origin (the same-origin fallback checks the
//! `Host`, so a rebound DNS name is not "same origin"), which path, and the caller's quotas.
//!
//! ```ignore
//! let a = admit(&state, &parts)?;                       // integration, proxy, Origin
//! let path = allowed_path(&a, &parts.method, split_path(parts.uri.path()).1)?;
//! check_quotas(&state, &a.name, &parts.method, &path, &sender)?;
//! ```

use std::sync::Arc;

use crate::ProxyPath;
use axum::http::{header, request::Parts, HeaderMap, Method};
use axum::response::Response;
use grafx_core::ErrorCode;

use super::{Admitted, Sender};
use crate::rate_limit::QuotaKey;
use crate::{AppError, AppState, Integration, OriginPolicy, TokenCache};

/// Headers a page may send to the proxy.
const ALLOWED_REQUEST_HEADERS: &str =
    "x-csrf, content-type, authorization, accept, accept-language, if-match, if-none-match, if-modified-since, range, if-range";

/// What the audit names a page on the signer's own origin (never compared with a request's
/// `Origin`: a header spelling it is checked against the list like any other).
const SAME_ORIGIN: &str = "(same origin)";

/// The integration named in the path: its token cache and its settings.
pub(super) fn integration(
    state: &AppState,
    parts: &Parts,
) -> Result<(Arc<TokenCache>, Arc<Integration>), AppError> {
    let (name, _) = split_path(parts.uri.path());
    let cache = state.cache(name).ok_or_else(|| {
        AppError::new(
            ErrorCode::UnknownIntegration,
            format!("no integration is named `{name}`"),
        )
    })?;
    let integration = Arc::clone(&cache.integration());
    Ok((cache, integration))
}

/// The request, when `integration` (the one named in its path) has a proxy and the request's
/// `Origin` is allowed.
pub(super) fn admit<'a>(
    parts: &'a Parts,
    cache: &'a Arc<TokenCache>,
    integration: &'a Arc<Integration>,
) -> Result<Admitted<'a>, AppError> {
    let (name, _) = split_path(parts.uri.path());
    let proxy = integration.proxy.as_ref().ok_or_else(|| {
        AppError::new(
            ErrorCode::ProxyPathNotAllowed,
            format!("integration `{name}` has no API proxy: add [integrations.{name}.proxy] with an allow-list"),
        )
    })?;
    let origin = origin(parts, &proxy.allowed_origins, name)?;
    Ok(Admitted {
        name,
        origin,
        cache,
        integration,
        proxy,
    })
}

/// The request's `Origin` when the policy allows it; else, for a GET or HEAD without one, the
/// signer's own origin when the browser says so and the `Host` is an allowed origin's.
fn origin(parts: &Parts, policy: &OriginPolicy, name: &str) -> Result<String, AppError> {
    match parts.headers.get(header::ORIGIN).map(|v| v.to_str()) {
        Some(Ok(origin)) if policy.allows(origin) => Ok(origin.to_owned()),
        Some(Ok(origin)) => {
            crate::refusal_log::origin_refused(origin, name, crate::server::PROXY_PREFIX);
            Err(AppError::new(
                ErrorCode::OriginNotAllowed,
                format!("origin `{origin}` may not use integration `{name}`'s API proxy; add it to proxy.allowed_origins"),
            ))
        }
        // Browsers send no `Origin` on a same-origin GET or HEAD; they do send the
        // `Sec-Fetch-Site` a script cannot set. A page served by the signer itself is its own,
        // but only on a host the policy names: a page on a rebound DNS name is "same origin" to
        // the browser too, and it must not pass.
        None if matches!(parts.method, Method::GET | Method::HEAD)
            && same_origin_fetch(&parts.headers) =>
        {
            if allowed_host(parts, policy) {
                Ok(SAME_ORIGIN.to_owned())
            } else {
                Err(AppError::new(
                    ErrorCode::OriginNotAllowed,
                    "a same-origin request to a host that is not one of the proxy's allowed origins (proxy.allowed_origins); open the page on an allowed origin",
                ))
            }
        }
        _ => Err(AppError::new(
            ErrorCode::OriginNotAllowed,
            "the request has no Origin header (a same-origin GET may have `Sec-Fetch-Site: same-origin` instead); the API proxy serves only pages on allowed origins",
        )),
    }
}

/// `Sec-Fetch-Site: same-origin`: the browser says the request comes from the signer's origin.
fn same_origin_fetch(headers: &HeaderMap) -> bool {
    headers
        .get("sec-fetch-site")
        .is_some_and(|v| v.as_bytes() == b"same-origin")
}

/// Whether the request's host (`Host`, or the authority of an absolute-form target) is the host
/// of an allowed origin, over either scheme: a TLS-terminating proxy in front may hide which.
fn allowed_host(parts: &Parts, policy: &OriginPolicy) -> bool {
    let host = match parts.uri.authority() {
        Some(a) => Some(a.as_str()),
        None => parts
            .headers
            .get(header::HOST)
            .and_then(|v| v.to_str().ok()),
    };
    host.filter(|h| !h.is_empty() && !h.contains(['/', '@', '\\']))
        .is_some_and(|h| {
            policy.allows(&format!("https://{h}")) || policy.allows(&format!("http://{h}"))
        })
}

/// `/api/{name}/{rest}` → (`name`, `rest`), still percent-encoded.
pub(super) fn split_path(path: &str) -> (&str, &str) {
    let after = path
        .strip_prefix(crate::server::PROXY_PREFIX)
        .unwrap_or_default();
    after.split_once('/').unwrap_or((after, ""))
}

/// The CORS preflight of an admitted origin.
pub(super) fn preflight() -> Response {
    super::gates::preflight_reply(
        "GET, HEAD, POST, PUT, PATCH, DELETE",
        ALLOWED_REQUEST_HEADERS,
    )
}

/// The request path, when it is a plain path the allow-list names for this method.
pub(super) fn allowed_path(
    a: &Admitted<'_>,
    method: &Method,
    raw: &str,
) -> Result<ProxyPath, AppError> {
    let path = ProxyPath::parse(raw)
        .map_err(|e| AppError::new(ErrorCode::ProxyPathNotAllowed, e.to_string()))?;
    if !a.proxy.allow.allows(method.as_str(), &path) {
        return Err(AppError::new(
            ErrorCode::ProxyPathNotAllowed,
            format!(
                "`{method} {path}` is not in integration `{}`'s proxy allow-list; nothing was sent to CHILI",
                a.name
            ),
        ));
    }
    Ok(path)
}

/// Charges the caller's quotas (the signed-in user's, else the client IP's): all of them, or,
/// when one is used up, none.
pub(super) fn check_quotas(
    state: &AppState,
    name: &str,
    method: &Method,
    path: &ProxyPath,
    sender: &Sender<'_>,
) -> Result<(), AppError> {
    let Some(quotas) = state.proxy_quotas(name) else {
        return Ok(());
    };
    let who = sender.user.map_or(QuotaKey::Ip(sender.ip), QuotaKey::User);
    quotas
        .check(method.as_str(), path, who)
        .map_err(|(wait, quota)| {
            let whom = if sender.user.is_some() {
                "this user"
            } else {
                "this client"
            };
            AppError::new(
                ErrorCode::QuotaExceeded,
                format!(
                    "{whom} has used the quota `{}` ({} per hour); retry in {} s",
                    quota.rule,
                    quota.per_hour,
                    wait.as_secs().max(1)
                ),
            )
            .retry_after(wait)
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_integration_name_and_rest_are_split_raw() {
        assert_eq!(
            split_path("/api/writer/output/pdf"),
            ("writer", "output/pdf")
        );
        assert_eq!(split_path("/api/writer"), ("writer", ""));
        assert_eq!(
            split_path("/api/writer/a%2F..%2Fb"),
            ("writer", "a%2F..%2Fb")
        );
    }

    fn parts(host: &str) -> Parts {
        let (parts, ()) = axum::http::Request::get("/api/writer/output/settings")
            .header("host", host)
            .body(())
            .unwrap()
            .into_parts();
        parts
    }

    #[test]
    fn a_same_origin_host_must_be_an_allowed_origins() {
        let policy =
            OriginPolicy::parse_list("https://app.example.com, http://127.0.0.1:8787").unwrap();
        assert!(allowed_host(&parts("app.example.com"), &policy));
        assert!(allowed_host(&parts("APP.example.com"), &policy));
        assert!(allowed_host(&parts("127.0.0.1:8787"), &policy));
        for rebound in [
            "rebind.attacker.example:8787",
            "127.0.0.1:9999",
            "app.example.com.attacker.example",
            "",
            "app.example.com@evil.example",
        ] {
            assert!(!allowed_host(&parts(rebound), &policy), "{rebound}");
        }
        assert!(!allowed_host(
            &parts("app.example.com"),
            &OriginPolicy::ServerSideOnly
        ));
    }
}
