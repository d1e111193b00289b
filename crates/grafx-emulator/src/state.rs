//! The shared emulator state behind every route, and the handle tests use to steer it.

use std::collections::BTreeMap;
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use grafx_core::Timestamp;
use serde::Serialize;

use crate::clock::EmulatorClock;
use crate::content::Content;
use crate::faults::{Fault, FaultSpec, FaultTarget, Faults};
use crate::journal::{Journal, RecordedRequest};
use crate::tokens::TokenIssuer;
use crate::{ClientSpec, EmulatorConfig, Error, Settings};

/// A handle on a running emulator's state: cheap to clone, shared by all routes.
#[derive(Clone)]
pub struct Emulator {
    inner: Arc<Inner>,
}

struct Inner {
    initial: EmulatorConfig,
    base_url: String,
    clock: EmulatorClock,
    token_requests: AtomicU64,
    api_requests: AtomicU64,
    world: Mutex<World>,
    faults: Mutex<Faults>,
    journal: Mutex<Journal>,
    limiter: Mutex<Option<Arc<DefaultDirectRateLimiter>>>,
}

/// Everything that `reset` restores.
pub(crate) struct World {
    pub(crate) settings: Settings,
    pub(crate) clients: BTreeMap<String, ClientSpec>,
    pub(crate) issuer: TokenIssuer,
    pub(crate) content: Content,
}

/// Counters for tests and benchmarks (`GET /_emulator/stats`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct Stats {
    /// POSTs to `/oauth/token`, whatever their outcome.
    pub token_requests: u64,
    /// Distinct tokens minted (a re-served cached token does not count).
    pub tokens_issued: u64,
    /// Requests to the Environment API (CORS preflights excluded).
    pub api_requests: u64,
    /// Faults still armed.
    pub faults_armed: usize,
    /// The emulator clock, in Unix milliseconds.
    pub now_ms: u64,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding the lock cannot leave these structures half-updated in a way that
    // matters to an emulator; keep serving rather than poisoning every later request.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn limiter_for(rate: u32) -> Option<Arc<DefaultDirectRateLimiter>> {
    NonZeroU32::new(rate).map(|r| Arc::new(RateLimiter::direct(Quota::per_second(r))))
}

impl Emulator {
    /// State for an emulator reachable at `base_url` (e.g. `http://127.0.0.1:4010`).
    pub fn new(config: EmulatorConfig, base_url: impl Into<String>) -> Result<Self, Error> {
        config.settings.validate()?;
        let world = World::from_config(&config);
        Ok(Self {
            inner: Arc::new(Inner {
                base_url: base_url.into().trim_end_matches('/').to_owned(),
                clock: EmulatorClock::default(),
                token_requests: AtomicU64::new(0),
                api_requests: AtomicU64::new(0),
                limiter: Mutex::new(limiter_for(config.settings.token_rate_limit)),
                world: Mutex::new(world),
                faults: Mutex::new(Faults::default()),
                journal: Mutex::new(Journal::default()),
                initial: config,
            }),
        })
    }

    /// The emulator's root URL, without a trailing slash.
    pub fn base_url(&self) -> &str {
        &self.inner.base_url
    }

    /// The token endpoint: `{base}/oauth/token`.
    pub fn token_url(&self) -> String {
        format!("{}/oauth/token", self.inner.base_url)
    }

    /// The environment served.
    pub fn environment(&self) -> &grafx_core::EnvironmentName {
        &self.inner.initial.environment
    }

    /// The Environment API base URL, ending with `/`.
    pub fn environment_api_url(&self) -> String {
        format!(
            "{}/grafx/api/v1/environment/{}/",
            self.inner.base_url, self.inner.initial.environment
        )
    }

    /// The Platform API base URL this emulator serves (its root), ending with `/`.
    pub fn platform_api_url(&self) -> String {
        format!("{}/", self.inner.base_url)
    }

    /// The API requests received since the start or the last [`Emulator::clear_requests`],
    /// oldest first (at most the last 500).
    pub fn requests(&self) -> Vec<RecordedRequest> {
        lock(&self.inner.journal).list()
    }

    /// Empties the request journal.
    pub fn clear_requests(&self) {
        lock(&self.inner.journal).clear();
    }

    pub(crate) fn record_request(&self, entry: RecordedRequest) {
        lock(&self.inner.journal).push(entry);
    }

    /// The emulator clock.
    pub fn now(&self) -> Timestamp {
        self.inner.clock.now()
    }

    /// Moves the emulator clock (negative moves it back).
    pub fn advance_clock(&self, by_ms: i64) {
        self.inner.clock.advance_ms(by_ms);
    }

    /// Current counters.
    pub fn stats(&self) -> Stats {
        let tokens_issued = self.world().issuer.tokens_issued;
        Stats {
            token_requests: self.inner.token_requests.load(Ordering::Relaxed),
            tokens_issued,
            api_requests: self.inner.api_requests.load(Ordering::Relaxed),
            faults_armed: lock(&self.inner.faults).armed().len(),
            now_ms: self.now().as_millis(),
        }
    }

    /// Arms a fault.
    pub fn arm_fault(&self, spec: FaultSpec) -> Result<(), Error> {
        spec.validate()?;
        lock(&self.inner.faults).arm(spec);
        Ok(())
    }

    /// Disarms every fault.
    pub fn clear_faults(&self) {
        lock(&self.inner.faults).clear();
    }

    /// The faults still armed.
    pub fn armed_faults(&self) -> Vec<FaultSpec> {
        lock(&self.inner.faults).armed()
    }

    /// Current settings.
    pub fn settings(&self) -> Settings {
        self.world().settings.clone()
    }

    /// Replaces the settings (token lifetime, re-issue window, rate limit, render times).
    pub fn set_settings(&self, settings: Settings) -> Result<(), Error> {
        settings.validate()?;
        *lock(&self.inner.limiter) = limiter_for(settings.token_rate_limit);
        self.world().settings = settings;
        Ok(())
    }

    /// Adds a client or replaces its secret and scopes. Tokens already issued stay valid.
    pub fn upsert_client(&self, client: ClientSpec) {
        self.world().clients.insert(client.id.clone(), client);
    }

    /// Removes a client (its credentials are "revoked"); tokens already issued stay valid until
    /// they expire, because GraFx tokens cannot be revoked. Returns whether it existed.
    pub fn remove_client(&self, id: &str) -> bool {
        self.world().clients.remove(id).is_some()
    }

    /// Back to the start: initial clients, settings and content; no tokens, faults or counts;
    /// the clock at real time.
    pub fn reset(&self) {
        *self.world() = World::from_config(&self.inner.initial);
        *lock(&self.inner.limiter) = limiter_for(self.inner.initial.settings.token_rate_limit);
        self.clear_faults();
        self.clear_requests();
        self.inner.clock.reset();
        self.inner.token_requests.store(0, Ordering::Relaxed);
        self.inner.api_requests.store(0, Ordering::Relaxed);
    }

    pub(crate) fn world(&self) -> MutexGuard<'_, World> {
        lock(&self.inner.world)
    }

    pub(crate) fn take_fault(&self, target: FaultTarget) -> Option<Fault> {
        lock(&self.inner.faults).take(target)
    }

    pub(crate) fn count_token_request(&self) {
        self.inner.token_requests.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn count_api_request(&self) {
        self.inner.api_requests.fetch_add(1, Ordering::Relaxed);
    }

    /// `Err(retry_after)` when the token endpoint's rate limit is exceeded.
    pub(crate) fn check_token_rate(&self) -> Result<(), Duration> {
        let limiter = lock(&self.inner.limiter).clone();
        match limiter {
            None => Ok(()),
            Some(l) => l.check().map_err(|not_until| {
                not_until.wait_time_from(governor::clock::Clock::now(
                    &governor::clock::DefaultClock::default(),
                ))
            }),
        }
    }
}

impl World {
    fn from_config(config: &EmulatorConfig) -> Self {
        Self {
            settings: config.settings.clone(),
            clients: config
                .clients
                .iter()
                .map(|c| (c.id.clone(), c.clone()))
                .collect(),
            issuer: TokenIssuer::default(),
            content: Content::seeded(),
        }
    }
}
