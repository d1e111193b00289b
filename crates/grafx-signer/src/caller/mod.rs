//! Caller authentication: only the app's signed-in users get tokens.
//!
//! The origin check and `X-CSRF` stop other websites; they do not stop an anonymous visitor of an
//! allowed origin, nor a script that forges `Origin` outside a browser. With caller
//! authentication configured, `POST /token` also needs the app's own session, checked in one of
//! two ways:
//!
//! - **JWT**: the session token comes from `Authorization: Bearer …` or a named cookie and is
//!   verified with an HS256 secret, or with RS256/ES256 keys from a JWKS URL (cached; fetched
//!   again when an unknown `kid` appears, at most once per [`JWKS_MIN_REFETCH`]). `exp` and `nbf`
//!   are checked with a small leeway, `iss` and `aud` when configured; an algorithm that is not
//!   configured, and `none`, are refused.
//! - **Forward auth**: the caller's `Cookie` and `Authorization` go to the app's URL, as nginx
//!   `auth_request` does: 2xx allows (a reply header may name the user), 401/403 refuses, anything
//!   else refuses with 503 — never lets the caller in. Decisions are cached briefly per credential
//!   hash.
//!
//! ```
//! use grafx_signer::{CallerConfig, CallerMethod, SessionKey};
//!
//! let config = CallerConfig::new(CallerMethod::JwtSecret(SessionKey::new("app-session-secret".into())))
//!     .with_cookie("session")
//!     .with_issuer("https://login.example.com/");
//! assert!(format!("{config:?}").contains("[redacted]"));
//! ```

mod config;
mod forward_auth;
mod jwks;
mod jwt;
mod refusal;

use std::sync::Arc;
use std::time::Duration;

use axum::http::HeaderMap;
use grafx_core::Timestamp;
use parking_lot::Mutex;

pub use config::{Caller, CallerConfig, CallerMethod};
pub use refusal::{CallerRefusal, RefusalReason};

use crate::Clock;
use forward_auth::DecisionCache;
use jwks::JwksCache;

/// JWKS are fetched again for an unknown `kid` at most this often.
pub const JWKS_MIN_REFETCH: Duration = Duration::from_secs(10);
/// Cached JWKS are fetched again after this long, so a key the identity provider withdrew stops
/// being trusted (if that fetch fails, the cached keys stay in use).
pub const JWKS_MAX_AGE: Duration = Duration::from_secs(600);
/// Clock skew allowed on `exp` and `nbf`.
pub const CALLER_LEEWAY: Duration = Duration::from_secs(30);
/// The largest JWKS or forward-auth reply read.
const MAX_REPLY_BYTES: usize = 256 * 1024;
/// Forward-auth decisions kept at most; the oldest goes first.
const MAX_CACHED_DECISIONS: usize = 10_000;
/// Forward-auth requests in flight at most; more callers wait for a slot (within the timeout).
pub const MAX_FORWARD_AUTH_IN_FLIGHT: usize = 32;

/// The runtime side of a [`CallerConfig`]: key and decision caches, an HTTP client.
pub(crate) struct CallerAuth {
    config: CallerConfig,
    http: reqwest::Client,
    /// The cached keys: locked only to read or replace them, never across a fetch, so a slow
    /// JWKS endpoint cannot hold up sessions whose key is known.
    jwks: Mutex<JwksCache>,
    /// One JWKS fetch at a time.
    jwks_fetch: tokio::sync::Mutex<()>,
    /// Approved sessions, and refusals in a smaller cache of their own: a flood of junk cookies
    /// can only evict other refusals, never a signed-in user's approval.
    decisions: Mutex<DecisionCache>,
    refusals: Mutex<DecisionCache>,
    /// How long a caller may wait for a forward-auth slot (the HTTP timeout).
    timeout: Duration,
    /// Session expiry, cached decisions and JWKS ages are judged on this clock.
    clock: Arc<dyn Clock>,
    /// Bounds concurrent forward-auth requests, so a flood of new cookies cannot flood the app.
    forward_auth_slots: tokio::sync::Semaphore,
}

impl std::fmt::Debug for CallerAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CallerAuth")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

/// Whether something made `at` is younger than `max_age` at `now`. A `now` before `at` (the
/// wall clock stepped back) counts as old, so cached trust never outlives its age limit.
fn younger_than(at: Timestamp, max_age: Duration, now: Timestamp) -> bool {
    now >= at && now.since(at) < max_age
}

/// The token of an `Authorization: Bearer …` header (the `headers` crate's parser).
fn bearer(headers: &HeaderMap) -> Option<String> {
    use axum_extra::headers::{authorization::Bearer, Authorization, HeaderMapExt};
    headers
        .typed_get::<Authorization<Bearer>>()
        .map(|a| a.token().trim().to_owned())
        .filter(|t| !t.is_empty())
}

/// The value of the named cookie (axum-extra's `CookieJar` parser).
fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    axum_extra::extract::CookieJar::from_headers(headers)
        .get(name)
        .map(|c| c.value_trimmed().to_owned())
        .filter(|v| !v.is_empty())
}

impl CallerAuth {
    pub(crate) fn new(
        config: CallerConfig,
        timeout: Duration,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, crate::Error> {
        let http = crate::tls::client_builder()?
            .redirect(reqwest::redirect::Policy::none())
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(3)))
            .build()
            .map_err(|e| {
                crate::Error::config(
                    crate::Setting::Derived("the caller check's HTTP client"),
                    format!("cannot build the HTTP client: {e}"),
                )
            })?;
        Ok(Self {
            config,
            http,
            jwks: Mutex::new(JwksCache::default()),
            jwks_fetch: tokio::sync::Mutex::new(()),
            decisions: Mutex::new(DecisionCache::new(MAX_CACHED_DECISIONS)),
            refusals: Mutex::new(DecisionCache::new(MAX_CACHED_DECISIONS / 10)),
            timeout,
            clock,
            forward_auth_slots: tokio::sync::Semaphore::new(MAX_FORWARD_AUTH_IN_FLIGHT),
        })
    }

    /// Checks the request's session.
    pub(crate) async fn check(&self, headers: &HeaderMap) -> Result<Caller, CallerRefusal> {
        match &self.config.method {
            CallerMethod::ForwardAuth {
                url,
                user_header,
                cache_for,
            } => {
                self.forward_auth(headers, url, user_header.as_deref(), *cache_for)
                    .await
            }
            method => {
                let token = bearer(headers)
                    .or_else(|| {
                        self.config
                            .cookie
                            .as_deref()
                            .and_then(|name| cookie(headers, name))
                    })
                    .ok_or_else(|| {
                        let wherefrom = match &self.config.cookie {
                            Some(c) => format!("an `Authorization: Bearer` header or the `{c}` cookie"),
                            None => "an `Authorization: Bearer` header".to_owned(),
                        };
                        CallerRefusal::unauthenticated(
                            RefusalReason::Missing,
                            format!("sign in first: this signer hands tokens only to signed-in users, and the request has no session ({wherefrom})"),
                        )
                    })?;
                let subject = match method {
                    CallerMethod::JwtSecret(secret) => self.verify_hs256(&token, secret)?,
                    _ => self.verify_jwks(&token).await?,
                };
                Ok(Caller { subject })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::header;

    #[test]
    fn ages_count_a_clock_stepped_back_as_old() {
        let at = Timestamp::from_millis(1_000_000);
        let ttl = Duration::from_secs(30);
        assert!(younger_than(at, ttl, at));
        assert!(younger_than(
            at,
            ttl,
            at.saturating_add(Duration::from_secs(29))
        ));
        assert!(!younger_than(at, ttl, at.saturating_add(ttl)));
        assert!(
            !younger_than(at, ttl, Timestamp::from_millis(999_000)),
            "the clock went back 1 s"
        );
    }

    #[test]
    fn bearer_and_cookie_extraction() {
        let mut h = HeaderMap::new();
        h.insert(header::AUTHORIZATION, "Bearer abc".parse().unwrap());
        h.append(header::COOKIE, "a=1; session=xyz; b=2".parse().unwrap());
        assert_eq!(bearer(&h).as_deref(), Some("abc"));
        assert_eq!(cookie(&h, "session").as_deref(), Some("xyz"));
        assert_eq!(cookie(&h, "sess"), None);
        // The scheme is case-insensitive; quoted cookie values are unquoted.
        h.insert(header::AUTHORIZATION, "bearer abc".parse().unwrap());
        assert_eq!(bearer(&h).as_deref(), Some("abc"));
        h.append(header::COOKIE, "quoted=\"q1\"".parse().unwrap());
        assert_eq!(cookie(&h, "quoted").as_deref(), Some("q1"));
        h.insert(header::AUTHORIZATION, "Basic abc".parse().unwrap());
        assert_eq!(bearer(&h), None);
        h.insert(header::AUTHORIZATION, "Bearer ".parse().unwrap());
        assert_eq!(bearer(&h), None);
    }
}
