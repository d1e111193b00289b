//! `output`: settings, start a render (`POST output/{pdf|png|jpg|gif|mp4|html}`, and the form by
//! kind, `POST output/image|animation?projectId=…&outputType=…`, still in CHILI's API table), poll
//! the task (204 while running, or 202 as older versions answered; 200 with `links.download`; 500
//! when it failed) and download the file, which expires after a while (CHILI: about 4 hours).

use std::time::Duration;

use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};

use super::{api_url, json_body, paginate, Caller};
use crate::content::{Format, OutputTask, Template};
use crate::problem::Problem;
use crate::{new_id, Emulator};

/// Reading output settings needs either output permission.
const ANY_OUTPUT: &[&str] = &["output:static", "output:animated"];

pub(crate) async fn settings(
    State(em): State<Emulator>,
    caller: Caller,
) -> Result<Json<Value>, Problem> {
    caller.require_any(ANY_OUTPUT)?;
    let items = em
        .world()
        .content
        .output_settings
        .iter()
        .map(|s| s.json())
        .collect();
    paginate(&em, "output/settings", Some("limit=100"), items, &["name"])
}

pub(crate) async fn setting(
    State(em): State<Emulator>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<Value>, Problem> {
    caller.require_any(ANY_OUTPUT)?;
    let world = em.world();
    world
        .content
        .output_setting(&id)
        // Bare, as studio-ui reads it (`setting.dataSourceEnabled`).
        .map(|s| Json(s.json()))
        .ok_or_else(|| Problem::not_found(format!("Output setting '{id}' was not found.")))
}

/// A list of strings (or numbers, as some samples write layout ids) in the body, or a 400.
fn string_list(body: &Value, field: &str) -> Result<Option<Vec<String>>, Problem> {
    let bad = || Problem::bad_request(format!("'{field}' must be an array of layout ids."));
    match body.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Array(items)) => items
            .iter()
            .map(|v| match v {
                Value::String(s) => Ok(s.clone()),
                Value::Number(n) => Ok(n.to_string()),
                _ => Err(bad()),
            })
            .collect::<Result<_, _>>()
            .map(Some),
        Some(_) => Err(bad()),
    }
}

/// The number of data rows for batch output. CHILI's variable-data guide: rows are objects of
/// variable name to string (or null), batch output is PDF only, at most 10,000 rows.
fn variable_rows(body: &Value, format: Format) -> Result<usize, Problem> {
    let rows = match body.get("variables") {
        None | Some(Value::Null) => return Ok(0),
        Some(Value::Array(rows)) => rows,
        Some(_) => {
            return Err(Problem::bad_request(
                "'variables' must be an array of data rows.",
            ))
        }
    };
    if format != Format::Pdf {
        return Err(Problem::bad_request(
            "Batch output ('variables' rows) is only available for pdf.",
        ));
    }
    if rows.len() > 10_000 {
        return Err(Problem::bad_request(
            "At most 10000 data rows may be sent at once.",
        ));
    }
    for (i, row) in rows.iter().enumerate() {
        let ok = row
            .as_object()
            .is_some_and(|r| r.values().all(|v| v.is_string() || v.is_null()));
        if !ok {
            return Err(Problem::bad_request(format!(
                "'variables' row {i} must be an object of variable names to strings or null, such as {{\"Headline\": \"Red\"}} (one flat object per row, as CHILI's variable-data guide shows)."
            )));
        }
    }
    Ok(rows.len())
}

/// What to render: a template, a project, or a whole document sent inline. studio-ui sends the
/// document together with the project (or, in sandbox mode, template) it came from, so
/// `documentContent` may come with one of the ids and then wins; `templateId` and `projectId`
/// together are refused.
fn source(em: &Emulator, caller: &Caller, body: &Value) -> Result<Template, Problem> {
    let world = em.world();
    let has = |f: &str| !body[f].is_null();
    if has("templateId") && has("projectId") {
        return Err(Problem::bad_request(
            "Body must have 'templateId' or 'projectId', not both.",
        ));
    }
    // A named project must be the caller's, whatever else the body holds: a document sent
    // inline does not open someone else's project to its id.
    let project = if has("projectId") {
        let id = body["projectId"]
            .as_str()
            .ok_or_else(|| Problem::bad_request("'projectId' must be a string."))?;
        let project = world
            .content
            .projects
            .get(id)
            .filter(|p| caller.owns(&p.owner))
            .ok_or_else(|| Problem::not_found(format!("Project '{id}' was not found.")))?;
        Some((id, project.template_id.clone()))
    } else {
        None
    };
    if has("documentContent") {
        // API samples send the document object; a JSON string is accepted too.
        let doc = match &body["documentContent"] {
            Value::String(s) => serde_json::from_str(s).map_err(|e| {
                Problem::bad_request(format!("'documentContent' is not a JSON document: {e}"))
            })?,
            v @ Value::Object(_) => v.clone(),
            _ => {
                return Err(Problem::bad_request(
                    "'documentContent' must be the document JSON.",
                ))
            }
        };
        return Ok(Template::from_document(&doc));
    }
    if has("templateId") {
        let id = body["templateId"]
            .as_str()
            .ok_or_else(|| Problem::bad_request("'templateId' must be a string."))?;
        return world
            .content
            .template(id)
            .cloned()
            .ok_or_else(|| Problem::not_found(format!("Template '{id}' was not found.")));
    }
    if let Some((id, template_id)) = project {
        return world
            .content
            .template(&template_id)
            .cloned()
            .ok_or_else(|| Problem::not_found(format!("Project '{id}' was not found.")));
    }
    Err(Problem::bad_request(
        "Body must have 'templateId', 'projectId' or 'documentContent'.",
    ))
}

/// `POST output/{format}`, or the older `output/image|animation` with a query string.
pub(crate) async fn start(
    State(em): State<Emulator>,
    caller: Caller,
    Path(format): Path<String>,
    axum::extract::RawQuery(q): axum::extract::RawQuery,
    body: Result<Json<Value>, JsonRejection>,
) -> Result<Json<Value>, Problem> {
    match format.as_str() {
        "image" | "animation" => create_by_kind(em, caller, &format, q, body).await,
        _ => create(State(em), caller, Path(format), body).await,
    }
}

async fn create(
    State(em): State<Emulator>,
    caller: Caller,
    Path(format): Path<String>,
    body: Result<Json<Value>, JsonRejection>,
) -> Result<Json<Value>, Problem> {
    let format = Format::parse(&format).ok_or_else(|| {
        Problem::not_found(format!(
            "Unsupported output format '{format}'; use pdf, png, jpg, gif, mp4 or html."
        ))
    })?;
    caller.require(format.scope())?;
    let body = json_body(body)?;
    if !body.is_object() {
        return Err(Problem::bad_request("The body must be a JSON object."));
    }
    check_output_setting(&em, &body, format)?;
    let layouts = string_list(&body, "layoutsToExport")?.unwrap_or_else(|| vec!["0".into()]);
    let rows = variable_rows(&body, format)?;
    let template = source(&em, &caller, &body)?;
    let now = em.now();
    let id = new_id();
    em.world().content.tasks.insert(
        id.clone(),
        OutputTask {
            owner: caller.client().to_owned(),
            format,
            fails: template.broken,
            template,
            started: now,
            layouts,
            rows,
        },
    );
    let info = api_url(&em, &format!("output/tasks/{id}"));
    Ok(Json(
        json!({ "data": { "taskId": id }, "links": { "taskInfo": info } }),
    ))
}

/// The body's `outputSettingsId` names a setting for `format`, or the environment has a default.
fn check_output_setting(em: &Emulator, body: &Value, format: Format) -> Result<(), Problem> {
    // studio-ui may leave `outputSettingsId` out; CHILI's docs do not say whether it is required,
    // so a missing id means the environment's default setting for the format.
    let world = em.world();
    let setting = match &body["outputSettingsId"] {
        Value::Null => world
            .content
            .output_settings
            .iter()
            .find(|s| s.format == format && s.default)
            .ok_or_else(|| {
                Problem::bad_request(format!(
                    "No 'outputSettingsId' and no default {} output setting.",
                    format.as_str()
                ))
            })?,
        Value::String(id) => world.content.output_setting(id).ok_or_else(|| {
            Problem::bad_request(format!("Output setting '{id}' does not exist."))
        })?,
        _ => return Err(Problem::bad_request("'outputSettingsId' must be a string.")),
    };
    if setting.format != format {
        return Err(Problem::bad_request(format!(
            "Output setting '{}' is for {}, not {}.",
            setting.id,
            setting.format.as_str(),
            format.as_str()
        )));
    }
    Ok(())
}

#[derive(Debug, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct KindQuery {
    project_id: Option<String>,
    template_id: Option<String>,
    output_type: Option<String>,
    layout_to_export: Option<String>,
}

/// The endpoints by kind, which CHILI's API table still lists (no release note retires them) and
/// the template-store project (section 13) uses:
/// `POST output/image?projectId=…&outputType=png&layoutToExport=0&pixelRatio=1` and
/// `POST output/animation?…`. The template-store sends no body; an older API description sends
/// the document as the body. No source says whether `outputType` and the source may also come
/// in a JSON body, so both places are read (the query wins) and the body may be the document,
/// a `{templateId|projectId|documentContent, outputType, layoutsToExport}` object, or absent.
/// Whether CHILI refuses an id in the query beside a document body is unsettled too: the
/// document wins, as it does beside an id in `POST output/{format}` (studio-ui sends both).
async fn create_by_kind(
    em: Emulator,
    caller: Caller,
    kind: &str,
    q: Option<String>,
    body: Result<Json<Value>, JsonRejection>,
) -> Result<Json<Value>, Problem> {
    let q: KindQuery = serde_urlencoded::from_str(q.as_deref().unwrap_or(""))
        .map_err(|e| Problem::bad_request(format!("Invalid query string: {e}")))?;
    let mut body = match body {
        Err(JsonRejection::MissingJsonContentType(_)) => json!({}),
        other => json_body(other)?,
    };
    if !body.is_object() {
        return Err(Problem::bad_request("The body must be a JSON object."));
    }
    if body.get("layouts").is_some() && body.get("documentContent").is_none() {
        body = json!({ "documentContent": body });
    }
    let default = if kind == "image" { "png" } else { "gif" };
    let format = match (q.output_type, body.get("outputType")) {
        (Some(t), _) => t,
        (None, Some(Value::String(t))) => t.clone(),
        (None, Some(_)) => return Err(Problem::bad_request("'outputType' must be a string.")),
        (None, None) => default.to_owned(),
    };
    let allowed: &[&str] = if kind == "image" {
        &["png", "jpg"]
    } else {
        &["gif", "mp4"]
    };
    if !allowed.contains(&format.to_ascii_lowercase().as_str()) {
        return Err(Problem::bad_request(format!(
            "outputType must be one of {} for output/{kind}, not '{format}'.",
            allowed.join(", ")
        )));
    }
    if let Some(layout) = q.layout_to_export {
        body["layoutsToExport"] = json!([layout]);
    }
    if let Some(id) = q.project_id {
        body["projectId"] = json!(id);
    }
    if let Some(id) = q.template_id {
        body["templateId"] = json!(id);
    }
    if let Some(obj) = body.as_object_mut() {
        obj.remove("outputType");
    }
    let format = format.to_ascii_lowercase();
    create(State(em), caller, Path(format), Ok(Json(body))).await
}

enum TaskState {
    Running,
    Failed,
    Done(Box<OutputTask>),
    Expired,
}

/// The state of the caller's task `id`: another client's is "not found", as CHILI keeps one
/// user's outputs from every other (see [`Caller::owns`]).
fn task_state(em: &Emulator, caller: &Caller, id: &str) -> Result<TaskState, Problem> {
    let now = em.now();
    let world = em.world();
    let task = world
        .content
        .tasks
        .get(id)
        .filter(|t| caller.owns(&t.owner))
        .ok_or_else(|| Problem::not_found(format!("Output task '{id}' was not found.")))?;
    let render = Duration::from_millis(world.settings.output_render_ms);
    let kept = Duration::from_secs(world.settings.output_download_ttl_secs);
    let age = now.since(task.started);
    Ok(if age < render {
        TaskState::Running
    } else if task.fails {
        TaskState::Failed
    } else if age >= render + kept {
        TaskState::Expired
    } else {
        TaskState::Done(Box::new(task.clone()))
    })
}

fn failed(id: &str) -> Problem {
    Problem::new(
        StatusCode::INTERNAL_SERVER_ERROR,
        format!("Output task '{id}' failed: the template could not be rendered."),
    )
}

fn expired(id: &str) -> Problem {
    Problem::not_found(format!(
        "The output of task '{id}' has expired: outputs can be downloaded for a limited time after they are rendered. Render it again."
    ))
}

fn task_scope(em: &Emulator, id: &str) -> Option<&'static str> {
    em.world().content.tasks.get(id).map(|t| t.format.scope())
}

pub(crate) async fn task(
    State(em): State<Emulator>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Response, Problem> {
    match task_scope(&em, &id) {
        Some(scope) => caller.require(scope)?,
        None => caller.require_any(ANY_OUTPUT)?,
    }
    match task_state(&em, &caller, &id)? {
        TaskState::Running if em.settings().legacy_task_status => {
            Ok(StatusCode::ACCEPTED.into_response())
        }
        TaskState::Running => Ok(StatusCode::NO_CONTENT.into_response()),
        TaskState::Failed => Err(failed(&id)),
        // CHILI keeps tasks for 7 days and their downloads for about 4 hours: the task still
        // answers, its download does not.
        TaskState::Done(_) | TaskState::Expired => {
            let download = api_url(&em, &format!("output/tasks/{id}/download"));
            // No `data.status`: no source shows one, and studio-ui reads a top-level `status`
            // as an error.
            Ok(
                Json(json!({ "data": { "taskId": id }, "links": { "download": download } }))
                    .into_response(),
            )
        }
    }
}

/// The file followed by zero bytes up to `min_bytes` (PDF and image readers ignore trailing
/// bytes), streamed in 64 KiB chunks, and its length.
fn padded(file: Vec<u8>, min_bytes: u64) -> (u64, axum::body::Body) {
    const CHUNK: usize = 64 * 1024;
    let len = file.len() as u64;
    if min_bytes <= len {
        return (len, axum::body::Body::from(file));
    }
    let zeros = axum::body::Bytes::from(vec![0u8; CHUNK]);
    let mut left = min_bytes - len;
    let padding = std::iter::from_fn(move || {
        let n = left.min(CHUNK as u64) as usize;
        left -= n as u64;
        (n > 0).then(|| Ok::<_, std::io::Error>(zeros.slice(..n)))
    });
    let chunks = std::iter::once(Ok(axum::body::Bytes::from(file))).chain(padding);
    (
        min_bytes,
        axum::body::Body::from_stream(futures_util::stream::iter(chunks)),
    )
}

pub(crate) async fn download(
    State(em): State<Emulator>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Response, Problem> {
    match task_scope(&em, &id) {
        Some(scope) => caller.require(scope)?,
        None => caller.require_any(ANY_OUTPUT)?,
    }
    match task_state(&em, &caller, &id)? {
        TaskState::Running => Err(Problem::new(
            StatusCode::CONFLICT,
            format!("Output task '{id}' has not finished yet."),
        )),
        TaskState::Failed => Err(failed(&id)),
        TaskState::Expired => Err(expired(&id)),
        TaskState::Done(task) => {
            let name = format!(
                "{}.{}",
                task.template.name.replace(' ', "-").to_lowercase(),
                task.format.as_str()
            );
            let min_bytes = em.world().settings.output_min_bytes;
            let (len, body) = padded(task.render(), min_bytes);
            Ok((
                [
                    (header::CONTENT_TYPE, task.format.content_type().to_owned()),
                    (
                        header::CONTENT_DISPOSITION,
                        format!("attachment; filename=\"{name}\""),
                    ),
                    (header::CONTENT_LENGTH, len.to_string()),
                ],
                body,
            )
                .into_response())
        }
    }
}
