//! `POST /oauth/token`: Auth0's client-credentials grant as CHILI runs it.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde::Deserialize;
use serde_json::json;

use crate::config::AUDIENCE;
use crate::problem::auth0_error;
use crate::Emulator;

/// The largest token request body accepted.
pub(crate) const MAX_TOKEN_BODY: usize = 16 * 1024;

#[derive(Debug, Default, Deserialize)]
struct TokenRequest {
    grant_type: Option<String>,
    client_id: Option<String>,
    client_secret: Option<String>,
    audience: Option<String>,
}

pub(crate) async fn token(
    State(em): State<Emulator>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    if let Err(retry_after) = em.check_token_rate() {
        let mut res = auth0_error(
            StatusCode::TOO_MANY_REQUESTS,
            "too_many_requests",
            "Global limit has been reached",
        );
        res.headers_mut()
            .insert(header::RETRY_AFTER, retry_after.as_secs().max(1).into());
        return res;
    }
    let body = match body {
        Ok(b) => b,
        Err(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            return auth0_error(
                StatusCode::PAYLOAD_TOO_LARGE,
                "invalid_request",
                &format!("Request body is larger than {MAX_TOKEN_BODY} bytes"),
            )
        }
        Err(e) => return auth0_error(StatusCode::BAD_REQUEST, "invalid_request", &e.body_text()),
    };
    let mut req = match parse_body(&headers, &body) {
        Ok(r) => r,
        Err(msg) => return auth0_error(StatusCode::BAD_REQUEST, "invalid_request", &msg),
    };
    // client_secret_basic, which Auth0 also accepts.
    if let Some((id, secret)) = basic_credentials(&headers) {
        req.client_id.get_or_insert(id);
        req.client_secret.get_or_insert(secret);
    }

    match req.grant_type.as_deref() {
        None | Some("") => {
            return auth0_error(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                "Missing required parameter: grant_type",
            )
        }
        Some("client_credentials") => {}
        Some(other) => {
            return auth0_error(
                StatusCode::BAD_REQUEST,
                "unsupported_grant_type",
                &format!("Grant type '{other}' not allowed for the client."),
            )
        }
    }
    let Some(client_id) = req.client_id.filter(|c| !c.is_empty()) else {
        return auth0_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "Missing required parameter: client_id",
        );
    };
    let client = em.world().clients.get(&client_id).cloned();
    let Some(client) = client.filter(|c| Some(&c.secret) == req.client_secret.as_ref()) else {
        tracing::info!(client_id, "token request with bad credentials");
        return auth0_error(StatusCode::UNAUTHORIZED, "access_denied", "Unauthorized");
    };
    match req.audience.as_deref() {
        None | Some("") => {
            return auth0_error(
                StatusCode::FORBIDDEN,
                "access_denied",
                "No audience parameter was provided, and no default audience has been configured",
            )
        }
        Some(AUDIENCE) => {}
        Some(other) => {
            return auth0_error(
                StatusCode::FORBIDDEN,
                "access_denied",
                &format!("Service not found: {other}"),
            )
        }
    }

    let now = em.now();
    let issuer = format!("{}/", em.base_url());
    let grant = {
        let mut world = em.world();
        let settings = world.settings.clone();
        world.issuer.grant(&client, now, &settings, &issuer)
    };
    let body = json!({
        "access_token": grant.access_token,
        "scope": grant.scope.to_string(),
        "expires_in": grant.expires_in,
        "token_type": "Bearer",
    });
    (
        StatusCode::OK,
        [
            (header::CONTENT_TYPE, "application/json"),
            (header::CACHE_CONTROL, "no-store"),
            (header::PRAGMA, "no-cache"),
        ],
        body.to_string(),
    )
        .into_response()
}

fn parse_body(headers: &HeaderMap, body: &[u8]) -> Result<TokenRequest, String> {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| {
            v.split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase()
        })
        .unwrap_or_default();
    match content_type.as_str() {
        "application/json" => serde_json::from_slice(body).map_err(|e| format!("Invalid JSON body: {e}")),
        "application/x-www-form-urlencoded" => {
            serde_urlencoded::from_bytes(body).map_err(|e| format!("Invalid form body: {e}"))
        }
        "" if body.is_empty() => Ok(TokenRequest::default()),
        other => Err(format!(
            "Unsupported Content-Type '{other}': use application/json or application/x-www-form-urlencoded"
        )),
    }
}

fn basic_credentials(headers: &HeaderMap) -> Option<(String, String)> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let encoded = value
        .strip_prefix("Basic ")
        .or_else(|| value.strip_prefix("basic "))?;
    let decoded = String::from_utf8(STANDARD.decode(encoded.trim()).ok()?).ok()?;
    let (id, secret) = decoded.split_once(':')?;
    Some((id.to_owned(), secret.to_owned()))
}
