//! `media`: list, get and preview.

use axum::extract::{Path, RawQuery, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::Value;

use super::{paginate, Caller};
use crate::content::preview_size;
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
    let px = preview_size(&size).ok_or_else(|| {
        Problem::bad_request(format!(
            "Preview size must be thumbnail, medium or highest, not '{size}'."
        ))
    })?;
    let mut world = em.world();
    let media = world.content.media.iter().find(|m| m.id == id).cloned();
    let media = media.ok_or_else(|| Problem::not_found(format!("Media '{id}' was not found.")))?;
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
