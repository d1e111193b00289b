//! Prometheus metrics, in a registry owned by the app (no globals, so tests can run many apps).

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct RequestLabels {
    pub(crate) route: &'static str,
    pub(crate) status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct CacheLabels {
    pub(crate) integration: String,
    pub(crate) result: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct UpstreamLabels {
    pub(crate) integration: String,
    pub(crate) outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct IntegrationLabel {
    pub(crate) integration: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct ReasonLabel {
    pub(crate) reason: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct ProxyLabels {
    /// Shared with the integration's token cache: no copy per request.
    pub(crate) integration: Arc<str>,
    pub(crate) method: &'static str,
    pub(crate) status: u16,
}

fn latency_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.005, 2.0, 12))
}

/// The signer's metrics.
pub(crate) struct Metrics {
    registry: Registry,
    pub(crate) requests: Family<RequestLabels, Counter>,
    pub(crate) cache: Family<CacheLabels, Counter>,
    pub(crate) upstream: Family<UpstreamLabels, Counter>,
    pub(crate) upstream_seconds: Family<IntegrationLabel, Histogram, fn() -> Histogram>,
    pub(crate) token_expires_in: Family<IntegrationLabel, Gauge<f64, AtomicU64>>,
    pub(crate) refusals: Family<ReasonLabel, Counter>,
    pub(crate) store_degraded: Gauge,
    pub(crate) caller_refusals: Family<ReasonLabel, Counter>,
    pub(crate) store_errors: Counter,
    pub(crate) proxy_requests: Family<ProxyLabels, Counter>,
    pub(crate) proxy_held_body_bytes: Gauge,
}

/// Registers `metric` under `name` and hands it back.
fn registered<M: prometheus_client::registry::Metric + Clone>(
    registry: &mut Registry,
    name: &str,
    help: &str,
    metric: M,
) -> M {
    registry.register(name, help, metric.clone());
    metric
}

impl Metrics {
    /// Every metric, registered. One piece on purpose: it is the list of what `/metrics` exports,
    /// one entry per field.
    pub(crate) fn new() -> Self {
        let mut registry = Registry::with_prefix("grafx_signer");
        let requests = registered(
            &mut registry,
            "http_requests",
            "HTTP requests by route and status",
            Family::<RequestLabels, Counter>::default(),
        );
        let cache = registered(
            &mut registry,
            "token_cache",
            "Token lookups: hit, stale (served while refreshing) or miss",
            Family::<CacheLabels, Counter>::default(),
        );
        let upstream = registered(
            &mut registry,
            "upstream_requests",
            "Token requests to CHILI's auth server by outcome",
            Family::<UpstreamLabels, Counter>::default(),
        );
        let upstream_seconds = registered(
            &mut registry,
            "upstream_request_duration_seconds",
            "Latency of token requests to CHILI",
            Family::<IntegrationLabel, Histogram, fn() -> Histogram>::new_with_constructor(
                latency_histogram as fn() -> Histogram,
            ),
        );
        let token_expires_in = registered(
            &mut registry,
            "token_expires_in_seconds",
            "Seconds until the cached token expires",
            Family::<IntegrationLabel, Gauge<f64, AtomicU64>>::default(),
        );
        let refusals = registered(
            &mut registry,
            "refusals",
            "Token requests refused, by error code",
            Family::<ReasonLabel, Counter>::default(),
        );
        let caller_refusals = registered(
            &mut registry,
            "caller_refusals",
            "Callers refused by caller authentication, by reason (missing, expired, wrong_issuer, forward_auth_refused…)",
            Family::<ReasonLabel, Counter>::default(),
        );
        let store_degraded = registered(
            &mut registry,
            "store_degraded",
            "1 while the shared token store (Redis) is unreachable and replicas work alone",
            Gauge::default(),
        );
        let store_errors = registered(
            &mut registry,
            "store_errors",
            "Failed operations on the shared token store",
            Counter::default(),
        );
        let proxy_requests = registered(
            &mut registry,
            "proxy_requests",
            "Requests forwarded by the API proxy, by integration, method and CHILI's status",
            Family::<ProxyLabels, Counter>::default(),
        );
        let proxy_held_body_bytes = registered(
            &mut registry,
            "proxy_held_body_bytes",
            "Bytes of API proxy request bodies held for a retry now (bounded by proxy_held_body_bytes)",
            Gauge::default(),
        );
        Self {
            registry,
            proxy_requests,
            proxy_held_body_bytes,
            store_degraded,
            store_errors,
            caller_refusals,
            requests,
            cache,
            upstream,
            upstream_seconds,
            token_expires_in,
            refusals,
        }
    }

    pub(crate) fn count_caller_refusal(&self, reason: crate::RefusalReason) {
        self.caller_refusals
            .get_or_create(&ReasonLabel {
                reason: reason.as_str(),
            })
            .inc();
    }

    /// The text exposition format.
    pub(crate) fn render(&self) -> String {
        let mut out = String::new();
        if let Err(e) = prometheus_client::encoding::text::encode(&mut out, &self.registry) {
            tracing::error!(%e, "cannot encode metrics");
        }
        out
    }
}
