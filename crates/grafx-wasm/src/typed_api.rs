//! The typed Environment API helpers for Rust: templates, projects, media and output.
//!
//! Each helper's logic exists once, in `js/resources.js` (the JavaScript API's `grafx.templates` and
//! friends, where it costs a fraction of its size in wasm); these call it and read the result
//! into serde types (grafx-core's `Template`, `Project`…).
//!
//! ```no_run
//! use grafx_wasm::{GraFxClient, OutputFormat, RenderRequest, WaitOptions};
//!
//! # async fn render(grafx: &GraFxClient) -> Result<(), grafx_wasm::GraFxError> {
//! let pdf = grafx
//!     .output()
//!     .render(OutputFormat::Pdf, &RenderRequest::template("t-1"), &WaitOptions::default())
//!     .await?;
//! let file = pdf.blob; // a `web_sys::Blob`, e.g. for URL.createObjectURL
//! # let _ = file;
//! # Ok(()) }
//! ```

use grafx_core::{ErrorCode, Media, OutputFormat, OutputSetting, Project, Template};
use js_sys::{Function, Reflect};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;

use crate::error::GraFxError;
use crate::grafx_client::{typed, GraFxClient};

/// List parameters of CHILI's list endpoints.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ListOptions {
    /// Search text.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub search: Option<String>,
    /// Page size.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub limit: Option<u32>,
    /// Field to sort by.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sort_by: Option<String>,
    /// `asc` or `desc`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sort_order: Option<String>,
    /// The `next_page_token` of the page before.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub page_token: Option<String>,
    /// Any other query parameter, sent as given (a name given twice is sent twice): `folder`,
    /// `includeFolders`, `includeItemsFromSubfolders` for media; `collectionId`…
    #[serde(skip)]
    pub params: Vec<(String, String)>,
}

impl ListOptions {
    /// These options with the query parameter `name=value` added.
    pub fn param(mut self, name: impl Into<String>, value: impl ToString) -> Self {
        self.params.push((name.into(), value.to_string()));
        self
    }

    /// The JS helpers' options object: the named options, and each extra parameter (an array
    /// when a name repeats).
    fn to_js(&self) -> JsValue {
        let v = js(self);
        for (name, _) in &self.params {
            let values: js_sys::Array = self
                .params
                .iter()
                .filter(|(n, _)| n == name)
                .map(|(_, v)| JsValue::from_str(v))
                .collect();
            let _ = Reflect::set(&v, &name.into(), &values);
        }
        v
    }
}

/// One page of a list.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Page<T> {
    /// The items.
    pub items: Vec<T>,
    /// Pass as `page_token` for the next page; None on the last.
    pub next_page_token: Option<String>,
    /// The total, where CHILI reports it.
    #[serde(default)]
    pub total: Option<u64>,
    /// The page size CHILI used.
    #[serde(default)]
    pub page_size: Option<u64>,
}

/// What to render and how: the body of `POST output/{format}`.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RenderRequest {
    /// Render a template…
    #[serde(skip_serializing_if = "Option::is_none")]
    pub template_id: Option<String>,
    /// …or a project.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub project_id: Option<String>,
    /// The output setting; the environment's default for the format when None.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub output_settings_id: Option<String>,
    /// Layout ids to export, e.g. `["0"]`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub layouts_to_export: Option<Vec<String>>,
    /// The engine version the document was made with (studio-ui sends it with `documentContent`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub engine_version: Option<String>,
    /// Data rows for batch output (PDF): variable name to value, at most 10,000 rows and
    /// 10 MB in all (CHILI's variable-data guide).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub variables: Vec<std::collections::BTreeMap<String, Option<String>>>,
    /// The document to render, as the Studio SDK's `getCurrentState` gives it (a JS object, or
    /// its JSON text), with or without the template or project it came from.
    #[serde(skip)]
    pub document_content: Option<JsValue>,
    /// The data connector studio-ui sends for batch output, passed on as given.
    #[serde(skip)]
    pub data_connector_config: Option<JsValue>,
}

impl RenderRequest {
    /// Renders the template `id` with the default settings.
    pub fn template(id: impl Into<String>) -> Self {
        Self {
            template_id: Some(id.into()),
            ..Self::default()
        }
    }

    /// Renders the project `id` with the default settings.
    pub fn project(id: impl Into<String>) -> Self {
        Self {
            project_id: Some(id.into()),
            ..Self::default()
        }
    }

    /// CHILI's body: the serde fields, then `documentContent` (parsed when given as JSON text)
    /// and `dataConnectorConfig`.
    fn to_js(&self) -> JsValue {
        let body = js(self);
        if let Some(doc) = &self.document_content {
            let doc = match doc.as_string() {
                Some(text) => js_sys::JSON::parse(&text).unwrap_or_else(|_| doc.clone()),
                None => doc.clone(),
            };
            let _ = Reflect::set(&body, &"documentContent".into(), &doc);
        }
        if let Some(config) = &self.data_connector_config {
            let _ = Reflect::set(&body, &"dataConnectorConfig".into(), config);
        }
        body
    }
}

/// Waiting for a task: poll interval, overall timeout and abort.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct WaitOptions {
    /// Poll every this many milliseconds (default 1000).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub interval_ms: Option<u32>,
    /// Give up after this many milliseconds (default 300000).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timeout_ms: Option<u32>,
    /// Stops waiting when aborted.
    #[serde(skip)]
    pub signal: Option<web_sys::AbortSignal>,
}

/// A finished render.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RenderResult {
    /// CHILI's task id.
    pub task_id: String,
    /// Where the output was downloaded from (valid about 4 hours).
    pub download_url: String,
    /// The file.
    #[serde(with = "serde_wasm_bindgen::preserve")]
    pub blob: web_sys::Blob,
}

/// `grafx.templates()`.
pub struct Templates<'a>(&'a GraFxClient);
/// `grafx.projects()`.
pub struct Projects<'a>(&'a GraFxClient);
/// `grafx.media()`.
pub struct MediaItems<'a>(&'a GraFxClient);
/// `grafx.output()`.
pub struct Output<'a>(&'a GraFxClient);

impl GraFxClient {
    /// Templates: list, get, preview.
    pub fn templates(&self) -> Templates<'_> {
        Templates(self)
    }

    /// Projects: list, create, get, rename, save_document, delete.
    pub fn projects(&self) -> Projects<'_> {
        Projects(self)
    }

    /// Media: list, get, download.
    pub fn media(&self) -> MediaItems<'_> {
        MediaItems(self)
    }

    /// Output: settings, render.
    pub fn output(&self) -> Output<'_> {
        Output(self)
    }

    /// Calls the JS helper `group.name(args…)` and awaits its Promise.
    async fn call(&self, group: &str, name: &str, args: &[JsValue]) -> Result<JsValue, GraFxError> {
        let group = crate::glue::get(&self.helpers, group);
        let f: Function = crate::glue::get(&group, name)
            .dyn_into()
            .map_err(|_| GraFxError::options(format!("no helper {name}")))?;
        let args: js_sys::Array = args.iter().collect();
        let promise = f
            .apply(&group, &args)
            .map_err(|e| GraFxError::from_js(e, ErrorCode::InvalidOptions))?;
        JsFuture::from(js_sys::Promise::resolve(&promise))
            .await
            .map_err(|e| GraFxError::from_js(e, ErrorCode::ApiError))
    }

    async fn call_typed<T: DeserializeOwned>(
        &self,
        group: &str,
        name: &str,
        args: &[JsValue],
    ) -> Result<T, GraFxError> {
        let value = self.call(group, name, args).await?;
        typed(value, &format!("{group}.{name}"))
    }
}

/// `value` as a plain JS object (maps as objects, as JSON has them).
fn js<T: Serialize>(value: &T) -> JsValue {
    value
        .serialize(&serde_wasm_bindgen::Serializer::json_compatible())
        .unwrap_or(JsValue::UNDEFINED)
}

impl Templates<'_> {
    /// One page of templates.
    pub async fn list(&self, options: &ListOptions) -> Result<Page<Template>, GraFxError> {
        self.0
            .call_typed("templates", "list", &[options.to_js()])
            .await
    }

    /// `GET templates/{id}`.
    pub async fn get(&self, id: &str) -> Result<Template, GraFxError> {
        self.0.call_typed("templates", "get", &[id.into()]).await
    }

    /// A preview image (`thumbnail`, `medium` or `highest`), following CHILI's task flow.
    pub async fn preview(&self, id: &str, kind: &str) -> Result<web_sys::Blob, GraFxError> {
        self.preview_of(id, kind, None, None).await
    }

    /// A preview of one layout and/or page (`layoutId`, `pageId`; CHILI: engine 2.24.0 or later).
    pub async fn preview_of(
        &self,
        id: &str,
        kind: &str,
        layout_id: Option<&str>,
        page_id: Option<&str>,
    ) -> Result<web_sys::Blob, GraFxError> {
        let options = js_sys::Object::new();
        for (key, value) in [("layoutId", layout_id), ("pageId", page_id)] {
            if let Some(value) = value {
                let _ = Reflect::set(&options, &key.into(), &value.into());
            }
        }
        let v = self
            .0
            .call(
                "templates",
                "preview",
                &[id.into(), kind.into(), options.into()],
            )
            .await?;
        Ok(v.unchecked_into())
    }
}

impl Projects<'_> {
    /// One page of the caller's own projects (`GET projects`, scope `myproject:list`).
    pub async fn list(&self, options: &ListOptions) -> Result<Page<Project>, GraFxError> {
        self.0
            .call_typed("projects", "list", &[options.to_js()])
            .await
    }

    /// Renames the project (`PATCH projects/{id}`); resolves to the renamed project.
    pub async fn rename(&self, id: &str, name: &str) -> Result<Project, GraFxError> {
        self.0
            .call_typed("projects", "rename", &[id.into(), name.into()])
            .await
    }

    /// `POST projects` from the template `template_id`.
    pub async fn create(
        &self,
        template_id: &str,
        name: Option<&str>,
    ) -> Result<Project, GraFxError> {
        let body = js_sys::Object::new();
        let _ = Reflect::set(&body, &"templateId".into(), &template_id.into());
        if let Some(name) = name {
            let _ = Reflect::set(&body, &"name".into(), &name.into());
        }
        self.0
            .call_typed("projects", "create", &[body.into()])
            .await
    }

    /// `GET projects/{id}`.
    pub async fn get(&self, id: &str) -> Result<Project, GraFxError> {
        self.0.call_typed("projects", "get", &[id.into()]).await
    }

    /// `PUT projects/{id}/document` with the document's JSON (what the Studio SDK's
    /// `getCurrentState` gives).
    pub async fn save_document(&self, id: &str, document_json: &str) -> Result<(), GraFxError> {
        self.0
            .call(
                "projects",
                "saveDocument",
                &[id.into(), document_json.into()],
            )
            .await
            .map(|_| ())
    }

    /// `DELETE projects/{id}`.
    pub async fn delete(&self, id: &str) -> Result<(), GraFxError> {
        self.0
            .call("projects", "delete", &[id.into()])
            .await
            .map(|_| ())
    }
}

impl MediaItems<'_> {
    /// One page of media.
    pub async fn list(&self, options: &ListOptions) -> Result<Page<Media>, GraFxError> {
        self.0.call_typed("media", "list", &[options.to_js()]).await
    }

    /// The original file (`GET media/{id}/download`).
    pub async fn download(&self, id: &str) -> Result<web_sys::Blob, GraFxError> {
        let v = self.0.call("media", "download", &[id.into()]).await?;
        Ok(v.unchecked_into())
    }

    /// `GET media/{id}`.
    pub async fn get(&self, id: &str) -> Result<Media, GraFxError> {
        self.0.call_typed("media", "get", &[id.into()]).await
    }
}

impl Output<'_> {
    /// The environment's output settings.
    pub async fn settings(&self) -> Result<Vec<OutputSetting>, GraFxError> {
        self.0.call_typed("output", "settings", &[]).await
    }

    /// Starts the render, waits for it and downloads the file.
    pub async fn render(
        &self,
        format: OutputFormat,
        request: &RenderRequest,
        wait: &WaitOptions,
    ) -> Result<RenderResult, GraFxError> {
        let options = js(wait);
        if let Some(signal) = &wait.signal {
            let _ = Reflect::set(&options, &"signal".into(), signal);
        }
        self.0
            .call_typed("output", "render", &[js(&format), request.to_js(), options])
            .await
    }
}
