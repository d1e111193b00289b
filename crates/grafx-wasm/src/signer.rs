//! The request to grafx-signer: `POST {signerUrl}/token[/{integration}]` with `X-CSRF: 1`.

use grafx_core::{
    AccessToken, EnvironmentApiUrl, EnvironmentName, ErrorBody, ErrorCode, ExpiresIn, Expiry,
    Timestamp, TokenType, CSRF_HEADER, CSRF_HEADER_VALUE,
};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;

use crate::error::GraFxError;
use crate::glue::{build_request, get, linked_signal};
use crate::options::Options;
use crate::token::Token;

/// Asks the signer for a token.
pub(crate) async fn fetch_token(
    opts: &Options,
    now: impl Fn() -> Timestamp,
) -> Result<Token, JsValue> {
    let url = opts.token_url();
    let linked = linked_signal(&JsValue::UNDEFINED, f64::from(opts.timeout_ms));
    let signal: web_sys::AbortSignal = get(&linked, "signal").unchecked_into();
    let headers = web_sys::Headers::new()?;
    headers.set(CSRF_HEADER, CSRF_HEADER_VALUE)?;
    for (name, value) in &opts.signer_headers {
        headers.set(name, value).map_err(|_| {
            GraFxError::options(format!("signerHeaders: `{name}` is not a valid header"))
        })?;
    }
    if let Some(get_session) = &opts.get_session_token {
        // The app could not produce a session (signed out): the same answer the signer would give.
        let no_session = |e: JsValue| -> JsValue {
            let why = e
                .dyn_ref::<js_sys::Error>()
                .map(|e| String::from(e.message()))
                .unwrap_or_default();
            GraFxError::new(
                ErrorCode::CallerUnauthenticated,
                format!("getSessionToken failed, so the signer cannot be asked: {why}"),
            )
            .into()
        };
        let session = get_session.call0(&JsValue::NULL).map_err(no_session)?;
        // Bounded like the signer call itself: a callback that never settles must not hang every
        // caller (a timeout keeps its own code).
        let session = JsFuture::from(crate::glue::with_timeout(
            &session,
            f64::from(opts.timeout_ms),
            "getSessionToken",
        ))
        .await
        .map_err(|e| {
            if get(&e, "code").as_string().as_deref() == Some("timeout") {
                e
            } else {
                no_session(e)
            }
        })?;
        if let Some(t) = session.as_string().filter(|t| !t.is_empty()) {
            headers.set("authorization", &format!("Bearer {t}"))?;
        }
    }
    let init = web_sys::RequestInit::new();
    init.set_method("POST");
    init.set_headers(&headers);
    init.set_credentials(opts.credentials);
    let request = build_request(&url, &init, &signal)?;
    let window = web_sys::window()
        .ok_or_else(|| GraFxError::new(ErrorCode::SignerUnreachable, "no window"))?;
    let res: web_sys::Response = JsFuture::from(window.fetch_with_request(&request))
        .await
        .map_err(|e| {
            if signal.aborted() {
                return GraFxError::new(ErrorCode::Timeout, format!("the signer did not answer within {} ms", opts.timeout_ms));
            }
            let reason = js_sys::Reflect::get(&e, &"message".into()).ok().and_then(|m| m.as_string()).unwrap_or_default();
            // A browser hides why a cross-origin request failed: the signer may be down, or it
            // refused this page's origin (it answers no preflight for origins it does not allow).
            let page = window.location().origin().unwrap_or_default();
            GraFxError::new(
                ErrorCode::SignerUnreachable,
                format!(
                    "cannot reach the signer at {url} ({reason}): it is down, or it does not allow this \
                     page's origin {page} (check SIGNER_ALLOWED_ORIGINS)"
                ),
            )
            .detail("network error or CORS refusal")
        })?
        .unchecked_into();
    if get(&res, "type").as_string().as_deref() == Some("opaqueredirect") {
        return Err(GraFxError::new(
            ErrorCode::SignerUnreachable,
            format!("the signer at {url} answered with a redirect, which is not followed (the request may carry your app's session); point signerUrl at the signer itself"),
        )
        .into());
    }
    let status = res.status();
    let body = JsFuture::from(res.text()?)
        .await
        .map_err(|_| timeout_or(opts, &signal, "the signer's reply was cut off"))?
        .as_string()
        .unwrap_or_default();
    if let Some(done) = get(&linked, "done").dyn_ref::<js_sys::Function>() {
        let _ = done.call0(&JsValue::NULL);
    }
    let json = js_sys::JSON::parse(&body).ok();
    // A reply may hold a token even when it is not a valid one: errors never carry it.
    let body = without_access_token(&body);
    if !res.ok() {
        let error = json.as_ref().and_then(error_body);
        return Err(match error {
            Some(e) => signer_error(e, status),
            // A proxy's HTML page in front of a dead signer.
            None if (502..=504).contains(&status) => GraFxError::new(
                ErrorCode::SignerUnreachable,
                format!("the signer is unavailable (HTTP {status})"),
            )
            .status(status)
            .body(body),
            None => invalid(&format!(
                "the signer answered HTTP {status} without an error body"
            ))
            .status(status)
            .body(body),
        }
        .into());
    }
    let token = json.as_ref().map(|j| parse_token(j, now()));
    match token {
        Some(Ok(t)) => Ok(t),
        Some(Err(why)) => Err(
            invalid(&format!("the signer's reply is not a valid token: {why}"))
                .body(body)
                .into(),
        ),
        None => Err(invalid("the signer's reply is not JSON").body(body).into()),
    }
}

/// `body` with the value of every `"access_token": "…"` replaced by `[redacted]`, even in a reply
/// that is cut off or not JSON at all.
fn without_access_token(body: &str) -> String {
    const KEY: &str = "\"access_token\"";
    let mut out = String::with_capacity(body.len());
    let mut rest = body;
    while let Some(at) = rest.find(KEY) {
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

fn string(v: &JsValue, key: &str) -> Result<String, String> {
    get(v, key)
        .as_string()
        .ok_or_else(|| format!("`{key}` is missing or not a string"))
}

/// Validates the signer's token reply with grafx-core's rules, field by field. (Not through serde:
/// its deserializer machinery, float formatting included, would double the size of this module.)
fn parse_token(v: &JsValue, received_at: Timestamp) -> Result<Token, String> {
    let access_token = AccessToken::new(string(v, "access_token")?).map_err(|e| e.to_string())?;
    TokenType::parse(&string(v, "token_type")?).map_err(|e| e.to_string())?;
    let expires_in = get(v, "expires_in")
        .as_f64()
        .ok_or("`expires_in` is missing or not a number")?;
    let expires_in = ExpiresIn::from_secs_f64(expires_in).map_err(|e| e.to_string())?;
    let environment = EnvironmentName::new(string(v, "environment")?).map_err(|e| e.to_string())?;
    let api =
        EnvironmentApiUrl::parse(&string(v, "environment_api_url")?).map_err(|e| e.to_string())?;
    let platform = match get(v, "platform_api_url").as_string() {
        Some(u) => Some(EnvironmentApiUrl::parse(&u).map_err(|e| e.to_string())?),
        None => None,
    };
    Ok(Token {
        access_token: access_token.secret().to_owned(),
        expiry: Expiry::stamp(received_at, expires_in.duration()),
        environment: environment.as_str().to_owned(),
        api,
        platform,
        scope: get(v, "scope").as_string().unwrap_or_default(),
    })
}

fn error_body(v: &JsValue) -> Option<ErrorBody> {
    let code = get(v, "error").as_string()?;
    let description = get(v, "error_description").as_string().unwrap_or_default();
    let code: ErrorCode = code
        .parse()
        .unwrap_or_else(|e: std::convert::Infallible| match e {});
    Some(ErrorBody::new(code, description))
}

fn invalid(msg: &str) -> GraFxError {
    GraFxError::new(ErrorCode::InvalidResponse, msg.to_owned())
}

fn timeout_or(opts: &Options, signal: &web_sys::AbortSignal, msg: &str) -> GraFxError {
    if signal.aborted() {
        GraFxError::new(
            ErrorCode::Timeout,
            format!("the signer did not answer within {} ms", opts.timeout_ms),
        )
    } else {
        GraFxError::new(ErrorCode::SignerUnreachable, msg.to_owned())
    }
}

/// A signer error body as a GraFxError. Codes an app acts on keep their code:
/// `upstream_unavailable` (CHILI is down: retry later), `caller_unauthenticated` (send the user
/// to the app's login) and `caller_check_unavailable`; everything else is `signer_rejected`
/// carrying the signer's code.
fn signer_error(e: ErrorBody, status: u16) -> GraFxError {
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
