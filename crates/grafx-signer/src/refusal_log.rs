//! The info line for a refused browser origin: browsers hide a refused preflight from the page,
//! so this line is how an operator learns which origin to add.
//!
//! Each distinct origin (per integration and route) is logged once per
//! [`REFUSAL_LOG_INTERVAL`], and at most [`DISTINCT_PER_INTERVAL`] of them per interval: a page
//! on a wrong origin retries, and a scanner sending thousands of made-up origins can neither flood
//! the log nor keep the operator's own wrong origin out of it (it would have to send more distinct
//! origins than the bound in every interval, and even then each refusal is still counted in
//! `grafx_signer_http_requests_total`).
//!
//! ```ignore
//! refusal_log::origin_refused("https://wrong.example", "reader", "/token");
//! ```

use std::time::{Duration, Instant};

use parking_lot::Mutex;

/// How long a logged origin stays quiet.
pub(crate) const REFUSAL_LOG_INTERVAL: Duration = Duration::from_secs(10);
/// Distinct refused origins logged per interval, at most.
pub(crate) const DISTINCT_PER_INTERVAL: usize = 16;

/// Which refusals were logged in the current interval. Pure: the time is passed in.
#[derive(Debug, Default)]
pub(crate) struct RefusalLog {
    since: Option<Instant>,
    logged: Vec<String>,
}

impl RefusalLog {
    /// An empty log (for a `static`).
    pub(crate) const fn new() -> Self {
        Self {
            since: None,
            logged: Vec::new(),
        }
    }

    /// Whether a refusal keyed `key` at `now` gets a line.
    pub(crate) fn should_log(&mut self, key: &str, now: Instant) -> bool {
        let expired = self
            .since
            .is_none_or(|since| now.saturating_duration_since(since) >= REFUSAL_LOG_INTERVAL);
        if expired {
            self.since = Some(now);
            self.logged.clear();
        }
        if self.logged.len() >= DISTINCT_PER_INTERVAL || self.logged.iter().any(|k| k == key) {
            return false;
        }
        self.logged.push(key.to_owned());
        true
    }
}

/// Logs that `origin` was refused by `integration` on `route`, within the bounds above.
pub(crate) fn origin_refused(origin: &str, integration: &str, route: &str) {
    static LOG: Mutex<RefusalLog> = Mutex::new(RefusalLog::new());
    let key = format!("{route} {integration} {origin}");
    if !LOG.lock().should_log(&key, Instant::now()) {
        return;
    }
    // `?origin`: the header's text, quoted and escaped, in both log formats.
    tracing::info!(
        origin = ?origin,
        integration,
        route,
        "refused: origin {origin:?} is not allowed for integration `{integration}` on {route} (add it to its allowed origins: SIGNER_ALLOWED_ORIGINS, allowed_origins, or proxy.allowed_origins for /api/; the same origin is logged again after {}s, every refusal is counted in grafx_signer_http_requests_total)",
        REFUSAL_LOG_INTERVAL.as_secs()
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_origin_once_per_interval_and_a_bounded_number_of_them() {
        let t0 = Instant::now();
        let mut log = RefusalLog::new();
        assert!(log.should_log("a", t0));
        assert!(
            !log.should_log("a", t0 + Duration::from_secs(9)),
            "quiet within the interval"
        );
        assert!(
            log.should_log("b", t0 + Duration::from_secs(1)),
            "another origin is not held back"
        );
        for i in 2..DISTINCT_PER_INTERVAL {
            assert!(log.should_log(&format!("o{i}"), t0));
        }
        assert!(!log.should_log("one too many", t0), "bounded per interval");
        let later = t0 + REFUSAL_LOG_INTERVAL;
        assert!(
            log.should_log("a", later),
            "logged again in the next interval"
        );
        assert!(log.should_log("one too many", later));
    }
}
