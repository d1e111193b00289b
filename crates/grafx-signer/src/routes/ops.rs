//! Operational endpoints: liveness, readiness and Prometheus metrics.

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Map, Value};

use crate::cache::CacheHealth;
use crate::metrics::IntegrationLabel;
use crate::AppState;

/// `GET /healthz`: the process is up.
pub(crate) async fn healthz() -> Json<Value> {
    Json(json!({ "status": "ok" }))
}

/// `GET /readyz`: every integration has a valid token cached. It reports what the background
/// refresher achieved and never calls upstream itself (anonymous callers must not be able to make
/// the signer hammer CHILI's auth server), nor shows upstream error text.
pub(crate) async fn readyz(State(state): State<AppState>) -> Response {
    let mut ready = true;
    let mut report = Map::new();
    for (name, cache) in state.caches().iter() {
        let entry = match cache.health() {
            CacheHealth::Ready(left) => json!({ "ready": true, "expires_in": left.as_secs() }),
            CacheHealth::Failing(code) => {
                ready = false;
                json!({ "ready": false, "error": code.as_str() })
            }
            CacheHealth::Pending => {
                ready = false;
                json!({ "ready": false, "error": "pending" })
            }
        };
        report.insert(name.clone(), entry);
    }
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    // A degraded shared store is reported, but never makes the signer unready: each replica
    // keeps serving on its own.
    let body = json!({
        "status": if ready { "ready" } else { "not_ready" },
        "integrations": report,
        "store": if !state.store().is_shared() { "memory" } else if state.store().is_degraded() { "degraded" } else { "shared" },
    });
    (status, Json(body)).into_response()
}

/// `GET /metrics`: Prometheus text format.
pub(crate) async fn metrics(State(state): State<AppState>) -> Response {
    let now = state.clock().now();
    for (name, cache) in state.caches().iter() {
        let secs = match cache.peek().await {
            Some(t) => t.expiry.remaining(now).as_secs_f64(),
            None => 0.0,
        };
        state
            .metrics()
            .token_expires_in
            .get_or_create(&IntegrationLabel {
                integration: name.clone(),
            })
            .set(secs);
    }
    let store = state.store();
    let m = state.metrics();
    m.store_degraded.set(i64::from(store.is_degraded()));
    m.proxy_held_body_bytes
        .set(i64::try_from(state.proxy_held_body_bytes()).unwrap_or(i64::MAX));
    let errors = store.errors();
    m.store_errors
        .inc_by(errors.saturating_sub(m.store_errors.get()));
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        state.metrics().render(),
    )
        .into_response()
}
