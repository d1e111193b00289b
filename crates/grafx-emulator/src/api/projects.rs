//! `projects`: create from a template (`{template:{id}, name?}`), list, get, rename, read or save
//! the document, delete, and preview. A project is its creator's: another client is answered 404, as
//! if it did not exist (see [`Caller::owns`]).

use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::Value;

use super::{api_url, json_body, paginate, previews, Caller};
use crate::content::{Content, PreviewOf, Project};
use crate::problem::Problem;
use crate::{new_id, Emulator, RenameBody};

/// The scope to list one's projects.
pub(crate) const LIST: &str = "myproject:list";
/// The scope to read a project, its document or its preview.
pub(crate) const READ: &str = "myproject:read";
/// The scope to create, save or delete a project.
pub(crate) const WRITE: &str = "myproject:write";

fn not_found(id: &str) -> Problem {
    Problem::not_found(format!("Project '{id}' was not found."))
}

/// The caller's project `id`; another client's is "not found", like one that does not exist.
fn owned<'c>(content: &'c Content, caller: &Caller, id: &str) -> Result<&'c Project, Problem> {
    content
        .projects
        .get(id)
        .filter(|p| caller.owns(&p.owner))
        .ok_or_else(|| not_found(id))
}

/// `GET projects`: the caller's own projects, paged like every list (CHILI's "Making API calls"
/// page shows `GET …/projects?limit=10` as its example request).
pub(crate) async fn list(
    State(em): State<Emulator>,
    caller: Caller,
    axum::extract::RawQuery(q): axum::extract::RawQuery,
) -> Result<Json<Value>, Problem> {
    caller.require(LIST)?;
    let items: Vec<Value> = em
        .world()
        .content
        .projects
        .values()
        .filter(|p| caller.owns(&p.owner))
        .map(Project::json)
        .collect();
    paginate(&em, "projects", q.as_deref(), items, &["name"])
}

/// `POST projects` with CHILI's body `{"template": {"id": …}, "name"?: …}` (the template-store
/// workshop's request; `name` is this emulator's optional extra, CHILI's samples send none). The
/// reply is the bare project (the workshop reads `id` and `name`), `201 Created` with a `Location`.
pub(crate) async fn create(
    State(em): State<Emulator>,
    caller: Caller,
    body: Result<Json<Value>, JsonRejection>,
) -> Result<Response, Problem> {
    caller.require(WRITE)?;
    let body = json_body(body)?;
    let template_id = body["template"]["id"].as_str().ok_or_else(|| {
        let hint = if body.get("templateId").is_some() {
            " ('templateId' is not CHILI's field)"
        } else {
            ""
        };
        Problem::bad_request(format!(
            "Body must be {{\"template\": {{\"id\": \"…\"}}, \"name\": \"…\"}}: 'template.id' is missing{hint}."
        ))
    })?;
    let now = em.now();
    let mut world = em.world();
    let template = world
        .content
        .template(template_id)
        .cloned()
        .ok_or_else(|| Problem::bad_request(format!("Template '{template_id}' does not exist.")))?;
    let name = match body.get("name") {
        None | Some(Value::Null) => template.name.clone(),
        Some(Value::String(n)) if !n.trim().is_empty() => n.trim().to_owned(),
        Some(_) => {
            return Err(Problem::bad_request(
                "'name' must be a non-empty string when given.",
            ))
        }
    };
    let project = Project {
        id: new_id(),
        owner: caller.client().to_owned(),
        name,
        template_id: template.id.clone(),
        created: now.as_secs(),
        document: None,
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

/// `GET projects/{id}`: the bare project (CHILI's templates-vs-projects guide and studio-ui read
/// `id`, `name` and `template.id` at the top level, unlike `GET templates/{id}`).
pub(crate) async fn get(
    State(em): State<Emulator>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<Value>, Problem> {
    caller.require(READ)?;
    let world = em.world();
    owned(&world.content, &caller, &id).map(|p| Json(p.json()))
}

/// `PATCH projects/{id}`: rename (release notes 2023-05-16, which name the route and not its
/// body). Both likely bodies are taken: `{"name": …}` and a JSON Patch
/// `[{"op": "replace", "path": "/name", "value": …}]`. The reply is the renamed project.
pub(crate) async fn rename(
    State(em): State<Emulator>,
    caller: Caller,
    Path(id): Path<String>,
    body: Result<Json<Value>, JsonRejection>,
) -> Result<Response, Problem> {
    caller.require(WRITE)?;
    let body = json_body(body)?;
    let (takes, no_content) = {
        let settings = em.settings();
        (
            settings.project_rename_body,
            settings.project_rename_no_content,
        )
    };
    let name = match &body {
        Value::Object(o) if takes != RenameBody::JsonPatch => o.get("name"),
        Value::Array(ops) if takes != RenameBody::Name => ops.iter().find_map(|op| {
            (op["op"] == "replace" && op["path"] == "/name").then(|| &op["value"])
        }),
        _ => None,
    }
    .and_then(Value::as_str)
    .map(str::trim)
    .filter(|n| !n.is_empty())
    .ok_or_else(|| {
        Problem::bad_request(
            "Body must be {\"name\": \"…\"} (or a JSON Patch replacing /name) with a non-empty name.",
        )
    })?
    .to_owned();
    let mut world = em.world();
    owned(&world.content, &caller, &id)?;
    let project = world
        .content
        .projects
        .get_mut(&id)
        .ok_or_else(|| not_found(&id))?;
    project.name = name;
    Ok(if no_content {
        StatusCode::NO_CONTENT.into_response()
    } else {
        Json(project.json()).into_response()
    })
}

/// `DELETE projects/{id}`.
pub(crate) async fn delete(
    State(em): State<Emulator>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<StatusCode, Problem> {
    caller.require(WRITE)?;
    let mut world = em.world();
    owned(&world.content, &caller, &id)?;
    world.content.projects.remove(&id);
    Ok(StatusCode::NO_CONTENT)
}

/// `DELETE projects`: CHILI's API table lists this form without showing its body; the emulator
/// takes the ids as a JSON array or `{"ids": […]}` (the helper uses `DELETE projects/{id}`).
pub(crate) async fn delete_many(
    State(em): State<Emulator>,
    caller: Caller,
    body: Result<Json<Value>, JsonRejection>,
) -> Result<StatusCode, Problem> {
    caller.require(WRITE)?;
    let body = json_body(body)?;
    let ids = match &body {
        Value::Array(ids) => ids,
        other => other["ids"].as_array().ok_or_else(|| {
            Problem::bad_request("Body must be the project ids: [\"…\"] or {\"ids\": [\"…\"]}.")
        })?,
    };
    let ids: Vec<&str> = ids
        .iter()
        .map(|v| {
            v.as_str()
                .ok_or_else(|| Problem::bad_request("Project ids must be strings."))
        })
        .collect::<Result<_, _>>()?;
    let mut world = em.world();
    if let Some(missing) = ids
        .iter()
        .find(|id| owned(&world.content, &caller, id).is_err())
    {
        return Err(not_found(missing));
    }
    for id in ids {
        world.content.projects.remove(id);
    }
    Ok(StatusCode::NO_CONTENT)
}

pub(crate) async fn document(
    State(em): State<Emulator>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<Value>, Problem> {
    caller.require(READ)?;
    let world = em.world();
    let project = owned(&world.content, &caller, &id)?;
    if let Some(doc) = &project.document {
        return Ok(Json(doc.clone()));
    }
    world
        .content
        .template(&project.template_id)
        .map(|t| Json(t.project_document()))
        .ok_or_else(|| not_found(&id))
}

pub(crate) async fn save_document(
    State(em): State<Emulator>,
    caller: Caller,
    Path(id): Path<String>,
    body: Result<Json<Value>, JsonRejection>,
) -> Result<StatusCode, Problem> {
    caller.require(WRITE)?;
    let doc = json_body(body)?;
    if !doc.is_object() {
        return Err(Problem::bad_request("The document must be a JSON object."));
    }
    let mut world = em.world();
    owned(&world.content, &caller, &id)?;
    if let Some(project) = world.content.projects.get_mut(&id) {
        project.document = Some(doc);
    }
    Ok(StatusCode::NO_CONTENT)
}

pub(crate) async fn preview(
    State(em): State<Emulator>,
    caller: Caller,
    Path((id, kind)): Path<(String, String)>,
) -> Result<Response, Problem> {
    caller.require(READ)?;
    let template = {
        let world = em.world();
        let project = owned(&world.content, &caller, &id)?;
        world
            .content
            .template(&project.template_id)
            .cloned()
            .ok_or_else(|| not_found(&id))?
    };
    let owner = Some(caller.client().to_owned());
    previews::preview(&em, PreviewOf::Project, &id, &kind, template, owner)
}
