//! CHILI's reply for the browser: its status, the passed headers, and its body, which streams
//! through the token redactor; a JSON API reply up to [`REWRITE_LIMIT`] is held to make its
//! links relative. A reply in a content encoding the proxy cannot decode (and so cannot check)
//! is refused.
//!
//! ```ignore
//! let res = reply::reply(upstream, &admitted, &path, &token, &parts.method).await?;
//! ```

use crate::ProxyPath;
use axum::body::{Body, Bytes};
use axum::http::{header, HeaderMap, HeaderName, HeaderValue, Method};
use axum::response::Response;
use futures_util::stream::BoxStream;
use futures_util::StreamExt;
use grafx_core::{AccessToken, ErrorCode};

use super::budget::{handed_on, Room};
use super::links::{relative_link, rewrite_links, rewrites};
use super::owners::{self, Claim};
use super::redact::{redact_all, Redactor};
use super::send::{unreachable_api, UpstreamReply};
use super::Admitted;
use crate::proxy_client::UpstreamFailure;
use crate::{AppError, AppState};

/// What the reply to an owner-scoped request needs: binding what CHILI created to the user, or
/// filtering a list to the user's own (see [`owners::settle`]).
pub(super) struct Settle<'a> {
    pub(super) state: &'a AppState,
    pub(super) claim: &'a Claim,
    pub(super) user: &'a str,
    /// A project list's `search`, matched here ([`owners::split_search`]).
    pub(super) search: Option<&'a str>,
}

/// JSON API replies up to this size have their links rewritten; larger ones and every other
/// type stream (still redacted).
pub const REWRITE_LIMIT: usize = 2 * 1024 * 1024;

/// Bodies longer than this are rewritten off the async worker threads.
const INLINE_REWRITE: usize = 64 * 1024;

/// Reply headers passed back (never `Authorization`, `Set-Cookie`, `WWW-Authenticate`, or
/// `Content-Encoding`: bodies go back decoded).
const FORWARDED_REPLY_HEADERS: [HeaderName; 9] = [
    header::CONTENT_TYPE,
    header::CONTENT_LENGTH,
    header::CONTENT_DISPOSITION,
    header::CONTENT_LANGUAGE,
    header::CONTENT_RANGE,
    header::ACCEPT_RANGES,
    header::ETAG,
    header::LAST_MODIFIED,
    header::RETRY_AFTER,
];

/// The browser's reply (see the module docs).
pub(super) async fn reply(
    upstream: UpstreamReply,
    a: &Admitted<'_>,
    path: &ProxyPath,
    token: &AccessToken,
    method: &Method,
    settle: Option<Settle<'_>>,
    room: Room,
) -> Result<Response, AppError> {
    refuse_unknown_encoding(upstream.headers())?;
    let status = upstream.status();
    let base = a.integration.environment_api_url.as_str();
    let mut headers = passed_headers(upstream.headers(), base, path, token.secret());
    let json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|t| t.contains("json"));
    let small = content_length(upstream.headers()).is_none_or(|n| n <= REWRITE_LIMIT as u64);
    // A list kept apart is filtered, or not passed on at all.
    let filters = settle
        .as_ref()
        .is_some_and(|s| s.claim.lists && status.is_success());
    if filters && !json {
        return Err(owners::unfiltered("it is not JSON"));
    }
    if filters {
        // The validators describe every user's list, not this user's page.
        headers.remove(header::ETAG);
        headers.remove(header::LAST_MODIFIED);
    }
    let settle = settle.filter(|_| json && status.is_success());
    let rewritable = json && rewrites(path) && *method != Method::HEAD && small;
    let body = if rewritable || settle.is_some() {
        // A reply to a write CHILI has done is never lost for want of room.
        let wrote = !matches!(*method, Method::GET | Method::HEAD);
        let held = hold_json(upstream, token, room, wrote).await?;
        let (body, changed) = held_body(
            held,
            a,
            path,
            token,
            status,
            settle.as_ref(),
            wrote,
            filters,
        )
        .await?;
        if changed || settle.is_some() {
            headers.remove(header::CONTENT_LENGTH);
        }
        body
    } else {
        redacted_stream(bytes_of(upstream), token)
    };
    let mut res = Response::new(body);
    *res.status_mut() = status;
    *res.headers_mut() = headers;
    Ok(res)
}

/// A held JSON reply as the browser gets it: settled against the user's records (`settle`),
/// its links rewritten and the token redacted, with room for the second copy rewriting holds;
/// and whether it changed. One too large to hold streams on redacted, unless a list must be
/// filtered (`filters`), which is refused.
#[allow(clippy::too_many_arguments)]
async fn held_body(
    held: Held,
    a: &Admitted<'_>,
    path: &ProxyPath,
    token: &AccessToken,
    status: axum::http::StatusCode,
    settle: Option<&Settle<'_>>,
    wrote: bool,
    filters: bool,
) -> Result<(Body, bool), AppError> {
    match held {
        Held::Whole(body, mut room) => {
            let body = match settle {
                Some(s) => {
                    let settled =
                        owners::settle(s.state, a, s.claim, s.user, status, body.into(), s.search);
                    Bytes::from(settled.await?)
                }
                None => body,
            };
            // Rewriting holds a second copy while it runs.
            if wrote {
                room.force(body.len());
            } else {
                room.grow(body.len())?;
            }
            let base = a.integration.environment_api_url.as_str();
            let (out, changed) = edited(body, base, path, token, rewrites(path)).await?;
            Ok((sent_with_room(out, room), changed))
        }
        Held::TooLarge(_) if filters => Err(owners::unfiltered(
            "it is larger than the proxy holds; ask for a smaller pageSize",
        )),
        Held::TooLarge(body) => Ok((body, false)),
    }
}

/// A reply's `Content-Length`, when it has one (a decoded reply has none).
fn content_length(headers: &HeaderMap) -> Option<u64> {
    headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
}

/// A reply's body as a stream of its bytes.
fn bytes_of(upstream: UpstreamReply) -> BoxStream<'static, Result<Bytes, axum::BoxError>> {
    http_body_util::BodyDataStream::new(upstream.into_body()).boxed()
}

/// 502 for a reply still encoded after the HTTP client decoded gzip and deflate (brotli, zstd,
/// anything else): the proxy could not check it for the token.
fn refuse_unknown_encoding(headers: &HeaderMap) -> Result<(), AppError> {
    let encoded = headers
        .get_all(header::CONTENT_ENCODING)
        .iter()
        .flat_map(|v| v.as_bytes().split(|b| *b == b','))
        .map(<[u8]>::trim_ascii)
        .find(|e| !e.is_empty() && !e.eq_ignore_ascii_case(b"identity"));
    match encoded {
        Some(e) => Err(AppError::new(
            ErrorCode::ProxyUpstreamFailed,
            format!(
                "the Environment API sent a reply in an encoding the proxy cannot check ({}); nothing was passed on",
                String::from_utf8_lossy(e)
            ),
        )),
        None => Ok(()),
    }
}

/// The reply headers passed back, each redacted, `Location` made relative, and the headers that
/// keep CHILI's content (SVG, HTML media), now served from the signer's origin, from ever running
/// as a page.
fn passed_headers(upstream: &HeaderMap, base: &str, path: &ProxyPath, token: &str) -> HeaderMap {
    // Room for what is passed, the two headers below and the ones `decorate`, the request id
    // and hyper add, so the map is not grown and rehashed on the way.
    let mut headers = HeaderMap::with_capacity(16);
    let mut pass = |name: &HeaderName, value: &HeaderValue| {
        // A header may carry the token percent-encoded (`filename*=UTF-8''%65yJ…`): such a
        // header is dropped whole, since its encoded form cannot be redacted in place. (Without
        // a `%` it decodes to itself.)
        if value.as_bytes().contains(&b'%') {
            let decoded = percent_encoding::percent_decode(value.as_bytes()).collect::<Vec<u8>>();
            if decoded != value.as_bytes() && redact_all(&decoded, token).is_some() {
                return;
            }
        }
        let value = match redact_all(value.as_bytes(), token) {
            Some(clean) => HeaderValue::from_bytes(&clean).ok(),
            None => Some(value.clone()),
        };
        if let Some(v) = value {
            headers.append(name, v);
        }
    };
    // One pass over CHILI's few headers (a lookup per passed name cost more).
    for (name, value) in upstream {
        if FORWARDED_REPLY_HEADERS.contains(name) {
            pass(name, value);
        }
    }
    if let Some(location) = upstream.get(header::LOCATION).and_then(|v| v.to_str().ok()) {
        let relative = relative_link(location, base, path).unwrap_or_else(|| location.to_owned());
        if let Ok(v) = HeaderValue::from_str(&relative) {
            pass(&header::LOCATION, &v);
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

/// A body streamed through the redactor, chunk by chunk.
fn redacted_stream(
    stream: impl futures_util::Stream<Item = Result<Bytes, axum::BoxError>> + Send + 'static,
    token: &AccessToken,
) -> Body {
    let redactor = Redactor::new(token.secret());
    // Each step sends at most two pieces (what was held, then the chunk's own); empty ones are
    // left out.
    let pieces = futures_util::stream::unfold(
        (Box::pin(stream), Some(redactor)),
        |(mut stream, redactor)| async move {
            let mut redactor = redactor?;
            let (sent, redactor) = match stream.next().await {
                Some(Ok(chunk)) => (redactor.feed(chunk).map(Ok), Some(redactor)),
                Some(Err(e)) => ([Err(e), Ok(Bytes::new())], None),
                None => ([Ok(redactor.finish()), Ok(Bytes::new())], None),
            };
            Some((sent, (stream, redactor)))
        },
    )
    .flat_map(futures_util::stream::iter)
    .filter(|piece| std::future::ready(!matches!(piece, Ok(b) if b.is_empty())));
    Body::from_stream(pieces)
}

/// A JSON reply held whole (with its room in the memory budget), or (past [`REWRITE_LIMIT`])
/// streaming on through the redactor.
enum Held {
    Whole(Bytes, Room),
    TooLarge(Body),
}

/// Holds a JSON reply within the memory budget: a read with no room is refused (503
/// `proxy_busy`, and may be asked again); the reply to a write (`forced`) is held regardless.
async fn hold_json(
    upstream: UpstreamReply,
    token: &AccessToken,
    mut room: Room,
    forced: bool,
) -> Result<Held, AppError> {
    let mut stream = bytes_of(upstream);
    let mut held = Vec::new();
    let mut size = 0;
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| unreachable_api(&UpstreamFailure::of(e.as_ref())))?;
        if forced {
            room.force(chunk.len());
        } else {
            room.grow(chunk.len())?;
        }
        size += chunk.len();
        held.push(chunk);
        if size > REWRITE_LIMIT {
            drop(room);
            let whole = futures_util::stream::iter(held.into_iter().map(Ok)).chain(stream);
            return Ok(Held::TooLarge(redacted_stream(whole, token)));
        }
    }
    // Copied into a buffer of its own size even when it came in one piece: a piece shares the
    // connection's read buffer (8 KiB to some hundreds), which a slow reader would keep alive
    // past what the budget counts.
    Ok(Held::Whole(Bytes::from(held.concat()), room))
}

/// A held JSON reply with its links rewritten (when `links`) and redacted; the flag says
/// whether the links changed (and so the length). A large one is edited off the async worker
/// threads (with copies of what it needs); a small one, most, in place.
async fn edited(
    body: Bytes,
    base: &str,
    path: &ProxyPath,
    token: &AccessToken,
    links: bool,
) -> Result<(Bytes, bool), AppError> {
    if body.len() <= INLINE_REWRITE {
        return Ok(edit(body, base, path, token.secret(), links));
    }
    let (base, path, secret) = (base.to_owned(), path.clone(), token.secret().to_owned());
    tokio::task::spawn_blocking(move || edit(body, &base, &path, &secret, links))
        .await
        .map_err(|e| {
            AppError::new(
                ErrorCode::Internal,
                format!("rewriting the reply failed: {e}"),
            )
        })
}

/// [`edited`]'s work: the links rewritten (when `links`), then the token redacted; the body
/// as it came when neither changes it.
fn edit(body: Bytes, base: &str, path: &ProxyPath, secret: &str, links: bool) -> (Bytes, bool) {
    let linked = links.then(|| rewrite_links(&body, base, path)).flatten();
    let changed = linked.is_some();
    let text = linked.map_or(body, Bytes::from);
    let out = redact_all(&text, secret).map_or(text, Bytes::from);
    (out, changed)
}

/// How much of a held reply is handed to the connection at a time: the room is kept until the
/// last part is taken, so a client that reads slowly holds its share of the budget, not memory
/// outside it.
const SEND_CHUNK: usize = 64 * 1024;

/// A held reply as a body that keeps its room in the budget until its last part is taken.
fn sent_with_room(mut out: Bytes, room: Room) -> Body {
    let mut parts = Vec::with_capacity(out.len() / SEND_CHUNK + 1);
    while !out.is_empty() {
        parts.push(out.split_to(out.len().min(SEND_CHUNK)));
    }
    Body::from_stream(handed_on::<std::convert::Infallible>(parts, room))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_header_with_the_token_percent_encoded_is_dropped() {
        let token = "eyJ.tok-en.sig";
        let path = ProxyPath::parse("output/tasks/t/download").unwrap();
        let mut upstream = HeaderMap::new();
        let encoded: String = token.bytes().map(|b| format!("%{b:02X}")).collect();
        upstream.insert(
            header::CONTENT_DISPOSITION,
            HeaderValue::from_str(&format!("attachment; filename*=UTF-8''{encoded}.pdf")).unwrap(),
        );
        upstream.insert(header::ETAG, HeaderValue::from_static("\"v%201\""));
        let passed = passed_headers(&upstream, "https://x.example/api/", &path, token);
        assert!(
            !passed.contains_key(header::CONTENT_DISPOSITION),
            "{passed:?}"
        );
        assert_eq!(
            passed[header::ETAG],
            "\"v%201\"",
            "other encoded headers pass"
        );
    }

    #[test]
    fn only_the_listed_reply_headers_pass_and_a_location_is_made_relative() {
        let path = ProxyPath::parse("projects").unwrap();
        let mut upstream = HeaderMap::new();
        for (name, value) in [
            ("content-type", "application/json"),
            ("content-length", "12"),
            ("content-disposition", "inline"),
            ("content-language", "en"),
            ("content-range", "bytes 0-9/10"),
            ("accept-ranges", "bytes"),
            ("etag", "\"e\""),
            ("last-modified", "Sun, 06 Dec 2026 10:00:00 GMT"),
            ("retry-after", "3"),
            ("retry-after", "4"),
            ("location", "https://x.example/api/projects/p1"),
            ("set-cookie", "s=1"),
            ("www-authenticate", "Bearer"),
            ("authorization", "Bearer tok"),
            ("content-encoding", "identity"),
            ("server", "chili"),
            ("x-powered-by", "x"),
        ] {
            upstream.append(
                HeaderName::from_static(name),
                HeaderValue::from_static(value),
            );
        }
        let passed = passed_headers(&upstream, "https://x.example/api/", &path, "tok");
        let mut got: Vec<String> = passed
            .iter()
            .map(|(n, v)| format!("{n}: {}", v.to_str().unwrap()))
            .collect();
        got.sort();
        let mut want = vec![
            "content-type: application/json",
            "content-length: 12",
            "content-disposition: inline",
            "content-language: en",
            "content-range: bytes 0-9/10",
            "accept-ranges: bytes",
            "etag: \"e\"",
            "last-modified: Sun, 06 Dec 2026 10:00:00 GMT",
            "retry-after: 3",
            "retry-after: 4",
            "location: projects/p1",
            "x-content-type-options: nosniff",
            "content-security-policy: sandbox; default-src 'none'",
        ];
        want.sort_unstable();
        assert_eq!(got, want);
    }

    #[test]
    fn every_content_encoding_is_checked_not_only_the_first() {
        let with = |values: &[&str]| {
            let mut h = HeaderMap::new();
            for v in values {
                h.append(header::CONTENT_ENCODING, HeaderValue::from_str(v).unwrap());
            }
            refuse_unknown_encoding(&h)
        };
        assert!(with(&[]).is_ok());
        assert!(with(&["identity"]).is_ok());
        assert!(with(&["Identity, identity"]).is_ok());
        for refused in [
            &["br"][..],
            &["identity", "br"],
            &["identity, zstd"],
            &["gzip"],
        ] {
            let e = with(refused).unwrap_err();
            assert_eq!(e.code, ErrorCode::ProxyUpstreamFailed, "{refused:?}");
        }
    }
}
