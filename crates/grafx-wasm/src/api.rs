//! Environment API calls with the bearer token.
//!
//! A relative path resolves against the token's `environment_api_url`; an absolute URL must be on
//! that origin or the Platform API's, so the token is never sent to a third party. A 401 triggers one forced
//! refresh and one retry. Calls take an `AbortSignal` and a `timeoutMs`.

use std::rc::Rc;

use grafx_core::ErrorCode;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::{Request, Response};

use crate::client::Inner;
use crate::error::GraFxError;
use crate::glue::{build_request, get, linked_signal};
use crate::token::Token;

/// The absolute URL for `path_or_url`, refusing any origin but the Environment API's and the
/// Platform API's (the two GraFx APIs the token is for).
pub(crate) fn resolve(token: &Token, path_or_url: &str) -> Result<String, GraFxError> {
    let looks_absolute = path_or_url.contains("://") || path_or_url.starts_with("//");
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
    let mut allowed = vec![origin_of(&token.api)];
    allowed.extend(token.platform.as_ref().map(origin_of));
    if !allowed.contains(&url.origin()) {
        return Err(GraFxError::options(format!(
            "refusing to send the GraFx token to {}: only {} (the Environment API and the Platform API) may receive it",
            url.origin(),
            allowed.join(" and ")
        )));
    }
    Ok(url.href())
}

async fn send(
    request: &Request,
    signal: Option<&web_sys::AbortSignal>,
) -> Result<Response, JsValue> {
    let window =
        web_sys::window().ok_or_else(|| GraFxError::new(ErrorCode::ApiError, "no window"))?;
    match JsFuture::from(window.fetch_with_request(request)).await {
        // `redirect: "manual"`: a redirect is not followed with the token.
        Ok(r) if get(&r, "type").as_string().as_deref() == Some("opaqueredirect") => {
            Err(GraFxError::new(
                ErrorCode::ApiError,
                format!(
                    "{} answered with a redirect, which is not followed: the token would go along",
                    request.url()
                ),
            )
            .into())
        }
        Ok(r) => Ok(r.unchecked_into()),
        Err(e) => Err(if let Some(signal) = signal.filter(|s| s.aborted()) {
            if signal.reason().as_string().as_deref() == Some("timeout") {
                GraFxError::new(
                    ErrorCode::Timeout,
                    "the Environment API did not answer in time",
                )
                .into()
            } else {
                GraFxError::new(ErrorCode::Aborted, "the request was aborted").into()
            }
        } else {
            let msg = js_sys::Reflect::get(&e, &"message".into())
                .ok()
                .and_then(|m| m.as_string())
                .unwrap_or_default();
            GraFxError::new(
                ErrorCode::ApiError,
                format!("network error calling the Environment API: {msg}"),
            )
            .status(0)
            .into()
        }),
    }
}

/// `fetch` with the bearer token, retrying once after a 401 with a freshly forced token.
pub(crate) async fn fetch(
    inner: &Rc<Inner>,
    path_or_url: &str,
    init: &JsValue,
) -> Result<Response, JsValue> {
    // A linked signal (and its timer) only for a timeout; a caller's own signal is used as it is,
    // so aborting it also stops reading the body. On the common path a call costs no more than a
    // plain fetch.
    let user_signal = get(init, "signal");
    let timeout = get(init, "timeoutMs").as_f64().filter(|t| *t > 0.0);
    let linked = timeout.map(|t| linked_signal(&user_signal, t));
    let signal: Option<web_sys::AbortSignal> = match &linked {
        Some(l) => Some(get(l, "signal").unchecked_into()),
        None => user_signal.dyn_into::<web_sys::AbortSignal>().ok(),
    };
    let signal_js = signal
        .as_ref()
        .map_or(JsValue::UNDEFINED, |s| s.clone().into());
    if signal.as_ref().is_some_and(|s| s.aborted()) {
        return Err(GraFxError::new(ErrorCode::Aborted, "the request was aborted").into());
    }
    let token = inner.current(false).await?;
    let url = resolve(&token, path_or_url)?;
    let request = build_request(&url, init, &signal_js)
        .map_err(|_| GraFxError::options("invalid request init"))?;
    request
        .headers()
        .set("authorization", &format!("Bearer {}", token.access_token))?;
    let res = send(&request, signal.as_ref()).await;
    let done = || {
        if let Some(f) = linked
            .as_ref()
            .map(|l| get(l, "done"))
            .and_then(|d| d.dyn_into::<js_sys::Function>().ok())
        {
            let _ = f.call0(&JsValue::NULL);
        }
    };
    let res = match res {
        Ok(r) if r.status() != 401 => {
            done();
            return Ok(r);
        }
        Ok(r) => r,
        Err(e) => {
            done();
            return Err(e);
        }
    };
    drop(res);
    // The token was refused although we believed it valid: force one refresh, retry once. The
    // retry is rebuilt from the caller's init rather than cloned up front: cloning every request
    // just in case cost more than the rare retry (strings and blobs replay; a stream body cannot).
    let fresh = inner.current(true).await?;
    let retry = build_request(&url, init, &signal_js)
        .map_err(|_| GraFxError::options("invalid request init"))?;
    retry
        .headers()
        .set("authorization", &format!("Bearer {}", fresh.access_token))?;
    let res = send(&retry, signal.as_ref()).await;
    done();
    res
}

/// The error for a non-2xx API reply, with problem-details title and detail and the raw body.
pub(crate) async fn error_from(res: &Response, what: &str) -> JsValue {
    let status = res.status();
    let body = match res.text() {
        Ok(p) => JsFuture::from(p)
            .await
            .ok()
            .and_then(|t| t.as_string())
            .unwrap_or_default(),
        Err(_) => String::new(),
    };
    let problem = js_sys::JSON::parse(&body).unwrap_or(JsValue::UNDEFINED);
    let title = get(&problem, "title").as_string();
    let detail = get(&problem, "detail").as_string();
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
        .body(body);
    if let Some(d) = detail.or(title) {
        err = err.detail(d);
    }
    err.into()
}

/// `fetch`, then the parsed JSON body (null for 204), or a GraFxError for a non-2xx reply.
pub(crate) async fn json(
    inner: &Rc<Inner>,
    path: &str,
    init: &JsValue,
) -> Result<JsValue, JsValue> {
    let res = fetch(inner, path, init).await?;
    if !res.ok() {
        let method = get(init, "method")
            .as_string()
            .unwrap_or_else(|| "GET".into());
        return Err(error_from(&res, &format!("{method} {path}")).await);
    }
    if res.status() == 204 {
        return Ok(JsValue::NULL);
    }
    let parsed = JsFuture::from(res.json()?).await;
    parsed.map_err(|_| {
        GraFxError::new(
            ErrorCode::InvalidResponse,
            format!("{path} did not return JSON"),
        )
        .into()
    })
}
