//! `/api/{integration}/{path…}`: the API proxy (the Backend-for-Frontend pattern). A page calls
//! the Environment API through the signer, which adds the integration's token; the token never
//! reaches the browser, so a write integration can serve pages without handing them its token.
//!
//! The gates, in order: the client IP's rate limit; the integration and its proxy; the `Origin`
//! (the proxy's `allowed_origins`, or a same-origin GET that browsers send without one, told by
//! `Sec-Fetch-Site`); `X-CSRF: 1`; the path (a plain path, see
//! [`grafx_core::ProxyPath`]) against the allow-list; the caller's session when required; the
//! caller's quotas; the body's size. Only then is CHILI asked.
//!
//! Bodies stream both ways. A request body of up to [`REPLAY_LIMIT`] is held so that a 401 from
//! CHILI can be retried once with a replacement token (`TokenCache::replace_refused`); a larger
//! one streams and gets no retry. Replies pass CHILI's status, content type and problem+json
//! through; JSON and text replies up to [`REWRITE_LIMIT`] have CHILI's API links made relative
//! (so they lead back through the proxy) and any copy of the token redacted. Other replies (a
//! rendered PDF, a video) stream untouched, never held whole.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{header, request::Parts, HeaderMap, HeaderName, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use futures_util::{Stream, StreamExt};
use grafx_core::{ErrorCode, ProxyPath};

use super::token::{authenticate, client_ip, decorate, refuse, require_csrf};
use crate::metrics::ProxyLabels;
use crate::rate_limit::QuotaKey;
use crate::{AppError, AppState, Integration, OriginPolicy, ProxyPolicy, TokenCache};

/// A request body up to this size is held so a 401 can be retried; a larger one streams.
pub const REPLAY_LIMIT: usize = 256 * 1024;
/// How long the proxy waits for CHILI's reply head (a request body streams within it). Longer than
/// the token route's deadline: an upload of `max_request_bytes` must fit.
pub const PROXY_DEADLINE: std::time::Duration = std::time::Duration::from_secs(120);
/// JSON and text replies up to this size are rewritten (links, token redaction); larger ones
/// and every other type stream untouched.
pub const REWRITE_LIMIT: usize = 2 * 1024 * 1024;

/// Request headers passed on to CHILI (never the caller's `Cookie` or `Authorization`).
const FORWARDED_REQUEST_HEADERS: [HeaderName; 7] = [
    header::CONTENT_TYPE,
    header::ACCEPT,
    header::ACCEPT_LANGUAGE,
    header::IF_MATCH,
    header::IF_NONE_MATCH,
    header::IF_MODIFIED_SINCE,
    header::RANGE,
];

/// Reply headers passed back (never `Authorization`, `Set-Cookie` or `WWW-Authenticate`).
const FORWARDED_REPLY_HEADERS: [HeaderName; 10] = [
    header::CONTENT_TYPE,
    header::CONTENT_LENGTH,
    header::CONTENT_DISPOSITION,
    header::CONTENT_ENCODING,
    header::CONTENT_LANGUAGE,
    header::CONTENT_RANGE,
    header::ACCEPT_RANGES,
    header::ETAG,
    header::LAST_MODIFIED,
    header::RETRY_AFTER,
];

/// Headers a page may send to the proxy.
const ALLOWED_REQUEST_HEADERS: &str =
    "x-csrf, content-type, authorization, accept, accept-language, if-match, if-none-match, if-modified-since, range";

/// An admitted request's integration.
struct Admitted {
    name: String,
    cache: Arc<TokenCache>,
    integration: Arc<Integration>,
    proxy: ProxyPolicy,
    origin: String,
}

/// `ANY /api/{integration}/{path…}`.
pub(crate) async fn forward(State(state): State<AppState>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let admitted = admit(&state, &parts);
    let cors = admitted.as_ref().ok().map(|a| {
        let credentials = a.proxy.allowed_origins != OriginPolicy::AnyForDevelopment;
        (parts.headers.get(header::ORIGIN).cloned(), credentials)
    });
    let cors = cors.and_then(|(origin, credentials)| Some((origin?, credentials)));
    let res = if parts.method == Method::OPTIONS {
        admitted.map(|_| preflight())
    } else {
        match admitted {
            Ok(a) => forward_admitted(&state, &parts, body, a).await,
            Err(e) => Err(e),
        }
    };
    let res = res.unwrap_or_else(|e| refuse(&state, e).into_response());
    let mut res = decorate(res, cors);
    res.headers_mut().insert(
        header::ACCESS_CONTROL_EXPOSE_HEADERS,
        HeaderValue::from_static(
            "retry-after, www-authenticate, content-disposition, content-length, location, etag",
        ),
    );
    res
}

/// The integration (with a proxy) named in the path, and the request's allowed `Origin`.
fn admit(state: &AppState, parts: &Parts) -> Result<Admitted, AppError> {
    let (name, _) = split_path(parts.uri.path());
    let cache = state.cache(name).ok_or_else(|| {
        AppError::new(
            ErrorCode::UnknownIntegration,
            format!("no integration is named `{name}`"),
        )
    })?;
    let integration = Arc::clone(&cache.integration());
    let proxy = integration.proxy.clone().ok_or_else(|| {
        AppError::new(
            ErrorCode::ProxyPathNotAllowed,
            format!("integration `{name}` has no API proxy: add [integrations.{name}.proxy] with an allow-list"),
        )
    })?;
    let origin = match parts.headers.get(header::ORIGIN).map(|v| v.to_str()) {
        Some(Ok(origin)) if proxy.allowed_origins.allows(origin) => origin.to_owned(),
        Some(Ok(origin)) => {
            return Err(AppError::new(
                ErrorCode::OriginNotAllowed,
                format!("origin `{origin}` may not use integration `{name}`'s API proxy; add it to proxy.allowed_origins"),
            ))
        }
        // Browsers send no `Origin` on a same-origin GET or HEAD; they do send the
        // `Sec-Fetch-Site` a script cannot set. A page served by the signer itself is its own.
        None if matches!(parts.method, Method::GET | Method::HEAD)
            && same_origin_fetch(&parts.headers) =>
        {
            SAME_ORIGIN.to_owned()
        }
        _ => {
            return Err(AppError::new(
                ErrorCode::OriginNotAllowed,
                "the request has no Origin header (a same-origin GET may have `Sec-Fetch-Site: same-origin` instead); the API proxy serves only pages on allowed origins",
            ))
        }
    };
    Ok(Admitted {
        name: name.to_owned(),
        origin,
        cache,
        integration,
        proxy,
    })
}

/// What the audit names a page on the signer's own origin (never compared with a request's
/// `Origin`: a header spelling it is checked against the list like any other).
const SAME_ORIGIN: &str = "(same origin)";

/// `Sec-Fetch-Site: same-origin`: the browser says the request comes from the signer's origin.
fn same_origin_fetch(headers: &HeaderMap) -> bool {
    headers
        .get("sec-fetch-site")
        .is_some_and(|v| v.as_bytes() == b"same-origin")
}

/// `/api/{name}/{rest}` → (`name`, `rest`), still percent-encoded.
fn split_path(path: &str) -> (&str, &str) {
    let after = path.strip_prefix("/api/").unwrap_or_default();
    after.split_once('/').unwrap_or((after, ""))
}

/// The CORS preflight of an admitted origin.
fn preflight() -> Response {
    super::token::preflight_reply(
        "GET, HEAD, POST, PUT, PATCH, DELETE",
        ALLOWED_REQUEST_HEADERS,
    )
}

/// The gates after the origin, then the request to CHILI and its reply.
async fn forward_admitted(
    state: &AppState,
    parts: &Parts,
    body: Body,
    a: Admitted,
) -> Result<Response, AppError> {
    let peer = parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0);
    let ip = client_ip(state, &parts.headers, peer);
    state.limits().check_ip(ip).map_err(|wait| {
        AppError::new(
            ErrorCode::RateLimited,
            "too many requests from this client; retry later",
        )
        .retry_after(wait)
    })?;
    require_csrf(&parts.headers)?;
    let path = allowed_path(&a, &parts.method, split_path(parts.uri.path()).1)?;
    let caller = if a.proxy.require_caller {
        authenticate(state, &a.name, &a.integration, &parts.headers).await?
    } else {
        None
    };
    let user = caller.as_ref().and_then(|c| c.subject.as_deref());
    check_quotas(state, &a.name, &parts.method, &path, user, ip)?;
    let outgoing = read_body(body, &parts.headers, a.proxy.max_request_bytes).await?;
    let request_id = parts
        .headers
        .get(crate::server::REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("-")
        .to_owned();
    audit(&a, parts, &path, user, None, &request_id);
    let (upstream, token) = send_in_time(state, parts, &a, &path, outgoing).await?;
    let status = upstream.status();
    state
        .metrics()
        .proxy_requests
        .get_or_create(&ProxyLabels {
            integration: a.name.clone(),
            method: method_label(&parts.method),
            status: status.as_u16(),
        })
        .inc();
    audit(&a, parts, &path, user, Some(status), &request_id);
    reply(upstream, &a, &path, &token, parts.method.clone()).await
}

/// The request path, when it is a plain path the allow-list names for this method.
fn allowed_path(a: &Admitted, method: &Method, raw: &str) -> Result<ProxyPath, AppError> {
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

/// Charges the caller's quotas: the signed-in user's, else the client IP's.
fn check_quotas(
    state: &AppState,
    name: &str,
    method: &Method,
    path: &ProxyPath,
    user: Option<&str>,
    ip: std::net::IpAddr,
) -> Result<(), AppError> {
    let Some(quotas) = state.proxy_quotas(name) else {
        return Ok(());
    };
    let who = user.map_or(QuotaKey::Ip(ip), QuotaKey::User);
    quotas
        .check(method.as_str(), path, who)
        .map_err(|(wait, quota)| {
            let whom = if user.is_some() {
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

/// A request body for CHILI: held (and so replayable) when small, else streamed with its size
/// checked on the way.
enum Outgoing {
    Held(Option<Bytes>),
    Streamed {
        body: reqwest::Body,
        too_large: Arc<AtomicBool>,
    },
}

fn too_large(max: u64) -> AppError {
    AppError::new(
        ErrorCode::PayloadTooLarge,
        format!("the request body is larger than the proxy forwards ({max} bytes; proxy.max_request_bytes)"),
    )
}

/// Reads up to [`REPLAY_LIMIT`] of the body; the rest, if any, streams (see [`Outgoing`]).
async fn read_body(body: Body, headers: &HeaderMap, max: u64) -> Result<Outgoing, AppError> {
    let announced = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if announced.is_some_and(|n| n > max) {
        return Err(too_large(max));
    }
    if axum::body::HttpBody::is_end_stream(&body) {
        return Ok(Outgoing::Held(None));
    }
    let mut stream = body.into_data_stream();
    let mut held = Vec::new();
    let mut size = 0usize;
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| {
            AppError::new(
                ErrorCode::InvalidRequest,
                format!("the request body could not be read: {e}"),
            )
        })?;
        size += chunk.len();
        if size as u64 > max {
            return Err(too_large(max));
        }
        held.push(chunk);
        if size > REPLAY_LIMIT {
            let too_large = Arc::new(AtomicBool::new(false));
            let body = reqwest::Body::wrap_stream(bounded(
                futures_util::stream::iter(held.into_iter().map(Ok)).chain(stream),
                max,
                Arc::clone(&too_large),
            ));
            return Ok(Outgoing::Streamed { body, too_large });
        }
    }
    Ok(Outgoing::Held(Some(held.concat().into())))
}

/// `chunks`, failing (and flagging) once more than `max` bytes went by.
fn bounded(
    chunks: impl Stream<Item = Result<Bytes, axum::Error>> + Send + 'static,
    max: u64,
    flag: Arc<AtomicBool>,
) -> impl Stream<Item = Result<Bytes, std::io::Error>> + Send + 'static {
    let mut total = 0u64;
    chunks.map(move |chunk| {
        let chunk = chunk.map_err(std::io::Error::other)?;
        total += chunk.len() as u64;
        if total > max {
            flag.store(true, Ordering::Relaxed);
            return Err(std::io::Error::other("request body over the proxy's limit"));
        }
        Ok(chunk)
    })
}

/// [`send_with_retry`] within [`PROXY_DEADLINE`]: 504 `proxy_upstream_timeout` after it.
async fn send_in_time(
    state: &AppState,
    parts: &Parts,
    a: &Admitted,
    path: &ProxyPath,
    outgoing: Outgoing,
) -> Result<(reqwest::Response, grafx_core::AccessToken), AppError> {
    tokio::time::timeout(
        PROXY_DEADLINE,
        send_with_retry(state, parts, a, path, outgoing),
    )
    .await
    .map_err(|_| {
        AppError::new(
            ErrorCode::ProxyUpstreamTimeout,
            format!(
                "the Environment API did not answer within {} s",
                PROXY_DEADLINE.as_secs()
            ),
        )
    })?
}

/// Sends the request with the integration's token; on a 401, once more with a replacement token
/// when the body can be sent again and a different token can be had.
async fn send_with_retry(
    state: &AppState,
    parts: &Parts,
    a: &Admitted,
    path: &ProxyPath,
    outgoing: Outgoing,
) -> Result<(reqwest::Response, grafx_core::AccessToken), AppError> {
    let (token, _) = a.cache.get().await?;
    let token = token.access_token.clone();
    let url = upstream_url(a, path, parts.uri.query())?;
    match outgoing {
        Outgoing::Streamed { body, too_large } => {
            let sent = request(state, parts, &url, &token).body(body).send().await;
            let res = sent.map_err(|e| {
                if too_large.load(Ordering::Relaxed) {
                    self::too_large(a.proxy.max_request_bytes)
                } else {
                    unreachable_api(&e)
                }
            })?;
            Ok((res, token))
        }
        Outgoing::Held(body) => {
            let send = |access: &grafx_core::AccessToken| {
                let req = request(state, parts, &url, access);
                let req = match &body {
                    Some(b) => req.body(b.clone()),
                    None => req,
                };
                async move { req.send().await.map_err(|e| unreachable_api(&e)) }
            };
            let res = send(&token).await?;
            if res.status() != StatusCode::UNAUTHORIZED {
                return Ok((res, token));
            }
            match a.cache.replace_refused(&token).await {
                Ok(Some(fresh)) => {
                    tracing::info!(
                        integration = a.name,
                        "the Environment API refused the token; retrying once with a new one"
                    );
                    let fresh = fresh.access_token.clone();
                    Ok((send(&fresh).await?, fresh))
                }
                // No other token now: CHILI's 401 goes back as it is.
                Ok(None) | Err(_) => Ok((res, token)),
            }
        }
    }
}

/// The Environment API URL for `path` and the request's query.
fn upstream_url(a: &Admitted, path: &ProxyPath, query: Option<&str>) -> Result<url::Url, AppError> {
    let joined = a
        .integration
        .environment_api_url
        .join(path.as_str())
        .map_err(|e| AppError::new(ErrorCode::ProxyPathNotAllowed, e.to_string()))?;
    let mut url = url::Url::parse(&joined)
        .map_err(|e| AppError::new(ErrorCode::ProxyPathNotAllowed, e.to_string()))?;
    url.set_query(query);
    Ok(url)
}

fn request(
    state: &AppState,
    parts: &Parts,
    url: &url::Url,
    token: &grafx_core::AccessToken,
) -> reqwest::RequestBuilder {
    let mut req = state
        .proxy_http()
        .request(parts.method.clone(), url.clone())
        .bearer_auth(token.secret());
    for name in &FORWARDED_REQUEST_HEADERS {
        for value in parts.headers.get_all(name) {
            req = req.header(name, value);
        }
    }
    req
}

fn unreachable_api(e: &reqwest::Error) -> AppError {
    // reqwest's message names the URL, which is not a secret; the token is never in it.
    AppError::new(
        ErrorCode::ProxyUpstreamFailed,
        format!("the Environment API could not be reached: {e}"),
    )
}

fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::HEAD => "HEAD",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        _ => "other",
    }
}

/// A line for every write (who did what, through which integration): when it is forwarded
/// (`status` None; a write that times out or loses its client is still on record) and with
/// CHILI's status. Reads at debug level, once.
fn audit(
    a: &Admitted,
    parts: &Parts,
    path: &ProxyPath,
    user: Option<&str>,
    status: Option<StatusCode>,
    request_id: &str,
) {
    let user = user.unwrap_or("-");
    let method = parts.method.as_str();
    let read = matches!(parts.method, Method::GET | Method::HEAD);
    match (read, status.map(|s| s.as_u16())) {
        (true, None) => {}
        (true, Some(status)) => {
            tracing::debug!(target: "grafx_signer::audit", request_id, user, origin = a.origin, integration = a.name, method, path = %path, status, "proxied read")
        }
        (false, None) => {
            tracing::info!(target: "grafx_signer::audit", request_id, user, origin = a.origin, integration = a.name, method, path = %path, "forwarding write")
        }
        (false, Some(status)) => {
            tracing::info!(target: "grafx_signer::audit", request_id, user, origin = a.origin, integration = a.name, method, path = %path, status, "proxied write")
        }
    }
}

/// CHILI's reply for the browser: its status and the passed headers; small JSON and text bodies
/// rewritten (see the module docs), everything else streamed.
async fn reply(
    upstream: reqwest::Response,
    a: &Admitted,
    path: &ProxyPath,
    token: &grafx_core::AccessToken,
    method: Method,
) -> Result<Response, AppError> {
    let status = upstream.status();
    let base = a.integration.environment_api_url.as_str();
    let mut headers = passed_headers(upstream.headers(), base, path);
    let rewritable = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|t| t.contains("json") || t.starts_with("text/"))
        && upstream
            .content_length()
            .is_none_or(|n| n <= REWRITE_LIMIT as u64)
        && !headers.contains_key(header::CONTENT_ENCODING)
        && method != Method::HEAD;
    let body = if rewritable {
        let (body, rewritten) = rewritten_body(upstream, base, path, token).await?;
        if rewritten {
            headers.remove(header::CONTENT_LENGTH);
        }
        body
    } else {
        Body::from_stream(upstream.bytes_stream())
    };
    let mut res = Response::new(body);
    *res.status_mut() = status;
    *res.headers_mut() = headers;
    Ok(res)
}

/// The reply headers passed back, `Location` made relative, and the headers that keep CHILI's
/// content (SVG, HTML media), now served from the signer's origin, from ever running as a page.
fn passed_headers(upstream: &HeaderMap, base: &str, path: &ProxyPath) -> HeaderMap {
    let mut headers = HeaderMap::new();
    for name in &FORWARDED_REPLY_HEADERS {
        for value in upstream.get_all(name) {
            headers.append(name, value.clone());
        }
    }
    if let Some(location) = upstream.get(header::LOCATION).and_then(|v| v.to_str().ok()) {
        let relative = relative_link(location, base, path).unwrap_or_else(|| location.to_owned());
        if let Ok(v) = HeaderValue::from_str(&relative) {
            headers.insert(header::LOCATION, v);
        }
    }
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("sandbox; default-src 'none'"),
    );
    headers
}

/// A JSON or text reply held (up to [`REWRITE_LIMIT`]) and rewritten; one that turns out larger
/// streams on as it is. The flag says whether it was rewritten.
async fn rewritten_body(
    upstream: reqwest::Response,
    base: &str,
    path: &ProxyPath,
    token: &grafx_core::AccessToken,
) -> Result<(Body, bool), AppError> {
    let mut stream = upstream.bytes_stream();
    let mut held = Vec::new();
    let mut size = 0;
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| unreachable_api(&e))?;
        size += chunk.len();
        held.push(chunk);
        if size > REWRITE_LIMIT {
            let whole = futures_util::stream::iter(held.into_iter().map(Ok)).chain(stream);
            return Ok((Body::from_stream(whole), false));
        }
    }
    let rewritten = rewrite(&held.concat(), base, path, token.secret());
    Ok((Body::from(rewritten), true))
}

/// `link` relative to the request's own URL when it is on the Environment API (`base`), so it
/// resolves back through the proxy wherever the signer is mounted.
fn relative_link(link: &str, base: &str, request_path: &ProxyPath) -> Option<String> {
    let target = link.strip_prefix(base)?;
    let up = "../".repeat(request_path.len().saturating_sub(1));
    let joined = format!("{up}{target}");
    Some(if joined.is_empty() {
        "./".into()
    } else {
        joined
    })
}

/// The body with CHILI's API links (the strings under a `links` object) made relative and the
/// token redacted. The text is edited in place, never re-serialized: a document read through the
/// proxy comes back byte for byte (numbers, key order, strings that merely look like links).
fn rewrite(body: &[u8], base: &str, path: &ProxyPath, token: &str) -> Bytes {
    let mut text = match std::str::from_utf8(body) {
        Ok(t) => t.to_owned(),
        Err(_) => return Bytes::copy_from_slice(body),
    };
    if let Ok(value) = serde_json::from_str::<serde_json::Value>(&text) {
        let mut links = Vec::new();
        collect_links(&value, false, &mut links);
        for link in links {
            if let Some(relative) = relative_link(&link, base, path) {
                let (from, to) = (json_string(&link), json_string(&relative));
                text = text.replace(&from, &to);
            }
        }
    }
    if text.contains(token) {
        text = text.replace(token, "[redacted]");
    }
    text.into()
}

/// A string as JSON writes it (with its quotes).
fn json_string(s: &str) -> String {
    serde_json::Value::from(s).to_string()
}

/// Every string under a `links` object, at any depth.
fn collect_links(value: &serde_json::Value, in_links: bool, out: &mut Vec<String>) {
    match value {
        serde_json::Value::String(s) if in_links => out.push(s.clone()),
        serde_json::Value::Array(items) => {
            items.iter().for_each(|v| collect_links(v, in_links, out))
        }
        serde_json::Value::Object(map) => map
            .iter()
            .for_each(|(k, v)| collect_links(v, in_links || k == "links", out)),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BASE: &str = "https://acme.chili-publish.online/grafx/api/v1/environment/acme/";

    fn path(p: &str) -> ProxyPath {
        ProxyPath::parse(p).unwrap()
    }

    #[test]
    fn api_links_become_relative_to_the_request() {
        let at = path("output/tasks/t1");
        let link = format!("{BASE}output/tasks/t1/download");
        // From /api/w/output/tasks/t1, `../../` is /api/w/.
        assert_eq!(
            relative_link(&link, BASE, &at).unwrap(),
            "../../output/tasks/t1/download"
        );
        assert_eq!(
            relative_link(&format!("{BASE}projects/p1"), BASE, &path("projects")).unwrap(),
            "projects/p1"
        );
        assert_eq!(relative_link("https://cdn.example/x", BASE, &at), None);
    }

    #[test]
    fn bodies_are_relinked_and_the_token_redacted() {
        let body = format!(
            r#"{{"data":{{"taskId":"t1"}},"links":{{"download":"{BASE}output/tasks/t1/download","other":"https://cdn.example/x"}},"echo":"eyJ.secret.token"}}"#
        );
        let out = rewrite(
            body.as_bytes(),
            BASE,
            &path("output/tasks/t1"),
            "eyJ.secret.token",
        );
        let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(v["links"]["download"], "../../output/tasks/t1/download");
        assert_eq!(v["links"]["other"], "https://cdn.example/x");
        assert_eq!(v["echo"], "[redacted]");
        // Not JSON: still redacted.
        let out = rewrite(
            b"<p>eyJ.secret.token</p>",
            BASE,
            &path("x"),
            "eyJ.secret.token",
        );
        assert_eq!(&out[..], b"<p>[redacted]</p>");
    }

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
}
