//! The request journal: the last API requests the emulator received (method, path, query, body),
//! so that tests can check what a client put on the wire, not only what it got back.
//! `GET /_emulator/requests` lists them, `DELETE /_emulator/requests` clears them.

use std::collections::VecDeque;

use axum::body::{to_bytes, Body};
use axum::extract::{OriginalUri, Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::api::MAX_API_BODY;
use crate::problem::Problem;
use crate::Emulator;

/// How many requests the journal keeps (oldest dropped first).
const CAPACITY: usize = 500;

/// One request as the emulator received it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecordedRequest {
    /// `GET`, `POST`, …
    pub method: String,
    /// The path relative to the Environment API root (`templates/…`), or from the server root
    /// (`/api/v1/…`) for Platform API routes.
    pub path: String,
    /// The raw query string, if any.
    pub query: Option<String>,
    /// Whether an `Authorization: Bearer …` header was sent (the token itself is not kept).
    pub bearer: bool,
    /// The `jti` claim of the bearer token sent, when it is JWT-shaped as the emulator's are:
    /// which token a request carried, without the token (a retry with a replacement is told
    /// from one that sent the refused token again).
    #[serde(default)]
    pub token_id: Option<String>,
    /// The request's content type, if any.
    pub content_type: Option<String>,
    /// The body: parsed JSON, else the text; null when empty.
    pub body: Value,
    /// The `Range` header, if any.
    #[serde(default)]
    pub range: Option<String>,
    /// The `Accept` header, if any.
    #[serde(default)]
    pub accept: Option<String>,
}

/// The bounded journal.
#[derive(Debug, Default)]
pub(crate) struct Journal {
    entries: VecDeque<RecordedRequest>,
}

impl Journal {
    pub(crate) fn push(&mut self, entry: RecordedRequest) {
        if self.entries.len() == CAPACITY {
            self.entries.pop_front();
        }
        self.entries.push_back(entry);
    }

    pub(crate) fn list(&self) -> Vec<RecordedRequest> {
        self.entries.iter().cloned().collect()
    }

    pub(crate) fn clear(&mut self) {
        self.entries.clear();
    }
}

/// Middleware that records each request (preflights are answered before it).
pub(crate) async fn record(State(em): State<Emulator>, req: Request, next: Next) -> Response {
    let (parts, body) = req.into_parts();
    let Ok(bytes) = to_bytes(body, MAX_API_BODY).await else {
        return Problem::new(
            axum::http::StatusCode::PAYLOAD_TOO_LARGE,
            format!("The request body is larger than {MAX_API_BODY} bytes."),
        )
        .into_response();
    };
    // Nested routers see their own part of the path; the original URI has all of it.
    let full = parts
        .extensions
        .get::<OriginalUri>()
        .map_or(parts.uri.path(), |o| o.0.path());
    let api_root = format!("/grafx/api/v1/environment/{}/", em.environment());
    let path = full.strip_prefix(&api_root).unwrap_or(full).to_owned();
    let body_value = if bytes.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&bytes)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()))
    };
    let header_str = |name| {
        parts
            .headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let authorization = header_str(header::AUTHORIZATION);
    em.record_request(RecordedRequest {
        method: parts.method.to_string(),
        path,
        query: parts.uri.query().map(str::to_owned),
        bearer: authorization
            .as_deref()
            .is_some_and(|a| a.to_ascii_lowercase().starts_with("bearer ")),
        token_id: authorization.as_deref().and_then(token_id),
        content_type: header_str(header::CONTENT_TYPE),
        body: body_value,
        range: header_str(header::RANGE),
        accept: header_str(header::ACCEPT),
    });
    next.run(Request::from_parts(parts, Body::from(bytes)))
        .await
}

/// The `jti` claim of `authorization`'s bearer token, read from its payload without checking its
/// signature (the journal names tokens; the API checks them). Found by its text rather than by
/// parsing the claims: the journal sees every API request, and the bench shares its core.
fn token_id(authorization: &str) -> Option<String> {
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine;
    let (scheme, token) = authorization.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return None;
    }
    let payload = URL_SAFE_NO_PAD.decode(token.split('.').nth(1)?).ok()?;
    let payload = std::str::from_utf8(&payload).ok()?;
    let (_, after) = payload.split_once(r#""jti":""#)?;
    let (id, _) = after.split_once('"')?;
    Some(id.to_owned())
}

#[cfg(test)]
mod tests {
    use super::token_id;

    #[test]
    fn a_token_is_named_by_its_jti() {
        use base64::engine::general_purpose::URL_SAFE_NO_PAD;
        use base64::Engine;
        let payload = URL_SAFE_NO_PAD.encode(r#"{"aud":"x","jti":"kaIVDRVY","sub":"y"}"#);
        let token = format!("eyJhbGciOiJub25lIn0.{payload}.c2ln");
        assert_eq!(
            token_id(&format!("Bearer {token}")).as_deref(),
            Some("kaIVDRVY")
        );
        assert_eq!(
            token_id(&format!("bearer {token}")).as_deref(),
            Some("kaIVDRVY")
        );
        assert_eq!(token_id(&format!("Basic {token}")), None);
        assert_eq!(token_id("Bearer opaque-token"), None);
        let no_jti = URL_SAFE_NO_PAD.encode(r#"{"aud":"x"}"#);
        assert_eq!(token_id(&format!("Bearer a.{no_jti}.b")), None);
    }
}
