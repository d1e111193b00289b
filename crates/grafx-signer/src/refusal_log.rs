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

/// At most this much of an origin is kept and logged (a header can be hundreds of kilobytes).
const MAX_ORIGIN_BYTES: usize = 256;

/// Which refusals were logged in the current interval. Pure: the time is passed in.
#[derive(Debug, Default)]
pub(crate) struct RefusalLog {
    since: Option<Instant>,
    logged: Vec<String>,
    /// Refusals of origins not logged this interval because the bound was reached.
    dropped: u64,
}

/// What to write for one refusal.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Decision {
    /// Log this refusal.
    pub(crate) log: bool,
    /// Refusals the last interval left unlogged once the bound was reached, to say so now.
    pub(crate) unlogged_before: u64,
}

impl RefusalLog {
    /// An empty log (for a `static`).
    pub(crate) const fn new() -> Self {
        Self {
            since: None,
            logged: Vec::new(),
            dropped: 0,
        }
    }

    /// Whether a refusal keyed `key` at `now` gets a line.
    pub(crate) fn decide(&mut self, key: &str, now: Instant) -> Decision {
        let mut unlogged_before = 0;
        let expired = self
            .since
            .is_none_or(|since| now.saturating_duration_since(since) >= REFUSAL_LOG_INTERVAL);
        if expired {
            self.since = Some(now);
            self.logged.clear();
            unlogged_before = std::mem::take(&mut self.dropped);
        }
        let log = if self.logged.iter().any(|k| k == key) {
            false
        } else if self.logged.len() >= DISTINCT_PER_INTERVAL {
            self.dropped += 1;
            false
        } else {
            self.logged.push(key.to_owned());
            true
        };
        Decision {
            log,
            unlogged_before,
        }
    }
}

/// `s` cut to at most `max` bytes, on a character boundary.
fn clipped(s: &str, max: usize) -> &str {
    let mut end = s.len().min(max);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// Logs that `origin` was refused by `integration` on `route`, within the bounds above.
pub(crate) fn origin_refused(origin: &str, integration: &str, route: &str) {
    static LOG: Mutex<RefusalLog> = Mutex::new(RefusalLog::new());
    let origin = clipped(origin, MAX_ORIGIN_BYTES);
    let key = format!("{route} {integration} {origin}");
    let decision = LOG.lock().decide(&key, Instant::now());
    if decision.unlogged_before > 0 {
        tracing::info!(
            unlogged = decision.unlogged_before,
            "{} more refusals of other origins were not logged in the last {}s (more than {DISTINCT_PER_INTERVAL} distinct origins)",
            decision.unlogged_before,
            REFUSAL_LOG_INTERVAL.as_secs()
        );
    }
    if !decision.log {
        return;
    }
    // `?origin`: the header's text, quoted and escaped, in both log formats.
    tracing::info!(
        origin = ?origin,
        integration,
        route,
        "refused: origin {origin:?} is not allowed for integration `{integration}` on {route} (add it to its allowed origins: SIGNER_ALLOWED_ORIGINS, allowed_origins, or proxy.allowed_origins for /api/; the same origin is logged at most once per {}s, and every refusal is counted in grafx_signer_http_requests_total)",
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
        let logs = |log: &mut RefusalLog, key: &str, at| log.decide(key, at).log;
        assert!(logs(&mut log, "a", t0));
        assert!(
            !logs(&mut log, "a", t0 + Duration::from_secs(9)),
            "quiet within the interval"
        );
        assert!(
            logs(&mut log, "b", t0 + Duration::from_secs(1)),
            "another origin is not held back"
        );
        for i in 2..DISTINCT_PER_INTERVAL {
            assert!(logs(&mut log, &format!("o{i}"), t0));
        }
        assert!(!logs(&mut log, "one too many", t0), "bounded per interval");
        assert!(!logs(&mut log, "two too many", t0));
        let later = t0 + REFUSAL_LOG_INTERVAL;
        assert_eq!(
            log.decide("a", later),
            Decision {
                log: true,
                unlogged_before: 2
            },
            "logged again in the next interval, saying what the last one left out"
        );
        assert!(logs(&mut log, "one too many", later));
        assert_eq!(log.decide("c", later).unlogged_before, 0, "said once");
    }

    #[test]
    fn a_long_origin_is_clipped_on_a_character_boundary() {
        let long = format!("https://{}", "é".repeat(400));
        let cut = clipped(&long, MAX_ORIGIN_BYTES);
        assert!(cut.len() <= MAX_ORIGIN_BYTES && cut.len() >= MAX_ORIGIN_BYTES - 1);
        assert!(long.starts_with(cut));
        assert_eq!(
            clipped("https://a.example", MAX_ORIGIN_BYTES),
            "https://a.example"
        );
    }
}
