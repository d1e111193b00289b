//! The test control plane, under `/_emulator/` and nowhere else: counters, faults, the clock,
//! settings, clients and reset.

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
        .route("/faults", get(list_faults).post(arm_fault).delete(clear_faults))
        .route("/clock", get(clock).post(advance_clock))
        .route("/settings", get(settings).put(update_settings).post(update_settings))
        .route("/clients/{id}", put(upsert_client).delete(remove_client))
        .route("/reset", post(reset))
}

fn bad_request(msg: impl std::fmt::Display) -> Response {
    (StatusCode::BAD_REQUEST, Json(json!({ "error": "invalid_request", "error_description": msg.to_string() })))
        .into_response()
}

fn body<T>(b: Result<Json<T>, JsonRejection>) -> Result<T, Response> {
    b.map(|Json(v)| v).map_err(|e| bad_request(e.body_text()))
}

async fn stats(State(em): State<Emulator>) -> Json<crate::Stats> {
    Json(em.stats())
}

async fn list_faults(State(em): State<Emulator>) -> Json<Vec<FaultSpec>> {
    Json(em.armed_faults())
}

async fn arm_fault(State(em): State<Emulator>, spec: Result<Json<FaultSpec>, JsonRejection>) -> Response {
    let spec = match body(spec) {
        Ok(s) => s,
        Err(r) => return r,
    };
    match em.arm_fault(spec.clone()) {
        Ok(()) => (StatusCode::CREATED, Json(spec)).into_response(),
        Err(e) => bad_request(e),
    }
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

async fn advance_clock(State(em): State<Emulator>, b: Result<Json<Advance>, JsonRejection>) -> Response {
    let a = match body(b) {
        Ok(a) => a,
        Err(r) => return r,
    };
    em.advance_clock(a.advance_secs.saturating_mul(1000).saturating_add(a.advance_ms));
    clock(State(em)).await.into_response()
}

async fn settings(State(em): State<Emulator>) -> Json<Settings> {
    Json(em.settings())
}

/// Merges the given fields into the current settings.
async fn update_settings(State(em): State<Emulator>, b: Result<Json<Value>, JsonRejection>) -> Response {
    let patch = match body(b) {
        Ok(Value::Object(p)) => p,
        Ok(_) => return bad_request("settings must be a JSON object"),
        Err(r) => return r,
    };
    let mut current = serde_json::to_value(em.settings()).unwrap_or_default();
    for (k, v) in patch {
        if current.get(&k).is_none() {
            return bad_request(format!("unknown setting '{k}'"));
        }
        current[k] = v;
    }
    let settings: Settings = match serde_json::from_value(current) {
        Ok(s) => s,
        Err(e) => return bad_request(e),
    };
    match em.set_settings(settings) {
        Ok(()) => Json(em.settings()).into_response(),
        Err(e) => bad_request(e),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ClientBody {
    secret: String,
    scopes: Option<String>,
}

async fn upsert_client(State(em): State<Emulator>, Path(id): Path<String>, b: Result<Json<ClientBody>, JsonRejection>) -> Response {
    let c = match body(b) {
        Ok(c) => c,
        Err(r) => return r,
    };
    if c.secret.is_empty() {
        return bad_request("secret must not be empty");
    }
    let scopes = c.scopes.map(|s| Scopes::parse(&s.replace(',', " "))).unwrap_or_else(ClientSpec::read_scopes);
    em.upsert_client(ClientSpec::new(id, c.secret, scopes));
    StatusCode::NO_CONTENT.into_response()
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
