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
use std::sync::{Arc, Mutex, MutexGuard};
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
}

impl FlightState {
    /// How long until another attempt fits in the per-minute bound (None: it fits now).
    fn budget_exhausted(&mut self, now: Timestamp) -> Option<Duration> {
        const MINUTE: Duration = Duration::from_secs(60);
        while self
            .recent_attempts
            .front()
            .is_some_and(|t| now.since(*t) >= MINUTE)
        {
            self.recent_attempts.pop_front();
        }
        (self.recent_attempts.len() >= MAX_UPSTREAM_ATTEMPTS_PER_MINUTE).then(|| {
            let oldest = self.recent_attempts.front().copied().unwrap_or(now);
            MINUTE.saturating_sub(now.since(oldest))
        })
    }
}

/// Upstream attempts per integration and minute, whatever the traffic (each attempt may retry
/// network errors and 5xx `retries` times). A refresh-ahead signer needs one per token lifetime.
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
    current: std::sync::RwLock<Option<Arc<CachedToken>>>,
    refresh_lock: tokio::sync::Mutex<()>,
    state: Mutex<FlightState>,
    wake: Notify,
    refresher_running: AtomicBool,
    /// The last reply body rendered, per token and remaining second (see `rendered`).
    rendered: Mutex<Option<(Arc<CachedToken>, u64, axum::body::Bytes)>>,
    /// `token_cache{result=hit|stale|miss}` for this integration, looked up once.
    lookups: [prometheus_client::metrics::counter::Counter; 3],
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
        let lookups = [Lookup::Hit, Lookup::Stale, Lookup::Miss].map(|l| {
            let labels = CacheLabels {
                integration: integration_name.clone(),
                result: l.label(),
            };
            metrics.cache.get_or_create(&labels).clone()
        });
        Self {
            key,
            current: std::sync::RwLock::new(None),
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
        self.state.lock().unwrap_or_else(|p| p.into_inner())
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
        *self.rendered.lock().unwrap_or_else(|p| p.into_inner()) = None;
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
        let mut slot = self.rendered.lock().unwrap_or_else(|p| p.into_inner());
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
        self.current
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    fn set_current(&self, token: &Arc<CachedToken>) {
        *self.current.write().unwrap_or_else(|p| p.into_inner()) = Some(Arc::clone(token));
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
        self.lookups[lookup as usize].inc();
    }

    /// Refreshes now (single-flight), honouring the minimum interval and upstream's
    /// `Retry-After`. Returns the token to serve: the new one, or the old one while it is valid.
    pub async fn refresh(&self) -> Result<Arc<CachedToken>, UpstreamError> {
        let seen = self.state().attempts;
        let _flight = self.refresh_lock.lock().await;
        let now = self.clock.now();
        let policy = self.settings.policy;
        let mut usable = self
            .current()
            .filter(|t| t.expiry.freshness(now, &policy) != Freshness::Expired);
        // Another replica may have refreshed already: adopt its token without asking upstream.
        if let Some(t) = self.shared_better_than(usable.as_ref()).await {
            self.set_current(&t);
            let now = self.clock.now();
            if t.expiry.freshness(now, &policy) == Freshness::Fresh {
                return Ok(t);
            }
            usable = Some(t);
        }
        let now = self.clock.now();
        {
            let mut st = self.state();
            if st.attempts != seen {
                // Another caller attempted while this one waited: share its outcome.
                if let Some(t) = usable {
                    return Ok(t);
                }
                if let Some(e) = &st.last_error {
                    return Err(e.clone());
                }
            }
            if let Some(t) = &usable {
                if t.expiry.freshness(now, &policy) == Freshness::Fresh {
                    return Ok(Arc::clone(t));
                }
                let recently = st
                    .last_attempt
                    .is_some_and(|at| now.since(at) < self.settings.min_refresh_interval);
                let same_token = st.same_token_until.is_some_and(|until| now < until);
                if recently || same_token {
                    return Ok(Arc::clone(t));
                }
            }
            if let Some(until) = st.blocked_until.filter(|u| now < *u) {
                return match usable {
                    Some(t) => Ok(t),
                    None => Err(UpstreamError::RateLimited {
                        retry_after: Some(until.since(now)),
                    }),
                };
            }
            if usable.is_none() && st.failing_until.is_some_and(|u| now < u) {
                if let Some(e) = &st.last_error {
                    return Err(e.clone());
                }
            }
            if let Some(wait) = st.budget_exhausted(now) {
                return match usable {
                    Some(t) => Ok(t),
                    None => Err(UpstreamError::RateLimited {
                        retry_after: Some(wait),
                    }),
                };
            }
        }

        // Become the one refresher across replicas, or wait for the one that is.
        let lock = match self.store.try_lock(&self.key, self.lock_ttl()).await {
            Ok(Some(lock)) => {
                // The lock may have been released just now by a replica that stored a token.
                if let Some(t) = self.shared_better_than(usable.as_ref()).await {
                    self.store.unlock(lock).await;
                    self.set_current(&t);
                    return Ok(t);
                }
                Some(lock)
            }
            Ok(None) => {
                if let Some(t) = self
                    .wait_for_other_replica(usable.as_ref(), self.lock_ttl())
                    .await
                {
                    tracing::debug!(
                        integration = self.name(),
                        "adopted the token another replica obtained"
                    );
                    self.set_current(&t);
                    return Ok(t);
                }
                None
            }
            Err(e) => {
                tracing::debug!(integration = self.name(), error = %e, "token store unavailable; refreshing alone");
                None
            }
        };
        let result = self.fetch_with_retries().await;
        let now = self.clock.now();
        // Record the outcome; the guard's scope ends before any await.
        {
            let mut st = self.state();
            st.attempts += 1;
            st.last_attempt = Some(now);
            st.recent_attempts.push_back(now);
            match &result {
                Ok(_) => {
                    st.last_error = None;
                    st.blocked_until = None;
                    st.failing_until = None;
                    st.consecutive_failures = 0;
                }
                Err(e) => {
                    if let Some(ra) = e.upstream_retry_after() {
                        st.blocked_until = Some(now.saturating_add(ra));
                    }
                    st.last_error = Some(e.clone());
                    st.consecutive_failures = st.consecutive_failures.saturating_add(1);
                    let wait = backoff(st.consecutive_failures - 1, FAILURE_BACKOFF_BASE)
                        .min(MAX_BACKGROUND_BACKOFF);
                    st.failing_until = Some(now.saturating_add(wait));
                }
            }
        }
        let outcome = match result {
            Ok(grant) => {
                let mut token = CachedToken {
                    access_token: grant.access_token().clone(),
                    scope: grant.scope().clone(),
                    expiry: Expiry::stamp(now, grant.expires_in()),
                };
                let same = usable
                    .as_ref()
                    .filter(|old| old.access_token == token.access_token);
                if let Some(old) = same {
                    // Both stamps underestimate the real expiry (`expires_in` is rounded down and
                    // the reply took time to arrive); the later one is the better estimate.
                    if old.expiry.expires_at() > token.expiry.expires_at() {
                        token.expiry = old.expiry;
                    }
                    self.state().same_token_until =
                        Some(now.saturating_add(self.settings.min_refresh_interval));
                } else {
                    self.state().same_token_until = None;
                }
                if same.is_some() && token.expiry.freshness(now, &policy) != Freshness::Fresh {
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
                // Saved before the lock is released: waiting replicas look for it then.
                if let Err(e) = self.store.save(&self.key, Arc::clone(&token)).await {
                    tracing::debug!(integration = self.name(), error = %e, "cannot share the new token");
                }
                Ok(token)
            }
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
    fn upstream_attempts_are_bounded_per_minute() {
        let mut st = FlightState::default();
        let start = Timestamp::from_millis(1_000_000);
        for i in 0..MAX_UPSTREAM_ATTEMPTS_PER_MINUTE as u64 {
            let at = start.saturating_add(Duration::from_secs(i));
            assert_eq!(st.budget_exhausted(at), None, "attempt {i} fits");
            st.recent_attempts.push_back(at);
        }
        let now = start.saturating_add(Duration::from_secs(30));
        assert_eq!(st.budget_exhausted(now), Some(Duration::from_secs(30)));
        // A minute after the first attempt, one more fits; the window slides, nothing is scanned
        // twice.
        let later = start.saturating_add(Duration::from_secs(60));
        assert_eq!(st.budget_exhausted(later), None);
        assert_eq!(
            st.recent_attempts.len(),
            MAX_UPSTREAM_ATTEMPTS_PER_MINUTE - 1
        );
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
