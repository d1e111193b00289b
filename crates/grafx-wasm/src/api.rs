//! Environment API calls with the bearer token.
//!
//! A relative path resolves against the token's `environment_api_url`; an absolute URL must be on
//! that origin or the Platform API's, so the token is never sent to a third party. A 401 triggers one forced
//! refresh and one retry. Calls take an `AbortSignal` and a `timeoutMs`; they are sent with the
//! global `fetch` (`fetchWithBearer` in js/browser.js), so they work on a page and in a Web Worker
//! alike, and their replies come back as gloo-net's `Response`. JS (`fetchAnswered`) hands a
//! reply on and passes only a 401, a redirect or a failure back to the wasm ([`after_sent`]);
//! with a fresh token and neither `signal` nor `timeoutMs`, `GraFxClient.fetch` sends at once,
//! with no Rust future on its way ([`fetch_now`]).

use std::rc::{Rc, Weak};

use gloo_net::http::Response;
use grafx_core::ErrorCode;
use js_sys::Reflect;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;

use crate::client::Inner;
use crate::error::GraFxError;
use crate::glue::{
    build_request, fetch_answered, fetch_with_bearer, get, has_stream_body, message_of, timed_out,
    LinkedSignal,
};
use crate::token::Token;

/// The absolute URL for `path_or_url`, refusing any origin but the Environment API's and the
/// Platform API's (the two GraFx APIs the token is for).
pub(crate) fn resolve(token: &Token, path_or_url: &str) -> Result<String, GraFxError> {
    let looks_absolute = find(path_or_url, "://").is_some() || path_or_url.starts_with("//");
    if !looks_absolute {
        return token
            .api
            .join(path_or_url)
            .map_err(|e| GraFxError::options(e.to_string()));
    }
    let url = web_sys::Url::new(path_or_url)
        .map_err(|_| GraFxError::options(format!("`{path_or_url}` is not a valid URL")))?;
    let origin_of = |base: &grafx_core::EnvironmentApiUrl| {
        web_sys::Url::new(base.origin())
            .map(|u| u.origin())
            .unwrap_or_default()
    };
    let origin = url.origin();
    let mut allowed = origin_of(&token.api);
    let mut allows = allowed == origin;
    if let Some(platform) = token.platform.as_ref().map(origin_of) {
        allows |= platform == origin;
        // Built by hand: `Vec<String>::join` alone linked a second copy of std's joining code.
        allowed = [allowed.as_str(), " and ", &platform].concat();
    }
    if !allows {
        return Err(GraFxError::options(format!(
            "refusing to send the GraFx token to {origin}: only {allowed} (the Environment API and the Platform API) may receive it"
        )));
    }
    Ok(url.href())
}

/// One request to `url` from the caller's `init` with `token`'s bearer, the call's signal and no
/// redirects, sent by the global `fetch` (a page or a worker) without a `Request` object built in
/// JS first (`fetchWithBearer`), its reply as gloo-net's `Response`.
async fn send(
    url: &str,
    init: &JsValue,
    call: &CallSignal,
    token: &Token,
) -> Result<Response, GraFxError> {
    let bearer = bearer_of(token);
    let sent = JsFuture::from(fetch_with_bearer(url, init, &call.signal_js, &bearer)).await;
    reply(url, init, call, &bearer, sent)
}

fn bearer_of(token: &Token) -> String {
    ["Bearer ", &token.access_token].concat()
}

/// What `fetch` answered to one request: its reply, or why there is none.
fn reply(
    url: &str,
    init: &JsValue,
    call: &CallSignal,
    bearer: &str,
    sent: Result<JsValue, JsValue>,
) -> Result<Response, GraFxError> {
    let res: web_sys::Response = sent
        .map_err(|e| failure(url, init, call, bearer, &e))?
        .unchecked_into();
    // `redirect: "manual"`: a redirect is not followed with the token.
    if res.type_() == web_sys::ResponseType::Opaqueredirect {
        return Err(GraFxError::new(
            ErrorCode::ApiError,
            format!(
                "{url} answered with a redirect, which is not followed: the token would go along"
            ),
        ));
    }
    Ok(Response::from(res))
}

/// Why a request got no reply: its signal aborted (its time ran out, or the caller aborted), the
/// browser refused the caller's `init` or the bearer (told apart by building the request, on this
/// path only), or the network failed. A stream body the first `fetch` took hold of is not built
/// again (it cannot be): its failure is a network error.
fn failure(
    url: &str,
    init: &JsValue,
    call: &CallSignal,
    bearer: &str,
    error: &JsValue,
) -> GraFxError {
    if let Some(signal) = call.signal.as_ref().filter(|s| s.aborted()) {
        return if timed_out(signal) {
            GraFxError::new(
                ErrorCode::Timeout,
                "the Environment API did not answer in time",
            )
        } else {
            aborted()
        };
    }
    if !has_stream_body(init, true) {
        match build_request(url, init, &call.signal_js) {
            Err(refused) => {
                return GraFxError::options(format!(
                    "the request init is invalid: {}",
                    message_of(&refused)
                ))
            }
            Ok(request) if request.headers().set("authorization", bearer).is_err() => {
                return GraFxError::options("the token cannot be sent in a header");
            }
            Ok(_) => {}
        }
    }
    GraFxError::new(
        ErrorCode::ApiError,
        format!(
            "network error calling the Environment API: {}",
            message_of(error)
        ),
    )
    .status(0)
}

pub(crate) fn aborted() -> GraFxError {
    GraFxError::new(ErrorCode::Aborted, "the request was aborted")
}

/// The longest timeout a timer can wait (setTimeout fires at once beyond it); resources.js's
/// `MAX_MS`.
const MAX_TIMEOUT_MS: f64 = 2_147_483_647.0;

/// A call's `timeoutMs`: none when absent; otherwise a number above 0. 0 is refused, as in the
/// constructor and the waits (js/resources.js `millis`): it means neither "none" nor "at once".
fn timeout_ms(init: &JsValue) -> Result<Option<f64>, GraFxError> {
    let value = get(init, "timeoutMs");
    if value.is_undefined() || value.is_null() {
        return Ok(None);
    }
    match value.as_f64() {
        Some(ms) if ms > 0.0 && ms <= MAX_TIMEOUT_MS => Ok(Some(ms)),
        _ => Err(GraFxError::options(
            "timeoutMs must be a number of milliseconds above 0, at most 2147483647",
        )),
    }
}

/// A call's abort signal: the caller's `signal`, linked with `timeoutMs` when one is given.
pub(crate) struct CallSignal {
    /// Held for the timeout; released when the call (or its body) is done.
    pub(crate) linked: Option<LinkedSignal>,
    pub(crate) signal: Option<web_sys::AbortSignal>,
    pub(crate) signal_js: JsValue,
}

impl CallSignal {
    /// A call's own signal (an AbortSignal or undefined), with no timeout linked to it.
    fn given(signal_js: JsValue) -> Self {
        Self {
            linked: None,
            signal: signal_js.dyn_ref::<web_sys::AbortSignal>().cloned(),
            signal_js,
        }
    }

    /// The signal for `init`; `aborted` at once when the caller's signal already is.
    pub(crate) fn of(init: &JsValue) -> Result<Self, GraFxError> {
        // A linked signal only for a timeout; a caller's own signal is used as it is, so aborting
        // it also stops reading the body. On the common path a call costs no more than a fetch.
        let user_signal = get(init, "signal");
        // Anything else would throw inside `AbortSignal.any`, in the middle of the call.
        let given = !user_signal.is_undefined() && !user_signal.is_null();
        if given && !user_signal.is_instance_of::<web_sys::AbortSignal>() {
            return Err(GraFxError::options(
                "signal must be an AbortSignal (an AbortController's `signal`)",
            ));
        }
        let timeout = timeout_ms(init)?;
        let linked = timeout.map(|t| LinkedSignal::new(&user_signal, t));
        let signal: Option<web_sys::AbortSignal> = match &linked {
            Some(l) => Some(l.signal.clone()),
            None => user_signal.dyn_into::<web_sys::AbortSignal>().ok(),
        };
        let signal_js = signal
            .as_ref()
            .map_or(JsValue::UNDEFINED, |s| s.clone().into());
        if signal.as_ref().is_some_and(|s| s.aborted()) {
            return Err(aborted());
        }
        Ok(Self {
            linked,
            signal,
            signal_js,
        })
    }
}

/// `fetch` with the bearer token. On a 401 it gets a token to replace the refused one (a peer's
/// newer one if a refresh already happened, or one forced refresh shared by every caller refused
/// at once) and retries once. `timeoutMs` also covers reading the body, where the browser has
/// `AbortSignal.any`.
pub(crate) async fn fetch(
    inner: &Rc<Inner>,
    path_or_url: &str,
    init: &JsValue,
) -> Result<Response, GraFxError> {
    let call = CallSignal::of(init)?;
    let token = inner.current(false).await?;
    let url = resolve(&token, path_or_url)?;
    let bearer = bearer_of(&token);
    let sent = JsFuture::from(send_answered(inner, &url, init, &call.signal_js, &bearer))
        .await
        .map_err(|e| GraFxError::from_js(e, ErrorCode::ApiError))?;
    if let Some(linked) = call.linked {
        linked.keep_for_the_body();
    }
    Ok(Response::from(sent.unchecked_into::<web_sys::Response>()))
}

/// The request sent with `bearer`, its reply handed on by JS (`fetchAnswered`) with no Rust
/// future on its way unless it is a 401 or a redirect, or the call failed: those go to the
/// client's handler, [`after_sent`].
fn send_answered(
    inner: &Inner,
    url: &str,
    init: &JsValue,
    signal: &JsValue,
    bearer: &str,
) -> js_sys::Promise {
    fetch_answered(url, init, signal, bearer, &inner.after_fetch.borrow())
}

/// A call sent at once, with no Rust future on its way (entering the wasm for a future and its
/// promises costs more than the rest of a call): with a fresh token and neither `signal` nor
/// `timeoutMs`, the common call. `None` when the call takes [`fetch`]'s path, which also
/// reports whatever is wrong with its arguments.
pub(crate) fn fetch_now(
    inner: &Inner,
    path_or_url: &JsValue,
    init: &JsValue,
) -> Option<js_sys::Promise> {
    let absent = |name| get(init, name).is_undefined();
    if !absent("signal") || !absent("timeoutMs") {
        return None;
    }
    // The token's borrow ends before the page's `fetch` runs: that may call back into the client.
    let (url, bearer) = inner.with_fresh_token(|token| {
        // An empty path is refused on the future's path (`path_string`), as any other mistake.
        let path = path_or_url.as_string().filter(|p| !p.is_empty())?;
        let url = resolve(token, &path).ok()?;
        Some((url, bearer_of(token)))
    })?;
    Some(send_answered(
        inner,
        &url,
        init,
        &JsValue::UNDEFINED,
        &bearer,
    ))
}

/// A request [`send_answered`] sent, carried on from `outcome` (its 401 or redirect, or what its
/// `fetch` rejected with) and `sent` (`[url, init, signal, bearer]`, as it was sent): the error
/// for a redirect or a failure; for a 401, a token to replace the refused one (a peer's newer
/// one if a refresh already happened, or one forced refresh shared by every caller refused at
/// once) and one retry, with the call's signal. The client is held only for the retry: a call
/// [`fetch_now`] sent holds none, and one freed meanwhile still gets its redirect or failure
/// told as such.
pub(crate) async fn after_sent(
    client: Weak<Inner>,
    outcome: JsValue,
    sent: JsValue,
) -> Result<JsValue, GraFxError> {
    let field = |i| Reflect::get_u32(&sent, i).unwrap_or_default();
    let (url, init) = (field(0).as_string().unwrap_or_default(), field(1));
    let bearer = field(3).as_string().unwrap_or_default();
    let call = CallSignal::given(field(2));
    let outcome = if outcome.is_instance_of::<web_sys::Response>() {
        Ok(outcome)
    } else {
        Err(outcome)
    };
    drop(reply(&url, &init, &call, &bearer, outcome)?);
    if has_stream_body(&init, false) {
        return Err(GraFxError::new(
            ErrorCode::Unauthorized,
            format!("{url} refused the token (HTTP 401), and the request cannot be sent again with a new one: its body is a stream. Send a string, Blob or ArrayBuffer body to get the automatic retry."),
        )
        .status(401));
    }
    let inner = client.upgrade().ok_or_else(crate::client::disposed)?;
    // Rebuilt from the caller's init rather than cloned up front: cloning every request just in
    // case cost more than the rare retry.
    let refused = bearer.strip_prefix("Bearer ").unwrap_or(&bearer);
    let fresh = inner.replace_refused(refused).await?;
    let res = send(&url, &init, &call, &fresh).await?;
    Ok(web_sys::Response::from(res).into())
}

/// The error for a non-2xx API reply, with problem-details title and detail and the raw body.
pub(crate) async fn error_from(res: &web_sys::Response, what: &str) -> GraFxError {
    let body = body_text(res).await;
    error_from_text(res, &body, what)
}

/// The body as text (empty when it cannot be read).
pub(crate) async fn body_text(res: &web_sys::Response) -> String {
    match res.text() {
        Ok(p) => JsFuture::from(p)
            .await
            .ok()
            .and_then(|t| t.as_string())
            .unwrap_or_default(),
        Err(_) => String::new(),
    }
}

/// [`error_from`] with the body already read.
pub(crate) fn error_from_text(res: &web_sys::Response, body: &str, what: &str) -> GraFxError {
    let status = res.status();
    let (title, detail) = js_sys::JSON::parse(body)
        .ok()
        .as_ref()
        .and_then(problem)
        .unwrap_or_default();
    let code = if status == 401 {
        ErrorCode::Unauthorized
    } else {
        ErrorCode::ApiError
    };
    let text = match (&title, &detail) {
        (Some(t), Some(d)) => format!("{t}: {d}"),
        (Some(t), None) => t.clone(),
        (None, Some(d)) => d.clone(),
        (None, None) => res.status_text(),
    };
    let mut err = GraFxError::new(code, format!("{what} failed with HTTP {status}: {text}"))
        .status(status)
        .body(body.to_owned());
    if let Some(d) = detail.or(title) {
        err = err.detail(d);
    }
    err
}

/// The `title` and `detail` of an RFC 7807 problem+json body, with serde's rules: either may be
/// absent or null, and a field of another type makes it no problem body at all.
fn problem(json: &JsValue) -> Option<(Option<String>, Option<String>)> {
    let f = crate::fields::Fields::of_json(json)?;
    Some((
        f.optional_text("title").ok()?,
        f.optional_text("detail").ok()?,
    ))
}

/// `fetch`, then the parsed JSON body (null for 204), or a GraFxError for a non-2xx reply.
pub(crate) async fn json(
    inner: &Rc<Inner>,
    path: &str,
    init: &JsValue,
) -> Result<JsValue, GraFxError> {
    let res = fetch(inner, path, init).await?;
    let raw: web_sys::Response = res.into();
    if !raw.ok() {
        return Err(error_from(&raw, &describe(path, init)).await);
    }
    read_json(raw, path).await
}

/// `METHOD path`, for error messages.
pub(crate) fn describe(path: &str, init: &JsValue) -> String {
    let method = get(init, "method")
        .as_string()
        .unwrap_or_else(|| "GET".into());
    format!("{method} {path}")
}

/// A 2xx reply's JSON body (null for 204).
pub(crate) async fn read_json(raw: web_sys::Response, path: &str) -> Result<JsValue, GraFxError> {
    if raw.status() == 204 {
        return Ok(JsValue::NULL);
    }
    let not_json = || {
        GraFxError::new(
            ErrorCode::InvalidResponse,
            format!("{path} did not return JSON"),
        )
    };
    let parsed = raw.json().map_err(|_| not_json())?;
    // A body that is not JSON, or a read cut short by the caller's signal or the timeout.
    JsFuture::from(parsed).await.map_err(|e| {
        if get(&e, "name").as_string().as_deref() == Some("SyntaxError") {
            not_json()
        } else {
            GraFxError::from_js(crate::glue::as_grafx(&e), ErrorCode::ApiError)
        }
    })
}

/// Where `needle` first occurs in `haystack`: a plain byte search, as `str::find` with a `&str`
/// pattern links a two-way searcher (1.5 KB of wasm, issue #28) that these short needles do not
/// need.
pub(crate) fn find(haystack: &str, needle: &str) -> Option<usize> {
    if needle.is_empty() {
        return Some(0);
    }
    haystack
        .as_bytes()
        .windows(needle.len())
        .position(|w| w == needle.as_bytes())
}
