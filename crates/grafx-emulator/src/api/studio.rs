//! The minimal `connectors` and `user-interfaces` that studio-ui reads when it starts: lists as
//! `{data, pageSize, links}`, single items bare (studio-ui's `RemoteConnector` and user-interface
//! shapes). Any valid token may read them; CHILI does not document a scope for them.

use axum::extract::{Path, RawQuery, State};
use axum::Json;
use serde_json::{json, Value};

use super::{paginate, Caller};
use crate::problem::Problem;
use crate::Emulator;

fn connectors() -> Vec<Value> {
    vec![json!({
        "id": "c0a1e7e2-0000-4000-8000-000000000301",
        "name": "GraFx Media",
        "type": "media",
        "description": "The environment's own media library.",
        "iconUrl": null,
        "default": true,
        "enabled": true,
        "supportedAuthentication": { "browser": ["none"] },
        "ownerType": "builtIn",
        "scriptSource": "",
    })]
}

fn user_interfaces() -> Vec<Value> {
    let form = json!([
        { "id": "variables", "type": "variables", "active": true, "header": "Customize", "helpText": "" },
        { "id": "layouts", "type": "layouts", "active": true, "header": "Layouts", "helpText": "" },
    ]);
    vec![json!({
        "id": "9b7f3c10-0000-4000-8000-000000000401",
        "name": "Default",
        "default": true,
        "outputSettings": {
            "5d1c8a0e-0000-4000-8000-000000000201": { "layoutIntents": ["Print"] },
            "5d1c8a0e-0000-4000-8000-000000000202": { "layoutIntents": ["DigitalStatic"] },
        },
        // studio-ui parses this field with JSON.parse: CHILI sends it as a string.
        "formBuilder": form.to_string(),
    })]
}

fn by_id(items: Vec<Value>, id: &str, what: &str) -> Result<Json<Value>, Problem> {
    items
        .into_iter()
        .find(|v| v["id"] == id)
        .map(Json)
        .ok_or_else(|| Problem::not_found(format!("{what} '{id}' was not found.")))
}

pub(crate) async fn connector_list(
    State(em): State<Emulator>,
    _: Caller,
    RawQuery(q): RawQuery,
) -> Result<Json<Value>, Problem> {
    paginate(&em, "connectors", q.as_deref(), connectors(), &["name"])
}

pub(crate) async fn connector(_: Caller, Path(id): Path<String>) -> Result<Json<Value>, Problem> {
    by_id(connectors(), &id, "Connector")
}

pub(crate) async fn user_interface_list(
    State(em): State<Emulator>,
    _: Caller,
    RawQuery(q): RawQuery,
) -> Result<Json<Value>, Problem> {
    paginate(
        &em,
        "user-interfaces",
        q.as_deref(),
        user_interfaces(),
        &["name"],
    )
}

pub(crate) async fn user_interface(
    _: Caller,
    Path(id): Path<String>,
) -> Result<Json<Value>, Problem> {
    by_id(user_interfaces(), &id, "User interface")
}
