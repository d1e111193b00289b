//! `grafx.via(integration)`: the same typed helpers, routed through the signer's API proxy
//! (`{signerUrl}/api/{integration}/…`). The signer adds that integration's token, so a page can
//! create projects and render outputs while its own token stays read-only and the write token
//! never reaches the browser.
//!
//! ```no_run
//! # async fn run(grafx: grafx_wasm::GraFxClient) -> Result<(), grafx_wasm::GraFxError> {
//! let writer = grafx.via("writer")?;
//! let project = writer.projects().create("template-id", Some("Mine")).await?;
//! # let _ = project;
//! # Ok(()) }
//! ```
//!
//! Requests carry what every signer request carries (`X-CSRF: 1`, the app's session from
//! `getSessionToken`, `signerHeaders`, the credentials mode), never a GraFx token. The proxy's own
//! refusals (`proxy_path_not_allowed`, `quota_exceeded`…) reject as `signer_rejected` with the
//! signer's code; CHILI's errors as `api_error`, as with a direct call.

use std::rc::Rc;

use gloo_net::http::Response;
use grafx_core::{ErrorCode, CSRF_HEADER, CSRF_HEADER_VALUE};
use wasm_bindgen::JsValue;
use web_sys::RequestCredentials;

use crate::api::{aborted, CallSignal};
use crate::client::Inner;
use crate::error::GraFxError;

/// The proxy's base URL for `integration`: `{signerUrl}/api/{integration}/`.
pub(crate) fn base(inner: &Inner, integration: &str) -> Result<Rc<str>, GraFxError> {
    crate::options::check_integration_name(integration, "via(integration)")?;
    Ok(format!("{}/api/{integration}/", inner.opts.signer_url).into())
}

/// The absolute URL for `path_or_url`: a path relative to the proxy's base, or a URL under it
/// (a link from a proxied reply, resolved against that reply's URL).
pub(crate) fn resolve(base: &str, path_or_url: &str) -> Result<String, GraFxError> {
    let url = web_sys::Url::new_with_base(path_or_url, base)
        .map_err(|_| GraFxError::options(format!("`{path_or_url}` is not a valid path or URL")))?;
    let href = url.href();
    if !href.starts_with(base) {
        return Err(GraFxError::options(format!(
            "`{path_or_url}` is not under the signer's API proxy ({base}): pass a path relative to the Environment API, e.g. `projects`"
        )));
    }
    Ok(href)
}

fn credentials(mode: RequestCredentials) -> &'static str {
    match mode {
        RequestCredentials::Omit => "omit",
        RequestCredentials::Include => "include",
        _ => "same-origin",
    }
}

/// `fetch` through the proxy. No retry here: a 401 from CHILI was already retried by the signer.
pub(crate) async fn fetch(
    inner: &Rc<Inner>,
    base: &str,
    path_or_url: &str,
    init: &JsValue,
) -> Result<Response, GraFxError> {
    let call = CallSignal::of(init)?;
    let url = resolve(base, path_or_url)?;
    let session = crate::signer::session_token(&inner.opts).await?;
    let extra = js_sys::Array::new();
    let pair = |k: &str, v: &str| js_sys::Array::of2(&k.into(), &v.into());
    extra.push(&pair(CSRF_HEADER, CSRF_HEADER_VALUE));
    for (name, value) in &inner.opts.signer_headers {
        extra.push(&pair(name, value));
    }
    if let Some(t) = &session {
        extra.push(&pair("authorization", &format!("Bearer {t}")));
    }
    let request = crate::glue::build_proxy_request(
        &url,
        init,
        &call.signal_js,
        credentials(inner.opts.credentials),
        &extra,
    )
    .map_err(|e| {
        GraFxError::options(format!(
            "the request init is invalid: {}",
            crate::glue::message_of(&e)
        ))
    })?;
    let res = match gloo_net::http::Request::from(request).send().await {
        Ok(r) if r.type_() == web_sys::ResponseType::Opaqueredirect => {
            return Err(GraFxError::new(
                ErrorCode::SignerUnreachable,
                format!("{url} answered with a redirect, which is not followed: point signerUrl at the signer itself"),
            ))
        }
        Ok(r) => r,
        Err(e) => {
            return Err(match call.signal.as_ref().filter(|s| s.aborted()) {
                Some(s) if crate::glue::timed_out(s) => GraFxError::new(
                    ErrorCode::Timeout,
                    "the signer's API proxy did not answer in time",
                ),
                Some(_) => aborted(),
                None => GraFxError::new(
                    ErrorCode::SignerUnreachable,
                    format!(
                        "cannot reach the signer's API proxy at {url} ({e}): it is down, or it does not allow this page's origin {} (check proxy.allowed_origins)",
                        crate::glue::self_origin()
                    ),
                ),
            })
        }
    };
    if let Some(linked) = call.linked {
        linked.keep_for_the_body();
    }
    Ok(res)
}

/// The error for a non-2xx reply: the signer's own refusal (its error body) as the token route
/// reports it, else CHILI's problem+json as `api_error`.
pub(crate) async fn error_from(res: &web_sys::Response, what: &str) -> GraFxError {
    let body = crate::api::body_text(res).await;
    let signer = js_sys::JSON::parse(&body)
        .ok()
        .and_then(|v| crate::signer::error_body(&v));
    match signer {
        Some(e) => crate::signer::signer_error(e, res.status()),
        None => crate::api::error_from_text(res, &body, what),
    }
}

/// [`fetch`], then the JSON body (null for 204), or the error of a non-2xx reply.
pub(crate) async fn json(
    inner: &Rc<Inner>,
    base: &str,
    path: &str,
    init: &JsValue,
) -> Result<JsValue, GraFxError> {
    let raw: web_sys::Response = fetch(inner, base, path, init).await?.into();
    if !raw.ok() {
        return Err(error_from(&raw, &crate::api::describe(path, init)).await);
    }
    crate::api::read_json(raw, path).await
}
