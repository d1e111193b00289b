//! `templates`: list, get, download (the document JSON) and preview (202 while rendering).

use axum::extract::{Path, RawQuery, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::Value;

use super::{paginate, Caller};
use crate::content::preview_size;
use crate::problem::Problem;
use crate::Emulator;

const SCOPE: &str = "template:read";

pub(crate) async fn list(
    State(em): State<Emulator>,
    caller: Caller,
    RawQuery(q): RawQuery,
) -> Result<Json<Value>, Problem> {
    caller.require(SCOPE)?;
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

pub(crate) async fn get(
    State(em): State<Emulator>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<Value>, Problem> {
    caller.require(SCOPE)?;
    let world = em.world();
    world
        .content
        .template(&id)
        .map(|t| Json(t.json()))
        .ok_or_else(|| not_found(&id))
}

pub(crate) async fn download(
    State(em): State<Emulator>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<Value>, Problem> {
    caller.require(SCOPE)?;
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
    caller.require(SCOPE)?;
    let size = preview_size(&kind).ok_or_else(|| {
        Problem::bad_request(format!(
            "Preview type must be thumbnail, medium or highest, not '{kind}'."
        ))
    })?;
    let now = em.now();
    let mut world = em.world();
    let render = std::time::Duration::from_millis(world.settings.preview_render_ms);
    let template = world
        .content
        .template(&id)
        .cloned()
        .ok_or_else(|| not_found(&id))?;
    let first = *world
        .content
        .preview_requested
        .entry((id.clone(), kind))
        .or_insert(now);
    if now.since(first) < render {
        return Ok((StatusCode::ACCEPTED, [(header::RETRY_AFTER, "1")]).into_response());
    }
    let png = world
        .content
        .preview_png(&id, size, template.rgb, (template.width, template.height));
    Ok((
        [
            (header::CONTENT_TYPE, "image/png"),
            (header::CACHE_CONTROL, "private, max-age=300"),
        ],
        png,
    )
        .into_response())
}
