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

use crate::config::{ClientSpec, AUDIENCE};
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

/// `POST /oauth/token`, checked in Auth0's order: rate limit, body, grant type, client, audience.
pub(crate) async fn token(
    State(em): State<Emulator>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let checked = check_rate(&em)
        .and_then(|()| read_request(&headers, body))
        .and_then(|req| {
            check_grant_type(&req)?;
            let client = authenticate(&em, &req)?;
            check_audience(&req)?;
            Ok(client)
        });
    match checked {
        Ok(client) => grant(&em, &client),
        Err(refusal) => refusal.into_response(),
    }
}

/// An Auth0 error reply: `{"error", "error_description"}`.
struct Refusal {
    status: StatusCode,
    error: &'static str,
    description: String,
    retry_after: Option<u64>,
}

impl Refusal {
    fn new(status: StatusCode, error: &'static str, description: impl Into<String>) -> Self {
        Self {
            status,
            error,
            description: description.into(),
            retry_after: None,
        }
    }
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        let mut res = auth0_error(self.status, self.error, &self.description);
        if let Some(secs) = self.retry_after {
            res.headers_mut().insert(header::RETRY_AFTER, secs.into());
        }
        res
    }
}

/// Auth0's global rate limit: 429 with `Retry-After`.
fn check_rate(em: &Emulator) -> Result<(), Refusal> {
    em.check_token_rate().map_err(|retry_after| Refusal {
        retry_after: Some(retry_after.as_secs().max(1)),
        ..Refusal::new(
            StatusCode::TOO_MANY_REQUESTS,
            "too_many_requests",
            "Global limit has been reached",
        )
    })
}

/// The request's parameters, from a JSON or form body and `client_secret_basic`.
fn read_request(
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<TokenRequest, Refusal> {
    let body = match body {
        Ok(b) => b,
        Err(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            return Err(Refusal::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "invalid_request",
                format!("Request body is larger than {MAX_TOKEN_BODY} bytes"),
            ))
        }
        Err(e) => {
            return Err(Refusal::new(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                e.body_text(),
            ))
        }
    };
    let mut req = parse_body(headers, &body)
        .map_err(|msg| Refusal::new(StatusCode::BAD_REQUEST, "invalid_request", msg))?;
    // client_secret_basic, which Auth0 also accepts.
    if let Some((id, secret)) = basic_credentials(headers) {
        req.client_id.get_or_insert(id);
        req.client_secret.get_or_insert(secret);
    }
    Ok(req)
}

fn check_grant_type(req: &TokenRequest) -> Result<(), Refusal> {
    match req.grant_type.as_deref() {
        None | Some("") => Err(Refusal::new(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "Missing required parameter: grant_type",
        )),
        Some("client_credentials") => Ok(()),
        Some(other) => Err(Refusal::new(
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            format!("Grant type '{other}' not allowed for the client."),
        )),
    }
}

/// The client whose id and secret the request carries.
fn authenticate(em: &Emulator, req: &TokenRequest) -> Result<ClientSpec, Refusal> {
    let Some(client_id) = req.client_id.as_deref().filter(|c| !c.is_empty()) else {
        return Err(Refusal::new(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "Missing required parameter: client_id",
        ));
    };
    let client = em.world().clients.get(client_id).cloned();
    client
        .filter(|c| Some(&c.secret) == req.client_secret.as_ref())
        .ok_or_else(|| {
            tracing::info!(client_id, "token request with bad credentials");
            Refusal::new(StatusCode::UNAUTHORIZED, "access_denied", "Unauthorized")
        })
}

fn check_audience(req: &TokenRequest) -> Result<(), Refusal> {
    match req.audience.as_deref() {
        None | Some("") => Err(Refusal::new(
            StatusCode::FORBIDDEN,
            "access_denied",
            "No audience parameter was provided, and no default audience has been configured",
        )),
        Some(AUDIENCE) => Ok(()),
        Some(other) => Err(Refusal::new(
            StatusCode::FORBIDDEN,
            "access_denied",
            format!("Service not found: {other}"),
        )),
    }
}

/// Mints (or re-serves) the client's token, with Auth0's no-store headers.
fn grant(em: &Emulator, client: &ClientSpec) -> Response {
    let now = em.now();
    let issuer = format!("{}/", em.base_url());
    let grant = {
        let mut world = em.world();
        let settings = world.settings.clone();
        world.issuer.grant(client, now, &settings, &issuer)
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
