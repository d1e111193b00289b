//! Typed helpers over the Environment API (templates, projects, media, output).
//!
//! They are plain HTTP plumbing, written in the JS glue (`js/resources.js`, `resources`) on top of the
//! client's `fetch` and `json`, which stay in Rust with the token logic, the origin guard and the
//! error mapping. In Rust each helper's async state machine cost kilobytes of wasm.

use std::future::Future;
use std::pin::Pin;
use std::rc::{Rc, Weak};

use js_sys::Promise;
use wasm_bindgen::prelude::*;

use crate::api;
use crate::client::Inner;
use crate::error::GraFxError;
use crate::glue;

type Fut = Pin<Box<dyn Future<Output = Result<JsValue, GraFxError>>>>;
type Method = fn(Rc<Inner>, JsValue, JsValue) -> Fut;

/// The promise of a boxed future, its error as a GraFxError (the crate's one instance of the
/// step that maps it).
pub(crate) fn promise_of(fut: Fut) -> Promise {
    crate::boxed_promise(Box::pin(async move { fut.await.map_err(JsValue::from) }))
}

/// A bound async function `(a?, b?) => Promise` over the client.
pub(crate) fn method(weak: &Weak<Inner>, f: Method) -> JsValue {
    let weak = weak.clone();
    Closure::<dyn Fn(JsValue, JsValue) -> Promise>::new(move |a, b| match weak.upgrade() {
        Some(inner) => promise_of(f(inner, a, b)),
        None => Promise::reject(&JsValue::from(crate::client::disposed())),
    })
    .into_js_value()
}

fn path(v: &JsValue) -> Result<String, GraFxError> {
    v.as_string()
        .ok_or_else(|| GraFxError::options("the path must be a string"))
}

/// `{templates, projects, media, output}`.
pub(crate) fn build(weak: &Weak<Inner>) -> JsValue {
    let fetch = method(weak, |i, p, init| {
        Box::pin(async move {
            let res = api::fetch(&i, &path(&p)?, &init).await?;
            Ok(web_sys::Response::from(res).into())
        })
    });
    let json = method(weak, |i, p, init| {
        Box::pin(async move { api::json(&i, &path(&p)?, &init).await })
    });
    let error_from = method(weak, |_, res, what| {
        Box::pin(async move {
            let what = what.as_string().unwrap_or_default();
            Ok(api::error_from(res.unchecked_ref(), &what).await.into())
        })
    });
    glue::resources(&fetch, &json, &error_from, &clock_of(weak))
}

/// The client's clock for js/resources.js (see `clock.rs`).
fn clock_of(weak: &Weak<Inner>) -> JsValue {
    weak.upgrade()
        .map_or(JsValue::UNDEFINED, |inner| inner.clock.as_js())
}

/// A bound async `(a?, b?) => Promise` over the client and the proxy's base URL.
fn via_method(
    weak: &Weak<Inner>,
    base: &Rc<str>,
    f: fn(Rc<Inner>, Rc<str>, JsValue, JsValue) -> Fut,
) -> JsValue {
    let (weak, base) = (weak.clone(), Rc::clone(base));
    Closure::<dyn Fn(JsValue, JsValue) -> Promise>::new(move |a, b| match weak.upgrade() {
        Some(inner) => promise_of(f(inner, Rc::clone(&base), a, b)),
        None => Promise::reject(&JsValue::from(crate::client::disposed())),
    })
    .into_js_value()
}

/// `{templates, projects, media, output, fetch, json}` through the signer's API proxy at `base`.
pub(crate) fn build_via(weak: &Weak<Inner>, base: &Rc<str>) -> JsValue {
    let fetch = via_method(weak, base, |i, base, p, init| {
        Box::pin(async move {
            let res = crate::proxy::fetch(&i, &base, &path(&p)?, &init).await?;
            Ok(web_sys::Response::from(res).into())
        })
    });
    let json = via_method(weak, base, |i, base, p, init| {
        Box::pin(async move { crate::proxy::json(&i, &base, &path(&p)?, &init).await })
    });
    let error_from = method(weak, |_, res, what| {
        Box::pin(async move {
            let what = what.as_string().unwrap_or_default();
            Ok(crate::proxy::error_from(res.unchecked_ref(), &what)
                .await
                .into())
        })
    });
    let helpers = glue::resources(&fetch, &json, &error_from, &clock_of(weak));
    let _ = js_sys::Reflect::set(&helpers, &"fetch".into(), &fetch);
    let _ = js_sys::Reflect::set(&helpers, &"json".into(), &json);
    helpers
}
