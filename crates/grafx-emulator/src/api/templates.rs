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

/// `layoutId` and `pageId`, the optional query parameters of a template preview (release notes
/// 2026-05-21).
#[derive(Debug, Default, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct PreviewQuery {
    layout_id: Option<String>,
    page_id: Option<String>,
}

/// `GET templates/{id}/preview/{type}[?layoutId=…&pageId=…]`: a layout or page other than the
/// default must be one of the document's (400 otherwise). CHILI also answers 400 when the
/// template's engine is older than 2.24.0; the emulator's documents carry no real engine, so that
/// check is not modelled.
pub(crate) async fn preview(
    State(em): State<Emulator>,
    caller: Caller,
    Path((id, kind)): Path<(String, String)>,
    RawQuery(q): RawQuery,
) -> Result<Response, Problem> {
    caller.require(READ)?;
    let q: PreviewQuery = serde_urlencoded::from_str(q.as_deref().unwrap_or(""))
        .map_err(|e| Problem::bad_request(format!("Invalid query string: {e}")))?;
    let template = em
        .world()
        .content
        .template(&id)
        .cloned()
        .ok_or_else(|| not_found(&id))?;
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
    previews::preview(&em, PreviewOf::Template, &key, &kind, template, None)
}
