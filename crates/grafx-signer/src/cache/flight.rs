//! The pure phases of a refresh, with the time passed in: what to answer without asking
//! upstream (phase 2), the bookkeeping of an attempt (phase 4), the per-minute budget, how a new
//! grant is stamped, and the backoffs. No I/O and no clock: tested (and mutated) on their own.

use std::sync::Arc;
use std::time::Duration;

use grafx_core::{Expiry, Freshness, Timestamp};
use rand::Rng;

use super::CacheSettings;
use crate::store::CachedToken;
use crate::upstream::UpstreamError;

/// Retries wait at most this long inside a request; a longer `Retry-After` goes to the client.
pub(super) const MAX_INLINE_BACKOFF: Duration = Duration::from_secs(5);
/// Background retries after failures back off up to this.
pub(super) const MAX_BACKGROUND_BACKOFF: Duration = Duration::from_secs(60);

/// A moment on both of the clock's times: `wall` judges a token's expiry (CHILI stamps it so),
/// `steady` every interval the cache keeps (the minimum refresh interval, `Retry-After`, the
/// failure backoff, the per-minute budget), so that a wall clock stepped back (NTP) does not
/// hold callers for as long as the step. Every `FlightState` timestamp but expiry is steady.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Moment {
    pub(super) wall: Timestamp,
    pub(super) steady: Timestamp,
}

/// One timestamp for both (the pure phases' tests, where the two clocks agree).
impl From<Timestamp> for Moment {
    fn from(t: Timestamp) -> Self {
        Self { wall: t, steady: t }
    }
}

/// The default bound on upstream attempts per integration and minute while upstream fails or
/// refuses, whatever the traffic (each attempt may retry network errors and 5xx `retries` times;
/// `upstream_attempts_per_minute` sets it). A healthy integration is paced by its tokens'
/// lifetimes instead: one refresh per lifetime, never held back by this bound.
pub const MAX_UPSTREAM_ATTEMPTS_PER_MINUTE: usize = 20;
/// The first backoff after a failure on the request path; it doubles with each failure in a row.
const FAILURE_BACKOFF_BASE: Duration = Duration::from_millis(500);

#[derive(Debug, Default)]
pub(super) struct FlightState {
    /// Completed upstream attempts (each possibly with retries).
    pub(super) attempts: u64,
    pub(super) last_attempt: Option<Timestamp>,
    pub(super) last_error: Option<UpstreamError>,
    /// Upstream said "not before": its `Retry-After`.
    pub(super) blocked_until: Option<Timestamp>,
    pub(super) consecutive_failures: u32,
    /// Upstream last answered with the token already cached: do not ask again before this.
    pub(super) same_token_until: Option<Timestamp>,
    /// After a failure (a credential refusal included), callers without a usable token get that
    /// failure again until this time instead of a new upstream call: exponential, with jitter.
    pub(super) failing_until: Option<Timestamp>,
    /// When the recent attempts started, for the per-minute bound.
    pub(super) recent_attempts: std::collections::VecDeque<Timestamp>,
    /// The last refresh forced by a 401 (`replace_refused`): at most one per minimum interval.
    pub(super) last_forced: Option<Timestamp>,
    /// The per-minute budget is spent (said once in the log, until an attempt succeeds: an
    /// outage must not turn every refused request into a log line).
    pub(super) budget_spent: bool,
}

/// A grant as the token to cache, and whether it is the token already held (`usable`). Both
/// stamps of the same token underestimate its real expiry (`expires_in` is rounded down and the
/// reply took time to arrive): the later one is kept. On a tie the first stamp stays: it carries
/// the lifetime CHILI issued, which the refresh leeway is measured against.
pub(super) fn stamp_grant(
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
    pub(super) fn answer_without_upstream(
        &mut self,
        usable: Option<&Arc<CachedToken>>,
        seen: u64,
        at: impl Into<Moment>,
        settings: &CacheSettings,
    ) -> Option<Result<Arc<CachedToken>, UpstreamError>> {
        let Moment { wall, steady: now } = at.into();
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
            let fresh = t.expiry.freshness(wall, &settings.policy) == Freshness::Fresh;
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

    /// Phase 4's bookkeeping: one more attempt at `at`, and its error if it failed (upstream's
    /// `Retry-After`, and an exponential backoff for callers without a token), on steady time.
    pub(super) fn record(&mut self, error: Option<&UpstreamError>, at: impl Into<Moment>) {
        let now = at.into().steady;
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
    pub(super) fn budget_exhausted(&mut self, now: Timestamp, max: usize) -> Option<Duration> {
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

/// `token` as this replica should judge it: a token another replica received "in our future"
/// (its clock runs ahead) is re-stamped as received now with the lifetime it was given, so it
/// does not look like our clock jumped backwards (which would force a needless refresh). Keeping
/// the lifetime, not the other clock's expiry time, never lengthens the token's life.
pub(super) fn received_no_later_than(token: Arc<CachedToken>, now: Timestamp) -> Arc<CachedToken> {
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
pub(super) fn backoff(attempt: u32, base: Duration) -> Duration {
    let exp = base.saturating_mul(2u32.saturating_pow(attempt.min(16)));
    let jitter = rand::rng().random_range(0.0..0.5);
    exp.saturating_add(exp.mul_f64(jitter))
}

#[cfg(test)]
mod tests {
    use super::*;
    use grafx_core::RefreshPolicy;

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
    fn the_backoffs_count_steady_time_not_the_wall_clock() {
        // CHILI failed with a 30 s Retry-After at wall W, steady S. Then the wall clock is
        // stepped back an hour (NTP) while 31 s pass: the caller without a token may ask again.
        let mut st = FlightState::default();
        let steady = |ms: u64| Timestamp::from_millis(ms);
        let failed_at = Moment {
            wall: at(3600),
            steady: steady(10_000),
        };
        let busy = UpstreamError::Unavailable {
            status: 503,
            retry_after: Some(Duration::from_secs(30)),
        };
        st.record(Some(&busy), failed_at);
        let during = Moment {
            wall: at(3600),
            steady: steady(39_000),
        };
        assert!(
            matches!(
                st.answer_without_upstream(None, st.attempts, during, &settings()),
                Some(Err(_))
            ),
            "held back within the Retry-After"
        );
        let after_a_step_back = Moment {
            wall: at(0),
            steady: steady(41_000),
        };
        assert!(
            st.answer_without_upstream(None, st.attempts, after_a_step_back, &settings())
                .is_none(),
            "31 s later on the steady clock, whatever the wall clock says"
        );
        // A served token's freshness is the wall clock's: CHILI's expiry is a wall time.
        let t = hour_token("eyJ.a.b", 0);
        let early = Moment {
            wall: at(100),
            steady: at(7200), // past the token's expiry, were it read on steady time
        };
        assert!(st
            .answer_without_upstream(Some(&t), st.attempts, early, &settings())
            .is_some());
    }

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
