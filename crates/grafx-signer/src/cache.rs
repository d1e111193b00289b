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

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use parking_lot::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use grafx_core::{Expiry, Freshness, RefreshPolicy, Timestamp};
use rand::Rng;
use tokio::sync::Notify;

use crate::metrics::{CacheLabels, IntegrationLabel, Metrics, UpstreamLabels};
use crate::store::{CachedToken, Clock, TokenStore};
use crate::upstream::{TokenSource, UpstreamError};
use crate::Integration;

/// Retries wait at most this long inside a request; a longer `Retry-After` goes to the client.
const MAX_INLINE_BACKOFF: Duration = Duration::from_secs(5);
/// Background retries after failures back off up to this.
const MAX_BACKGROUND_BACKOFF: Duration = Duration::from_secs(60);

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

#[derive(Debug, Default)]
struct FlightState {
    /// Completed upstream attempts (each possibly with retries).
    attempts: u64,
    last_attempt: Option<Timestamp>,
    last_error: Option<UpstreamError>,
    /// Upstream said "not before": its `Retry-After`.
    blocked_until: Option<Timestamp>,
    consecutive_failures: u32,
    /// Upstream last answered with the token already cached: do not ask again before this.
    same_token_until: Option<Timestamp>,
    /// After a failure (a credential refusal included), callers without a usable token get that
    /// failure again until this time instead of a new upstream call: exponential, with jitter.
    failing_until: Option<Timestamp>,
    /// When the recent attempts started, for the per-minute bound.
    recent_attempts: std::collections::VecDeque<Timestamp>,
    /// The last refresh forced by a 401 (`replace_refused`): at most one per minimum interval.
    last_forced: Option<Timestamp>,
    /// The per-minute budget is spent (said once in the log, until an attempt succeeds: an
    /// outage must not turn every refused request into a log line).
    budget_spent: bool,
}

/// What phase 3 of a refresh came to: refresh (holding the store's lock, or alone), or adopt the
/// token another replica published.
enum LockOutcome {
    Refresh(Option<crate::store::RefreshLock>),
    Adopted(Arc<CachedToken>),
}

/// A grant as the token to cache, and whether it is the token already held (`usable`). Both
/// stamps of the same token underestimate its real expiry (`expires_in` is rounded down and the
/// reply took time to arrive): the later one is kept. On a tie the first stamp stays: it carries
/// the lifetime CHILI issued, which the refresh leeway is measured against.
fn stamp_grant(
    grant: &grafx_core::TokenGrant,
    usable: Option<&Arc<CachedToken>>,
    now: Timestamp,
) -> (CachedToken, bool) {
    let mut token = CachedToken {
        access_token: grant.access_token().clone(),
        scope: grant.scope().clone(),
        expiry: Expiry::stamp(now, grant.expires_in()),
    };
    let same = usable.filter(|old| old.access_token == token.access_token);
    if let Some(old) = same {
        if old.expiry.expires_at() >= token.expiry.expires_at() {
            token.expiry = old.expiry;
        }
    }
    (token, same.is_some())
}

impl FlightState {
    /// Phase 2 of a refresh: the answer to give without asking upstream, if any. `seen` is the
    /// attempt count when the caller started waiting for the flight.
    ///
    /// In order: another caller's attempt finished meanwhile (share its outcome); the token is
    /// fresh; upstream was asked within `min_refresh_interval`, or last answered with the same
    /// token; upstream's `Retry-After` runs; a recent failure backs off callers that have no
    /// token; the per-minute budget is spent. A valid token is served in all of these.
    fn answer_without_upstream(
        &mut self,
        usable: Option<&Arc<CachedToken>>,
        seen: u64,
        now: Timestamp,
        settings: &CacheSettings,
    ) -> Option<Result<Arc<CachedToken>, UpstreamError>> {
        let serve = |t: &Arc<CachedToken>| Some(Ok(Arc::clone(t)));
        if self.attempts != seen {
            if let Some(t) = usable {
                return serve(t);
            }
            if let Some(e) = &self.last_error {
                return Some(Err(e.clone()));
            }
        }
        if let Some(t) = usable {
            let fresh = t.expiry.freshness(now, &settings.policy) == Freshness::Fresh;
            let recently = self
                .last_attempt
                .is_some_and(|at| now.since(at) < settings.min_refresh_interval);
            let same_token = self.same_token_until.is_some_and(|until| now < until);
            if fresh || recently || same_token {
                return serve(t);
            }
        }
        if let Some(until) = self.blocked_until.filter(|u| now < *u) {
            return match usable {
                Some(t) => serve(t),
                None => Some(Err(self.held_back(until.since(now)))),
            };
        }
        if usable.is_none() && self.failing_until.is_some_and(|u| now < u) {
            if let Some(e) = &self.last_error {
                return Some(Err(e.clone()));
            }
        }
        // The budget protects CHILI while it fails or refuses. A healthy integration refreshes
        // only when its token is due (and at most once per minimum interval): its lifetime sets
        // the pace, and the budget must never starve it.
        let failing = self.consecutive_failures > 0;
        if let Some(wait) = self
            .budget_exhausted(now, settings.max_attempts_per_minute)
            .filter(|_| failing)
        {
            if !self.budget_spent {
                self.budget_spent = true;
                tracing::warn!(
                    attempts_per_minute = settings.max_attempts_per_minute,
                    next_attempt_in_secs = wait.as_secs(),
                    "the upstream budget is spent while CHILI fails: callers get the cached token, or 503 without one, until it refills (said once until an attempt succeeds; refusals are counted in grafx_signer_http_requests_total)"
                );
            }
            return match usable {
                Some(t) => serve(t),
                None => Some(Err(self.held_back(wait))),
            };
        }
        None
    }

    /// The answer to a caller without a token while no call is made for `wait`: CHILI's last
    /// failure, as it was (a 503 is never reported as a 429).
    fn held_back(&self, wait: Duration) -> UpstreamError {
        match &self.last_error {
            Some(e) => e.held_back(wait),
            None => UpstreamError::RateLimited {
                retry_after: Some(wait),
            },
        }
    }

    /// Phase 4's bookkeeping: one more attempt at `now`, and its error if it failed (upstream's
    /// `Retry-After`, and an exponential backoff for callers without a token).
    fn record(&mut self, error: Option<&UpstreamError>, now: Timestamp) {
        self.attempts += 1;
        self.last_attempt = Some(now);
        self.recent_attempts.push_back(now);
        match error {
            None => {
                self.last_error = None;
                self.blocked_until = None;
                self.failing_until = None;
                self.consecutive_failures = 0;
                self.budget_spent = false;
            }
            Some(e) => {
                if let Some(ra) = e.upstream_retry_after() {
                    self.blocked_until = Some(now.saturating_add(ra));
                }
                self.last_error = Some(e.clone());
                self.consecutive_failures = self.consecutive_failures.saturating_add(1);
                let wait = backoff(self.consecutive_failures - 1, FAILURE_BACKOFF_BASE)
                    .min(MAX_BACKGROUND_BACKOFF);
                self.failing_until = Some(now.saturating_add(wait));
            }
        }
    }

    /// How long until another attempt fits in the per-minute bound of `max` (None: it fits now).
    fn budget_exhausted(&mut self, now: Timestamp, max: usize) -> Option<Duration> {
        const MINUTE: Duration = Duration::from_secs(60);
        while self
            .recent_attempts
            .front()
            .is_some_and(|t| now.since(*t) >= MINUTE)
        {
            self.recent_attempts.pop_front();
        }
        (self.recent_attempts.len() >= max.max(1)).then(|| {
            let oldest = self.recent_attempts.front().copied().unwrap_or(now);
            MINUTE.saturating_sub(now.since(oldest))
        })
    }
}

/// The default bound on upstream attempts per integration and minute while upstream fails or
/// refuses, whatever the traffic (each attempt may retry network errors and 5xx `retries` times;
/// `upstream_attempts_per_minute` sets it). A healthy integration is paced by its tokens'
/// lifetimes instead: one refresh per lifetime, never held back by this bound.
pub const MAX_UPSTREAM_ATTEMPTS_PER_MINUTE: usize = 20;
/// The first backoff after a failure on the request path; it doubles with each failure in a row.
const FAILURE_BACKOFF_BASE: Duration = Duration::from_millis(500);

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
    /// The integration's name (fixed for the cache's life).
    name: String,
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
            name: integration_name,
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
        }
    }

    fn state(&self) -> MutexGuard<'_, FlightState> {
        self.state.lock()
    }

    fn name(&self) -> &str {
        &self.name
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

    /// The shared store's token when it is better than `ours` (valid, and expiring later):
    /// another replica refreshed. Store failures count as "nothing there".
    async fn shared_better_than(
        &self,
        ours: Option<&Arc<CachedToken>>,
    ) -> Option<Arc<CachedToken>> {
        let shared = match self.store.load(&self.key).await {
            Ok(t) => t?,
            Err(e) => {
                tracing::debug!(integration = self.name(), error = %e, "token store unavailable; using this replica's copy");
                return None;
            }
        };
        // Read after the load: the token may have been received after this caller's last look
        // at the clock.
        let now = self.clock.now();
        let shared = received_no_later_than(shared, now);
        if shared.expiry.freshness(now, &self.settings.policy) == Freshness::Expired {
            return None;
        }
        match ours {
            Some(o) if o.expiry.expires_at() >= shared.expiry.expires_at() => None,
            _ => Some(shared),
        }
    }

    /// Waits for the replica holding the refresh lock to store a better token; `None` when the
    /// lock was released (or expired) without one, so this replica must refresh itself.
    async fn wait_for_other_replica(
        &self,
        ours: Option<&Arc<CachedToken>>,
        limit: Duration,
    ) -> Option<Arc<CachedToken>> {
        let started = Instant::now();
        while started.elapsed() < limit {
            tokio::time::sleep(Duration::from_millis(25)).await;
            if let Some(t) = self.shared_better_than(ours).await {
                return Some(t);
            }
            if !self.store.is_locked(&self.key).await.unwrap_or(false) {
                // Released: one last look, as the token is saved before the lock is released.
                return self.shared_better_than(ours).await;
            }
        }
        None
    }

    /// How long a replica may hold the refresh lock: one refresh with all its retries.
    fn lock_ttl(&self) -> Duration {
        let attempts = self.settings.retries.saturating_add(1);
        (self.settings.upstream_timeout + MAX_INLINE_BACKOFF).saturating_mul(attempts)
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
        let now = self.clock.now();
        if let Some(answer) =
            self.state()
                .answer_without_upstream(usable.as_ref(), seen, now, &self.settings)
        {
            return answer;
        }
        let lock = match self.take_refresh_lock(usable.as_ref()).await {
            LockOutcome::Adopted(t) => return Ok(t),
            LockOutcome::Refresh(lock) => lock,
        };
        let result = self.fetch_with_retries().await;
        let now = self.clock.now();
        self.state().record(result.as_ref().err(), now);
        let outcome = match result {
            Ok(grant) => Ok(self.publish(&grant, usable.as_ref(), now).await),
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
        let now = self.clock.now();
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
        let now = self.clock.now();
        self.state().record(result.as_ref().err(), now);
        let grant = result?;
        let usable = self.current();
        let token = self.publish(&grant, usable.as_ref(), now).await;
        Ok(Some(token).filter(other))
    }

    /// Phase 1: another replica may have refreshed already. Adopts the store's token when it is
    /// better than `usable` (which it replaces); returns it when it is fresh, so no refresh is due.
    async fn adopt_from_store(
        &self,
        usable: &mut Option<Arc<CachedToken>>,
    ) -> Option<Arc<CachedToken>> {
        let shared = self.shared_better_than(usable.as_ref()).await?;
        self.set_current(&shared);
        if shared
            .expiry
            .freshness(self.clock.now(), &self.settings.policy)
            == Freshness::Fresh
        {
            return Some(shared);
        }
        *usable = Some(shared);
        None
    }

    /// Phase 3: become the one refresher across replicas, or wait for the one that is and adopt
    /// its token. A store that fails means refreshing alone.
    async fn take_refresh_lock(&self, usable: Option<&Arc<CachedToken>>) -> LockOutcome {
        match self.store.try_lock(&self.key, self.lock_ttl()).await {
            Ok(Some(lock)) => {
                // The lock may have been released just now by a replica that stored a token.
                if let Some(t) = self.shared_better_than(usable).await {
                    self.store.unlock(lock).await;
                    self.set_current(&t);
                    return LockOutcome::Adopted(t);
                }
                LockOutcome::Refresh(Some(lock))
            }
            Ok(None) => match self.wait_for_other_replica(usable, self.lock_ttl()).await {
                Some(t) => {
                    tracing::debug!(
                        integration = self.name(),
                        "adopted the token another replica obtained"
                    );
                    self.set_current(&t);
                    LockOutcome::Adopted(t)
                }
                None => LockOutcome::Refresh(None),
            },
            Err(e) => {
                tracing::debug!(integration = self.name(), error = %e, "token store unavailable; refreshing alone");
                LockOutcome::Refresh(None)
            }
        }
    }

    /// Phase 4's end: the new token becomes this replica's and is saved to the store (before the
    /// lock is released, so waiting replicas find it).
    async fn publish(
        &self,
        grant: &grafx_core::TokenGrant,
        usable: Option<&Arc<CachedToken>>,
        now: Timestamp,
    ) -> Arc<CachedToken> {
        let (token, same) = stamp_grant(grant, usable, now);
        self.state().same_token_until =
            same.then(|| now.saturating_add(self.settings.min_refresh_interval));
        let policy = self.settings.policy;
        if same && token.expiry.freshness(now, &policy) != Freshness::Fresh {
            tracing::info!(
                integration = self.name(),
                expires_in = grant.expires_in().as_secs(),
                "CHILI returned the same token inside the refresh leeway; serving it and asking again in {:?}",
                self.settings.min_refresh_interval
            );
        } else {
            tracing::info!(integration = self.name(), expires_in = grant.expires_in().as_secs(), scope = %grant.scope(), "obtained a token");
        }
        let token = Arc::new(token);
        self.set_current(&token);
        if let Err(e) = self.store.save(&self.key, Arc::clone(&token)).await {
            tracing::debug!(integration = self.name(), error = %e, "cannot share the new token");
        }
        token
    }

    async fn fetch_with_retries(&self) -> Result<grafx_core::TokenGrant, UpstreamError> {
        let mut attempt = 0u32;
        loop {
            let started = Instant::now();
            let integration = self.integration.load_full();
            let result = self.source.fetch(&integration).await;
            let outcome = match &result {
                Ok(_) => "ok",
                Err(e) => e.label(),
            };
            let integration = self.name().to_owned();
            self.metrics
                .upstream
                .get_or_create(&UpstreamLabels {
                    integration: integration.clone(),
                    outcome,
                })
                .inc();
            self.metrics
                .upstream_seconds
                .get_or_create(&IntegrationLabel { integration })
                .observe(started.elapsed().as_secs_f64());
            match result {
                Ok(grant) => return Ok(grant),
                Err(e) if !e.is_retryable() || attempt >= self.settings.retries => return Err(e),
                Err(e) => {
                    let wait = e
                        .upstream_retry_after()
                        .unwrap_or_else(|| backoff(attempt, Duration::from_millis(200)));
                    if wait > MAX_INLINE_BACKOFF {
                        return Err(e);
                    }
                    tracing::debug!(integration = self.name(), error = %e, ?wait, "retrying upstream");
                    tokio::time::sleep(wait).await;
                    attempt += 1;
                }
            }
        }
    }

    /// Runs the refresh-ahead loop until the task is aborted.
    pub(crate) async fn run_refresher(self: Arc<Self>) {
        self.refresher_running.store(true, Ordering::Relaxed);
        loop {
            let wait = self.next_wake().await;
            tokio::select! {
                () = tokio::time::sleep(wait) => {}
                () = self.wake.notified() => {}
            }
            let now = self.clock.now();
            let due = match self.current() {
                None => true,
                Some(t) => t.expiry.freshness(now, &self.settings.policy) != Freshness::Fresh,
            };
            if due {
                // Errors are logged inside; the next wake backs off.
                let _ = self.refresh().await;
            }
        }
    }

    /// How long the refresher sleeps: until the token's refresh point, but never sooner than the
    /// minimum interval after the last attempt, upstream's `Retry-After`, or the failure backoff.
    async fn next_wake(&self) -> Duration {
        let now = self.clock.now();
        let cached = self.current();
        let st = self.state();
        let mut wait = match &cached {
            Some(t) => t.expiry.refresh_at(&self.settings.policy).since(now),
            None if st.attempts == 0 => Duration::ZERO,
            None => Duration::ZERO,
        };
        if let Some(last) = st.last_attempt {
            if cached.is_some() {
                let since = now.since(last);
                wait = wait.max(self.settings.min_refresh_interval.saturating_sub(since));
            }
        }
        if st.consecutive_failures > 0 {
            wait = wait.max(
                backoff(st.consecutive_failures - 1, Duration::from_secs(1))
                    .min(MAX_BACKGROUND_BACKOFF),
            );
        }
        if let Some(until) = st.blocked_until {
            wait = wait.max(until.since(now));
        }
        wait
    }
}

/// `token` as this replica should judge it: a token another replica received "in our future"
/// (its clock runs ahead) is re-stamped as received now with the lifetime it was given, so it
/// does not look like our clock jumped backwards (which would force a needless refresh). Keeping
/// the lifetime, not the other clock's expiry time, never lengthens the token's life.
fn received_no_later_than(token: Arc<CachedToken>, now: Timestamp) -> Arc<CachedToken> {
    if token.expiry.received_at() <= now {
        return token;
    }
    Arc::new(CachedToken {
        access_token: token.access_token.clone(),
        scope: token.scope.clone(),
        expiry: Expiry::stamp(now, token.expiry.lifetime()),
    })
}

/// `base · 2^attempt`, plus up to 50% jitter so replicas do not retry in lockstep.
fn backoff(attempt: u32, base: Duration) -> Duration {
    let exp = base.saturating_mul(2u32.saturating_pow(attempt.min(16)));
    let jitter = rand::rng().random_range(0.0..0.5);
    exp.saturating_add(exp.mul_f64(jitter))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upstream_attempts_are_bounded_per_minute_while_failing() {
        const MAX: usize = MAX_UPSTREAM_ATTEMPTS_PER_MINUTE;
        let mut st = FlightState::default();
        let start = Timestamp::from_millis(1_000_000);
        for i in 0..MAX as u64 {
            let at = start.saturating_add(Duration::from_secs(i));
            assert_eq!(st.budget_exhausted(at, MAX), None, "attempt {i} fits");
            st.recent_attempts.push_back(at);
        }
        let now = start.saturating_add(Duration::from_secs(30));
        assert_eq!(st.budget_exhausted(now, MAX), Some(Duration::from_secs(30)));
        assert_eq!(
            st.budget_exhausted(now, MAX + 1),
            None,
            "the bound is the setting"
        );
        // A minute after the first attempt, one more fits; the window slides, nothing is scanned
        // twice.
        let later = start.saturating_add(Duration::from_secs(60));
        assert_eq!(st.budget_exhausted(later, MAX), None);
        assert_eq!(
            st.recent_attempts.len(),
            MAX_UPSTREAM_ATTEMPTS_PER_MINUTE - 1
        );
    }

    const MIN: Duration = Duration::from_secs(30);
    const LEEWAY: Duration = Duration::from_secs(300);

    fn settings() -> CacheSettings {
        CacheSettings {
            policy: RefreshPolicy::new(LEEWAY),
            min_refresh_interval: MIN,
            retries: 2,
            upstream_timeout: Duration::from_secs(10),
            max_attempts_per_minute: MAX_UPSTREAM_ATTEMPTS_PER_MINUTE,
        }
    }

    fn at(secs: u64) -> Timestamp {
        Timestamp::from_millis(1_000_000_000 + secs * 1000)
    }

    /// A one-hour token received at `received` seconds.
    fn hour_token(value: &str, received: u64) -> Arc<CachedToken> {
        Arc::new(CachedToken {
            access_token: grafx_core::AccessToken::new(value).unwrap(),
            scope: grafx_core::Scopes::parse("template:read"),
            expiry: Expiry::stamp(at(received), Duration::from_secs(3600)),
        })
    }

    fn served(answer: Option<Result<Arc<CachedToken>, UpstreamError>>) -> Arc<CachedToken> {
        match answer {
            Some(Ok(t)) => t,
            other => panic!("expected a token, got {other:?}"),
        }
    }

    const DOWN: UpstreamError = UpstreamError::Unavailable {
        status: 503,
        retry_after: None,
    };

    #[test]
    fn phase_two_serves_a_fresh_token_and_asks_upstream_once_it_is_due() {
        let mut st = FlightState::default();
        let t = hour_token("eyJ.a.b", 0);
        // Fresh until 55 minutes: served; from then on, upstream is asked.
        assert!(Arc::ptr_eq(
            &served(st.answer_without_upstream(Some(&t), 0, at(3299), &settings())),
            &t
        ));
        assert!(st
            .answer_without_upstream(Some(&t), 0, at(3300), &settings())
            .is_none());
        // Nothing cached and nothing tried: ask.
        assert!(st
            .answer_without_upstream(None, 0, at(0), &settings())
            .is_none());
    }

    #[test]
    fn phase_two_waits_the_minimum_interval_and_after_a_same_token_reply() {
        let mut st = FlightState::default();
        let t = hour_token("eyJ.a.b", 0);
        st.record(None, at(3300));
        // Due, but upstream was asked 29 s ago: serve the token; at 30 s, ask again.
        served(st.answer_without_upstream(Some(&t), 1, at(3329), &settings()));
        assert!(st
            .answer_without_upstream(Some(&t), 1, at(3330), &settings())
            .is_none());
        // CHILI answered with the token already held: not before `same_token_until`.
        st.same_token_until = Some(at(3400));
        served(st.answer_without_upstream(Some(&t), 1, at(3399), &settings()));
        assert!(st
            .answer_without_upstream(Some(&t), 1, at(3400), &settings())
            .is_none());
    }

    #[test]
    fn phase_two_shares_the_outcome_of_an_attempt_that_finished_while_waiting() {
        let mut st = FlightState::default();
        st.record(Some(&DOWN), at(10));
        // The caller saw 0 attempts when it started waiting; one finished and failed.
        assert_eq!(
            st.answer_without_upstream(None, 0, at(10), &settings())
                .unwrap()
                .unwrap_err(),
            DOWN
        );
        // With a valid token, that token is served instead.
        let t = hour_token("eyJ.a.b", 0);
        served(st.answer_without_upstream(Some(&t), 0, at(3400), &settings()));
    }

    #[test]
    fn phase_two_honours_retry_after_backoff_and_the_budget() {
        let t = hour_token("eyJ.a.b", 0);
        let mut st = FlightState::default();
        st.record(
            Some(&UpstreamError::RateLimited {
                retry_after: Some(Duration::from_secs(120)),
            }),
            at(3300),
        );
        match st.answer_without_upstream(None, 1, at(3320), &settings()) {
            Some(Err(UpstreamError::HeldBack { last, retry_after })) => {
                assert_eq!(retry_after, Duration::from_secs(100));
                assert!(
                    matches!(*last, UpstreamError::RateLimited { .. }),
                    "{last:?}"
                );
            }
            other => panic!("{other:?}"),
        }
        // After a 503 with Retry-After, callers hear of the 503, never of a 429.
        let mut down = FlightState::default();
        down.record(
            Some(&UpstreamError::Unavailable {
                status: 503,
                retry_after: Some(Duration::from_secs(120)),
            }),
            at(3300),
        );
        let e = down
            .answer_without_upstream(None, 1, at(3320), &settings())
            .unwrap()
            .unwrap_err();
        assert_eq!(e.retry_after(), Some(Duration::from_secs(100)));
        assert_eq!(e.label(), "held_back");
        let said = e.to_string();
        assert!(said.contains("HTTP 503") && !said.contains("429"), "{said}");
        assert_eq!(e.code(), grafx_core::ErrorCode::UpstreamUnavailable);
        // Held back after a refusal of the credentials: still that refusal, with no retry time.
        let refused = UpstreamError::Rejected {
            integration: "reader".into(),
            status: 401,
            code: "access_denied".into(),
        }
        .held_back(Duration::from_secs(30));
        assert_eq!(refused.code(), grafx_core::ErrorCode::UpstreamRejected);
        assert_eq!(refused.retry_after(), None);
        assert!(!refused.is_retryable());
        served(st.answer_without_upstream(Some(&t), 1, at(3350), &settings()));
        assert!(st
            .answer_without_upstream(None, 1, at(3420), &settings())
            .is_none());

        // A failure backs off callers without a token for 0.5–0.75 s, then lets one through.
        let mut st = FlightState::default();
        st.record(Some(&DOWN), at(0));
        let soon = at(0).saturating_add(Duration::from_millis(400));
        assert_eq!(
            st.answer_without_upstream(None, 1, soon, &settings())
                .unwrap()
                .unwrap_err(),
            DOWN
        );
        let until = st.failing_until.unwrap();
        assert!(
            st.answer_without_upstream(None, 1, until, &settings())
                .is_none(),
            "the backoff ends at its stamp"
        );

        // The per-minute budget while upstream fails: once spent, no call until the oldest
        // attempt is a minute old (the failure backoff has run out by then).
        let mut st = FlightState::default();
        for i in 0..MAX_UPSTREAM_ATTEMPTS_PER_MINUTE as u64 {
            st.record(Some(&DOWN), at(i));
        }
        st.failing_until = None;
        match st.answer_without_upstream(None, st.attempts, at(30), &settings()) {
            Some(Err(UpstreamError::HeldBack { last, retry_after })) => {
                assert_eq!(retry_after, Duration::from_secs(30));
                assert_eq!(*last, DOWN, "the failure CHILI last sent");
            }
            other => panic!("{other:?}"),
        }
        assert!(st.budget_spent, "said once, then quiet");
        assert!(st
            .answer_without_upstream(None, st.attempts, at(31), &settings())
            .is_some());
        assert!(st
            .answer_without_upstream(None, st.attempts, at(60), &settings())
            .is_none());
        st.record(None, at(60));
        assert!(
            !st.budget_spent,
            "a success ends the outage: the next one is said again"
        );

        // A healthy integration's due refreshes are never held back by it: 3-second tokens need
        // a refresh every 2 s, 30 a minute.
        let short = CacheSettings {
            policy: RefreshPolicy::new(Duration::from_secs(1)),
            min_refresh_interval: Duration::ZERO,
            ..settings()
        };
        let mut st = FlightState::default();
        for i in 0..30u64 {
            let now = at(2 * i);
            // Received 2 s ago, 3 s long, a 1 s leeway: due now.
            let due = Arc::new(CachedToken {
                access_token: grafx_core::AccessToken::new(format!("eyJ.{i}.x")).unwrap(),
                scope: grafx_core::Scopes::parse("template:read"),
                expiry: Expiry::stamp(
                    now.saturating_sub(Duration::from_secs(2)),
                    Duration::from_secs(3),
                ),
            });
            assert!(
                st.answer_without_upstream(Some(&due), st.attempts, now, &short)
                    .is_none(),
                "refresh {i} is due and goes upstream"
            );
            st.record(None, now);
        }
        assert_eq!(
            st.recent_attempts.len(),
            30,
            "30 in a minute, over the budget of 20"
        );
    }

    #[test]
    fn phase_four_records_failures_with_growing_backoff_and_a_success_clears_them() {
        let mut st = FlightState::default();
        st.record(Some(&DOWN), at(0));
        st.record(Some(&DOWN), at(1));
        st.record(Some(&DOWN), at(2));
        assert_eq!(st.consecutive_failures, 3);
        // The third failure in a row backs off 2–3 s (0.5 s doubled twice, plus jitter).
        let wait = st.failing_until.unwrap().since(at(2));
        assert!(
            (Duration::from_secs(2)..=Duration::from_secs(3)).contains(&wait),
            "{wait:?}"
        );
        st.record(None, at(10));
        assert_eq!(
            (
                st.consecutive_failures,
                st.failing_until,
                st.last_error.clone()
            ),
            (0, None, None)
        );
        assert_eq!((st.attempts, st.last_attempt), (4, Some(at(10))));
    }

    #[test]
    fn phase_four_keeps_the_later_expiry_when_upstream_repeats_the_token() {
        let held = hour_token("eyJ.same.token", 0);
        // CHILI hands the same token back 10 minutes later, reporting 49 minutes and change as
        // 49 whole minutes: the earlier stamp (60 minutes from 0) is the better estimate.
        let grant =
            grafx_core::TokenGrant::from_parts("eyJ.same.token", "Bearer", 2940.0, "template:read")
                .unwrap();
        let (token, same) = stamp_grant(&grant, Some(&held), at(600));
        assert!(same);
        assert_eq!(token.expiry.expires_at(), held.expiry.expires_at());
        // Reported as exactly 50 minutes: a tie, and the first stamp (a 60-minute life) stays.
        let grant =
            grafx_core::TokenGrant::from_parts("eyJ.same.token", "Bearer", 3000.0, "template:read")
                .unwrap();
        let (token, _) = stamp_grant(&grant, Some(&held), at(600));
        assert_eq!(token.expiry, held.expiry);
        // Which matters to the refresh: a 40-minute leeway is capped at half the lifetime, so the
        // first stamp refreshes at 30 minutes (60 / 2), the second would at 35 (10 + 50 / 2).
        let policy = RefreshPolicy::new(std::time::Duration::from_secs(40 * 60));
        assert_eq!(token.expiry.refresh_at(&policy), at(1800));
        // Reported as 55 minutes: the later stamp wins.
        let grant =
            grafx_core::TokenGrant::from_parts("eyJ.same.token", "Bearer", 3300.0, "template:read")
                .unwrap();
        let (token, _) = stamp_grant(&grant, Some(&held), at(600));
        assert_eq!(token.expiry.expires_at(), at(3900));
        // A new token is stamped as received.
        let grant =
            grafx_core::TokenGrant::from_parts("eyJ.new.token", "Bearer", 3600.0, "template:read")
                .unwrap();
        let (token, same) = stamp_grant(&grant, Some(&held), at(600));
        assert!(!same);
        assert_eq!(token.expiry.expires_at(), at(4200));
    }

    #[test]
    fn a_token_from_a_clock_ahead_keeps_its_lifetime_not_its_expiry_time() {
        let token = |received: u64| {
            Arc::new(CachedToken {
                access_token: grafx_core::AccessToken::new("eyJ.secret.token").unwrap(),
                scope: grafx_core::Scopes::parse("template:read"),
                expiry: Expiry::stamp(Timestamp::from_millis(received), Duration::from_secs(3600)),
            })
        };
        let now = Timestamp::from_millis(1_000_000);
        // Received 10 minutes "later" by another replica's clock.
        let ahead = received_no_later_than(token(1_600_000), now);
        assert_eq!(ahead.expiry.received_at(), now);
        assert_eq!(
            ahead.expiry.expires_at(),
            now.saturating_add(Duration::from_secs(3600))
        );
        let policy = RefreshPolicy::new(Duration::from_secs(300));
        assert_eq!(ahead.expiry.freshness(now, &policy), Freshness::Fresh);
        // Received in our past: kept as it is.
        let past = token(400_000);
        assert!(Arc::ptr_eq(
            &received_no_later_than(Arc::clone(&past), now),
            &past
        ));
    }

    #[test]
    fn backoff_grows_with_bounded_jitter() {
        for attempt in 0..5 {
            let b = backoff(attempt, Duration::from_millis(100));
            let base = Duration::from_millis(100 * 2u64.pow(attempt));
            assert!(b >= base && b <= base.mul_f64(1.5), "{attempt}: {b:?}");
        }
        assert!(backoff(u32::MAX, Duration::from_secs(1)) >= Duration::from_secs(65_536));
    }
}
