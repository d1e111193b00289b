//! Adapters for CHILI's Studio SDK and studio-ui.
//!
//! ```js
//! const sdk = new StudioSDK({ editorId: "editor", onAuthExpired: grafx.studio.onAuthExpired });
//! await sdk.configuration.setValue(...Object.entries(await grafx.studio.configuration())[0]);
//! // studio-ui (CHILI's ready-made editor UI):
//! StudioUI.studioUILoaderConfig(await grafx.studio.uiLoaderConfig({ selector: "studio-ui", projectId }));
//! // A project a write integration created, opened through the signer's API proxy:
//! StudioUI.studioUILoaderConfig(await grafx.studio.uiLoaderConfig({ selector: "studio-ui", projectId, via: "writer" }));
//! ```

use std::rc::{Rc, Weak};

use js_sys::Promise;
use wasm_bindgen::prelude::*;

use crate::client::Inner;
use crate::error::GraFxError;
use crate::glue::{get, object};
use crate::resources::method;

/// `grafx.studio.uiLoaderConfig(options)`: what `StudioUI.studioUILoaderConfig` takes. Every
/// option is passed through; added are the Environment API base URL *without* its trailing slash
/// (studio-ui splits it on `/environment/`), the token, `refreshTokenAction`, and for a project:
/// with `via` (an integration behind the signer's API proxy), studio-ui's project callbacks
/// (`onProjectInfoRequested`, `onProjectDocumentRequested`, `onProjectSave`,
/// `onProjectGetDownloadLink`) through the proxy, so a project the page's read-only user does not
/// own opens and saves without a write token in the page; without it, studio-ui's README's
/// `projectDownloadUrl` / `projectUploadUrl`, unless given. `checkEnvironment: false` builds the
/// config even for a URL studio-ui would refuse (to show it, as the demo does on the emulator).
async fn ui_loader_config(
    inner: &Rc<Inner>,
    opts: JsValue,
    refresh: JsValue,
) -> Result<JsValue, GraFxError> {
    let (project, via) = loader_request(&opts)?;
    let via = match (via, &project) {
        (Some(name), Some(id)) => Some((crate::proxy::base(inner, &name)?, id.clone())),
        (Some(_), None) => {
            return Err(GraFxError::options(
                "uiLoaderConfig: via needs the projectId of the project to open",
            ))
        }
        (None, _) => None,
    };
    let check = get(&opts, "checkEnvironment").as_bool() != Some(false);
    let token = inner.current(false).await?;
    if check && !token.api.studio_ui_accepts() {
        // studio-ui would show an alert and load nothing; say why here instead.
        return Err(GraFxError::options(format!(
            "studio-ui only accepts an Environment API at https://{{environment}}.{{domain}}/grafx/api/v1/environment/{{environment}}, not {}: it runs against CHILI GraFx, not a local emulator or a host named otherwise",
            token.api.without_trailing_slash()
        )));
    }
    let config = js_sys::Object::assign(&js_sys::Object::new(), opts.unchecked_ref());
    let base = token.api.without_trailing_slash();
    let mut add = vec![
        ("graFxStudioEnvironmentApiBaseUrl", JsValue::from_str(base)),
        ("authToken", JsValue::from_str(&token.access_token)),
        ("refreshTokenAction", refresh),
    ];
    for key in ["via", "checkEnvironment"] {
        let _ = js_sys::Reflect::delete_property(&config, &JsValue::from_str(key));
    }
    add.extend(project_loading(inner, &opts, base, via, project));
    for (key, value) in add {
        let _ = js_sys::Reflect::set(&config, &JsValue::from_str(key), &value);
    }
    Ok(config.into())
}

/// The options' `projectId` and `via`, checked (a selector is required).
fn loader_request(opts: &JsValue) -> Result<(Option<String>, Option<String>), GraFxError> {
    let needs = "uiLoaderConfig needs {selector, projectId?, projectName?, userInterfaceID?, …}";
    if !opts.is_object() {
        return Err(GraFxError::options(needs));
    }
    if get(opts, "selector")
        .as_string()
        .is_none_or(|s| s.is_empty())
    {
        return Err(GraFxError::options(format!(
            "{needs}: selector (the id of the element studio-ui renders into) is missing"
        )));
    }
    let text = |key: &str, why: &str| match get(opts, key) {
        v if v.is_undefined() || v.is_null() => Ok(None),
        v => v
            .as_string()
            .filter(|s| !s.is_empty())
            .map(Some)
            .ok_or_else(|| GraFxError::options(format!("uiLoaderConfig: {key} {why}"))),
    };
    let project = text("projectId", "must be a non-empty string")?;
    let via = text(
        "via",
        "must name an integration behind the signer's API proxy, e.g. \"writer\"",
    )?;
    Ok((project, via))
}

/// How studio-ui loads and saves the project, unless the options say: through the proxy (`via`,
/// the callbacks), or straight from the Environment API at `base` (the URLs).
fn project_loading(
    inner: &Rc<Inner>,
    opts: &JsValue,
    base: &str,
    via: Option<(Rc<str>, String)>,
    project: Option<String>,
) -> Vec<(&'static str, JsValue)> {
    let mut add = Vec::new();
    if let Some((via_base, id)) = via {
        let helpers = crate::resources::build_via(&Rc::downgrade(inner), &via_base);
        let callbacks = crate::glue::studio_project_loader(&helpers, &id);
        for key in [
            "onProjectInfoRequested",
            "onProjectDocumentRequested",
            "onProjectSave",
            "onProjectGetDownloadLink",
        ] {
            if get(opts, key).is_undefined() {
                add.push((key, get(&callbacks, key)));
            }
        }
    } else if let Some(id) = project {
        let id = String::from(js_sys::encode_uri_component(&id));
        for (key, url) in [
            (
                "projectDownloadUrl",
                format!("{base}/projects/{id}/document"),
            ),
            ("projectUploadUrl", format!("{base}/projects/{id}")),
        ] {
            if get(opts, key).is_undefined() {
                add.push((key, JsValue::from_str(&url)));
            }
        }
    }
    add
}

/// studio-ui's `refreshTokenAction`: resolves to the token or to an Error, never rejects.
fn refresh_token_action(weak: &Weak<Inner>) -> JsValue {
    let w = weak.clone();
    Closure::<dyn Fn() -> Promise>::new(move || {
        let Some(inner) = w.upgrade() else {
            // studio-ui expects an Error value, never a rejection.
            return Promise::resolve(&JsValue::from(crate::client::disposed()));
        };
        crate::boxed_promise(Box::pin(async move {
            // studio-ui treats anything but an Error as the token: a failure is a GraFxError.
            Ok(match inner.current(true).await {
                Ok(t) => JsValue::from_str(&t.access_token),
                Err(e) => e.into(),
            })
        }))
    })
    .into_js_value()
}

/// The Studio SDK's `onAuthExpired`: credentials or null, never a rejection, also after dispose
/// or free. A GraFx token request (`{type: "grafxToken"}`) gets a fresh token; any other (the
/// SDK's `AnyAuthRefreshRequest`, for a connector's own authentication) goes to `connector`,
/// whose answer (`{type: "refreshed", headers?}` or null) is passed on; without one, null.
fn on_auth_expired(weak: &Weak<Inner>, connector: Option<js_sys::Function>) -> JsValue {
    let weak = weak.clone();
    Closure::<dyn Fn(JsValue) -> Promise>::new(move |request: JsValue| {
        let Some(inner) = weak.upgrade() else {
            return Promise::resolve(&JsValue::NULL);
        };
        let connector = connector.clone();
        crate::boxed_promise(Box::pin(async move {
            if get(&request, "type").as_string().as_deref() != Some("grafxToken") {
                return Ok(connector_credentials(connector, request).await);
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
        }))
    })
    .into_js_value()
}

/// The app's answer to a connector's authentication request, or null: without a handler, when
/// it throws or rejects (reported on the console, as the SDK would swallow it), or when it
/// answers anything but an object or null.
async fn connector_credentials(connector: Option<js_sys::Function>, request: JsValue) -> JsValue {
    let Some(handler) = connector else {
        return JsValue::NULL;
    };
    let answer = match handler.call1(&JsValue::UNDEFINED, &request) {
        Ok(v) if v.has_type::<Promise>() => {
            wasm_bindgen_futures::JsFuture::from(v.unchecked_into::<Promise>()).await
        }
        other => other,
    };
    match answer {
        Ok(v) if v.is_object() => v,
        Ok(_) => JsValue::NULL,
        Err(e) => {
            web_sys::console::warn_2(
                &JsValue::from_str("grafx: the connector authentication handler failed:"),
                &e,
            );
            JsValue::NULL
        }
    }
}

/// `grafx.studio.onAuthExpiredWith(onConnectorAuth)`: an `onAuthExpired` for the SDK that also
/// answers connectors' authentication requests with `onConnectorAuth`.
fn on_auth_expired_with(weak: &Weak<Inner>) -> JsValue {
    let weak = weak.clone();
    Closure::<dyn Fn(JsValue) -> Result<JsValue, JsValue>>::new(move |handler: JsValue| {
        let handler = handler.dyn_into::<js_sys::Function>().map_err(|_| {
            JsValue::from(GraFxError::options(
                "onAuthExpiredWith needs a function (request) => Promise<{type: \"refreshed\", headers?} | null>",
            ))
        })?;
        Ok(on_auth_expired(&weak, Some(handler)))
    })
    .into_js_value()
}

/// The Studio adapters object: `onAuthExpired`, `onAuthExpiredWith`, `refreshTokenAction`,
/// `uiLoaderConfig`, `configuration`.
pub(crate) fn adapters(weak: &Weak<Inner>) -> JsValue {
    let refresh = refresh_token_action(weak);
    object(&[
        ("onAuthExpired", on_auth_expired(weak, None)),
        ("onAuthExpiredWith", on_auth_expired_with(weak)),
        ("refreshTokenAction", refresh.clone()),
        ("uiLoaderConfig", {
            let weak = weak.clone();
            Closure::<dyn Fn(JsValue) -> Promise>::new(move |opts| match weak.upgrade() {
                Some(inner) => {
                    let refresh = refresh.clone();
                    crate::boxed_promise(Box::pin(async move {
                        ui_loader_config(&inner, opts, refresh)
                            .await
                            .map_err(JsValue::from)
                    }))
                }
                None => Promise::reject(&JsValue::from(crate::client::disposed())),
            })
            .into_js_value()
        }),
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
