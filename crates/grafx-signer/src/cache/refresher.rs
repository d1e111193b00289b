//! Asking upstream, with retries (exponential backoff and jitter for network errors, 5xx and
//! 429; none for credential errors), and the refresh-ahead task that wakes at the token's
//! refresh point.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use grafx_core::Freshness;

use super::flight::{backoff, MAX_BACKGROUND_BACKOFF, MAX_INLINE_BACKOFF};
use super::TokenCache;
use crate::metrics::{IntegrationLabel, UpstreamLabels};
use crate::upstream::UpstreamError;

impl TokenCache {
    pub(super) async fn fetch_with_retries(&self) -> Result<grafx_core::TokenGrant, UpstreamError> {
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
        // The intervals the state keeps are on steady time (see `Moment`).
        let steady = self.moment().steady;
        let cached = self.current();
        let st = self.state();
        let mut wait = match &cached {
            Some(t) => t.expiry.refresh_at(&self.settings.policy).since(now),
            None if st.attempts == 0 => Duration::ZERO,
            None => Duration::ZERO,
        };
        if let Some(last) = st.last_attempt {
            if cached.is_some() {
                let since = steady.since(last);
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
            wait = wait.max(until.since(steady));
        }
        wait
    }
}
