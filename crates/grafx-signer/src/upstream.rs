//! The upstream call: one client-credentials token request to CHILI's auth server.
//!
//! It sits behind the [`TokenSource`] trait so tests (and other transports) can swap it. The real
//! one uses reqwest with rustls, follows no redirects (a redirect could carry the request to a
//! host nobody configured), sends the JSON body CHILI's docs show, bounds the reply size and lets
//! grafx-core validate it. Retries are the cache's job; this is exactly one attempt.

use std::time::Duration;

use async_trait::async_trait;
use grafx_core::{ErrorCode, TokenGrant};
use serde_json::json;

use crate::Integration;

/// The largest token reply read (a real one is about 1 KiB).
const MAX_REPLY_BYTES: usize = 64 * 1024;
/// The `Retry-After` advertised when upstream gave none.
const DEFAULT_RETRY_AFTER: Duration = Duration::from_secs(5);

/// Why a token could not be obtained. Messages say what to check and never contain a secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum UpstreamError {
    /// The auth server refused the credentials or the request (4xx other than 429). Not retried.
    #[error(
        "CHILI's auth server refused integration `{integration}` (HTTP {status} {code}): check its client id, \
         its secret and that the integration still exists in GraFx"
    )]
    Rejected {
        /// The integration name.
        integration: String,
        /// The HTTP status.
        status: u16,
        /// Auth0's `error` code, if any.
        code: String,
    },
    /// 429 from the auth server.
    #[error("CHILI's auth server is rate limiting token requests (HTTP 429)")]
    RateLimited {
        /// Its `Retry-After`, if any.
        retry_after: Option<Duration>,
    },
    /// 5xx from the auth server.
    #[error("CHILI's auth server failed (HTTP {status})")]
    Unavailable {
        /// The HTTP status.
        status: u16,
        /// Its `Retry-After`, if any.
        retry_after: Option<Duration>,
    },
    /// No call was made: the signer is holding back after CHILI's last failure (its
    /// `Retry-After`, the failure backoff or the per-minute attempt budget). Says what CHILI
    /// last answered, never a status it did not send.
    #[error("the signer is not asking CHILI's auth server again for {}s after its last failure: {last}", .retry_after.as_secs().max(1))]
    HeldBack {
        /// CHILI's last failure.
        last: Box<UpstreamError>,
        /// When the signer asks again.
        retry_after: Duration,
    },
    /// No reply within the timeout.
    #[error("CHILI's auth server did not answer within {0:?}")]
    Timeout(Duration),
    /// Connection refused, reset, DNS or TLS failure.
    #[error("cannot reach CHILI's auth server: {0}")]
    Network(String),
    /// A reply that is not a valid token reply (HTML, malformed JSON, wrong token type…).
    #[error("CHILI's auth server sent an invalid token reply: {0}")]
    InvalidReply(String),
}

impl UpstreamError {
    /// The signer error code this becomes.
    pub fn code(&self) -> ErrorCode {
        match self {
            Self::Rejected { .. } => ErrorCode::UpstreamRejected,
            // Held back after a refusal is still a refusal.
            Self::HeldBack { last, .. } => last.code(),
            _ => ErrorCode::UpstreamUnavailable,
        }
    }

    /// Whether another attempt may succeed (never for credential errors).
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::Rejected { .. } => false,
            Self::HeldBack { last, .. } => last.is_retryable(),
            _ => true,
        }
    }

    /// How long to wait before asking again: upstream's own `Retry-After`, else a default.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Self::Rejected { .. } => None,
            Self::RateLimited { retry_after } | Self::Unavailable { retry_after, .. } => {
                Some(retry_after.unwrap_or(DEFAULT_RETRY_AFTER))
            }
            // A refusal advertises no retry time, held back or not.
            Self::HeldBack { last, retry_after } => last.retry_after().map(|_| *retry_after),
            _ => Some(DEFAULT_RETRY_AFTER),
        }
    }

    /// The answer while the signer holds back after this failure for `wait`.
    pub(crate) fn held_back(&self, wait: Duration) -> Self {
        let last = match self {
            Self::HeldBack { last, .. } => last.clone(),
            other => Box::new(other.clone()),
        };
        Self::HeldBack {
            last,
            retry_after: wait,
        }
    }

    /// Upstream's own `Retry-After`, which must be honoured before asking again.
    pub(crate) fn upstream_retry_after(&self) -> Option<Duration> {
        match self {
            Self::RateLimited { retry_after } | Self::Unavailable { retry_after, .. } => {
                *retry_after
            }
            _ => None,
        }
    }

    /// A short label for metrics.
    pub(crate) fn label(&self) -> &'static str {
        match self {
            Self::Rejected { .. } => "rejected",
            Self::RateLimited { .. } => "rate_limited",
            Self::Unavailable { .. } => "unavailable",
            Self::HeldBack { .. } => "held_back",
            Self::Timeout(_) => "timeout",
            Self::Network(_) => "network",
            Self::InvalidReply(_) => "invalid_reply",
        }
    }
}

/// Something that can obtain a token for an integration.
#[async_trait]
pub trait TokenSource: Send + Sync + 'static {
    /// One attempt to obtain a token.
    async fn fetch(&self, integration: &Integration) -> Result<TokenGrant, UpstreamError>;
}

/// CHILI's auth server over HTTPS.
#[derive(Debug, Clone)]
pub struct ChiliAuthClient {
    http: reqwest::Client,
    timeout: Duration,
}

impl ChiliAuthClient {
    /// A client with this per-request timeout, trusting Mozilla's roots and `SSL_CERT_FILE`'s.
    pub fn new(timeout: Duration) -> Result<Self, crate::Error> {
        let http = crate::tls::client_builder()?
            .redirect(reqwest::redirect::Policy::none())
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(5)))
            .user_agent(concat!("grafx-signer/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| {
                crate::Error::config(
                    crate::Setting::Derived("the upstream HTTP client"),
                    format!("cannot build the HTTP client: {e}"),
                )
            })?;
        Ok(Self { http, timeout })
    }
}

/// `e` and the chain of errors that caused it, joined by ": ".
pub(crate) fn with_causes(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        let more = c.to_string();
        if !text.contains(&more) {
            text.push_str(": ");
            text.push_str(&more);
        }
        cause = c.source();
    }
    text
}

/// Upstream's `Retry-After`, at most an hour.
fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    let v = headers.get(reqwest::header::RETRY_AFTER)?.to_str().ok()?;
    retry_after_value(v, std::time::SystemTime::now())
}

/// A `Retry-After` value as a wait from `now`: delay-seconds or an HTTP date (RFC 9110 allows
/// both; a date in the past means now), at most an hour; `None` for anything else.
fn retry_after_value(v: &str, now: std::time::SystemTime) -> Option<Duration> {
    let v = v.trim();
    let wait = if !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()) {
        // More digits than a u64 holds is still "later than the cap".
        Duration::from_secs(v.parse::<u64>().unwrap_or(u64::MAX))
    } else {
        httpdate::parse_http_date(v)
            .ok()?
            .duration_since(now)
            .unwrap_or(Duration::ZERO)
    };
    Some(wait.min(Duration::from_secs(3600)))
}

#[async_trait]
impl TokenSource for ChiliAuthClient {
    async fn fetch(&self, integration: &Integration) -> Result<TokenGrant, UpstreamError> {
        let body = json!({
            "grant_type": "client_credentials",
            "audience": integration.audience,
            "client_id": integration.client_id,
            "client_secret": integration.client_secret.expose(),
        });
        let network = |e: reqwest::Error| {
            if e.is_timeout() {
                UpstreamError::Timeout(self.timeout)
            } else {
                // Without the URL and without the body: nothing secret is in this text. With its
                // causes ("invalid peer certificate: UnknownIssuer"), which say what to fix.
                UpstreamError::Network(with_causes(&e.without_url()))
            }
        };
        let mut res = self
            .http
            .post(integration.auth_url.clone())
            .header("accept", "application/json")
            .json(&body)
            .send()
            .await
            .map_err(network)?;
        let status = res.status();
        let mut bytes = Vec::new();
        while let Some(chunk) = res.chunk().await.map_err(network)? {
            if bytes.len() + chunk.len() > MAX_REPLY_BYTES {
                return Err(UpstreamError::InvalidReply(format!(
                    "reply larger than {MAX_REPLY_BYTES} bytes"
                )));
            }
            bytes.extend_from_slice(&chunk);
        }
        if status.is_success() {
            return TokenGrant::from_json(&bytes)
                .map_err(|e| UpstreamError::InvalidReply(e.to_string()));
        }
        if status.as_u16() == 429 {
            return Err(UpstreamError::RateLimited {
                retry_after: retry_after(res.headers()),
            });
        }
        if status.is_server_error() {
            return Err(UpstreamError::Unavailable {
                status: status.as_u16(),
                retry_after: retry_after(res.headers()),
            });
        }
        if status.is_redirection() {
            return Err(UpstreamError::InvalidReply(format!(
                "HTTP {status} redirect, which is not followed; check the auth URL"
            )));
        }
        let code = serde_json::from_slice::<serde_json::Value>(&bytes)
            .ok()
            .and_then(|v| v.get("error").and_then(|e| e.as_str()).map(str::to_owned))
            .unwrap_or_default();
        Err(UpstreamError::Rejected {
            integration: integration.name.clone(),
            status: status.as_u16(),
            code,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_reads_seconds_and_http_dates() {
        let now = httpdate::parse_http_date("Sat, 05 Dec 2026 20:00:00 GMT").unwrap();
        let secs = |s: u64| Some(Duration::from_secs(s));
        assert_eq!(retry_after_value(" 120 ", now), secs(120));
        assert_eq!(
            retry_after_value("Sat, 05 Dec 2026 20:02:00 GMT", now),
            secs(120)
        );
        assert_eq!(
            retry_after_value("Sat, 05 Dec 2026 19:00:00 GMT", now),
            secs(0),
            "a date in the past means now"
        );
        assert_eq!(
            retry_after_value("86400", now),
            secs(3600),
            "at most an hour"
        );
        assert_eq!(
            retry_after_value("Sun, 06 Dec 2026 20:00:00 GMT", now),
            secs(3600)
        );
        assert_eq!(
            retry_after_value("99999999999999999999999", now),
            secs(3600)
        );
        assert_eq!(retry_after_value("soon", now), None);
        assert_eq!(retry_after_value("-5", now), None);
        assert_eq!(
            retry_after_value("+5", now),
            None,
            "delay-seconds is digits only"
        );
        assert_eq!(retry_after_value("", now), None);
    }
}
