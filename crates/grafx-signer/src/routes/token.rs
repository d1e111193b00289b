//! `POST /token` and `POST /token/{integration}`: hand a token to a trusted browser origin.
//!
//! A pipeline of small steps (see `issue_inner`): the client IP's rate limit, the bounded body,
//! the integration and the `Origin` (server-side, not only through CORS), the `X-CSRF: 1` header,
//! the caller's session and user limit, then the token's scopes against `browser_scopes`. Every
//! reply carries `Cache-Control: no-store` and `Vary: Origin`; replies to an allowed origin carry
//! CORS headers so the page can read them, errors included.
//!
//! CORS is written here rather than with tower-http's `CorsLayer`: the allowed origins depend on
//! the integration named in the path, a refused preflight must be a typed 403 that is counted
//! (`CorsLayer` answers every preflight and only leaves the headers out), and credentials are
//! allowed per integration, never with the development wildcard.

use std::net::SocketAddr;
use std::time::Duration;

use axum::extract::{ConnectInfo, Path, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use grafx_core::{ErrorCode, ExpiresIn, SignerToken, TokenType};

use super::gates::{
    authenticate, check_ip_limit, check_user_limit, client_ip, cors_for, decorate, preflight_reply,
    refuse, require_csrf,
};
use crate::{AppError, AppState};

/// Headers a page may send on the token request.
const ALLOWED_REQUEST_HEADERS: &str = "x-csrf, content-type, authorization";

/// The integration named in the path, or the default one.
fn integration_name(state: &AppState, path: Option<String>) -> String {
    path.unwrap_or_else(|| state.config().default_integration.clone())
}

fn origin_of(headers: &HeaderMap) -> Option<&str> {
    headers.get(header::ORIGIN).and_then(|v| v.to_str().ok())
}

/// Resolves the integration and checks the origin; returns the cache and the allowed origin.
fn admit(
    state: &AppState,
    name: &str,
    headers: &HeaderMap,
) -> Result<(std::sync::Arc<crate::TokenCache>, String), AppError> {
    let cache = state.cache(name).ok_or_else(|| {
        AppError::new(
            ErrorCode::UnknownIntegration,
            format!("no integration is named `{name}`"),
        )
    })?;
    let origin = origin_of(headers).ok_or_else(|| {
        AppError::new(
            ErrorCode::OriginNotAllowed,
            "the request has no Origin header; tokens are handed only to pages on allowed origins",
        )
    })?;
    let refusal = match &cache.integration().allowed_origins {
        crate::OriginPolicy::ServerSideOnly => Some(format!(
            "integration `{name}` is server-side only: no browser origin may obtain its tokens"
        )),
        policy if !policy.allows(origin) => Some(format!(
            "origin `{origin}` is not allowed for integration `{name}`; add it to the allowed origins"
        )),
        _ => None,
    };
    match refusal {
        Some(why) => {
            crate::refusal_log::origin_refused(origin, name, crate::server::TOKEN_ROUTE);
            Err(AppError::new(ErrorCode::OriginNotAllowed, why))
        }
        None => Ok((cache, origin.to_owned())),
    }
}

/// `POST /token[/{integration}]`.
pub(crate) async fn issue(
    State(state): State<AppState>,
    path: Option<Path<String>>,
    req: Request,
) -> Response {
    let (parts, body) = req.into_parts();
    let peer = parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0);
    let name = integration_name(&state, path.map(|p| p.0));
    let headers = &parts.headers;
    // The origin gets CORS headers on every reply (errors included) once it is known to be allowed.
    let admitted = admit(&state, &name, headers);
    // The request's own header value, echoed back (a reference-count bump, no copy).
    let allowed_origin = admitted
        .as_ref()
        .ok()
        .and_then(|(c, _)| cors_for(c, headers));
    let result = issue_inner(&state, &name, headers, peer, body, admitted).await;
    let res = match result {
        Ok(res) => res,
        Err(e) => refuse(&state, e).into_response(),
    };
    decorate(res, allowed_origin)
}

/// The token pipeline: each step is a small function that refuses with a typed error, in the
/// order that keeps refusals cheap (IP limit, body, integration and origin, CSRF, caller, user
/// limit, token, scopes), then the reply and its audit line.
async fn issue_inner(
    state: &AppState,
    name: &str,
    headers: &HeaderMap,
    peer: Option<SocketAddr>,
    body: axum::body::Body,
    admitted: Result<(std::sync::Arc<crate::TokenCache>, String), AppError>,
) -> Result<Response, AppError> {
    // Before any work for the caller: a flood of junk sessions is refused here.
    check_ip_limit(state, client_ip(state, headers, peer))?;
    let body_fits = read_body(body, state.config().header_read_timeout).await?;
    let (cache, origin) = admitted?;
    require_csrf(headers)?;
    require_small_body(body_fits)?;
    let integration = cache.integration();
    let caller = authenticate(state, name, &integration, headers).await?;
    // A named user has an allowance of their own, on top of their IP's.
    check_user_limit(state, caller.as_ref())?;
    let (token, lookup) = cache.get().await?;
    let request_id = crate::request_id::of(headers);
    check_scopes(name, &integration, &token, request_id)?;
    let json = render(state, &cache, &integration, &token)?;
    // The audit trail: who got a token, for what, until when; never the token itself. A line for
    // each identified caller; anonymous issuance (no one to name) is counted in the metrics
    // (`http_requests_total{route="/token",status="200"}`, `cache_lookups_total`) and logged at
    // debug level only, so that a busy public page does not write a line per request.
    let user = caller.as_ref().and_then(|c| c.subject.as_deref());
    let expires_at = token.expiry.expires_at().as_millis() / 1000;
    match user {
        Some(user) => tracing::info!(
            target: "grafx_signer::audit",
            request_id,
            user,
            origin,
            integration = name,
            expires_at,
            ?lookup,
            "token issued"
        ),
        None => tracing::debug!(
            target: "grafx_signer::audit",
            request_id,
            user = "-",
            origin,
            integration = name,
            expires_at,
            ?lookup,
            "token issued"
        ),
    }
    Ok((
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/json")],
        json,
    )
        .into_response())
}

/// Reads and discards the body, bounded in size and time: `Ok(false)` when it is over 4 KiB
/// (refused after the origin checks), 408 when it trickles in longer than `deadline`.
async fn read_body(body: axum::body::Body, deadline: Duration) -> Result<bool, AppError> {
    // The usual token request has no body: no timer to arm (this is the hot path).
    if axum::body::HttpBody::is_end_stream(&body) {
        return Ok(true);
    }
    match tokio::time::timeout(deadline, axum::body::to_bytes(body, 4096)).await {
        Ok(read) => Ok(read.is_ok()),
        Err(_) => Err(AppError::new(
            ErrorCode::RequestTimeout,
            format!(
                "the request body did not arrive within {} s",
                deadline.as_secs_f32()
            ),
        )),
    }
}

fn require_small_body(fits: bool) -> Result<(), AppError> {
    if fits {
        Ok(())
    } else {
        Err(AppError::new(
            ErrorCode::PayloadTooLarge,
            "the token request body must be empty (at most 4 KiB)",
        ))
    }
}

/// Refuses a token with scopes the integration's `browser_scopes` does not allow.
fn check_scopes(
    name: &str,
    integration: &crate::Integration,
    token: &crate::CachedToken,
    request_id: &str,
) -> Result<(), AppError> {
    let Some(policy) = &integration.browser_scopes else {
        return Ok(());
    };
    let refused = policy.refused(&token.scope);
    if refused.is_empty() {
        return Ok(());
    }
    let extra = refused.join(" ");
    tracing::warn!(
        request_id,
        integration = name,
        extra_scopes = %extra,
        browser_scopes = %policy,
        "refusing to hand a token to a browser: it carries scopes browser_scopes does not allow (write tokens belong on servers)"
    );
    Err(AppError::new(
        ErrorCode::ScopeNotAllowed,
        format!(
            "integration `{name}`'s token carries scopes not allowed in browsers ({extra}); give the browser a read-only integration"
        ),
    ))
}

/// The reply body, rendered at most once per token and remaining second.
pub(crate) fn render(
    state: &AppState,
    cache: &crate::TokenCache,
    integration: &crate::Integration,
    token: &std::sync::Arc<crate::CachedToken>,
) -> Result<axum::body::Bytes, AppError> {
    let now = state.clock().now();
    // A token in its last second still reports 1: `expires_in` is whole seconds, and the
    // cache only returns tokens that have not expired.
    let remaining = token.expiry.remaining(now).max(Duration::from_secs(1));
    cache.rendered(token, remaining.as_secs(), || {
        let expires_in = ExpiresIn::new(remaining)
            .map_err(|e| AppError::new(ErrorCode::Internal, e.to_string()))?;
        let wall_now = now.as_millis() / 1000;
        let body = SignerToken {
            access_token: token.access_token.clone(),
            token_type: TokenType::Bearer,
            expires_in,
            expires_at: wall_now + expires_in.as_secs(),
            scope: token.scope.clone(),
            environment: integration.environment.clone(),
            environment_api_url: integration.environment_api_url.clone(),
            platform_api_url: Some(integration.platform_api_url.clone()),
        };
        serde_json::to_string(&body).map_err(|e| AppError::new(ErrorCode::Internal, e.to_string()))
    })
}

/// `OPTIONS /token[/{integration}]`: CORS preflight, answered for allowed origins only.
pub(crate) async fn preflight(
    State(state): State<AppState>,
    path: Option<Path<String>>,
    headers: HeaderMap,
) -> Response {
    let name = integration_name(&state, path.map(|p| p.0));
    let cors = match admit(&state, &name, &headers) {
        Err(e) => return decorate(refuse(&state, e).into_response(), None),
        Ok((cache, _)) => cors_for(&cache, &headers),
    };
    let method_ok = headers
        .get(header::ACCESS_CONTROL_REQUEST_METHOD)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|m| m.eq_ignore_ascii_case("POST"));
    if !method_ok {
        let e = AppError::new(
            ErrorCode::MethodNotAllowed,
            "only POST is allowed on the token endpoint",
        );
        return decorate(
            AppError {
                allow: Some("POST, OPTIONS"),
                ..e
            }
            .into_response(),
            None,
        );
    }
    let mut res = decorate(preflight_reply("POST", ALLOWED_REQUEST_HEADERS), cors);
    res.headers_mut().insert(
        header::VARY,
        HeaderValue::from_static(
            "Origin, Access-Control-Request-Method, Access-Control-Request-Headers",
        ),
    );
    res
}

/// Any other method on the token routes.
pub(crate) async fn wrong_method(method: Method) -> Response {
    let e = AppError::new(
        ErrorCode::MethodNotAllowed,
        format!("{method} is not allowed on the token endpoint; use POST"),
    );
    decorate(
        AppError {
            allow: Some("POST, OPTIONS"),
            ..e
        }
        .into_response(),
        None,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_body_is_bounded_in_size_and_time() {
        let deadline = Duration::from_millis(100);
        assert!(read_body(axum::body::Body::empty(), deadline)
            .await
            .unwrap());
        let big = axum::body::Body::from(vec![b'x'; 5000]);
        assert!(!read_body(big, deadline).await.unwrap());
        assert_eq!(
            require_small_body(false).unwrap_err().code,
            ErrorCode::PayloadTooLarge
        );
        // A body that never ends.
        let endless = axum::body::Body::from_stream(futures_util::stream::pending::<
            Result<axum::body::Bytes, std::io::Error>,
        >());
        let e = read_body(endless, deadline).await.unwrap_err();
        assert_eq!(e.code, ErrorCode::RequestTimeout);
    }
}
