//! Adapters for CHILI's Studio SDK and studio-ui (`grafx.studio`).
//!
//! ```js
//! const sdk = new StudioSDK({ editorId: "editor", onAuthExpired: grafx.studio.onAuthExpired });
//! await sdk.configuration.setValue(...Object.entries(await grafx.studio.configuration())[0]);
//! // studio-ui (CHILI's ready-made editor UI):
//! StudioUI.studioUILoaderConfig(await grafx.studio.uiLoaderConfig({ selector: "studio-ui", projectId }));
//! // A project a write integration created, opened through the signer's API proxy:
//! StudioUI.studioUILoaderConfig(await grafx.studio.uiLoaderConfig({ selector: "studio-ui", projectId, via: "writer" }));
//! ```
//!
//! The adapters are promise plumbing, written in the JS glue (`js/studio.js`); in Rust their async
//! state machines cost about 3 KB of the gzipped package (issue #28). What they need from the
//! client comes from here, through one function: the token with the Environment API URL as
//! studio-ui wants it (and whether studio-ui accepts it, grafx-core's rule), and the typed helpers
//! through the signer's API proxy.

use std::rc::{Rc, Weak};

use wasm_bindgen::prelude::*;

use crate::client::Inner;
use crate::error::GraFxError;
use crate::glue::object;

/// What `core(op, arg)` answers for a client that is still there (see `js/studio.js`).
fn answer(inner: Rc<Inner>, op: &str, arg: JsValue) -> Result<JsValue, GraFxError> {
    match op {
        "check" => Ok(JsValue::UNDEFINED),
        "via" => {
            let name = arg.as_string().unwrap_or_default();
            let base = crate::proxy::base(&inner, &name)?;
            Ok(crate::resources::build_via(&Rc::downgrade(&inner), &base))
        }
        "token" => Ok(crate::boxed_promise(Box::pin(async move {
            let t = inner.current(arg.is_truthy()).await?;
            Ok(object(&[
                ("token", JsValue::from_str(&t.access_token)),
                ("api", JsValue::from_str(t.api.as_str())),
                ("base", JsValue::from_str(t.api.without_trailing_slash())),
                ("accepts", JsValue::from_bool(t.api.studio_ui_accepts())),
            ]))
        }))
        .into()),
        _ => Err(GraFxError::options(format!(
            "unknown studio operation {op}"
        ))),
    }
}

/// The Studio adapters object (`js/studio.js`): `onAuthExpired`, `onAuthExpiredWith`,
/// `refreshTokenAction`, `uiLoaderConfig`, `configuration`. It holds the client only weakly: once
/// the client is freed, each answers as it documents (null, an Error value, or a rejection).
pub(crate) fn adapters(weak: &Weak<Inner>) -> JsValue {
    let weak = weak.clone();
    let core = Closure::<dyn Fn(String, JsValue) -> Result<JsValue, JsValue>>::new(
        move |op: String, arg: JsValue| {
            let inner = weak.upgrade().ok_or_else(crate::client::disposed)?;
            Ok(answer(inner, &op, arg)?)
        },
    )
    .into_js_value();
    crate::glue::studio_adapters(&core)
}
