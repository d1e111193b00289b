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
//! use grafx_signer::{CallerConfig, CallerMethod, ClientSecret};
//!
//! let config = CallerConfig::new(CallerMethod::JwtSecret(ClientSecret::new("app-session-secret".into())))
//!     .with_cookie("session")
//!     .with_issuer("https://login.example.com/");
//! assert!(format!("{config:?}").contains("[redacted]"));
//! ```

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use grafx_core::Timestamp;
use parking_lot::Mutex;

use axum::http::{header, HeaderMap, HeaderValue};
use jsonwebtoken::jwk::{Jwk, JwkSet};
use jsonwebtoken::{decode, decode_header, Algorithm, DecodingKey, Validation};
use serde::Deserialize;
use sha2::{Digest, Sha256};

use crate::{ClientSecret, Clock};

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

/// Forward-auth decisions by credential hash, in insertion order: at capacity the oldest entry is
/// evicted (all live equally long, so the oldest is also the first to expire), never the lot.
struct DecisionCache {
    capacity: usize,
    entries: HashMap<[u8; 32], (Timestamp, Decision)>,
    order: std::collections::VecDeque<[u8; 32]>,
}

impl DecisionCache {
    fn new(capacity: usize) -> Self {
        Self {
            capacity: capacity.max(1),
            entries: HashMap::new(),
            order: std::collections::VecDeque::new(),
        }
    }

    /// The decision for `key` while it is younger than `max_age`. A clock that went back past
    /// when it was made (an NTP step) expires it rather than stretching its life.
    fn get(&self, key: &[u8; 32], max_age: Duration, now: Timestamp) -> Option<Decision> {
        self.entries
            .get(key)
            .filter(|(at, _)| younger_than(*at, max_age, now))
            .map(|(_, d)| d.clone())
    }

    fn insert(&mut self, key: [u8; 32], decision: Decision, now: Timestamp) {
        if self.entries.insert(key, (now, decision)).is_none() {
            self.order.push_back(key);
        }
        while self.order.len() > self.capacity {
            if let Some(oldest) = self.order.pop_front() {
                self.entries.remove(&oldest);
            }
        }
    }
}

/// How a caller's session is checked.
#[derive(Clone, Debug)]
pub enum CallerMethod {
    /// A JWT signed with HS256 and this shared secret.
    JwtSecret(ClientSecret),
    /// A JWT signed with RS256 or ES256 by a key published at this JWKS URL.
    Jwks(url::Url),
    /// Ask the app: 2xx allows, 401/403 refuses.
    ForwardAuth {
        /// The app's check URL.
        url: url::Url,
        /// A reply header naming the user (for logs and per-user rate limits).
        user_header: Option<String>,
        /// How long a decision is reused for the same credentials.
        cache_for: Duration,
    },
}

/// Caller authentication for one integration (or all of them).
#[derive(Clone, Debug)]
pub struct CallerConfig {
    /// How the session is checked.
    pub method: CallerMethod,
    /// A cookie holding the session JWT (besides `Authorization: Bearer`).
    pub cookie: Option<String>,
    /// The required `iss`, when set.
    pub issuer: Option<String>,
    /// The required `aud`, when set.
    pub audience: Option<String>,
}

impl CallerConfig {
    /// A configuration with this method and nothing else.
    pub fn new(method: CallerMethod) -> Self {
        Self {
            method,
            cookie: None,
            issuer: None,
            audience: None,
        }
    }

    /// Also reads the session from this cookie.
    pub fn with_cookie(mut self, name: impl Into<String>) -> Self {
        self.cookie = Some(name.into());
        self
    }

    /// Requires this `iss`.
    pub fn with_issuer(mut self, iss: impl Into<String>) -> Self {
        self.issuer = Some(iss.into());
        self
    }

    /// Requires this `aud`.
    pub fn with_audience(mut self, aud: impl Into<String>) -> Self {
        self.audience = Some(aud.into());
        self
    }
}

/// Who is asking, once authenticated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    /// The user (`sub`, or the forward-auth user header), when known.
    pub subject: Option<String>,
}

/// Why a caller was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallerRefusal {
    /// No valid session: 401 `caller_unauthenticated`. `reason` labels the metric.
    Unauthenticated {
        /// A short metric label (`missing`, `expired`, `wrong_issuer`…).
        reason: &'static str,
        /// What is wrong, for the reply.
        message: String,
    },
    /// The check itself failed (JWKS or forward-auth endpoint down): 503
    /// `caller_check_unavailable`. The caller is refused, never let in.
    Unavailable {
        /// A short metric label.
        reason: &'static str,
        /// What failed.
        message: String,
    },
}

impl CallerRefusal {
    fn unauthenticated(reason: &'static str, message: impl Into<String>) -> Self {
        Self::Unauthenticated {
            reason,
            message: message.into(),
        }
    }

    fn unavailable(reason: &'static str, message: impl Into<String>) -> Self {
        Self::Unavailable {
            reason,
            message: message.into(),
        }
    }

    /// The metric label.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::Unauthenticated { reason, .. } | Self::Unavailable { reason, .. } => reason,
        }
    }
}

#[derive(Deserialize)]
struct Claims {
    sub: Option<String>,
    /// Checked on the signer's clock (not by jsonwebtoken, which reads the system's). Kept as
    /// written (`null` included) so that anything but a non-negative number is refused.
    #[serde(default, deserialize_with = "as_written")]
    exp: Option<serde_json::Value>,
    #[serde(default, deserialize_with = "as_written")]
    nbf: Option<serde_json::Value>,
}

/// A claim as written: `Some(Value::Null)` for `null`, `None` only when it is absent.
fn as_written<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Option<serde_json::Value>, D::Error> {
    serde_json::Value::deserialize(d).map(Some)
}

/// A NumericDate claim: a non-negative number of seconds; `Err` for anything else.
fn numeric_date(claim: Option<&serde_json::Value>) -> Result<Option<f64>, ()> {
    match claim {
        None => Ok(None),
        Some(v) => v.as_f64().filter(|t| *t >= 0.0).map(Some).ok_or(()),
    }
}

#[derive(Default)]
struct JwksCache {
    keys: Option<JwkSet>,
    fetched_at: Option<Timestamp>,
}

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

/// A forward-auth answer, cached per credentials.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Decision {
    /// The app accepted the session; the user, when its reply names one.
    Allowed { user: Option<String> },
    /// The app refused the session (401 or 403): the message for the browser.
    Refused { message: String },
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

/// The cache key of a caller's credentials: a hash of the Cookie and Authorization headers (the
/// credentials themselves are never kept).
fn credentials_digest(
    cookie: Option<&HeaderValue>,
    authorization: Option<&HeaderValue>,
) -> [u8; 32] {
    let mut hash = Sha256::new();
    for v in [cookie, authorization] {
        hash.update(v.map_or(&b""[..], |v| v.as_bytes()));
        hash.update([0]);
    }
    hash.finalize().into()
}

/// The key `kid` of `set`; a set of one key also serves a session without `kid`.
fn find_jwk(set: &JwkSet, kid: &str) -> Option<Jwk> {
    if kid.is_empty() && set.keys.len() == 1 {
        return set.keys.first().cloned();
    }
    set.find(kid).cloned()
}

fn unknown_key(kid: &str) -> CallerRefusal {
    CallerRefusal::unauthenticated(
        "unknown_key",
        format!("the session is signed with an unknown key (`{kid}`); sign in again"),
    )
}

fn jwks_unavailable(url: &url::Url) -> CallerRefusal {
    CallerRefusal::unavailable(
        "jwks_unavailable",
        format!("the session keys could not be fetched from {url}; try again shortly"),
    )
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
                            "missing",
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

    fn validation(&self, alg: Algorithm) -> Validation {
        let mut v = Validation::new(alg);
        // `exp` and `nbf` are checked in `decode_with`, on the signer's clock.
        v.validate_nbf = false;
        v.validate_exp = false;
        // A configured issuer or audience is a required claim: a session without one (or an OIDC
        // token minted for another app of the same tenant) is refused, not waved through.
        let mut required = vec!["exp"];
        match &self.config.issuer {
            Some(iss) => {
                v.set_issuer(&[iss]);
                required.push("iss");
            }
            None => v.iss = None,
        }
        match &self.config.audience {
            Some(aud) => {
                v.set_audience(&[aud]);
                required.push("aud");
            }
            None => v.validate_aud = false,
        }
        v.set_required_spec_claims(&required);
        v
    }

    fn decode_with(
        &self,
        token: &str,
        key: &DecodingKey,
        alg: Algorithm,
    ) -> Result<Option<String>, CallerRefusal> {
        use jsonwebtoken::errors::ErrorKind;
        match decode::<Claims>(token, key, &self.validation(alg)) {
            Ok(data) => {
                self.check_times(&data.claims)?;
                Ok(data.claims.sub)
            }
            Err(e) => {
                let (reason, what) = match e.kind() {
                    ErrorKind::ExpiredSignature => ("expired", "the session has expired"),
                    ErrorKind::ImmatureSignature => {
                        ("not_yet_valid", "the session is not valid yet (nbf)")
                    }
                    ErrorKind::InvalidIssuer => (
                        "wrong_issuer",
                        "the session was issued by another issuer (iss)",
                    ),
                    ErrorKind::InvalidAudience => (
                        "wrong_audience",
                        "the session is for another audience (aud)",
                    ),
                    ErrorKind::InvalidSignature => (
                        "invalid_signature",
                        "the session's signature does not verify",
                    ),
                    ErrorKind::MissingRequiredClaim(claim) => {
                        let what = match claim.as_str() {
                            "iss" => "the session has no issuer (iss), and one is required",
                            "aud" => "the session has no audience (aud), and one is required",
                            _ => "the session has no expiry (exp)",
                        };
                        ("missing_claim", what)
                    }
                    ErrorKind::InvalidAlgorithm => (
                        "algorithm_not_allowed",
                        "the session's algorithm is not the configured one",
                    ),
                    _ => ("malformed", "the session is not a valid JWT"),
                };
                Err(CallerRefusal::unauthenticated(
                    reason,
                    format!("{what}; sign in again"),
                ))
            }
        }
    }

    /// `exp` (required, checked by the validation) and `nbf`, with [`CALLER_LEEWAY`] either way.
    fn check_times(&self, claims: &Claims) -> Result<(), CallerRefusal> {
        let malformed = |claim: &str| {
            CallerRefusal::unauthenticated(
                "malformed",
                format!(
                    "the session's `{claim}` is not a date (seconds since 1970); sign in again"
                ),
            )
        };
        let exp = numeric_date(claims.exp.as_ref()).map_err(|()| malformed("exp"))?;
        let nbf = numeric_date(claims.nbf.as_ref()).map_err(|()| malformed("nbf"))?;
        let now = self.clock.now().as_millis() as f64 / 1000.0;
        let leeway = CALLER_LEEWAY.as_secs_f64();
        if exp.is_some_and(|exp| exp + leeway < now) {
            return Err(CallerRefusal::unauthenticated(
                "expired",
                "the session has expired; sign in again",
            ));
        }
        if nbf.is_some_and(|nbf| nbf - leeway > now) {
            return Err(CallerRefusal::unauthenticated(
                "not_yet_valid",
                "the session is not valid yet (nbf); sign in again",
            ));
        }
        Ok(())
    }

    fn header_alg(token: &str) -> Result<jsonwebtoken::Header, CallerRefusal> {
        // `alg: none` (and any algorithm this crate does not know) fails here.
        decode_header(token).map_err(|_| {
            CallerRefusal::unauthenticated(
                "malformed",
                "the session is not a valid JWT (or uses `alg: none`); sign in again",
            )
        })
    }

    fn verify_hs256(
        &self,
        token: &str,
        secret: &ClientSecret,
    ) -> Result<Option<String>, CallerRefusal> {
        let header = Self::header_alg(token)?;
        if header.alg != Algorithm::HS256 {
            return Err(CallerRefusal::unauthenticated(
                "algorithm_not_allowed",
                format!("sessions must be signed with HS256, not {:?}", header.alg),
            ));
        }
        let key = DecodingKey::from_secret(secret.expose().as_bytes()).map_err(|_| {
            CallerRefusal::unavailable("jwt_secret_invalid", "the session secret is not usable")
        })?;
        self.decode_with(token, &key, Algorithm::HS256)
    }

    async fn verify_jwks(&self, token: &str) -> Result<Option<String>, CallerRefusal> {
        let header = Self::header_alg(token)?;
        if !matches!(header.alg, Algorithm::RS256 | Algorithm::ES256) {
            return Err(CallerRefusal::unauthenticated(
                "algorithm_not_allowed",
                format!(
                    "sessions must be signed with RS256 or ES256, not {:?}",
                    header.alg
                ),
            ));
        }
        let kid = header.kid.clone().unwrap_or_default();
        let key = self.jwk(&kid).await?;
        let decoding = DecodingKey::from_jwk(&key).map_err(|_| {
            CallerRefusal::unavailable(
                "jwks_invalid",
                format!("the JWKS key `{kid}` is not usable"),
            )
        })?;
        // The key's own algorithm, when it declares one, must match the token's.
        if let Some(key_alg) = key.common.key_algorithm {
            // A key for an encryption algorithm (`RSA-OAEP`…) converts to no signing algorithm.
            if Algorithm::try_from(key_alg).ok() != Some(header.alg) {
                return Err(CallerRefusal::unauthenticated(
                    "algorithm_not_allowed",
                    "the session's algorithm does not match its key",
                ));
            }
        }
        self.decode_with(token, &decoding, header.alg)
    }

    /// The key `kid` from the cached JWKS, fetching it again (rate-limited) when unknown.
    async fn jwk(&self, kid: &str) -> Result<Jwk, CallerRefusal> {
        let CallerMethod::Jwks(url) = &self.config.method else {
            return Err(CallerRefusal::unavailable(
                "jwks_invalid",
                "no JWKS configured",
            ));
        };
        if let Some(k) = self.cached_jwk(&self.jwks_cache(), kid) {
            return Ok(k);
        }
        let _one_fetch = self.jwks_fetch.lock().await;
        {
            // Another caller may have fetched while this one waited.
            let mut cache = self.jwks_cache();
            if let Some(k) = self.cached_jwk(&cache, kid) {
                return Ok(k);
            }
            self.claim_jwks_fetch(&mut cache, url, kid)?;
        }
        let fetched = self.fetch_jwks(url).await;
        let mut cache = self.jwks_cache();
        match fetched {
            Ok(set) => {
                tracing::info!(jwks = %url, keys = set.keys.len(), "fetched the caller JWKS");
                let found = find_jwk(&set, kid);
                cache.keys = Some(set);
                found.ok_or_else(|| unknown_key(kid))
            }
            Err(e) => {
                tracing::warn!(jwks = %url, error = %e, "cannot fetch the caller JWKS");
                // An expired cache still beats refusing everyone while the provider is down.
                cache
                    .keys
                    .as_ref()
                    .and_then(|set| find_jwk(set, kid))
                    .ok_or_else(|| jwks_unavailable(url))
            }
        }
    }

    /// The key `kid` from a JWKS fetched less than `JWKS_MAX_AGE` ago.
    fn cached_jwk(&self, cache: &JwksCache, kid: &str) -> Option<Jwk> {
        let now = self.clock.now();
        let current = cache
            .fetched_at
            .is_some_and(|at| younger_than(at, JWKS_MAX_AGE, now));
        cache
            .keys
            .as_ref()
            .filter(|_| current)
            .and_then(|set| find_jwk(set, kid))
    }

    /// Marks a fetch as started, unless the last one was under `JWKS_MIN_REFETCH` ago: then the
    /// key is unknown (or the keys unavailable, when that fetch failed).
    fn claim_jwks_fetch(
        &self,
        cache: &mut JwksCache,
        url: &url::Url,
        kid: &str,
    ) -> Result<(), CallerRefusal> {
        let may_fetch = cache
            .fetched_at
            .is_none_or(|at| !younger_than(at, JWKS_MIN_REFETCH, self.clock.now()));
        if !may_fetch {
            // No keys at all means the last fetch failed: not the caller's fault.
            return Err(match cache.keys {
                None => jwks_unavailable(url),
                Some(_) => unknown_key(kid),
            });
        }
        cache.fetched_at = Some(self.clock.now());
        Ok(())
    }

    fn jwks_cache(&self) -> parking_lot::MutexGuard<'_, JwksCache> {
        self.jwks.lock()
    }

    /// Fetches the JWKS, refusing a body larger than [`MAX_REPLY_BYTES`] while reading it.
    async fn fetch_jwks(&self, url: &url::Url) -> Result<JwkSet, String> {
        let mut res = self
            .http
            .get(url.clone())
            .send()
            .await
            .map_err(|e| e.to_string())?;
        if !res.status().is_success() {
            return Err(format!("HTTP {}", res.status()));
        }
        let mut body = Vec::new();
        while let Some(chunk) = res.chunk().await.map_err(|e| e.to_string())? {
            if body.len() + chunk.len() > MAX_REPLY_BYTES {
                return Err(format!("the JWKS is larger than {MAX_REPLY_BYTES} bytes"));
            }
            body.extend_from_slice(&chunk);
        }
        serde_json::from_slice::<JwkSet>(&body).map_err(|e| format!("not a JWKS: {e}"))
    }

    /// Forward auth: the app's answer for these credentials, cached per credential hash
    /// (approvals and refusals apart) for `cache_for`.
    async fn forward_auth(
        &self,
        headers: &HeaderMap,
        url: &url::Url,
        user_header: Option<&str>,
        cache_for: Duration,
    ) -> Result<Caller, CallerRefusal> {
        let cookie = headers.get(header::COOKIE);
        let authorization = headers.get(header::AUTHORIZATION);
        if cookie.is_none() && authorization.is_none() {
            return Err(CallerRefusal::unauthenticated(
                "missing",
                "sign in first: this signer hands tokens only to signed-in users, and the request carries no cookie or Authorization header",
            ));
        }
        let digest = credentials_digest(cookie, authorization);
        let now = self.clock.now();
        let cached = self
            .decisions
            .lock()
            .get(&digest, cache_for, now)
            .or_else(|| self.refusals.lock().get(&digest, cache_for, now));
        let decision = match cached {
            Some(d) => d,
            None => {
                let decision = self
                    .ask_the_app(url, cookie, authorization, user_header)
                    .await?;
                let cache = match decision {
                    Decision::Allowed { .. } => &self.decisions,
                    Decision::Refused { .. } => &self.refusals,
                };
                cache
                    .lock()
                    .insert(digest, decision.clone(), self.clock.now());
                decision
            }
        };
        match decision {
            Decision::Allowed { user } => Ok(Caller { subject: user }),
            Decision::Refused { message } => Err(CallerRefusal::unauthenticated(
                "forward_auth_refused",
                message,
            )),
        }
    }

    /// One forward-auth request (within the in-flight bound) with the caller's Cookie and
    /// Authorization: 2xx allows, 401/403 refuses, anything else is the app's failure (503).
    async fn ask_the_app(
        &self,
        url: &url::Url,
        cookie: Option<&HeaderValue>,
        authorization: Option<&HeaderValue>,
        user_header: Option<&str>,
    ) -> Result<Decision, CallerRefusal> {
        let busy = || {
            CallerRefusal::unavailable(
                "forward_auth_busy",
                "too many session checks are in progress; try again shortly",
            )
        };
        let _slot = tokio::time::timeout(self.timeout, self.forward_auth_slots.acquire())
            .await
            .map_err(|_| busy())?
            .map_err(|_| busy())?;
        let mut req = self.http.get(url.clone());
        if let Some(c) = cookie {
            req = req.header(header::COOKIE, c);
        }
        if let Some(a) = authorization {
            req = req.header(header::AUTHORIZATION, a);
        }
        let res = req.send().await.map_err(|e| {
            tracing::warn!(url = %url, error = %e, "the forward-auth endpoint is unreachable; refusing callers");
            CallerRefusal::unavailable(
                "forward_auth_unavailable",
                "the app's session check could not be reached; try again shortly",
            )
        })?;
        let status = res.status();
        if status.is_success() {
            Ok(Decision::Allowed {
                user: user_header
                    .and_then(|h| res.headers().get(h))
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_owned)
                    .filter(|u| !u.is_empty()),
            })
        } else if status == 401 || status == 403 {
            Ok(Decision::Refused {
                message: format!("the app refused the session (HTTP {status}); sign in again"),
            })
        } else {
            tracing::warn!(url = %url, %status, "the forward-auth endpoint failed; refusing callers");
            Err(CallerRefusal::unavailable(
                "forward_auth_unavailable",
                format!("the app's session check failed (HTTP {status}); try again shortly"),
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_decision_cache_evicts_the_oldest_entries_not_everything() {
        let mut cache = DecisionCache::new(3);
        let key = |n: u8| [n; 32];
        let allowed = |n: u8| Decision::Allowed {
            user: Some(format!("user-{n}")),
        };
        let t0 = Timestamp::from_millis(1_000_000);
        for n in 0..5 {
            cache.insert(key(n), allowed(n), t0);
        }
        let ttl = Duration::from_secs(60);
        assert_eq!(cache.get(&key(0), ttl, t0), None, "the oldest went first");
        assert_eq!(cache.get(&key(1), ttl, t0), None);
        for n in 2..5 {
            assert_eq!(cache.get(&key(n), ttl, t0), Some(allowed(n)));
        }
        // Refreshing a key does not grow the order.
        let refused = Decision::Refused {
            message: "refused".into(),
        };
        cache.insert(key(4), refused.clone(), t0);
        assert_eq!(cache.order.len(), 3);
        // Kept for `ttl` on the clock it is given, then gone.
        let later = |s: u64| t0.saturating_add(Duration::from_secs(s));
        assert_eq!(cache.get(&key(4), ttl, later(59)), Some(refused));
        assert_eq!(cache.get(&key(4), ttl, later(60)), None, "expired by age");
    }

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
    fn numeric_dates_are_non_negative_numbers() {
        use serde_json::json;
        assert_eq!(numeric_date(None), Ok(None));
        assert_eq!(
            numeric_date(Some(&json!(1_700_000_000))),
            Ok(Some(1_700_000_000.0))
        );
        assert_eq!(numeric_date(Some(&json!(1.5))), Ok(Some(1.5)));
        for bad in [
            json!(null),
            json!(-1),
            json!("1700000000"),
            json!([1]),
            json!({}),
        ] {
            assert_eq!(numeric_date(Some(&bad)), Err(()), "{bad}");
        }
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
