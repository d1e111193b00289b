//! The request to grafx-signer: `POST {signerUrl}/token[/{integration}]` with `X-CSRF: 1`, sent
//! with gloo-net and read field by field with serde's rules (grafx-core's `SignerToken` and
//! `ErrorBody`).

use gloo_net::http::Request;
use grafx_core::{
    AccessToken, EnvironmentApiUrl, EnvironmentName, ErrorBody, ErrorCode, ExpiresIn, Expiry,
    PlatformApiUrl, Scopes, SignerToken, TokenType, CSRF_HEADER, CSRF_HEADER_VALUE,
};
use wasm_bindgen::JsValue;
use wasm_bindgen_futures::JsFuture;
use web_sys::{RequestRedirect, ResponseType};

use crate::clock::Clock;
use crate::error::GraFxError;
use crate::fields::Fields;
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
    signer_token(&json).map_err(|why| {
        invalid(&format!("the signer's reply is not a valid token: {why}")).body(shown)
    })
}

/// The signer's token reply read field by field, with serde's rules for grafx-core's
/// `SignerToken`: a missing or mistyped field refuses the whole reply, other fields are ignored,
/// and `platform_api_url` may be missing or null. Each value is checked by the same grafx-core
/// constructor its `Deserialize` calls. Getters, not serde-wasm-bindgen's `Deserializer`: its
/// error path linked Rust's float formatting into the npm package (issue #28).
fn signer_token(json: &JsValue) -> Result<SignerToken, String> {
    let f = Fields::of_json(json).ok_or("it is not a JSON object")?;
    let text = |key: &str| match f.text(key) {
        Ok(Some(v)) => Ok(v),
        Ok(None) => Err(format!("missing field `{key}`")),
        Err(_) => Err(format!("{key} must be a string")),
    };
    let number = |key: &str| match f.number(key) {
        Ok(Some(v)) => Ok(v),
        Ok(None) => Err(format!("missing field `{key}`")),
        Err(_) => Err(format!("{key} must be a number")),
    };
    let core = |e: grafx_core::Error| e.to_string();
    let expires_at = number("expires_at")?;
    // serde-wasm-bindgen's `u64`: a safe integer, not negative.
    if expires_at.fract() != 0.0 || !(0.0..=MAX_SAFE_INTEGER).contains(&expires_at) {
        return Err("expires_at must be a whole number of seconds".into());
    }
    let platform_api_url = f
        .optional_text("platform_api_url")
        .map_err(|_| "platform_api_url must be a string or null".to_owned())?;
    Ok(SignerToken {
        access_token: AccessToken::try_from(text("access_token")?).map_err(core)?,
        token_type: TokenType::parse(&text("token_type")?).map_err(core)?,
        expires_in: ExpiresIn::from_secs_f64(number("expires_in")?).map_err(core)?,
        expires_at: expires_at as u64,
        scope: Scopes::from(text("scope")?),
        environment: EnvironmentName::try_from(text("environment")?).map_err(core)?,
        environment_api_url: EnvironmentApiUrl::try_from(text("environment_api_url")?)
            .map_err(core)?,
        platform_api_url: platform_api_url
            .map(PlatformApiUrl::try_from)
            .transpose()
            .map_err(core)?,
    })
}

/// JavaScript's `Number.MAX_SAFE_INTEGER`.
const MAX_SAFE_INTEGER: f64 = 9_007_199_254_740_991.0;

/// The signer's error reply (`{error, error_description?}`, grafx-core's `ErrorBody`), read with
/// serde's rules, or None for any other JSON.
pub(crate) fn error_body(json: &JsValue) -> Option<ErrorBody> {
    let f = Fields::of_json(json)?;
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
        // `split_at_checked` and `get`, not indexing: str's slice panic costs the package 2 KB.
        let Some((head, tail)) = rest.split_at_checked(at + KEY.len()) else {
            // Cannot happen (the key is ASCII); if it did, nothing after it is shown.
            out.push_str("[redacted]");
            return out;
        };
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
                rest = value.get(end..).unwrap_or_default();
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

#[cfg(all(test, target_arch = "wasm32"))]
mod wasm_tests {
    use super::*;
    use wasm_bindgen_test::{wasm_bindgen_test, wasm_bindgen_test_configure};

    wasm_bindgen_test_configure!(run_in_browser);

    const VALID: &str = r#"{"access_token":"eyJ.t","token_type":"Bearer","expires_in":3600,
        "expires_at":1800000000,"scope":"a b","environment":"acme",
        "environment_api_url":"https://acme.chili-publish.online/grafx/api/v1/environment/acme/",
        "platform_api_url":"https://api.chiligrafx.com/api/v1/"}"#;

    /// The reply `VALID` with `key` set to `value` (a JS expression; `undefined` deletes it).
    fn with(key: &str, value: &str) -> JsValue {
        let script = format!(
            "const o = JSON.parse(arguments[0]); o[{key:?}] = {value}; \
             if (o[{key:?}] === undefined) delete o[{key:?}]; return o;"
        );
        js_sys::Function::new_with_args("", &script)
            .call1(&JsValue::NULL, &JsValue::from_str(VALID))
            .expect("the test's script")
    }

    /// The reader against serde-wasm-bindgen's `Deserialize` for `SignerToken`, which it replaced:
    /// both accept the same replies and read them the same.
    #[wasm_bindgen_test]
    fn the_token_reply_is_read_as_serde_read_it() {
        let values = [
            "undefined",
            "null",
            "true",
            "0",
            "-0",
            "1",
            "-1",
            "1.5",
            "3600",
            "86400",
            "86401",
            "2 ** 53 - 1",
            "2 ** 53",
            "1e300",
            "Infinity",
            "-Infinity",
            "NaN",
            "''",
            "'x'",
            "'bearer'",
            "'BEARER'",
            "'mac'",
            "'3600'",
            "'acme'",
            "'Bad Name'",
            "[]",
            "{}",
            "'https://acme.chili-publish.online/grafx/api/v1/environment/acme/'",
            "'https://acme.chili-publish.online/grafx/api/v1/environment/acme'",
            "'http://evil.example/'",
            "'https://api.chiligrafx.com/api/v1/'",
        ];
        let keys = [
            "access_token",
            "token_type",
            "expires_in",
            "expires_at",
            "scope",
            "environment",
            "environment_api_url",
            "platform_api_url",
            "extra",
        ];
        let (mut accepted, mut refused) = (0, 0);
        for key in keys {
            for value in values {
                let reply = with(key, value);
                let ours = signer_token(&reply);
                let serdes: Result<SignerToken, _> = serde_wasm_bindgen::from_value(reply);
                match (&ours, &serdes) {
                    (Ok(a), Ok(b)) => assert_eq!(a, b, "{key} = {value}"),
                    (Err(why), Err(_)) => {
                        assert!(!why.is_empty(), "{key} = {value}: a reason");
                        refused += 1;
                        continue;
                    }
                    _ => panic!("{key} = {value}: ours {ours:?}, serde's {serdes:?}"),
                }
                accepted += 1;
            }
        }
        // Guard: both sides of the comparison were exercised.
        assert!(
            accepted >= 20 && refused >= 100,
            "{accepted} accepted, {refused} refused"
        );
        for not_an_object in ["null", "'x'", "7"] {
            let v = js_sys::eval(not_an_object).expect("a value");
            assert!(signer_token(&v).is_err(), "{not_an_object}");
        }
    }

    #[wasm_bindgen_test]
    fn refusals_name_the_field() {
        let cases = [
            ("expires_in", "undefined", "missing field `expires_in`"),
            ("expires_in", "'3600'", "expires_in must be a number"),
            ("expires_at", "1.5", "expires_at must be a whole number"),
            ("token_type", "'mac'", "token_type `mac`"),
            ("scope", "null", "scope must be a string"),
            (
                "platform_api_url",
                "7",
                "platform_api_url must be a string or null",
            ),
        ];
        for (key, value, says) in cases {
            let why = signer_token(&with(key, value)).expect_err(key);
            assert!(why.contains(says), "{key} = {value}: {why}");
        }
        let token = signer_token(&with("platform_api_url", "null")).expect("null is no URL");
        assert_eq!(token.platform_api_url, None);
        // Only the reply's own fields count: one inherited (a polluted prototype) is missing.
        let inherit = js_sys::Function::new_with_args(
            "o",
            "return Object.setPrototypeOf(o, {platform_api_url: 'https://api.evil.example/', \
             scope: 'inherited'});",
        );
        let reply = inherit
            .call1(&JsValue::NULL, &with("platform_api_url", "undefined"))
            .expect("the test's script");
        let token = signer_token(&reply).expect("a reply without platform_api_url");
        assert_eq!(token.platform_api_url, None, "not the inherited URL");
        let reply = inherit
            .call1(&JsValue::NULL, &with("scope", "undefined"))
            .expect("the test's script");
        let why = signer_token(&reply).expect_err("scope only inherited");
        assert!(why.contains("missing field `scope`"), "{why}");
    }
}
