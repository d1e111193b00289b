//! The request to CHILI: the integration's token, the passed request headers, and one retry
//! with a replacement token after a 401 when the body can be sent again; a `GET` or `HEAD` is
//! also sent once more when a reused connection failed before CHILI's reply (CHILI closing it,
//! idle, as the request went out).
//!
//! ```ignore
//! let (reply, token) = send::send_in_time(&state, &parts, &admitted, &path, outgoing).await?;
//! ```

use std::borrow::Cow;
use std::sync::Arc;

use crate::proxy_client::{FreshConnection, ProxyClient, UpstreamBody, UpstreamFailure};
use crate::ProxyPath;
use axum::body::{Body, Bytes};
use axum::http::{
    header, request::Parts, HeaderName, HeaderValue, Method, Request, Response, StatusCode, Uri,
};
use grafx_core::{AccessToken, ErrorCode};
use percent_encoding::{utf8_percent_encode, AsciiSet, CONTROLS};

use super::body::Outgoing;
use super::Admitted;
use crate::{AppError, AppState, CachedToken};

/// Request headers passed on to CHILI (never the caller's `Cookie`, `Authorization` or
/// `Accept-Encoding`: the proxy asks for what it can decode and check).
const FORWARDED_REQUEST_HEADERS: [HeaderName; 6] = [
    header::CONTENT_TYPE,
    header::ACCEPT,
    header::ACCEPT_LANGUAGE,
    header::IF_MATCH,
    header::IF_NONE_MATCH,
    header::IF_MODIFIED_SINCE,
];

/// The request headers that make a reply conditional.
const CONDITIONAL_HEADERS: [HeaderName; 3] = [
    header::IF_MATCH,
    header::IF_NONE_MATCH,
    header::IF_MODIFIED_SINCE,
];

/// Passed on for file downloads only: a part of an API reply could hold part of a token, which
/// no check on that part alone can see.
const RANGE_HEADERS: [HeaderName; 2] = [header::RANGE, header::IF_RANGE];

/// Whether `path` is a file download (`…/download`), whose reply CHILI's renderer wrote.
fn is_download(path: &ProxyPath) -> bool {
    path.as_str().ends_with("/download")
}

/// CHILI's reply: its head, and its body as it arrives.
pub(super) type UpstreamReply = Response<UpstreamBody>;

/// How the request to CHILI differs from the caller's.
pub(super) struct Upstream<'a> {
    /// The query sent (the caller's, less what the proxy answers itself).
    pub(super) query: Option<&'a str>,
    /// Ask for JSON whatever the caller accepts: the proxy must read the reply.
    pub(super) json: bool,
}

/// [`send_with_retry`] within `proxy_timeout_secs` of its start (the request body streams within
/// it, and a retry after a 401 shares it): 504 `proxy_upstream_timeout` after it. The HTTP
/// client's read timeout is the same setting, so every wait on CHILI follows one rule.
pub(super) async fn send_in_time(
    state: &AppState,
    parts: &Parts,
    a: &Admitted<'_>,
    path: &ProxyPath,
    upstream: Upstream<'_>,
    outgoing: Outgoing,
) -> Result<(UpstreamReply, AccessToken), AppError> {
    let limit = state.config().proxy_timeout;
    tokio::time::timeout(
        limit,
        send_with_retry(state, parts, a, path, upstream, outgoing),
    )
    .await
    .map_err(|_| {
        AppError::new(
            ErrorCode::ProxyUpstreamTimeout,
            format!(
                "the Environment API did not answer within {} s (proxy_timeout_secs)",
                limit.as_secs()
            ),
        )
    })?
}

/// Sends the request with the integration's token; on a 401, once more with a replacement token
/// when the body can be sent again and a different token can be had.
async fn send_with_retry(
    state: &AppState,
    parts: &Parts,
    a: &Admitted<'_>,
    path: &ProxyPath,
    upstream: Upstream<'_>,
    outgoing: Outgoing,
) -> Result<(UpstreamReply, AccessToken), AppError> {
    let (cached, _) = a.cache.get().await?;
    let bearer = bearer_of(a, &cached)?;
    let token = cached.access_token.clone();
    let uri = upstream_uri(a, path, upstream.query)?;
    let json = upstream.json;
    let client = state.proxy_http();
    match outgoing {
        Outgoing::Streamed { body, flags } => {
            let req = request(parts, path, &uri, &bearer, json, body)?;
            let idle = state.proxy_body_limits().idle;
            let res = Box::pin(client.send(req)).await.map_err(|e| {
                flags
                    .refusal(a.proxy.max_request_bytes, idle)
                    .unwrap_or_else(|| unreachable_api(&e))
            })?;
            Ok((res, token))
        }
        Outgoing::Held { body, _room } => {
            let held = HeldRequest {
                parts,
                path,
                uri: &uri,
                json,
                body,
            };
            let send = |bearer| held.send(client, bearer);
            let res = send(&bearer).await?;
            if res.status() != StatusCode::UNAUTHORIZED {
                return Ok((res, token));
            }
            // Rare, and large: boxed, so that every request's future stays small (moving a
            // future copies all of it).
            match Box::pin(a.cache.replace_refused(&token)).await {
                Ok(Some(fresh)) => {
                    tracing::info!(
                        integration = a.name,
                        "the Environment API refused the token; retrying once with a new one"
                    );
                    let res = Box::pin(send(&bearer_of(a, &fresh)?)).await?;
                    Ok((res, fresh.access_token.clone()))
                }
                // No other token now: CHILI's 401 goes back as it is.
                Ok(None) | Err(_) => Ok((res, token)),
            }
        }
    }
}

/// A request whose body is held whole (or empty), so that it can be sent more than once.
struct HeldRequest<'a> {
    parts: &'a Parts,
    path: &'a ProxyPath,
    uri: &'a Uri,
    json: bool,
    body: Option<Bytes>,
}

impl HeldRequest<'_> {
    /// The request with `bearer` (the token's `Authorization`), sent. A `GET` or `HEAD` whose
    /// reused connection was closed or reset before CHILI's reply head (CHILI closing it, idle,
    /// as the request went out) goes once more, on a new connection: it changes nothing. Any
    /// other request may have been acted on, and is not sent again.
    async fn send(
        &self,
        client: &ProxyClient,
        bearer: &HeaderValue,
    ) -> Result<UpstreamReply, AppError> {
        let idempotent = matches!(self.parts.method, Method::GET | Method::HEAD);
        let attempt = || {
            let body = self.body.clone().map_or_else(Body::empty, Body::from);
            request(self.parts, self.path, self.uri, bearer, self.json, body)
        };
        // Boxed: the client's future is the largest part of the request's (see
        // `forward_admitted`).
        let res = match Box::pin(client.send(attempt()?)).await {
            Err(e) if idempotent && e.reused_connection => {
                tracing::debug!(
                    error = %e,
                    "a reused connection to the Environment API failed before its reply; sending the request once more"
                );
                let mut again = attempt()?;
                again.extensions_mut().insert(FreshConnection);
                // Rare: boxed, as above.
                Box::pin(client.send(again)).await
            }
            res => res,
        };
        res.map_err(|e| unreachable_api(&e))
    }
}

/// What a URL's path has percent-encoded (WHATWG URL's path set, as the `url` crate and
/// browsers send it): the HTTP server passes `"`, `{` and `}` raw, which a strict front of
/// CHILI's could refuse. Escapes already there (`%`) stay as they are.
const PATH_ESCAPED: &AsciiSet = &CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'#')
    .add(b'<')
    .add(b'>')
    .add(b'?')
    .add(b'`')
    .add(b'{')
    .add(b'}');

/// What a URL's query has percent-encoded (WHATWG URL's set for an `https` URL's query).
const QUERY_ESCAPED: &AsciiSet = &CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'#')
    .add(b'<')
    .add(b'>')
    .add(b'\'');

/// The Environment API URL for `path` and the request's query, parsed once (as an HTTP URI: no
/// URL type on the way, whose parsing cost more than the rest of building the request).
fn upstream_uri(a: &Admitted<'_>, path: &ProxyPath, query: Option<&str>) -> Result<Uri, AppError> {
    let refused = |e: String| AppError::new(ErrorCode::ProxyPathNotAllowed, e);
    let path: Cow<'_, str> = utf8_percent_encode(path.as_str(), PATH_ESCAPED).into();
    let mut url = a
        .integration
        .environment_api_url
        .join(&path)
        .map_err(|e| refused(e.to_string()))?;
    if let Some(query) = query {
        url.push('?');
        url.extend(utf8_percent_encode(query, QUERY_ESCAPED));
    }
    Uri::try_from(url).map_err(|e| refused(format!("not a URL CHILI can be asked: {e}")))
}

/// The `Authorization` value for `token`, from the integration's cache (built once per token).
fn bearer_of(a: &Admitted<'_>, token: &Arc<CachedToken>) -> Result<HeaderValue, AppError> {
    a.cache.bearer(token).map_err(|_| {
        AppError::new(
            ErrorCode::Internal,
            "the integration's token cannot be sent in a header",
        )
    })
}

/// The request to CHILI: the method, the URL, the integration's token (as `bearer`), the passed
/// headers.
fn request(
    parts: &Parts,
    path: &ProxyPath,
    uri: &Uri,
    bearer: &HeaderValue,
    json: bool,
    body: Body,
) -> Result<Request<Body>, AppError> {
    let mut req = Request::new(body);
    *req.method_mut() = parts.method.clone();
    *req.uri_mut() = uri.clone();
    let headers = req.headers_mut();
    debug_assert!(
        bearer.is_sensitive(),
        "the token's header is marked sensitive"
    );
    headers.insert(header::AUTHORIZATION, bearer.clone());
    let ranges = is_download(path);
    // One pass over the caller's few headers (a lookup per passed name cost more).
    for (name, value) in &parts.headers {
        let passed =
            FORWARDED_REQUEST_HEADERS.contains(name) || (ranges && RANGE_HEADERS.contains(name));
        // A reply the proxy must read is asked for whole: as JSON, and without conditions (a 304
        // would say whether anyone's list changed).
        let dropped = json && (name == header::ACCEPT || CONDITIONAL_HEADERS.contains(name));
        if passed && !dropped {
            headers.append(name, value.clone());
        }
    }
    if json {
        headers.insert(header::ACCEPT, HeaderValue::from_static("application/json"));
    }
    Ok(req)
}

/// 504 `proxy_upstream_timeout` when no connection to CHILI was made within the connect timeout
/// (`upstream_timeout_secs`, 5 s at most) or CHILI stayed silent longer than
/// `proxy_timeout_secs` (before its reply or in the middle of it), else 502
/// `proxy_upstream_failed`: one rule for every wait on CHILI, whichever timer fired.
pub(super) fn unreachable_api(e: &UpstreamFailure) -> AppError {
    if e.connecting {
        return AppError::new(
            ErrorCode::ProxyUpstreamTimeout,
            format!("the Environment API could not be reached: {e} (check the network, and the egress proxy: HTTPS_PROXY, NO_PROXY)"),
        );
    }
    if e.timed_out {
        return AppError::new(
            ErrorCode::ProxyUpstreamTimeout,
            "the Environment API did not answer in time (proxy_timeout_secs)",
        );
    }
    // The message names no URL and never the token (no error holds it).
    AppError::new(
        ErrorCode::ProxyUpstreamFailed,
        format!("the Environment API could not be reached: {e}"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_are_for_downloads_only() {
        let p = |s: &str| ProxyPath::parse(s).unwrap();
        assert!(is_download(&p("output/tasks/t1/download")));
        assert!(is_download(&p("media/m1/download")));
        assert!(!is_download(&p("projects/p1/document")));
        assert!(!is_download(&p("output/tasks/t1")));
        assert!(!is_download(&p("download")));
    }

    /// The caller's request with every header a browser or an attacker might send, twice where
    /// a header may repeat.
    fn caller_parts() -> Parts {
        let mut req = Request::builder().method("GET").uri("/api/w/x");
        for (name, value) in [
            ("content-type", "application/json"),
            ("accept", "text/html"),
            ("accept-language", "de"),
            ("accept-language", "fr"),
            ("if-match", "\"a\""),
            ("if-none-match", "\"b\""),
            ("if-modified-since", "Sun, 06 Dec 2026 10:00:00 GMT"),
            ("range", "bytes=0-9"),
            ("if-range", "\"c\""),
            ("cookie", "session=s"),
            ("authorization", "Bearer caller"),
            ("accept-encoding", "br"),
            ("origin", "https://app.example"),
            ("x-csrf", "1"),
            ("host", "signer.example"),
        ] {
            req = req.header(name, value);
        }
        req.body(()).unwrap().into_parts().0
    }

    /// The headers sent to CHILI as `name: value` lines, in order.
    fn sent(path: &str, json: bool) -> Vec<String> {
        let uri: Uri = "https://x.example/api/x".parse().unwrap();
        let mut bearer = HeaderValue::from_static("Bearer tok");
        bearer.set_sensitive(true);
        let path = ProxyPath::parse(path).unwrap();
        let req = request(&caller_parts(), &path, &uri, &bearer, json, Body::empty()).unwrap();
        req.headers()
            .iter()
            .map(|(n, v)| format!("{n}: {}", v.to_str().unwrap()))
            .collect()
    }

    #[test]
    fn only_the_listed_request_headers_pass_with_the_integrations_token() {
        let common = [
            "authorization: Bearer tok",
            "content-type: application/json",
            "accept-language: de",
            "accept-language: fr",
        ];
        let conditions = [
            "if-match: \"a\"",
            "if-none-match: \"b\"",
            "if-modified-since: Sun, 06 Dec 2026 10:00:00 GMT",
        ];
        let mut api: Vec<String> = common.iter().map(|s| (*s).to_owned()).collect();
        api.extend(["accept: text/html".to_owned()]);
        api.extend(conditions.iter().map(|s| (*s).to_owned()));
        let mut got = sent("templates/t1", false);
        got.sort();
        api.sort();
        assert_eq!(got, api, "an API request");
        let mut download = api.clone();
        download.extend(["range: bytes=0-9".to_owned(), "if-range: \"c\"".to_owned()]);
        download.sort();
        let mut got = sent("output/tasks/t1/download", false);
        got.sort();
        assert_eq!(got, download, "a download also passes its range");
        // A reply the proxy must read: JSON asked for, no condition passed.
        let mut read: Vec<String> = common.iter().map(|s| (*s).to_owned()).collect();
        read.push("accept: application/json".to_owned());
        read.sort();
        let mut got = sent("projects", true);
        got.sort();
        assert_eq!(got, read, "a reply the proxy reads");
    }
}
