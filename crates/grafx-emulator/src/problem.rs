//! Error replies in the two shapes CHILI uses: RFC 7807 problem+json for the Environment API
//! (ASP.NET style, with a `type` link and a `traceId`), and Auth0's `{error, error_description}`
//! for the token endpoint.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use rand::RngCore;
use serde_json::json;

/// An RFC 7807 problem reply from the Environment API.
#[derive(Debug)]
pub(crate) struct Problem {
    status: StatusCode,
    detail: String,
    www_authenticate: Option<String>,
}

impl Problem {
    pub(crate) fn new(status: StatusCode, detail: impl Into<String>) -> Self {
        Self {
            status,
            detail: detail.into(),
            www_authenticate: None,
        }
    }
    pub(crate) fn bad_request(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, detail)
    }
    pub(crate) fn not_found(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, detail)
    }
    /// 401 with the `WWW-Authenticate` challenge an ASP.NET JWT bearer handler sends.
    pub(crate) fn invalid_token(description: &str) -> Self {
        Self {
            status: StatusCode::UNAUTHORIZED,
            detail: description.to_owned(),
            www_authenticate: Some(format!(
                "Bearer error=\"invalid_token\", error_description=\"{description}\""
            )),
        }
    }
    pub(crate) fn missing_token() -> Self {
        Self {
            status: StatusCode::UNAUTHORIZED,
            detail: "An Authorization: Bearer token is required.".into(),
            www_authenticate: Some("Bearer".into()),
        }
    }
}

fn type_link(status: StatusCode) -> &'static str {
    match status.as_u16() {
        400 => "https://tools.ietf.org/html/rfc9110#section-15.5.1",
        401 => "https://tools.ietf.org/html/rfc9110#section-15.5.2",
        403 => "https://tools.ietf.org/html/rfc9110#section-15.5.4",
        404 => "https://tools.ietf.org/html/rfc9110#section-15.5.5",
        405 => "https://tools.ietf.org/html/rfc9110#section-15.5.6",
        409 => "https://tools.ietf.org/html/rfc9110#section-15.5.10",
        413 => "https://tools.ietf.org/html/rfc9110#section-15.5.14",
        415 => "https://tools.ietf.org/html/rfc9110#section-15.5.16",
        500 => "https://tools.ietf.org/html/rfc9110#section-15.6.1",
        _ => "about:blank",
    }
}

fn trace_id() -> String {
    let mut b = [0u8; 24];
    rand::rng().fill_bytes(&mut b);
    let hex: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!("00-{}-{}-00", &hex[..32], &hex[32..])
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let body = json!({
            "type": type_link(self.status),
            "title": self.status.canonical_reason().unwrap_or("Error"),
            "status": self.status.as_u16(),
            "detail": self.detail,
            "traceId": trace_id(),
        });
        let mut res = (self.status, body.to_string()).into_response();
        res.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        if let Some(challenge) = self
            .www_authenticate
            .and_then(|c| HeaderValue::from_str(&c).ok())
        {
            res.headers_mut()
                .insert(header::WWW_AUTHENTICATE, challenge);
        }
        res
    }
}

/// An Auth0-shaped error reply from `/oauth/token`.
pub(crate) fn auth0_error(status: StatusCode, error: &str, description: &str) -> Response {
    let body = json!({ "error": error, "error_description": description });
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}
