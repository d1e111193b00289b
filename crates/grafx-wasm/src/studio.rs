//! Adapters for CHILI's Studio SDK and studio-ui.
//!
//! ```js
//! const sdk = new StudioSDK({ editorId: "editor", onAuthExpired: grafx.studio.onAuthExpired });
//! await sdk.configuration.setValue(...Object.entries(await grafx.studio.configuration())[0]);
//! ```

use std::rc::Weak;

use js_sys::Promise;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::future_to_promise;

use crate::client::Inner;
use crate::glue::{get, object};
use crate::resources::method;

pub(crate) fn adapters(weak: &Weak<Inner>) -> JsValue {
    // `refreshTokenAction` must resolve to the token or to an Error, never reject.
    let w = weak.clone();
    let refresh = Closure::<dyn Fn() -> Promise>::new(move || {
        let Some(inner) = w.upgrade() else {
            return Promise::resolve(&JsValue::from(js_sys::Error::new("GraFxClient disposed")));
        };
        future_to_promise(async move {
            Ok(match inner.current(true).await {
                Ok(t) => JsValue::from_str(&t.access_token),
                Err(e) => e,
            })
        })
    })
    .into_js_value();
    object(&[
        (
            "onAuthExpired",
            method(weak, |inner, request, _| {
                Box::pin(async move {
                    if get(&request, "type").as_string().as_deref() != Some("grafxToken") {
                        return Ok(JsValue::NULL);
                    }
                    match inner.current(true).await {
                        Ok(t) => Ok(object(&[
                            ("type", JsValue::from_str("grafxToken")),
                            ("token", JsValue::from_str(&t.access_token)),
                        ])),
                        // The editor then treats the request as not refreshed; the app hears about
                        // the failure through onError (already emitted by the refresh).
                        Err(_) => Ok(JsValue::NULL),
                    }
                })
            }),
        ),
        ("refreshTokenAction", refresh),
        (
            "configuration",
            method(weak, |inner, _, _| {
                Box::pin(async move {
                    let t = inner.current(false).await?;
                    Ok(object(&[
                        ("ENVIRONMENT_API", JsValue::from_str(t.api.as_str())),
                        ("GRAFX_AUTH_TOKEN", JsValue::from_str(&t.access_token)),
                    ]))
                })
            }),
        ),
    ])
}
