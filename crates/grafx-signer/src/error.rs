//! The signer's errors: configuration problems (fail fast at start) and the HTTP error replies.

use std::time::Duration;

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use grafx_core::{ErrorBody, ErrorCode};

use crate::upstream::UpstreamError;

/// Where a configuration value came from, named the way its user wrote it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Setting {
    /// A flag or its environment variable, named by the variable (`SIGNER_ALLOWED_ORIGINS`):
    /// both spellings set the same value, and deployments mostly use the variable.
    Env(String),
    /// A key of the TOML file (`integrations.reader.client_id`).
    Toml(String),
    /// A command-line argument of a sub-command (`--integration`).
    Arg(String),
    /// Something the signer builds from the configuration (its HTTP clients).
    Derived(&'static str),
}

impl Setting {
    /// The name alone: `SIGNER_ALLOWED_ORIGINS`, `integrations.reader.client_id`, `--integration`.
    pub fn name(&self) -> &str {
        match self {
            Self::Env(n) | Self::Toml(n) | Self::Arg(n) => n,
            Self::Derived(n) => n,
        }
    }
}

impl std::fmt::Display for Setting {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Env(n) => write!(f, "{n} (or its flag)"),
            Self::Toml(n) => write!(f, "`{n}` in the config file"),
            Self::Arg(n) => f.write_str(n),
            Self::Derived(n) => f.write_str(n),
        }
    }
}

/// A value that does not parse, and what to write instead. Library functions return it; the
/// configuration turns it into an [`Error::Config`] naming the setting the value came from. A
/// value that may hold a secret (a Redis URL) is never quoted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum InvalidValue {
    /// `*` in an origin list.
    #[error("`*` is not allowed; list each origin, or pass --dev-allow-any-origin for local development")]
    WildcardOrigin,
    /// Something that is not `scheme://host[:port]`.
    #[error(
        "`{0}` is not an origin; write it as scheme://host[:port], e.g. https://app.example.com"
    )]
    NotAnOrigin(String),
    /// An empty origin list.
    #[error("at least one origin is required")]
    NoOrigin,
    /// A browser scope policy that is neither `read-only` nor `resource:action` scopes.
    #[error(
        "invalid browser scopes `{0}`: use \"read-only\" or a list of scopes such as template:read"
    )]
    BrowserScopes(String),
    /// A token store key that is not 256 bits.
    #[error("must hold a 256-bit key: 64 hex digits or 32 bytes in base64 (e.g. `openssl rand -hex 32`)")]
    StoreKey,
    /// A Redis URL the client cannot use, and why (the URL itself is not quoted: it may hold a
    /// password).
    #[error("is not a usable Redis URL ({0}): write redis://[:password@]host:6379/0, rediss://… for TLS, or redis+unix:///path/to/socket (valkey:// likewise)")]
    RedisUrl(RedisUrlProblem),
}

/// Why a Redis URL is not usable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RedisUrlProblem {
    /// It does not parse as a URL.
    #[error("not a URL")]
    NotAUrl,
    /// Not a scheme the Redis client opens.
    #[error("another scheme")]
    Scheme,
    /// A TCP scheme without a host.
    #[error("no host")]
    NoHost,
    /// A socket scheme without a path.
    #[error("no socket path")]
    NoSocketPath,
    /// The client's own refusal (its message, which does not quote the URL).
    #[error("the Redis client refuses it: {0}")]
    Refused(String),
}

/// What can go wrong configuring or starting the signer. Every message names the setting to fix.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A configuration value is missing or invalid.
    #[error("invalid configuration: {setting}: {message}")]
    Config {
        /// The setting at fault, as the user wrote it.
        setting: Setting,
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
    /// A configuration error about `setting`.
    pub(crate) fn config(setting: Setting, message: impl Into<String>) -> Self {
        Self::Config {
            setting,
            message: message.into(),
        }
    }

    /// A configuration error about the environment variable (or flag) `name`.
    pub(crate) fn env(name: impl Into<String>, message: impl Into<String>) -> Self {
        Self::config(Setting::Env(name.into()), message)
    }

    /// A configuration error about the TOML key `key`.
    pub(crate) fn toml(key: impl Into<String>, message: impl Into<String>) -> Self {
        Self::config(Setting::Toml(key.into()), message)
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
