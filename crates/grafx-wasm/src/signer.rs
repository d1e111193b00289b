//! The request to grafx-signer: `POST {signerUrl}/token[/{integration}]` with `X-CSRF: 1`.

use gloo_net::http::Request;
use grafx_core::{ErrorBody, ErrorCode, SignerToken, Timestamp, CSRF_HEADER, CSRF_HEADER_VALUE};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;

use crate::error::GraFxError;
use crate::glue::{get, linked_signal};
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
    let mut req = Request::post(&url)
        .credentials(opts.credentials)
        .abort_signal(Some(&signal))
        .header(CSRF_HEADER, CSRF_HEADER_VALUE);
    for (name, value) in &opts.signer_headers {
        req = req.header(name, value);
    }
    if let Some(get_session) = &opts.get_session_token {
        let session = get_session.call0(&JsValue::NULL)?;
        let session = match session.dyn_ref::<js_sys::Promise>() {
            Some(p) => JsFuture::from(p.clone()).await?,
            None => session,
        };
        if let Some(t) = session.as_string().filter(|t| !t.is_empty()) {
            req = req.header("authorization", &format!("Bearer {t}"));
        }
    }
    let res = req.send().await.map_err(|e| {
        if signal.aborted() {
            GraFxError::new(
                ErrorCode::Timeout,
                format!("the signer did not answer within {} ms", opts.timeout_ms),
            )
        } else {
            // A browser hides why a cross-origin request failed: the signer may be down, or it
            // refused this page's origin (it answers no preflight for origins it does not allow).
            let page = web_sys::window()
                .and_then(|w| w.location().origin().ok())
                .unwrap_or_default();
            GraFxError::new(
                ErrorCode::SignerUnreachable,
                format!(
                    "cannot reach the signer at {url} ({e}): it is down, or it does not allow this \
                     page's origin {page} (check SIGNER_ALLOWED_ORIGINS)"
                ),
            )
            .detail("network error or CORS refusal")
        }
    })?;
    let status = res.status();
    let body = res
        .text()
        .await
        .map_err(|_| timeout_or(opts, &signal, "the signer's reply was cut off"))?;
    if let Some(done) = get(&linked, "done").dyn_ref::<js_sys::Function>() {
        let _ = done.call0(&JsValue::NULL);
    }
    let json = js_sys::JSON::parse(&body).ok();
    if !res.ok() {
        let error: Option<ErrorBody> = json.and_then(|j| serde_wasm_bindgen::from_value(j).ok());
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
    let token: SignerToken = json
        .and_then(|j| {
            serde_wasm_bindgen::from_value(j)
                .map_err(|e| e.to_string())
                .ok()
        })
        .ok_or_else(|| invalid("the signer's reply is not a valid token").body(body))?;
    Ok(Token::from_signer(token, now()))
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

/// A signer error body as a GraFxError: `upstream_unavailable` keeps its code (CHILI is down);
/// everything else is `signer_rejected` carrying the signer's code.
fn signer_error(e: ErrorBody, status: u16) -> GraFxError {
    match e.error {
        ErrorCode::UpstreamUnavailable => {
            GraFxError::new(ErrorCode::UpstreamUnavailable, e.error_description.clone())
                .status(status)
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
