//! `output`: settings, start a render (`POST output/{pdf|png|jpg}`), poll the task (204 while
//! running, 200 with `links.download`, 500 when it failed) and download the file.

use std::time::Duration;

use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};

use super::{api_url, json_body, paginate, Caller};
use crate::content::{Format, OutputTask};
use crate::problem::Problem;
use crate::{new_id, Emulator};

const SCOPE: &str = "output:create";

pub(crate) async fn settings(
    State(em): State<Emulator>,
    caller: Caller,
) -> Result<Json<Value>, Problem> {
    caller.require(SCOPE)?;
    let items = vec![
        json!({"id": "5d1c8a0e-0000-4000-8000-000000000201", "name": "Print PDF", "type": "pdf", "description": "High quality print PDF"}),
        json!({"id": "5d1c8a0e-0000-4000-8000-000000000202", "name": "Web PNG", "type": "png", "description": "PNG for the web"}),
        json!({"id": "5d1c8a0e-0000-4000-8000-000000000203", "name": "Social JPG", "type": "jpg", "description": "JPG for social media"}),
    ];
    paginate(&em, "output/settings", Some("limit=100"), items, &["name"])
}

pub(crate) async fn create(
    State(em): State<Emulator>,
    caller: Caller,
    Path(format): Path<String>,
    body: Result<Json<Value>, JsonRejection>,
) -> Result<Json<Value>, Problem> {
    caller.require(SCOPE)?;
    let format = Format::parse(&format).ok_or_else(|| {
        Problem::bad_request(format!(
            "Unsupported output format '{format}'; use pdf, png or jpg."
        ))
    })?;
    let body = json_body(body)?;
    let now = em.now();
    let mut world = em.world();
    let template = if let Some(id) = body["templateId"].as_str() {
        world
            .content
            .template(id)
            .cloned()
            .ok_or_else(|| Problem::not_found(format!("Template '{id}' was not found.")))?
    } else if let Some(id) = body["projectId"].as_str() {
        let project = world
            .content
            .projects
            .get(id)
            .ok_or_else(|| Problem::not_found(format!("Project '{id}' was not found.")))?;
        let template_id = project.template_id.clone();
        world
            .content
            .template(&template_id)
            .cloned()
            .ok_or_else(|| Problem::not_found(format!("Template '{template_id}' was not found.")))?
    } else {
        return Err(Problem::bad_request(
            "Body must have a 'templateId' or a 'projectId'.",
        ));
    };
    let id = new_id();
    let fails = template.broken;
    world.content.tasks.insert(
        id.clone(),
        OutputTask {
            format,
            template,
            started: now,
            fails,
        },
    );
    let info = api_url(&em, &format!("output/tasks/{id}"));
    Ok(Json(
        json!({ "data": { "taskId": id }, "links": { "taskInfo": info } }),
    ))
}

enum TaskState {
    Running,
    Failed,
    Done(OutputTask),
}

fn task_state(em: &Emulator, id: &str) -> Result<TaskState, Problem> {
    let now = em.now();
    let world = em.world();
    let task = world
        .content
        .tasks
        .get(id)
        .ok_or_else(|| Problem::not_found(format!("Output task '{id}' was not found.")))?;
    if now.since(task.started) < Duration::from_millis(world.settings.output_render_ms) {
        Ok(TaskState::Running)
    } else if task.fails {
        Ok(TaskState::Failed)
    } else {
        Ok(TaskState::Done(task.clone()))
    }
}

fn failed(id: &str) -> Problem {
    Problem::new(
        StatusCode::INTERNAL_SERVER_ERROR,
        format!("Output task '{id}' failed: the template could not be rendered."),
    )
}

pub(crate) async fn task(
    State(em): State<Emulator>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Response, Problem> {
    caller.require(SCOPE)?;
    match task_state(&em, &id)? {
        TaskState::Running => Ok(StatusCode::NO_CONTENT.into_response()),
        TaskState::Failed => Err(failed(&id)),
        TaskState::Done(_) => {
            let download = api_url(&em, &format!("output/tasks/{id}/download"));
            Ok(Json(json!({ "data": { "taskId": id, "status": "Succeeded" }, "links": { "download": download } }))
                .into_response())
        }
    }
}

pub(crate) async fn download(
    State(em): State<Emulator>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Response, Problem> {
    caller.require(SCOPE)?;
    match task_state(&em, &id)? {
        TaskState::Running => Err(Problem::new(
            StatusCode::CONFLICT,
            format!("Output task '{id}' has not finished yet."),
        )),
        TaskState::Failed => Err(failed(&id)),
        TaskState::Done(task) => {
            let name = format!(
                "{}.{}",
                task.template.name.replace(' ', "-").to_lowercase(),
                task.format.extension()
            );
            Ok((
                [
                    (header::CONTENT_TYPE, task.format.content_type().to_owned()),
                    (
                        header::CONTENT_DISPOSITION,
                        format!("attachment; filename=\"{name}\""),
                    ),
                ],
                task.render(),
            )
                .into_response())
        }
    }
}
