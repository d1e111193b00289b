//! The signer's errors: configuration problems (fail fast at start) and the HTTP error replies.

use std::time::Duration;

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use grafx_core::{ErrorBody, ErrorCode};

use crate::upstream::UpstreamError;

/// What can go wrong configuring or starting the signer. Every message names the field to fix.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A configuration value is missing or invalid.
    #[error("invalid configuration: {field}: {message}")]
    Config {
        /// The field (flag, environment variable or TOML key) at fault.
        field: String,
        /// What is wrong and how to fix it.
        message: String,
    },
    /// The TOML file could not be read or parsed.
    #[error("cannot load config file {path}: {message}")]
    ConfigFile {
        /// The file.
        path: String,
        /// What went wrong.
        message: String,
    },
    /// A token could not be obtained (for `grafx-signer token` and `check`).
    #[error(transparent)]
    Upstream(#[from] UpstreamError),
    /// Binding or serving failed.
    #[error("cannot serve: {0}")]
    Io(#[from] std::io::Error),
}

impl Error {
    pub(crate) fn config(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::Config {
            field: field.into(),
            message: message.into(),
        }
    }
}

/// An error reply: `{"error": code, "error_description": text}` with the code's HTTP status.
#[derive(Debug, Clone)]
pub struct AppError {
    /// The machine-readable code.
    pub code: ErrorCode,
    /// What happened and what to do about it. Never contains a secret.
    pub description: String,
    /// A `Retry-After` for 429 and 503 replies.
    pub retry_after: Option<Duration>,
    /// Extra headers (e.g. `Allow` on 405).
    pub allow: Option<&'static str>,
    /// A `WWW-Authenticate` challenge (401 `caller_unauthenticated`).
    pub www_authenticate: Option<String>,
}

impl AppError {
    /// An error with a code and a description.
    pub fn new(code: ErrorCode, description: impl Into<String>) -> Self {
        Self {
            code,
            description: description.into(),
            retry_after: None,
            allow: None,
            www_authenticate: None,
        }
    }

    /// Adds a `Retry-After`.
    pub fn retry_after(mut self, d: Duration) -> Self {
        self.retry_after = Some(d);
        self
    }

    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        self.code
            .http_status()
            .and_then(|s| StatusCode::from_u16(s).ok())
            .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }
}

impl From<UpstreamError> for AppError {
    fn from(e: UpstreamError) -> Self {
        let retry = e.retry_after();
        let err = AppError::new(e.code(), e.to_string());
        match retry {
            Some(d) => err.retry_after(d),
            None => err,
        }
    }
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        let status = self.status();
        let body = ErrorBody::new(self.code, self.description);
        let json = serde_json::to_string(&body).unwrap_or_default();
        let mut res = (status, [(header::CONTENT_TYPE, "application/json")], json).into_response();
        let headers = res.headers_mut();
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        if let Some(d) = self.retry_after {
            // Round up: a client that waits the advertised time must not be early.
            let secs = d.as_secs() + u64::from(d.subsec_nanos() > 0);
            headers.insert(header::RETRY_AFTER, secs.max(1).into());
        }
        if let Some(allow) = self.allow {
            headers.insert(header::ALLOW, HeaderValue::from_static(allow));
        }
        if let Some(challenge) = self
            .www_authenticate
            .and_then(|c| HeaderValue::from_str(&c).ok())
        {
            headers.insert(header::WWW_AUTHENTICATE, challenge);
        }
        res
    }
}
