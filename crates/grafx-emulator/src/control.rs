//! The test control plane, under `/_emulator/` and nowhere else: counters, faults, the clock,
//! settings, clients, reset and forgetting projects.

use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use grafx_core::Scopes;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::{ClientSpec, Emulator, FaultSpec, Settings};

pub(crate) fn routes() -> Router<Emulator> {
    Router::new()
        .route("/stats", get(stats))
        .route(
            "/faults",
            get(list_faults).post(arm_fault).delete(clear_faults),
        )
        .route("/clock", get(clock).post(advance_clock))
        .route(
            "/settings",
            get(settings).put(update_settings).post(update_settings),
        )
        .route("/clients/{id}", put(upsert_client).delete(remove_client))
        .route("/requests", get(requests).delete(clear_requests))
        .route("/reset", post(reset))
        .route("/projects", axum::routing::delete(forget_projects))
}

/// A 400 reply from the control plane, saying what is wrong.
struct BadRequest(String);

impl IntoResponse for BadRequest {
    fn into_response(self) -> Response {
        let body = json!({ "error": "invalid_request", "error_description": self.0 });
        (StatusCode::BAD_REQUEST, Json(body)).into_response()
    }
}

fn bad_request(msg: impl std::fmt::Display) -> BadRequest {
    BadRequest(msg.to_string())
}

fn body<T>(b: Result<Json<T>, JsonRejection>) -> Result<T, BadRequest> {
    b.map(|Json(v)| v).map_err(|e| bad_request(e.body_text()))
}

async fn requests(State(em): State<Emulator>) -> Json<Vec<crate::RecordedRequest>> {
    Json(em.requests())
}

async fn clear_requests(State(em): State<Emulator>) -> StatusCode {
    em.clear_requests();
    StatusCode::NO_CONTENT
}

async fn stats(State(em): State<Emulator>) -> Json<crate::Stats> {
    Json(em.stats())
}

async fn list_faults(State(em): State<Emulator>) -> Json<Vec<FaultSpec>> {
    Json(em.armed_faults())
}

async fn arm_fault(
    State(em): State<Emulator>,
    spec: Result<Json<FaultSpec>, JsonRejection>,
) -> Result<Response, BadRequest> {
    let spec = body(spec)?;
    em.arm_fault(spec.clone()).map_err(bad_request)?;
    Ok((StatusCode::CREATED, Json(spec)).into_response())
}

async fn clear_faults(State(em): State<Emulator>) -> StatusCode {
    em.clear_faults();
    StatusCode::NO_CONTENT
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Advance {
    #[serde(default)]
    advance_secs: i64,
    #[serde(default)]
    advance_ms: i64,
}

async fn clock(State(em): State<Emulator>) -> Json<Value> {
    Json(json!({ "now_ms": em.now().as_millis() }))
}

async fn advance_clock(
    State(em): State<Emulator>,
    b: Result<Json<Advance>, JsonRejection>,
) -> Result<Json<Value>, BadRequest> {
    let a = body(b)?;
    em.advance_clock(
        a.advance_secs
            .saturating_mul(1000)
            .saturating_add(a.advance_ms),
    );
    Ok(clock(State(em)).await)
}

async fn settings(State(em): State<Emulator>) -> Json<Settings> {
    Json(em.settings())
}

/// Merges the given fields into the current settings.
async fn update_settings(
    State(em): State<Emulator>,
    b: Result<Json<Value>, JsonRejection>,
) -> Result<Json<Settings>, BadRequest> {
    let Value::Object(patch) = body(b)? else {
        return Err(bad_request("settings must be a JSON object"));
    };
    let mut current = serde_json::to_value(em.settings()).unwrap_or_default();
    for (k, v) in patch {
        if current.get(&k).is_none() {
            return Err(bad_request(format!("unknown setting '{k}'")));
        }
        current[k] = v;
    }
    let settings: Settings = serde_json::from_value(current).map_err(bad_request)?;
    em.set_settings(settings).map_err(bad_request)?;
    Ok(Json(em.settings()))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ClientBody {
    secret: String,
    scopes: Option<String>,
}

async fn upsert_client(
    State(em): State<Emulator>,
    Path(id): Path<String>,
    b: Result<Json<ClientBody>, JsonRejection>,
) -> Result<StatusCode, BadRequest> {
    let c = body(b)?;
    if c.secret.is_empty() {
        return Err(bad_request("secret must not be empty"));
    }
    let scopes = c
        .scopes
        .map(|s| Scopes::parse(&s.replace(',', " ")))
        .unwrap_or_else(ClientSpec::read_scopes);
    em.upsert_client(ClientSpec::new(id, c.secret, scopes));
    Ok(StatusCode::NO_CONTENT)
}

async fn remove_client(State(em): State<Emulator>, Path(id): Path<String>) -> StatusCode {
    if em.remove_client(&id) {
        StatusCode::NO_CONTENT
    } else {
        StatusCode::NOT_FOUND
    }
}

async fn reset(State(em): State<Emulator>) -> StatusCode {
    em.reset();
    StatusCode::NO_CONTENT
}

/// `DELETE /_emulator/projects`: forgets every project (and keeps the tokens, which a reset
/// does not), so that a benchmark creating projects by the hundred thousand stays small.
async fn forget_projects(State(em): State<Emulator>) -> StatusCode {
    // Taken out whole, and dropped once the world is unlocked: freeing hundreds of thousands of
    // projects must not stall requests, and a cleared map would keep its largest table.
    let forgotten = std::mem::take(&mut em.world().content.projects);
    drop(forgotten);
    StatusCode::NO_CONTENT
}
