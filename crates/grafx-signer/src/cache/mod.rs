//! The token cache of one integration: the heart of the signer.
//!
//! - **Single-flight**: during a miss, any number of concurrent requests cause one upstream call;
//!   the others wait for it and share its outcome, success or failure.
//! - **Refresh-ahead**: a background task refreshes once the token enters the leeway, so no caller
//!   waits; requests that see a refresh-due token are served it and wake the task.
//! - **No loops on CHILI's caching**: CHILI returns the *same* token until about an hour before
//!   expiry. If a refresh yields a token that is already inside the leeway, it is kept and served,
//!   and upstream is not asked again before `min_refresh_interval`.
//! - **Stale-if-error**: while upstream fails, a token that is still valid keeps being served.
//!   Failures are never cached as answers; only upstream's own `Retry-After` is honoured.
//! - **Retries** with exponential backoff and jitter for network errors, 5xx and 429; none for
//!   credential errors.
//! - **One refresher across replicas**: requests are served from this process's copy; around a
//!   refresh the cache reads the shared store first (another replica may have refreshed), then
//!   takes the store's refresh lock; replicas that find it held wait for the new token instead
//!   of asking upstream. When the store fails, the cache carries on alone.

mod bearer;
mod flight;
mod refresher;
mod replicas;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use parking_lot::{Mutex, MutexGuard};
use std::time::Duration;

use grafx_core::{Freshness, RefreshPolicy, Timestamp};
use tokio::sync::Notify;

use crate::clock::Clock;
use crate::metrics::{CacheLabels, Metrics};
use crate::store::{CachedToken, TokenStore};
use crate::upstream::{TokenSource, UpstreamError};
use crate::Integration;
use bearer::BearerMemo;
pub use flight::MAX_UPSTREAM_ATTEMPTS_PER_MINUTE;
use flight::{FlightState, Moment};
use replicas::LockOutcome;

/// How a request was answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lookup {
    /// From cache, fresh.
    Hit,
    /// From cache inside the leeway, while a refresh happens in the background.
    Stale,
    /// After an upstream call (or after waiting for another request's call).
    Miss,
}

impl Lookup {
    fn label(self) -> &'static str {
        match self {
            Lookup::Hit => "hit",
            Lookup::Stale => "stale",
            Lookup::Miss => "miss",
        }
    }
}

/// What `/readyz` reports for one integration, from the cache's own state (never asking upstream).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CacheHealth {
    /// A valid token is cached, with this much lifetime left.
    Ready(Duration),
    /// No valid token; the last attempt failed with this code.
    Failing(grafx_core::ErrorCode),
    /// No valid token and no attempt finished yet.
    Pending,
}

/// Tuning for a cache.
#[derive(Debug, Clone, Copy)]
pub struct CacheSettings {
    /// When to refresh.
    pub policy: RefreshPolicy,
    /// Minimum time between upstream calls while a valid token is cached.
    pub min_refresh_interval: Duration,
    /// Retries per refresh for retryable errors.
    pub retries: u32,
    /// Timeout of one upstream request (bounds how long a replica holds the refresh lock).
    pub upstream_timeout: Duration,
    /// Upstream attempts per minute while upstream fails or refuses (see
    /// [`MAX_UPSTREAM_ATTEMPTS_PER_MINUTE`]); a healthy integration's due refreshes are never
    /// held back by it.
    pub max_attempts_per_minute: usize,
}

/// One integration's cached token and the machinery that keeps it fresh.
pub struct TokenCache {
    /// The integration's name (fixed for the cache's life), shared with the proxy's metric
    /// labels so that a request does not copy it.
    name: Arc<str>,
    /// Its settings: swapped by a reload that keeps the token (origins, scopes, caller policy).
    integration: arc_swap::ArcSwap<Integration>,
    source: Arc<dyn TokenSource>,
    store: Arc<dyn TokenStore>,
    clock: Arc<dyn Clock>,
    settings: CacheSettings,
    metrics: Arc<Metrics>,
    /// The store key: the integration's name and client id.
    key: String,
    /// This process's copy of the token: the hot path reads only this.
    current: parking_lot::RwLock<Option<Arc<CachedToken>>>,
    refresh_lock: tokio::sync::Mutex<()>,
    state: Mutex<FlightState>,
    wake: Notify,
    refresher_running: AtomicBool,
    /// The last reply body rendered, per token and remaining second (see `rendered`).
    rendered: Mutex<Option<(Arc<CachedToken>, u64, axum::body::Bytes)>>,
    /// The proxy's `Authorization` value, built once per token.
    bearer: BearerMemo,
    /// `cache_lookups_total{result}` for this integration, looked up once.
    lookups: LookupCounters,
}

/// One counter per [`Lookup`], by name (not by the enum's declaration order).
struct LookupCounters {
    hit: prometheus_client::metrics::counter::Counter,
    stale: prometheus_client::metrics::counter::Counter,
    miss: prometheus_client::metrics::counter::Counter,
}

impl LookupCounters {
    fn new(metrics: &Metrics, integration: &str) -> Self {
        let counter = |l: Lookup| {
            let labels = CacheLabels {
                integration: integration.to_owned(),
                result: l.label(),
            };
            metrics.cache.get_or_create(&labels).clone()
        };
        Self {
            hit: counter(Lookup::Hit),
            stale: counter(Lookup::Stale),
            miss: counter(Lookup::Miss),
        }
    }

    fn of(&self, lookup: Lookup) -> &prometheus_client::metrics::counter::Counter {
        match lookup {
            Lookup::Hit => &self.hit,
            Lookup::Stale => &self.stale,
            Lookup::Miss => &self.miss,
        }
    }
}

impl TokenCache {
    pub(crate) fn new(
        integration: Arc<Integration>,
        source: Arc<dyn TokenSource>,
        store: Arc<dyn TokenStore>,
        clock: Arc<dyn Clock>,
        settings: CacheSettings,
        metrics: Arc<Metrics>,
    ) -> Self {
        let integration_name = integration.name.clone();
        let key = format!("{}:{}", integration.name, integration.client_id);
        let lookups = LookupCounters::new(&metrics, &integration_name);
        Self {
            key,
            current: parking_lot::RwLock::new(None),
            name: Arc::from(integration_name),
            integration: arc_swap::ArcSwap::new(integration),
            source,
            store,
            clock,
            settings,
            metrics,
            refresh_lock: tokio::sync::Mutex::new(()),
            state: Mutex::new(FlightState::default()),
            wake: Notify::new(),
            refresher_running: AtomicBool::new(false),
            lookups,
            rendered: Mutex::new(None),
            bearer: BearerMemo::default(),
        }
    }

    fn state(&self) -> MutexGuard<'_, FlightState> {
        self.state.lock()
    }

    fn name(&self) -> &str {
        &self.name
    }

    /// The integration's name, shared (a metric label's value).
    pub(crate) fn shared_name(&self) -> Arc<str> {
        Arc::clone(&self.name)
    }

    /// Now on both of the clock's times (see `Moment`).
    fn moment(&self) -> Moment {
        Moment {
            wall: self.clock.now(),
            steady: Timestamp::from_millis(
                u64::try_from(self.clock.steady().as_millis()).unwrap_or(u64::MAX),
            ),
        }
    }

    /// The integration this cache serves, as configured now (a lock-free read: the hot path
    /// reads it on every request).
    pub fn integration(&self) -> impl std::ops::Deref<Target = Arc<Integration>> {
        self.integration.load()
    }

    /// The cache's state for `/readyz`, without asking upstream.
    pub fn health(&self) -> CacheHealth {
        let now = self.clock.now();
        if let Some(t) = self
            .current()
            .filter(|t| t.expiry.freshness(now, &self.settings.policy) != Freshness::Expired)
        {
            return CacheHealth::Ready(t.expiry.remaining(now));
        }
        match &self.state().last_error {
            Some(e) => CacheHealth::Failing(e.code()),
            None => CacheHealth::Pending,
        }
    }

    /// Applies a reloaded configuration with the same upstream and credentials: every policy
    /// (origins, browser scopes, caller, Platform API URL) takes effect at once, the token stays.
    pub(crate) fn set_integration(&self, integration: Arc<Integration>) {
        self.integration.store(integration);
        // The rendered reply names the integration's URLs: render it again.
        *self.rendered.lock() = None;
    }

    /// The reply body for `token` with `remaining_secs` left: rendered by `render` at most once per
    /// token and second, since nothing else in it changes. Holding the `Arc` keeps the comparison
    /// by identity sound.
    pub(crate) fn rendered<E>(
        &self,
        token: &Arc<CachedToken>,
        remaining_secs: u64,
        render: impl FnOnce() -> Result<String, E>,
    ) -> Result<axum::body::Bytes, E> {
        let mut slot = self.rendered.lock();
        if let Some((t, secs, body)) = slot.as_ref() {
            if Arc::ptr_eq(t, token) && *secs == remaining_secs {
                return Ok(body.clone());
            }
        }
        let body = axum::body::Bytes::from(render()?);
        *slot = Some((Arc::clone(token), remaining_secs, body.clone()));
        Ok(body)
    }

    /// `Bearer {token}` for the API proxy, marked sensitive, built once per token (see
    /// [`BearerMemo`]); an error when the token cannot be a header value.
    pub(crate) fn bearer(
        &self,
        token: &Arc<CachedToken>,
    ) -> Result<axum::http::HeaderValue, axum::http::header::InvalidHeaderValue> {
        self.bearer.get(token)
    }

    /// The cached token, if any, without touching upstream or the store.
    pub async fn peek(&self) -> Option<Arc<CachedToken>> {
        self.current()
    }

    fn current(&self) -> Option<Arc<CachedToken>> {
        self.current.read().clone()
    }

    fn set_current(&self, token: &Arc<CachedToken>) {
        *self.current.write() = Some(Arc::clone(token));
    }

    /// The store key of this cache's token.
    pub fn store_key(&self) -> &str {
        &self.key
    }

    /// A usable token: from cache when possible, otherwise from upstream (single-flight).
    pub async fn get(&self) -> Result<(Arc<CachedToken>, Lookup), UpstreamError> {
        let result = match self.cached_now() {
            Some(hit) => Ok(hit),
            // Nothing cached, expired, or inside the leeway with no background task (e.g. a
            // one-shot command): refresh inline, which still serves a valid token if upstream
            // fails.
            None => self.refresh().await.map(|t| (t, Lookup::Miss)),
        };
        if let Ok((_, lookup)) = &result {
            self.count(*lookup);
        }
        result
    }

    /// The cached token when it can be served without waiting: fresh, or inside the leeway while
    /// the background refresher runs (which this wakes). Counts nothing: see `count`.
    pub(crate) fn cached_now(&self) -> Option<(Arc<CachedToken>, Lookup)> {
        let token = self.current()?;
        match token
            .expiry
            .freshness(self.clock.now(), &self.settings.policy)
        {
            Freshness::Fresh => Some((token, Lookup::Hit)),
            Freshness::RefreshDue if self.refresher_running.load(Ordering::Relaxed) => {
                self.wake.notify_one();
                Some((token, Lookup::Stale))
            }
            Freshness::RefreshDue | Freshness::Expired => None,
        }
    }

    /// Counts a token handed out (`cache_lookups_total{result}`).
    pub(crate) fn count(&self, lookup: Lookup) {
        self.lookups.of(lookup).inc();
    }

    /// Refreshes now (single-flight), honouring the minimum interval and upstream's
    /// `Retry-After`. Returns the token to serve: the new one, or the old one while it is valid.
    ///
    /// Four phases, each its own function: adopt a better token from the shared store; decide
    /// whether upstream may be asked at all (`FlightState::answer_without_upstream`); take the
    /// store's refresh lock or wait for the replica that holds it; fetch with retries and publish.
    pub async fn refresh(&self) -> Result<Arc<CachedToken>, UpstreamError> {
        let seen = self.state().attempts;
        let _flight = self.refresh_lock.lock().await;
        let policy = self.settings.policy;
        let now = self.clock.now();
        let mut usable = self
            .current()
            .filter(|t| t.expiry.freshness(now, &policy) != Freshness::Expired);
        if let Some(fresh) = self.adopt_from_store(&mut usable).await {
            return Ok(fresh);
        }
        let at = self.moment();
        if let Some(answer) =
            self.state()
                .answer_without_upstream(usable.as_ref(), seen, at, &self.settings)
        {
            return answer;
        }
        let lock = match self.take_refresh_lock(usable.as_ref()).await {
            LockOutcome::Adopted(t) => return Ok(t),
            LockOutcome::Refresh(lock) => lock,
        };
        let result = self.fetch_with_retries().await;
        let at = self.moment();
        let now = at.wall;
        self.state().record(result.as_ref().err(), at);
        let outcome = match result {
            Ok(grant) => Ok(self.publish(&grant, usable.as_ref(), at).await),
            Err(e) => match usable {
                Some(t) => {
                    tracing::warn!(integration = self.name(), error = %e, remaining = ?t.expiry.remaining(now), "refresh failed; serving the cached token while it is valid");
                    Ok(t)
                }
                None => {
                    tracing::warn!(integration = self.name(), error = %e, "cannot obtain a token");
                    Err(e)
                }
            },
        };
        if let Some(lock) = lock {
            self.store.unlock(lock).await;
        }
        outcome
    }

    /// A token to replace `refused`, which the Environment API answered 401 to (the API proxy's
    /// one retry, the browser's rule): the cached token when a refresh already replaced it, else
    /// one refresh forced past the freshness check (single-flight; the minimum interval and
    /// upstream's `Retry-After` still hold). `None` when no other token can be had now: CHILI
    /// hands back the same token until its last hour, and retrying with it would be a loop.
    pub async fn replace_refused(
        &self,
        refused: &grafx_core::AccessToken,
    ) -> Result<Option<Arc<CachedToken>>, UpstreamError> {
        let other = |t: &Arc<CachedToken>| {
            t.access_token != *refused
                && t.expiry.freshness(self.clock.now(), &self.settings.policy) != Freshness::Expired
        };
        if let Some(t) = self.current().filter(other) {
            return Ok(Some(t));
        }
        let _flight = self.refresh_lock.lock().await;
        if let Some(t) = self.current().filter(other) {
            return Ok(Some(t));
        }
        // Intervals on steady time (see `Moment`).
        let now = self.moment().steady;
        {
            // A 401 may follow a refresh at once (a token revoked upstream), so the usual
            // minimum interval does not apply; one forced refresh per interval does, with
            // upstream's `Retry-After` and the per-minute budget.
            let mut state = self.state();
            let recently = state
                .last_forced
                .is_some_and(|at| now.since(at) < self.settings.min_refresh_interval);
            if recently
                || state.blocked_until.is_some_and(|u| now < u)
                || state
                    .budget_exhausted(now, self.settings.max_attempts_per_minute)
                    .is_some()
            {
                return Ok(None);
            }
            state.last_forced = Some(now);
        }
        let result = self.fetch_with_retries().await;
        let at = self.moment();
        self.state().record(result.as_ref().err(), at);
        let grant = result?;
        let usable = self.current();
        let token = self.publish(&grant, usable.as_ref(), at).await;
        Ok(Some(token).filter(other))
    }
}
