//! `templates`: list (`template:list`), get wrapped in `data`, download (the document JSON) and
//! preview (`template:read`).

use axum::extract::{Path, RawQuery, State};
use axum::response::Response;
use axum::Json;
use serde_json::{json, Value};

use super::{paginate, previews, Caller};
use crate::content::PreviewOf;
use crate::problem::Problem;
use crate::Emulator;

/// The scope to list templates.
pub(crate) const LIST: &str = "template:list";
/// The scope to read one template, its document or its preview.
pub(crate) const READ: &str = "template:read";

pub(crate) async fn list(
    State(em): State<Emulator>,
    caller: Caller,
    RawQuery(q): RawQuery,
) -> Result<Json<Value>, Problem> {
    caller.require(LIST)?;
    let pascal = em.settings().pascal_case_template_dates;
    let items = em
        .world()
        .content
        .templates
        .iter()
        .map(|t| t.json(pascal))
        .collect();
    // An older API description sorts by name, id or relativePath; no source names a date sort.
    paginate(
        &em,
        "templates",
        q.as_deref(),
        items,
        &["name", "id", "relativePath"],
    )
}

fn not_found(id: &str) -> Problem {
    Problem::not_found(format!("Template '{id}' was not found."))
}

/// `GET templates/{id}`: `{data: template}`, as CHILI answers (the workshop reads `data.name`).
pub(crate) async fn get(
    State(em): State<Emulator>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<Value>, Problem> {
    caller.require(READ)?;
    let pascal = em.settings().pascal_case_template_dates;
    let world = em.world();
    world
        .content
        .template(&id)
        .map(|t| Json(json!({ "data": t.json(pascal) })))
        .ok_or_else(|| not_found(&id))
}

pub(crate) async fn download(
    State(em): State<Emulator>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<Value>, Problem> {
    caller.require(READ)?;
    let world = em.world();
    world
        .content
        .template(&id)
        .map(|t| Json(t.document()))
        .ok_or_else(|| not_found(&id))
}

/// The optional query parameters of a template preview: `layoutId` and `pageId` (release notes
/// 2026-05-21), and `previewType` for the form without a type in the path (an older API
/// description).
#[derive(Debug, Default, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct PreviewQuery {
    layout_id: Option<String>,
    page_id: Option<String>,
    preview_type: Option<String>,
}

impl PreviewQuery {
    fn parse(q: Option<&str>) -> Result<Self, Problem> {
        serde_urlencoded::from_str(q.unwrap_or(""))
            .map_err(|e| Problem::bad_request(format!("Invalid query string: {e}")))
    }
}

/// `GET templates/{id}/preview/{type}[?layoutId=…&pageId=…]`.
pub(crate) async fn preview(
    State(em): State<Emulator>,
    caller: Caller,
    Path((id, kind)): Path<(String, String)>,
    RawQuery(q): RawQuery,
) -> Result<Response, Problem> {
    let q = PreviewQuery::parse(q.as_deref())?;
    preview_of(&em, &caller, id, &kind, &q)
}

/// `GET templates/{id}/preview[?previewType=…&layoutId=…&pageId=…]`: the same preview, its type
/// as a query parameter. The release notes of 2026-05-21 name this form beside the typed one; the
/// older API description that shows `previewType` gives no default, so the emulator takes
/// `thumbnail` when it is absent.
pub(crate) async fn preview_by_query(
    State(em): State<Emulator>,
    caller: Caller,
    Path(id): Path<String>,
    RawQuery(q): RawQuery,
) -> Result<Response, Problem> {
    let q = PreviewQuery::parse(q.as_deref())?;
    let kind = q.preview_type.clone().unwrap_or_else(|| "thumbnail".into());
    preview_of(&em, &caller, id, &kind, &q)
}

/// A layout or page other than the default must be one of the document's, and the template's
/// engine at least 2.24.0 (400 otherwise, as the release notes of 2026-05-21 say).
fn preview_of(
    em: &Emulator,
    caller: &Caller,
    id: String,
    kind: &str,
    q: &PreviewQuery,
) -> Result<Response, Problem> {
    caller.require(READ)?;
    let template = em
        .world()
        .content
        .template(&id)
        .cloned()
        .ok_or_else(|| not_found(&id))?;
    let one_layout = q.layout_id.is_some() || q.page_id.is_some();
    if one_layout && !template.previews_layouts() {
        return Err(Problem::bad_request(format!(
            "layoutId and pageId need a rendering engine of 2.24.0 or later; template '{id}' uses {}.",
            template.engine_version
        )));
    }
    let document = template.document();
    let one_of = |list: &str, param: &str, value: &Option<String>| match value {
        Some(v)
            if !document[list]
                .as_array()
                .is_some_and(|all| all.iter().any(|x| x["id"].as_str() == Some(v))) =>
        {
            Err(Problem::bad_request(format!(
                "{param} '{v}' is not one of template '{id}''s {list}."
            )))
        }
        _ => Ok(()),
    };
    one_of("layouts", "layoutId", &q.layout_id)?;
    one_of("pages", "pageId", &q.page_id)?;
    // Each layout and page has its own preview (and its own task).
    let key = match (&q.layout_id, &q.page_id) {
        (None, None) => id.clone(),
        (layout, page) => format!(
            "{id}?layoutId={}&pageId={}",
            layout.as_deref().unwrap_or(""),
            page.as_deref().unwrap_or("")
        ),
    };
    previews::preview(em, PreviewOf::Template, &key, kind, template, None)
}
