//! The state behind every route: configuration, one token cache per integration, metrics and the
//! per-IP rate limiter. Reloadable (SIGHUP) without dropping the caches of unchanged integrations.

use std::collections::BTreeMap;
use std::sync::Arc;

use parking_lot::{Mutex, RwLock};

use grafx_core::RefreshPolicy;
use tokio::task::JoinHandle;

use crate::cache::{CacheSettings, TokenCache};
use crate::caller::CallerAuth;
use crate::clock::{Clock, SystemClock};
use crate::metrics::Metrics;
use crate::proxy_client::{ProxyClient, ProxyClientSettings};
use crate::rate_limit::{ProxyQuotas, RateLimits};
use crate::store::{MemoryStore, TokenStore};
use crate::upstream::{ChiliAuthClient, TokenSource};
use crate::{
    Error, Integration, OwnershipStore, RedisOwnership, RedisStore, SignerConfig, SqliteOwnership,
};

/// Shared application state (cheap to clone).
#[derive(Clone)]
pub struct AppState {
    inner: Arc<Inner>,
}

struct Inner {
    // Read on every request: swapped whole by a reload, read without a lock.
    config: arc_swap::ArcSwap<SignerConfig>,
    caches: arc_swap::ArcSwap<BTreeMap<String, Arc<TokenCache>>>,
    refreshers: Mutex<BTreeMap<String, JoinHandle<()>>>,
    metrics: Arc<Metrics>,
    source: Arc<dyn TokenSource>,
    store: Arc<dyn TokenStore>,
    clock: Arc<dyn Clock>,
    limits: arc_swap::ArcSwap<RateLimits>,
    callers: RwLock<Arc<BTreeMap<String, Arc<CallerAuth>>>>,
    proxy_quotas: arc_swap::ArcSwap<BTreeMap<String, Arc<ProxyQuotas>>>,
    /// The memory every held proxy body may take together (fixed at start: a reload does not
    /// resize it).
    proxy_held_memory: Arc<crate::routes::proxy::HeldMemory>,
    /// The same for held replies.
    proxy_reply_memory: Arc<crate::routes::proxy::HeldMemory>,
    /// Who owns what the API proxy created (when a proxy keeps owners apart).
    ownership: RwLock<Option<Arc<dyn OwnershipStore>>>,
    /// The API proxy's client: no redirects (the bearer would follow), no overall timeout (a
    /// download may take minutes), a bound on connecting and on each read.
    proxy_http: ProxyClient,
}

/// Each proxy's quotas, keeping the counts of `old`'s unchanged quotas (a reload is no reset).
fn proxy_quotas(
    config: &SignerConfig,
    old: Option<&BTreeMap<String, Arc<ProxyQuotas>>>,
    clock: &Arc<dyn Clock>,
) -> Arc<BTreeMap<String, Arc<ProxyQuotas>>> {
    Arc::new(
        config
            .integrations
            .iter()
            .filter_map(|(name, i)| {
                let p = i.proxy.as_ref()?;
                let old = old.and_then(|o| o.get(name)).map(|q| q.as_ref());
                let quotas = ProxyQuotas::carried_over(old, &p.quotas, clock);
                Some((name.clone(), Arc::new(quotas)))
            })
            .collect(),
    )
}

fn proxy_http(config: &SignerConfig) -> ProxyClient {
    // `AppState::new` refused a bad `SSL_CERT_FILE` already; an embedding app is told here.
    let extra_roots = crate::tls::extra_root_ders().unwrap_or_else(|e| {
        tracing::error!("the API proxy trusts Mozilla's roots only: {e}");
        Vec::new()
    });
    let settings = |extra_roots| ProxyClientSettings {
        extra_roots,
        egress: Some(hyper_util::client::proxy::matcher::Matcher::from_env()),
        connect_timeout: config
            .upstream_timeout
            .min(std::time::Duration::from_secs(5)),
        read_timeout: config.proxy_timeout,
    };
    ProxyClient::new(settings(extra_roots))
}

fn callers(
    config: &SignerConfig,
    clock: &Arc<dyn Clock>,
) -> Result<BTreeMap<String, Arc<CallerAuth>>, Error> {
    let mut map = BTreeMap::new();
    for (name, i) in &config.integrations {
        if let Some(c) = &i.caller {
            map.insert(
                name.clone(),
                Arc::new(CallerAuth::new(
                    c.clone(),
                    config.upstream_timeout,
                    Arc::clone(clock),
                )?),
            );
        }
    }
    Ok(map)
}

/// Whether a proxy records owners, so the signer needs an ownership store.
fn needs_owners(config: &SignerConfig) -> bool {
    config.integrations.values().any(|i| {
        i.proxy
            .as_ref()
            .is_some_and(crate::ProxyPolicy::keeps_owners)
    })
}

fn limits(config: &SignerConfig, clock: &Arc<dyn Clock>) -> Arc<RateLimits> {
    Arc::new(RateLimits::with_clock(
        config.rate_limit_per_minute,
        config.user_rate_limit_per_minute,
        Arc::clone(clock),
    ))
}

impl AppState {
    /// State with CHILI's real auth server, the system clock, and the store the configuration
    /// names: Redis with `redis_url`, otherwise memory.
    pub fn new(config: SignerConfig) -> Result<Self, Error> {
        let source = ChiliAuthClient::new(config.upstream_timeout)?;
        let redis = match &config.redis {
            Some(r) => Some(Arc::new(
                RedisStore::with_tls_roots(r.url.expose(), r.key.clone(), r.ca_pem.as_deref())
                    .map_err(|e| Error::env("SIGNER_REDIS_URL", e.to_string()))?,
            )),
            None => None,
        };
        // Owners live in Redis when the replicas share one, else in SQLite in the data
        // directory; a database that cannot be opened stops the start.
        let ownership: Option<Arc<dyn OwnershipStore>> =
            match (&redis, &config.data_dir) {
                _ if !needs_owners(&config) => None,
                (Some(r), _) => Some(Arc::new(RedisOwnership::new(Arc::clone(r)))),
                (None, Some(dir)) => Some(Arc::new(SqliteOwnership::open(dir).map_err(|e| {
                    Error::config(crate::Setting::Derived("data_dir"), e.to_string())
                })?)),
                (None, None) => None,
            };
        let store: Arc<dyn TokenStore> = match &redis {
            Some(r) => Arc::clone(r) as Arc<dyn TokenStore>,
            None => Arc::new(MemoryStore::default()),
        };
        Ok(Self::assemble(
            config,
            Arc::new(source),
            store,
            Arc::new(SystemClock),
            ownership,
        ))
    }

    /// State with a chosen token source, store and clock (tests, other transports, shared stores).
    /// A proxy that keeps owners gets SQLite in `data_dir` when the configuration names no Redis
    /// (else set one with [`AppState::set_ownership`]).
    pub fn with_parts(
        config: SignerConfig,
        source: Arc<dyn TokenSource>,
        store: Arc<dyn TokenStore>,
        clock: Arc<dyn Clock>,
    ) -> Self {
        let dir = config
            .data_dir
            .as_ref()
            .filter(|_| needs_owners(&config) && config.redis.is_none());
        let ownership = dir.and_then(|dir| match SqliteOwnership::open(dir) {
            Ok(s) => Some(Arc::new(s) as Arc<dyn OwnershipStore>),
            Err(e) => {
                tracing::error!("{e}: the API proxy refuses owner-scoped requests (503)");
                None
            }
        });
        Self::assemble(config, source, store, clock, ownership)
    }

    fn assemble(
        config: SignerConfig,
        source: Arc<dyn TokenSource>,
        store: Arc<dyn TokenStore>,
        clock: Arc<dyn Clock>,
        ownership: Option<Arc<dyn OwnershipStore>>,
    ) -> Self {
        let metrics = Arc::new(Metrics::new());
        let inner = Inner {
            limits: arc_swap::ArcSwap::new(limits(&config, &clock)),
            // Building a caller check cannot fail for a loaded configuration (only the HTTP
            // client could); a failure leaves the integration without one, so it is logged loudly
            // and every request to it is refused below.
            callers: RwLock::new(Arc::new(callers(&config, &clock).unwrap_or_else(|e| {
                tracing::error!("caller authentication is unusable: {e}");
                BTreeMap::new()
            }))),
            proxy_quotas: arc_swap::ArcSwap::new(proxy_quotas(&config, None, &clock)),
            proxy_held_memory: crate::routes::proxy::HeldMemory::new(config.proxy_held_body_bytes),
            proxy_reply_memory: crate::routes::proxy::HeldMemory::new(config.proxy_held_body_bytes),
            proxy_http: proxy_http(&config),
            ownership: RwLock::new(ownership),
            config: arc_swap::ArcSwap::from_pointee(config.clone()),
            caches: arc_swap::ArcSwap::from_pointee(BTreeMap::new()),
            refreshers: Mutex::new(BTreeMap::new()),
            metrics,
            source,
            store,
            clock,
        };
        let state = Self {
            inner: Arc::new(inner),
        };
        let caches = config
            .integrations
            .values()
            .map(|i| (i.name.clone(), state.new_cache(i.clone(), &config)))
            .collect();
        state.inner.caches.store(Arc::new(caches));
        state
    }

    /// Keeps the API proxy's ownership records in `store` (a shared Redis, another database).
    pub fn set_ownership(&self, store: Arc<dyn OwnershipStore>) {
        *self.inner.ownership.write() = Some(store);
    }

    /// The ownership store, when one is configured.
    pub(crate) fn ownership(&self) -> Option<Arc<dyn OwnershipStore>> {
        self.inner.ownership.read().clone()
    }

    fn new_cache(&self, integration: Integration, config: &SignerConfig) -> Arc<TokenCache> {
        let settings = CacheSettings {
            policy: RefreshPolicy::new(config.leeway),
            min_refresh_interval: config.min_refresh_interval,
            retries: config.upstream_retries,
            upstream_timeout: config.upstream_timeout,
            max_attempts_per_minute: config.upstream_attempts_per_minute as usize,
        };
        Arc::new(TokenCache::new(
            Arc::new(integration),
            Arc::clone(&self.inner.source),
            Arc::clone(&self.inner.store),
            Arc::clone(&self.inner.clock),
            settings,
            Arc::clone(&self.inner.metrics),
        ))
    }

    /// Starts the refresh-ahead task of every integration that has none (needs a Tokio runtime).
    /// Each first fetches a token, so the signer is warm before the first browser asks.
    pub fn start_refreshers(&self) {
        let caches = self.caches();
        let mut running = self.inner.refreshers.lock();
        for (name, cache) in caches.iter() {
            running
                .entry(name.clone())
                .or_insert_with(|| tokio::spawn(Arc::clone(cache).run_refresher()));
        }
    }

    /// Stops every refresh-ahead task.
    pub fn stop_refreshers(&self) {
        let mut running = self.inner.refreshers.lock();
        for (_, task) in std::mem::take(&mut *running) {
            task.abort();
        }
    }

    /// Applies a new configuration. Integrations whose credentials and upstream are unchanged keep
    /// their cache (and cached token); the others start cold. Returns the names that were kept.
    pub async fn reload(&self, config: SignerConfig) -> Vec<String> {
        // Caller checks first: a kept cache switches to its new caller policy right below.
        match callers(&config, &self.inner.clock) {
            Ok(c) => *self.inner.callers.write() = Arc::new(c),
            Err(e) => {
                tracing::error!("caller authentication is unusable, keeping the previous one: {e}")
            }
        }
        warn_fixed_at_start(&self.config(), &config);
        let old = self.caches();
        let mut kept = Vec::new();
        let mut caches = BTreeMap::new();
        for (name, integration) in &config.integrations {
            let keep = old
                .get(name)
                .filter(|c| c.integration().same_upstream(integration));
            let cache = match keep {
                Some(c) => {
                    // Same credentials: keep the token, apply every policy change now.
                    kept.push(name.clone());
                    c.set_integration(Arc::new(integration.clone()));
                    Arc::clone(c)
                }
                _ => {
                    if let Some(old) = old.get(name) {
                        // Its credentials changed: the shared token belongs to the old ones.
                        let _ = self.inner.store.remove(old.store_key()).await;
                    }
                    self.new_cache(integration.clone(), &config)
                }
            };
            caches.insert(name.clone(), cache);
        }
        {
            let mut running = self.inner.refreshers.lock();
            running.retain(|name, task| {
                let keep = kept.contains(name);
                if !keep {
                    task.abort();
                }
                keep
            });
        }
        // Limits and quotas whose rates did not change keep their counts.
        let carried = RateLimits::carried_over(
            &self.inner.limits.load(),
            config.rate_limit_per_minute,
            config.user_rate_limit_per_minute,
        );
        self.inner.limits.store(Arc::new(carried));
        let quotas = proxy_quotas(
            &config,
            Some(&self.inner.proxy_quotas.load()),
            &self.inner.clock,
        );
        self.inner.proxy_quotas.store(quotas);
        self.inner.caches.store(Arc::new(caches));
        self.inner.config.store(Arc::new(config));
        let had_refreshers = !old.is_empty();
        if had_refreshers && tokio::runtime::Handle::try_current().is_ok() {
            self.start_refreshers();
        }
        kept
    }

    /// The current configuration.
    pub fn config(&self) -> Arc<SignerConfig> {
        self.inner.config.load_full()
    }

    pub(crate) fn caches(&self) -> Arc<BTreeMap<String, Arc<TokenCache>>> {
        self.inner.caches.load_full()
    }

    /// The cache of an integration (its configuration is `cache.integration()`).
    pub fn cache(&self, name: &str) -> Option<Arc<TokenCache>> {
        self.inner.caches.load().get(name).cloned()
    }

    pub(crate) fn store(&self) -> &dyn TokenStore {
        self.inner.store.as_ref()
    }

    pub(crate) fn metrics(&self) -> &Metrics {
        &self.inner.metrics
    }

    pub(crate) fn clock(&self) -> &dyn Clock {
        self.inner.clock.as_ref()
    }

    /// The caller check of an integration, when it has one.
    pub(crate) fn caller_auth(&self, integration: &str) -> Option<Arc<CallerAuth>> {
        self.inner.callers.read().get(integration).cloned()
    }

    /// An integration's proxy quotas, when it has a proxy.
    pub(crate) fn proxy_quotas(&self, integration: &str) -> Option<Arc<ProxyQuotas>> {
        self.inner.proxy_quotas.load().get(integration).cloned()
    }

    /// How the API proxy bounds request bodies: the request deadline for the held part, the
    /// header read timeout between chunks, and the shared memory budget.
    pub(crate) fn proxy_body_limits(&self) -> crate::routes::proxy::BodyLimits {
        let config = self.config();
        crate::routes::proxy::BodyLimits {
            deadline: config.request_timeout,
            idle: config.header_read_timeout,
            memory: Arc::clone(&self.inner.proxy_held_memory),
            replies: Arc::clone(&self.inner.proxy_reply_memory),
        }
    }

    /// The bytes of proxy request bodies held now (`grafx_signer_proxy_held_body_bytes`).
    pub(crate) fn proxy_held_body_bytes(&self) -> u64 {
        self.inner.proxy_held_memory.held() + self.inner.proxy_reply_memory.held()
    }

    /// The API proxy's HTTP client.
    pub(crate) fn proxy_http(&self) -> &ProxyClient {
        &self.inner.proxy_http
    }

    /// The rate limits in force (a lock-free read: the hot path reads them on every request).
    pub(crate) fn limits(&self) -> impl std::ops::Deref<Target = Arc<RateLimits>> {
        self.inner.limits.load()
    }
}

/// Settings a reload cannot change (the listener and the memory budget are set up once): each
/// one changed is named in a warning, so an operator is not left believing it applied.
fn warn_fixed_at_start(old: &SignerConfig, new: &SignerConfig) {
    let fixed = [
        ("listen", old.listen != new.listen),
        ("write_timeout_secs", old.write_timeout != new.write_timeout),
        ("proxy_timeout_secs", old.proxy_timeout != new.proxy_timeout),
        (
            "max_connections",
            old.max_connections != new.max_connections,
        ),
        (
            "proxy_held_body_bytes",
            old.proxy_held_body_bytes != new.proxy_held_body_bytes,
        ),
    ];
    for (setting, changed) in fixed {
        if changed {
            tracing::warn!(
                setting,
                "this setting changed, but applies only from the next start; the running signer keeps the old value"
            );
        }
    }
}
