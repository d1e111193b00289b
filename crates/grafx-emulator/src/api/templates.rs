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
    let items = em
        .world()
        .content
        .templates
        .iter()
        .map(|t| t.json())
        .collect();
    paginate(
        &em,
        "templates",
        q.as_deref(),
        items,
        &["name", "createdDate", "lastModifiedDate"],
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
    let world = em.world();
    world
        .content
        .template(&id)
        .map(|t| Json(json!({ "data": t.json() })))
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

pub(crate) async fn preview(
    State(em): State<Emulator>,
    caller: Caller,
    Path((id, kind)): Path<(String, String)>,
) -> Result<Response, Problem> {
    caller.require(READ)?;
    let template = em
        .world()
        .content
        .template(&id)
        .cloned()
        .ok_or_else(|| not_found(&id))?;
    previews::preview(&em, PreviewOf::Template, &id, &kind, template, None)
}
