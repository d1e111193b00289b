//! One harmless Platform API route, so that clients sending the integration's token to the
//! Platform API (`https://api.chiligrafx.com`, which the same token calls) can be tested.
//!
//! CHILI's public material links the Platform API's Swagger page but shows no route; the one
//! served here, `GET /api/v1/environments/{name}`, is the route community tooling (chilitools)
//! calls. It answers with the environment's name and its Environment API URL.

use axum::extract::{Path, State};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{json, Value};

use super::Caller;
use crate::problem::Problem;
use crate::Emulator;

/// The Platform API routes, relative to the emulator's root (its Platform API base URL).
pub(crate) fn routes() -> Router<Emulator> {
    Router::new().route("/api/v1/environments/{name}", get(environment))
}

async fn environment(
    State(em): State<Emulator>,
    _: Caller,
    Path(name): Path<String>,
) -> Result<Json<Value>, Problem> {
    if name != em.environment().as_str() {
        return Err(Problem::not_found(format!(
            "Environment '{name}' was not found."
        )));
    }
    Ok(Json(json!({
        "data": { "name": name, "environmentApiUrl": em.environment_api_url() }
    })))
}
