//! `media`: list, get and preview.

use axum::extract::{Path, RawQuery, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::Value;

use super::{paginate, Caller};
use crate::content::media_preview_size;
use crate::problem::Problem;
use crate::Emulator;

const LIST: &str = "media:list";
const READ: &str = "media:read";

pub(crate) async fn list(
    State(em): State<Emulator>,
    caller: Caller,
    RawQuery(q): RawQuery,
) -> Result<Json<Value>, Problem> {
    caller.require(LIST)?;
    let items = em.world().content.media.iter().map(|m| m.json()).collect();
    paginate(&em, "media", q.as_deref(), items, &["name", "createdDate"])
}

pub(crate) async fn get(
    State(em): State<Emulator>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<Value>, Problem> {
    caller.require(READ)?;
    let world = em.world();
    let media = world.content.media.iter().find(|m| m.id == id);
    media
        .map(|m| Json(m.json()))
        .ok_or_else(|| Problem::not_found(format!("Media '{id}' was not found.")))
}

pub(crate) async fn preview(
    State(em): State<Emulator>,
    caller: Caller,
    Path((id, size)): Path<(String, String)>,
) -> Result<Response, Problem> {
    caller.require(READ)?;
    let px = media_preview_size(&size).ok_or_else(|| {
        Problem::bad_request(format!(
            "Preview size must be thumbnail, medium, highest, fullOrVector, x4096 or highestOrVector, not '{size}'."
        ))
    })?;
    let render_ms = em.settings().media_preview_render_ms;
    let now = em.now();
    let mut world = em.world();
    let media = world.content.media.iter().find(|m| m.id == id).cloned();
    let media = media.ok_or_else(|| Problem::not_found(format!("Media '{id}' was not found.")))?;
    // Being generated: 202, the same URL to ask again.
    let first = *world
        .content
        .media_previews_asked
        .entry((id.clone(), size.clone()))
        .or_insert(now);
    if now.since(first) < std::time::Duration::from_millis(render_ms) {
        return Ok(StatusCode::ACCEPTED.into_response());
    }
    let png = world
        .content
        .preview_png(&id, px, media.rgb, (media.width, media.height));
    Ok((
        [
            (header::CONTENT_TYPE, "image/png"),
            (header::CACHE_CONTROL, "private, max-age=300"),
        ],
        png,
    )
        .into_response())
}
