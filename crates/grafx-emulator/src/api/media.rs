//! `media`: list (with folders), get, preview and download, as CHILI's media example connector
//! (studio-connector-framework, `grafx-media-example`, written from CHILI's Swagger) calls them.

use axum::extract::{Path, RawQuery, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};

use super::{paginate, Caller, ListQuery};
use crate::content::{media_folders, media_preview_size};
use crate::problem::Problem;
use crate::Emulator;

const LIST: &str = "media:list";
const READ: &str = "media:read";

/// `GET media`: the items, and with `includeFolders=true` the folders (`type` 1) too; `folder`
/// and `includeItemsFromSubfolders` choose where from.
pub(crate) async fn list(
    State(em): State<Emulator>,
    caller: Caller,
    RawQuery(q): RawQuery,
) -> Result<Json<Value>, Problem> {
    caller.require(LIST)?;
    let with_folders = ListQuery::parse(q.as_deref())?.include_folders()?;
    let names = em.settings().media_type_names;
    let items = {
        let world = em.world();
        let media = &world.content.media;
        let mut items: Vec<Value> = media.iter().map(|m| m.json(names)).collect();
        if with_folders {
            items.extend(media_folders(media, names).into_iter().map(|(_, v)| v));
        }
        items
    };
    paginate(
        &em,
        "media",
        q.as_deref(),
        items,
        &["name", "id", "relativePath"],
    )
}

/// `GET media/{id}`: `{data, links}` (or the bare item, see [`crate::Settings`]).
pub(crate) async fn get(
    State(em): State<Emulator>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<Value>, Problem> {
    caller.require(READ)?;
    let settings = em.settings();
    let world = em.world();
    let media = world.content.media.iter().find(|m| m.id == id);
    let item = media
        .map(|m| m.json(settings.media_type_names))
        .ok_or_else(|| Problem::not_found(format!("Media '{id}' was not found.")))?;
    Ok(Json(if settings.bare_media_item {
        item
    } else {
        json!({ "data": item, "links": {} })
    }))
}

/// `GET media/{id}/download`: the original file.
pub(crate) async fn download(
    State(em): State<Emulator>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Response, Problem> {
    caller.require(READ)?;
    let mut world = em.world();
    let media = world.content.media.iter().find(|m| m.id == id).cloned();
    let media = media.ok_or_else(|| Problem::not_found(format!("Media '{id}' was not found.")))?;
    // The original's size, drawn at most 2048 px wide (see `media_preview_size`).
    let png = world.content.preview_png(
        &id,
        media.width.min(2048),
        media.rgb,
        (media.width, media.height),
    );
    Ok((
        [
            (header::CONTENT_TYPE, "image/png".to_owned()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{}\"", media.name),
            ),
        ],
        png,
    )
        .into_response())
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
