//! The request to grafx-signer: `POST {signerUrl}/token[/{integration}]` with `X-CSRF: 1`, sent
//! with gloo-net and read with serde (grafx-core's `SignerToken` and `ErrorBody`).

use gloo_net::http::Request;
use grafx_core::{ErrorBody, ErrorCode, Expiry, SignerToken, CSRF_HEADER, CSRF_HEADER_VALUE};
use wasm_bindgen::JsValue;
use wasm_bindgen_futures::JsFuture;
use web_sys::{RequestRedirect, ResponseType};

use crate::clock::Clock;
use crate::error::GraFxError;
use crate::glue::LinkedSignal;
use crate::options::Options;
use crate::token::Token;

/// The app's session token from `getSessionToken`, bounded by the signer timeout: a callback
/// that never settles must not hang every caller.
pub(crate) async fn session_token(opts: &Options) -> Result<Option<String>, GraFxError> {
    let Some(get_session) = &opts.get_session_token else {
        return Ok(None);
    };
    // The app could not produce a session (signed out): the same answer the signer would give.
    let no_session = |e: &JsValue| {
        GraFxError::new(
            ErrorCode::CallerUnauthenticated,
            format!(
                "getSessionToken failed, so the signer cannot be asked: {}",
                crate::glue::message_of(e)
            ),
        )
    };
    let session = get_session
        .call0(&JsValue::NULL)
        .map_err(|e| no_session(&e))?;
    let session = JsFuture::from(crate::glue::with_timeout(
        &session,
        f64::from(opts.timeout_ms),
        "getSessionToken",
    ))
    .await
    .map_err(|e| {
        let timed_out = crate::error::is_grafx_error(&e)
            && crate::glue::get(&e, "code").as_string().as_deref() == Some("timeout");
        if timed_out {
            GraFxError::from_js(e, ErrorCode::Timeout)
        } else {
            no_session(&e)
        }
    })?;
    Ok(session.as_string().filter(|t| !t.is_empty()))
}

/// Asks the signer for a token.
pub(crate) async fn fetch_token(opts: &Options, clock: &Clock) -> Result<Token, GraFxError> {
    let url = opts.token_url();
    let requested_at = clock.now_ms();
    let session = session_token(opts).await?;
    // Its timer is cleared on every way out of this function.
    let linked = LinkedSignal::new(&JsValue::UNDEFINED, f64::from(opts.timeout_ms));
    let request = signer_request(Request::post(&url), opts, session.as_deref(), &linked)
        .build()
        .map_err(|e| GraFxError::options(format!("the signer request is invalid: {e}")))?;
    let (status, body) = send(request, &url, opts, &linked).await?;
    drop(linked);
    let reply = read_token_reply(status, &body)?;
    Ok(Token {
        access_token: reply.access_token.secret().to_owned(),
        expiry: Expiry::stamp(clock.now(), reply.expires_in.duration()),
        environment: reply.environment.as_str().to_owned(),
        api: reply.environment_api_url,
        platform: reply.platform_api_url,
        scope: reply.scope.to_string(),
        requested_at,
    })
}

/// A request to the signer with what every signer request carries: `X-CSRF`, the configured
/// credentials mode and extra headers, the app's session, no redirects, and the timeout signal.
pub(crate) fn signer_request(
    builder: gloo_net::http::RequestBuilder,
    opts: &Options,
    session: Option<&str>,
    linked: &LinkedSignal,
) -> gloo_net::http::RequestBuilder {
    let mut request = builder
        .header(CSRF_HEADER, CSRF_HEADER_VALUE)
        .credentials(opts.credentials)
        .redirect(RequestRedirect::Manual)
        .abort_signal(Some(&linked.signal));
    for (name, value) in &opts.signer_headers {
        request = request.header(name, value);
    }
    if let Some(t) = session {
        request = request.header("authorization", &format!("Bearer {t}"));
    }
    request
}

/// Sends a token request; the status and the whole body, or why there is none.
async fn send(
    request: Request,
    url: &str,
    opts: &Options,
    linked: &LinkedSignal,
) -> Result<(u16, String), GraFxError> {
    let timed_out = || {
        GraFxError::new(
            ErrorCode::Timeout,
            format!("the signer did not answer within {} ms", opts.timeout_ms),
        )
    };
    let res = request.send().await.map_err(|e| {
        if linked.signal.aborted() {
            return timed_out();
        }
        // A browser hides why a cross-origin request failed: the signer may be down, or it
        // refused this page's origin (it answers no preflight for origins it does not allow).
        GraFxError::new(
            ErrorCode::SignerUnreachable,
            format!(
                "cannot reach the signer at {url} ({e}): it is down, or it does not allow this \
                 page's origin {} (check SIGNER_ALLOWED_ORIGINS)",
                crate::glue::self_origin()
            ),
        )
        .detail("network error or CORS refusal")
    })?;
    if res.type_() == ResponseType::Opaqueredirect {
        return Err(GraFxError::new(
            ErrorCode::SignerUnreachable,
            format!("the signer at {url} answered with a redirect, which is not followed (the request may carry your app's session); point signerUrl at the signer itself"),
        ));
    }
    let body = res.text().await.map_err(|_| {
        if linked.signal.aborted() {
            timed_out()
        } else {
            GraFxError::new(
                ErrorCode::SignerUnreachable,
                "the signer's reply was cut off",
            )
        }
    })?;
    Ok((res.status(), body))
}

/// The token in a signer reply, or the signer's error as a `GraFxError`.
fn read_token_reply(status: u16, body: &str) -> Result<SignerToken, GraFxError> {
    let json = js_sys::JSON::parse(body).ok();
    // A reply may hold a token even when it is not a valid one: errors never carry it.
    let shown = without_access_token(body);
    if !(200..300).contains(&status) {
        let error = json.as_ref().and_then(error_body);
        return Err(match error {
            Some(e) => signer_error(e, status),
            // A proxy's HTML page in front of a dead signer.
            None if (502..=504).contains(&status) => GraFxError::new(
                ErrorCode::SignerUnreachable,
                format!("the signer is unavailable (HTTP {status})"),
            )
            .status(status)
            .body(shown),
            None => invalid(&format!(
                "the signer answered HTTP {status} without an error body"
            ))
            .status(status)
            .body(shown),
        });
    }
    let Some(json) = json else {
        return Err(invalid("the signer's reply is not JSON").body(shown));
    };
    serde_wasm_bindgen::from_value(json).map_err(|e| {
        invalid(&format!(
            "the signer's reply is not a valid token: {}",
            crate::error::serde_message(e)
        ))
        .body(shown)
    })
}

/// The signer's error reply (`{error, error_description?}`, grafx-core's `ErrorBody`), read with
/// serde's rules, or None for any other JSON.
pub(crate) fn error_body(json: &JsValue) -> Option<ErrorBody> {
    let f = crate::fields::Fields::of(json)?;
    let error = f.text("error").ok()??;
    let description = f.text("error_description").ok()?.unwrap_or_default();
    let code = error
        .parse()
        .unwrap_or_else(|e: std::convert::Infallible| match e {});
    Some(ErrorBody::new(code, description))
}

/// `body` with the value of every `"access_token": "…"` replaced by `[redacted]`, even in a reply
/// that is cut off or not JSON at all.
fn without_access_token(body: &str) -> String {
    const KEY: &str = "\"access_token\"";
    let mut out = String::with_capacity(body.len());
    let mut rest = body;
    while let Some(at) = crate::api::find(rest, KEY) {
        let (head, tail) = rest.split_at(at + KEY.len());
        out.push_str(head);
        let after_colon = tail.trim_start().strip_prefix(':').map(str::trim_start);
        match after_colon.and_then(|v| v.strip_prefix('"')) {
            Some(value) => {
                out.push_str(":\"[redacted]\"");
                // The value ends at the next unescaped quote (or the body's end, if cut off).
                let mut end = value.len();
                let mut escaped = false;
                for (i, c) in value.char_indices() {
                    match c {
                        '\\' if !escaped => escaped = true,
                        '"' if !escaped => {
                            end = i + 1;
                            break;
                        }
                        _ => escaped = false,
                    }
                }
                rest = &value[end..];
            }
            None => rest = tail,
        }
    }
    out.push_str(rest);
    out
}

fn invalid(msg: &str) -> GraFxError {
    GraFxError::new(ErrorCode::InvalidResponse, msg.to_owned())
}

/// A signer error body as a GraFxError. Codes an app acts on keep their code:
/// `upstream_unavailable` (CHILI is down: retry later), `caller_unauthenticated` (send the user
/// to the app's login) and `caller_check_unavailable`; everything else is `signer_rejected`
/// carrying the signer's code.
pub(crate) fn signer_error(e: ErrorBody, status: u16) -> GraFxError {
    match e.error {
        code @ (ErrorCode::UpstreamUnavailable
        | ErrorCode::CallerUnauthenticated
        | ErrorCode::CallerCheckUnavailable) => {
            GraFxError::new(code.clone(), e.error_description.clone())
                .status(status)
                .signer_code(code.as_str())
                .detail(e.error_description)
        }
        code => GraFxError::new(
            ErrorCode::SignerRejected,
            format!("the signer refused: {}", e.error_description),
        )
        .status(status)
        .signer_code(code.as_str())
        .detail(e.error_description),
    }
}

#[cfg(test)]
mod tests {
    use super::without_access_token;
    use crate::api::find;

    #[test]
    fn a_plain_search_finds_the_first_occurrence() {
        assert_eq!(find("https://x", "://"), Some(5));
        assert_eq!(find("a://b://", "://"), Some(1));
        assert_eq!(find("templates?x=1", "://"), None);
        assert_eq!(find(":/", "://"), None);
        assert_eq!(find("abc", ""), Some(0));
    }

    #[test]
    fn every_access_token_value_is_redacted_even_cut_off() {
        let body = r#"{"access_token" : "eyJ.a\"b", "x": 1, "access_token":"eyJ.second"}"#;
        let shown = without_access_token(body);
        assert!(!shown.contains("eyJ"), "{shown}");
        assert_eq!(shown.matches("[redacted]").count(), 2, "{shown}");
        assert!(shown.contains(r#""x": 1"#), "{shown}");
        let cut = without_access_token(r#"{"access_token":"eyJ.cut-off"#);
        assert!(!cut.contains("eyJ"), "{cut}");
        assert_eq!(without_access_token("no token here"), "no token here");
    }
}
