//! Typed helpers over the Environment API: templates, projects, media and output. Each namespace is
//! a plain object of bound functions, so `const { list } = grafx.templates` works too.

use std::future::Future;
use std::pin::Pin;
use std::rc::{Rc, Weak};

use grafx_core::ErrorCode;
use js_sys::{encode_uri_component, Function, Promise};
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::{future_to_promise, JsFuture};

use crate::api::{error_from, fetch, json};
use crate::client::Inner;
use crate::error::GraFxError;
use crate::glue::{date_now, get, object, pages_iterable, sleep};

type Fut = Pin<Box<dyn Future<Output = Result<JsValue, JsValue>>>>;
type Method = fn(Rc<Inner>, JsValue, JsValue, JsValue) -> Fut;

fn disposed() -> JsValue {
    GraFxError::options("this GraFxClient was disposed").into()
}

/// A bound async method: `(a?, b?, c?) => Promise`.
pub(crate) fn method(weak: &Weak<Inner>, f: Method) -> JsValue {
    let weak = weak.clone();
    Closure::<dyn Fn(JsValue, JsValue, JsValue) -> Promise>::new(move |a, b, c| {
        match weak.upgrade() {
            Some(inner) => future_to_promise(f(inner, a, b, c)),
            None => Promise::reject(&disposed()),
        }
    })
    .into_js_value()
}

fn id_arg(v: &JsValue, what: &str) -> Result<String, JsValue> {
    v.as_string()
        .filter(|s| !s.is_empty())
        .map(|s| String::from(encode_uri_component(&s)))
        .ok_or_else(|| GraFxError::options(format!("{what} must be a non-empty string")).into())
}

fn json_init(method: &str, body: &JsValue) -> Result<JsValue, JsValue> {
    let text = js_sys::JSON::stringify(body)
        .map_err(|_| GraFxError::options("the body must be JSON-serialisable"))?;
    let headers = object(&[("content-type", JsValue::from_str("application/json"))]);
    Ok(object(&[
        ("method", JsValue::from_str(method)),
        ("headers", headers),
        ("body", text.into()),
    ]))
}

/// `GET {path}?…` with CHILI's list parameters, as `{items, nextPageToken, total, pageSize}`.
async fn list(inner: Rc<Inner>, path: &'static str, opts: JsValue) -> Result<JsValue, JsValue> {
    let params = web_sys::UrlSearchParams::new()?;
    for (opt, param) in [
        ("search", "search"),
        ("limit", "limit"),
        ("sortBy", "sortBy"),
        ("sortOrder", "sortOrder"),
        ("pageToken", "nextPageToken"),
    ] {
        let v = get(&opts, opt);
        if let Some(s) = v.as_string().or_else(|| v.as_f64().map(|n| n.to_string())) {
            params.append(param, &s);
        }
    }
    let query = String::from(params.to_string());
    let url = if query.is_empty() {
        path.to_owned()
    } else {
        format!("{path}?{query}")
    };
    let page = json(&inner, &url, &JsValue::UNDEFINED).await?;
    let next = get(&get(&page, "links"), "nextPage")
        .as_string()
        .and_then(|u| web_sys::Url::new(&u).ok())
        .and_then(|u| u.search_params().get("nextPageToken"))
        .map_or(JsValue::NULL, |t| JsValue::from_str(&t));
    let items = get(&page, "data");
    if !items.is_instance_of::<js_sys::Array>() {
        return Err(GraFxError::new(
            ErrorCode::InvalidResponse,
            format!("{path} did not return a list"),
        )
        .into());
    }
    Ok(object(&[
        ("items", items),
        ("nextPageToken", next),
        ("total", get(&page, "total")),
        ("pageSize", get(&page, "pageSize")),
    ]))
}

/// An async iterable over every item of every page.
fn all(weak: &Weak<Inner>, path: &'static str) -> JsValue {
    let weak = weak.clone();
    Closure::<dyn Fn(JsValue) -> JsValue>::new(move |opts: JsValue| {
        let weak = weak.clone();
        let fetch_page = Closure::<dyn Fn(JsValue) -> Promise>::new(move |token: JsValue| {
            let Some(inner) = weak.upgrade() else {
                return Promise::reject(&disposed());
            };
            let opts = js_sys::Object::assign(&js_sys::Object::new(), opts.unchecked_ref());
            let _ = js_sys::Reflect::set(&opts, &"pageToken".into(), &token);
            future_to_promise(list(inner, path, opts.into()))
        })
        .into_js_value();
        pages_iterable(fetch_page.unchecked_ref())
    })
    .into_js_value()
}

/// Polls a URL through 202 replies (rendering) until a 200, then returns the Blob.
async fn poll_blob(inner: &Rc<Inner>, path: &str, timeout_ms: f64) -> Result<JsValue, JsValue> {
    let started = date_now();
    loop {
        let res = fetch(inner, path, &JsValue::UNDEFINED).await?;
        match res.status() {
            200 => return JsFuture::from(res.blob()?).await,
            202 => {
                if date_now() - started > timeout_ms {
                    return Err(GraFxError::new(
                        ErrorCode::Timeout,
                        format!("{path} was still rendering after {timeout_ms} ms"),
                    )
                    .into());
                }
                let retry = res
                    .headers()
                    .get("retry-after")
                    .ok()
                    .flatten()
                    .and_then(|s| s.parse::<f64>().ok());
                sleep(retry.map_or(500.0, |s| (s * 1000.0).min(5000.0))).await;
            }
            _ => return Err(error_from(&res, &format!("GET {path}")).await),
        }
    }
}

fn timeout_opt(opts: &JsValue, default: f64) -> f64 {
    get(opts, "timeoutMs")
        .as_f64()
        .filter(|t| *t > 0.0)
        .unwrap_or(default)
}

pub(crate) fn templates(weak: &Weak<Inner>) -> JsValue {
    object(&[
        (
            "list",
            method(weak, |i, o, _, _| Box::pin(list(i, "templates", o))),
        ),
        ("all", all(weak, "templates")),
        (
            "get",
            method(weak, |i, id, _, _| {
                Box::pin(async move {
                    json(
                        &i,
                        &format!("templates/{}", id_arg(&id, "id")?),
                        &JsValue::UNDEFINED,
                    )
                    .await
                })
            }),
        ),
        (
            "download",
            method(weak, |i, id, _, _| {
                Box::pin(async move {
                    json(
                        &i,
                        &format!("templates/{}/download", id_arg(&id, "id")?),
                        &JsValue::UNDEFINED,
                    )
                    .await
                })
            }),
        ),
        (
            "preview",
            method(weak, |i, id, kind, opts| {
                Box::pin(async move {
                    let kind = if kind.is_undefined() {
                        "thumbnail".to_owned()
                    } else {
                        id_arg(&kind, "type")?
                    };
                    poll_blob(
                        &i,
                        &format!("templates/{}/preview/{kind}", id_arg(&id, "id")?),
                        timeout_opt(&opts, 30_000.0),
                    )
                    .await
                })
            }),
        ),
    ])
}

pub(crate) fn projects(weak: &Weak<Inner>) -> JsValue {
    object(&[
        (
            "create",
            method(weak, |i, body, _, _| {
                Box::pin(async move {
                    if get(&body, "templateId").as_string().is_none() {
                        return Err(GraFxError::options(
                            "projects.create needs {templateId, name?}",
                        )
                        .into());
                    }
                    json(&i, "projects", &json_init("POST", &body)?).await
                })
            }),
        ),
        (
            "get",
            method(weak, |i, id, _, _| {
                Box::pin(async move {
                    json(
                        &i,
                        &format!("projects/{}", id_arg(&id, "id")?),
                        &JsValue::UNDEFINED,
                    )
                    .await
                })
            }),
        ),
        (
            "document",
            method(weak, |i, id, _, _| {
                Box::pin(async move {
                    json(
                        &i,
                        &format!("projects/{}/document", id_arg(&id, "id")?),
                        &JsValue::UNDEFINED,
                    )
                    .await
                })
            }),
        ),
        (
            "saveDocument",
            method(weak, |i, id, doc, _| {
                Box::pin(async move {
                    json(
                        &i,
                        &format!("projects/{}/document", id_arg(&id, "id")?),
                        &json_init("PUT", &doc)?,
                    )
                    .await
                    .map(|_| JsValue::UNDEFINED)
                })
            }),
        ),
    ])
}

pub(crate) fn media(weak: &Weak<Inner>) -> JsValue {
    object(&[
        (
            "list",
            method(weak, |i, o, _, _| Box::pin(list(i, "media", o))),
        ),
        ("all", all(weak, "media")),
        (
            "get",
            method(weak, |i, id, _, _| {
                Box::pin(async move {
                    json(
                        &i,
                        &format!("media/{}", id_arg(&id, "id")?),
                        &JsValue::UNDEFINED,
                    )
                    .await
                })
            }),
        ),
        (
            "preview",
            method(weak, |i, id, size, opts| {
                Box::pin(async move {
                    let size = if size.is_undefined() {
                        "thumbnail".to_owned()
                    } else {
                        id_arg(&size, "size")?
                    };
                    poll_blob(
                        &i,
                        &format!("media/{}/preview/{size}", id_arg(&id, "id")?),
                        timeout_opt(&opts, 30_000.0),
                    )
                    .await
                })
            }),
        ),
    ])
}

async fn output_create(i: &Rc<Inner>, format: &JsValue, body: &JsValue) -> Result<String, JsValue> {
    let format = id_arg(format, "format")?;
    let reply = json(i, &format!("output/{format}"), &json_init("POST", body)?).await?;
    get(&get(&reply, "data"), "taskId")
        .as_string()
        .ok_or_else(|| {
            GraFxError::new(
                ErrorCode::InvalidResponse,
                "output reply has no data.taskId",
            )
            .into()
        })
}

/// Polls `output/tasks/{id}`: 204 while running (reported through `onProgress`), 200 when done.
async fn output_wait(i: &Rc<Inner>, task: &JsValue, opts: &JsValue) -> Result<String, JsValue> {
    let id = id_arg(task, "taskId")?;
    let interval = get(opts, "intervalMs")
        .as_f64()
        .filter(|t| *t > 0.0)
        .unwrap_or(1000.0);
    let timeout = timeout_opt(opts, 300_000.0);
    let signal = get(opts, "signal");
    let progress = get(opts, "onProgress").dyn_into::<Function>().ok();
    let started = date_now();
    let init = object(&[("signal", signal.clone())]);
    for attempt in 1u32.. {
        let res = fetch(i, &format!("output/tasks/{id}"), &init).await?;
        match res.status() {
            204 => {
                let elapsed = date_now() - started;
                if let Some(cb) = &progress {
                    let info = object(&[
                        ("taskId", JsValue::from_str(&id)),
                        ("attempt", JsValue::from_f64(f64::from(attempt))),
                        ("elapsedMs", JsValue::from_f64(elapsed)),
                    ]);
                    let _ = cb.call1(&JsValue::NULL, &info);
                }
                if elapsed > timeout {
                    return Err(GraFxError::new(
                        ErrorCode::Timeout,
                        format!("output task {id} did not finish within {timeout} ms"),
                    )
                    .into());
                }
                sleep(interval).await;
                if get(&signal, "aborted").is_truthy() {
                    return Err(GraFxError::new(
                        ErrorCode::Aborted,
                        "waiting for the output was aborted",
                    )
                    .into());
                }
            }
            200 => {
                let body = JsFuture::from(res.json()?).await?;
                return get(&get(&body, "links"), "download")
                    .as_string()
                    .ok_or_else(|| {
                        GraFxError::new(
                            ErrorCode::InvalidResponse,
                            "finished task has no links.download",
                        )
                        .into()
                    });
            }
            _ => return Err(error_from(&res, &format!("output task {id}")).await),
        }
    }
    unreachable!("the loop returns")
}

async fn output_download(i: &Rc<Inner>, task: &JsValue) -> Result<JsValue, JsValue> {
    let id = id_arg(task, "taskId")?;
    let path = format!("output/tasks/{id}/download");
    let res = fetch(i, &path, &JsValue::UNDEFINED).await?;
    if !res.ok() {
        return Err(error_from(&res, &format!("GET {path}")).await);
    }
    JsFuture::from(res.blob()?).await
}

pub(crate) fn output(weak: &Weak<Inner>) -> JsValue {
    object(&[
        (
            "settings",
            method(weak, |i, _, _, _| {
                Box::pin(async move {
                    let page = list(i, "output/settings", JsValue::UNDEFINED).await?;
                    Ok(get(&page, "items"))
                })
            }),
        ),
        (
            "create",
            method(weak, |i, f, b, _| {
                Box::pin(async move {
                    output_create(&i, &f, &b)
                        .await
                        .map(|t| JsValue::from_str(&t))
                })
            }),
        ),
        (
            "wait",
            method(weak, |i, t, o, _| {
                Box::pin(
                    async move { output_wait(&i, &t, &o).await.map(|u| JsValue::from_str(&u)) },
                )
            }),
        ),
        (
            "download",
            method(weak, |i, t, _, _| {
                Box::pin(async move { output_download(&i, &t).await })
            }),
        ),
        (
            "render",
            method(weak, |i, f, b, o| {
                Box::pin(async move {
                    let task = JsValue::from_str(&output_create(&i, &f, &b).await?);
                    let url = output_wait(&i, &task, &o).await?;
                    let blob = output_download(&i, &task).await?;
                    Ok(object(&[
                        ("taskId", task),
                        ("downloadUrl", JsValue::from_str(&url)),
                        ("blob", blob),
                    ]))
                })
            }),
        ),
    ])
}
