//! `projects`: create from a template, get, and read or save the document.

use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::Value;

use super::{api_url, json_body, Caller};
use crate::content::Project;
use crate::problem::Problem;
use crate::{new_id, Emulator};

fn not_found(id: &str) -> Problem {
    Problem::not_found(format!("Project '{id}' was not found."))
}

pub(crate) async fn create(
    State(em): State<Emulator>,
    caller: Caller,
    body: Result<Json<Value>, JsonRejection>,
) -> Result<Response, Problem> {
    caller.require("project:write")?;
    let body = json_body(body)?;
    let template_id = body["templateId"]
        .as_str()
        .ok_or_else(|| Problem::bad_request("Body must have a string field 'templateId'."))?;
    let now = em.now();
    let mut world = em.world();
    let template = world
        .content
        .template(template_id)
        .cloned()
        .ok_or_else(|| Problem::bad_request(format!("Template '{template_id}' does not exist.")))?;
    let name = body["name"]
        .as_str()
        .filter(|n| !n.trim().is_empty())
        .unwrap_or(&template.name)
        .to_owned();
    let project = Project {
        id: new_id(),
        name,
        template_id: template.id.clone(),
        created: now.as_secs(),
        document: template.document(),
    };
    let location = api_url(&em, &format!("projects/{}", project.id));
    let json = project.json();
    world.content.projects.insert(project.id.clone(), project);
    Ok((
        StatusCode::CREATED,
        [(header::LOCATION, location)],
        Json(json),
    )
        .into_response())
}

pub(crate) async fn get(
    State(em): State<Emulator>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<Value>, Problem> {
    caller.require("project:read")?;
    let world = em.world();
    world
        .content
        .projects
        .get(&id)
        .map(|p| Json(p.json()))
        .ok_or_else(|| not_found(&id))
}

pub(crate) async fn document(
    State(em): State<Emulator>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<Value>, Problem> {
    caller.require("project:read")?;
    let world = em.world();
    world
        .content
        .projects
        .get(&id)
        .map(|p| Json(p.document.clone()))
        .ok_or_else(|| not_found(&id))
}

pub(crate) async fn save_document(
    State(em): State<Emulator>,
    caller: Caller,
    Path(id): Path<String>,
    body: Result<Json<Value>, JsonRejection>,
) -> Result<StatusCode, Problem> {
    caller.require("project:write")?;
    let doc = json_body(body)?;
    if !doc.is_object() {
        return Err(Problem::bad_request("The document must be a JSON object."));
    }
    let mut world = em.world();
    let project = world
        .content
        .projects
        .get_mut(&id)
        .ok_or_else(|| not_found(&id))?;
    project.document = doc;
    Ok(StatusCode::NO_CONTENT)
}
