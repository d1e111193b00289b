//! Previews of templates and projects, as CHILI serves them: `GET …/{id}/preview/{type}` answers
//! 200 with the image once it is rendered, or 202 `{data:{taskId}}` while it renders. The client
//! polls `…/preview/tasks/{taskId}` (202 while running, then 200 with `links.download`) and
//! downloads that URL with its bearer. CHILI's docs name the poll under both `templates/` and
//! `projects/` (the template-store workshop polls `projects/preview/tasks` for both kinds), so
//! either path answers for any preview task.

use axum::extract::{Path, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

use super::{api_url, Caller};
use crate::content::{preview_size, PreviewOf, PreviewTask, Template};
use crate::problem::Problem;
use crate::{new_id, Emulator};

fn image(png: Vec<u8>) -> Response {
    (
        [
            (header::CONTENT_TYPE, "image/png"),
            (header::CACHE_CONTROL, "private, max-age=300"),
        ],
        png,
    )
        .into_response()
}

/// The preview of `id` (a template or a project whose template is `template`); a project's
/// preview task is its `owner`'s.
pub(crate) fn preview(
    em: &Emulator,
    of: PreviewOf,
    id: &str,
    kind: &str,
    template: Template,
    owner: Option<String>,
) -> Result<Response, Problem> {
    let size = preview_size(kind).ok_or_else(|| {
        Problem::bad_request(format!(
            "Preview type must be thumbnail, medium or highest, not '{kind}'."
        ))
    })?;
    let now = em.now();
    let mut world = em.world();
    let render = std::time::Duration::from_millis(world.settings.preview_render_ms);
    let key = (id.to_owned(), kind.to_owned());
    let task_id = match world.content.preview_requested.get(&key) {
        Some(task_id) => task_id.clone(),
        None if render.is_zero() => String::new(),
        None => {
            let task_id = new_id();
            world.content.preview_requested.insert(key, task_id.clone());
            world.content.preview_tasks.insert(
                task_id.clone(),
                PreviewTask {
                    owner,
                    of,
                    template: template.clone(),
                    size,
                    started: now,
                },
            );
            task_id
        }
    };
    let running = world
        .content
        .preview_tasks
        .get(&task_id)
        .is_some_and(|t| now.since(t.started) < render);
    if running {
        return Ok((
            StatusCode::ACCEPTED,
            Json(json!({ "data": { "taskId": task_id } })),
        )
            .into_response());
    }
    let png = world
        .content
        .preview_png(id, size, template.rgb, (template.width, template.height));
    Ok(image(png))
}

/// The task and whether it finished, once the caller may read what it previews.
fn readable_task(
    em: &Emulator,
    caller: &Caller,
    task_id: &str,
) -> Result<(PreviewTask, bool), Problem> {
    let (task, done) = task(em, task_id)?;
    caller.require(read_scope(task.of))?;
    // A project preview is its owner's: anyone else is told it does not exist.
    if task.owner.as_deref().is_some_and(|o| !caller.owns(o)) {
        return Err(Problem::not_found(format!(
            "Preview task '{task_id}' was not found."
        )));
    }
    Ok((task, done))
}

fn task(em: &Emulator, task_id: &str) -> Result<(PreviewTask, bool), Problem> {
    let now = em.now();
    let world = em.world();
    let render = std::time::Duration::from_millis(world.settings.preview_render_ms);
    let task = world
        .content
        .preview_tasks
        .get(task_id)
        .cloned()
        .ok_or_else(|| Problem::not_found(format!("Preview task '{task_id}' was not found.")))?;
    let done = now.since(task.started) >= render;
    Ok((task, done))
}

/// `GET {templates|projects}/preview/tasks/{taskId}`.
pub(crate) async fn poll(
    State(em): State<Emulator>,
    caller: Caller,
    Path(task_id): Path<String>,
) -> Result<Response, Problem> {
    let (_, done) = readable_task(&em, &caller, &task_id)?;
    if !done {
        return Ok((
            StatusCode::ACCEPTED,
            Json(json!({ "data": { "taskId": task_id } })),
        )
            .into_response());
    }
    let download = api_url(&em, &format!("templates/preview/tasks/{task_id}/download"));
    Ok(Json(json!({
        "data": { "taskId": task_id, "status": "Succeeded" },
        "links": { "download": download },
    }))
    .into_response())
}

/// `GET {templates|projects}/preview/tasks/{taskId}/download`: the image (bearer required).
pub(crate) async fn download(
    State(em): State<Emulator>,
    caller: Caller,
    Path(task_id): Path<String>,
) -> Result<Response, Problem> {
    let (task, done) = readable_task(&em, &caller, &task_id)?;
    if !done {
        return Err(Problem::new(
            StatusCode::CONFLICT,
            format!("Preview task '{task_id}' has not finished yet."),
        ));
    }
    let t = &task.template;
    let png = em
        .world()
        .content
        .preview_png(&t.id, task.size, t.rgb, (t.width, t.height));
    Ok(image(png))
}

fn read_scope(of: PreviewOf) -> &'static str {
    match of {
        PreviewOf::Template => super::templates::READ,
        PreviewOf::Project => super::projects::READ,
    }
}
