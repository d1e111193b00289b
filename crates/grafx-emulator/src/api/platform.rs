//! The Platform API routes CHILI's release notes (2026-02-23) name, so that clients sending the
//! integration's token to the Platform API (`https://api.chiligrafx.com`, which the same token
//! calls) can be tested:
//!
//! - `GET /api/v1/environments/{environmentId}` and `…/renders`
//! - `GET /api/v1/subscriptions/{subscriptionId}` and `…/renders`
//!
//! The note says these report `totalRenders` (without watermarked renders) and a new
//! `totalWatermarkedRenders`. Nothing public shows the rest of a reply, whether the id is a GUID
//! or the environment's name (both are taken here), or whether replies are wrapped in `data`
//! (bare by default, as the note lists properties of the reply; wrapped with the setting
//! `wrapped_platform_replies`). Every other field served (`id`, `name`, `subscriptionId`,
//! `environmentApiUrl`) is this emulator's assumption.

use axum::extract::{Path, State};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{json, Value};

use super::Caller;
use crate::problem::Problem;
use crate::Emulator;

/// The emulated environment's id on the Platform API.
pub(crate) const ENVIRONMENT_ID: &str = "e7a0c1d2-0000-4000-8000-000000000001";
/// The subscription the emulated environment belongs to.
pub(crate) const SUBSCRIPTION_ID: &str = "5b5c0de0-0000-4000-8000-000000000001";

/// The Platform API routes, relative to the emulator's root (its Platform API base URL).
pub(crate) fn routes() -> Router<Emulator> {
    Router::new()
        .route("/api/v1/environments/{id}", get(environment))
        .route(
            "/api/v1/environments/{id}/renders",
            get(environment_renders),
        )
        .route("/api/v1/subscriptions/{id}", get(subscription))
        .route(
            "/api/v1/subscriptions/{id}/renders",
            get(subscription_renders),
        )
}

/// 404 unless `id` is the environment's id or name.
fn check_environment(em: &Emulator, id: &str) -> Result<(), Problem> {
    if id == ENVIRONMENT_ID || id == em.environment().as_str() {
        Ok(())
    } else {
        Err(Problem::not_found(format!(
            "Environment '{id}' was not found."
        )))
    }
}

/// 404 unless `id` is the subscription's.
fn check_subscription(id: &str) -> Result<(), Problem> {
    if id == SUBSCRIPTION_ID {
        Ok(())
    } else {
        Err(Problem::not_found(format!(
            "Subscription '{id}' was not found."
        )))
    }
}

/// `totalRenders` (every output task started, none watermarked here) and
/// `totalWatermarkedRenders`.
fn renders(em: &Emulator) -> Value {
    let total = em.world().content.tasks.len();
    json!({ "totalRenders": total, "totalWatermarkedRenders": 0 })
}

/// `renders(em)` with `fields` added.
fn with_renders(em: &Emulator, fields: Value) -> Json<Value> {
    let mut reply = renders(em);
    if let (Some(reply), Value::Object(fields)) = (reply.as_object_mut(), fields) {
        reply.extend(fields);
    }
    wrapped(em, reply)
}

/// The reply bare, or in `data` (see [`crate::Settings`]).
fn wrapped(em: &Emulator, reply: Value) -> Json<Value> {
    Json(if em.settings().wrapped_platform_replies {
        json!({ "data": reply })
    } else {
        reply
    })
}

async fn environment(
    State(em): State<Emulator>,
    _: Caller,
    Path(id): Path<String>,
) -> Result<Json<Value>, Problem> {
    check_environment(&em, &id)?;
    Ok(with_renders(
        &em,
        json!({
            "id": ENVIRONMENT_ID,
            "name": em.environment().as_str(),
            "subscriptionId": SUBSCRIPTION_ID,
            "environmentApiUrl": em.environment_api_url(),
        }),
    ))
}

async fn environment_renders(
    State(em): State<Emulator>,
    _: Caller,
    Path(id): Path<String>,
) -> Result<Json<Value>, Problem> {
    check_environment(&em, &id)?;
    Ok(wrapped(&em, renders(&em)))
}

async fn subscription(
    State(em): State<Emulator>,
    _: Caller,
    Path(id): Path<String>,
) -> Result<Json<Value>, Problem> {
    check_subscription(&id)?;
    Ok(with_renders(&em, json!({ "id": SUBSCRIPTION_ID })))
}

async fn subscription_renders(
    State(em): State<Emulator>,
    _: Caller,
    Path(id): Path<String>,
) -> Result<Json<Value>, Problem> {
    check_subscription(&id)?;
    Ok(wrapped(&em, renders(&em)))
}
