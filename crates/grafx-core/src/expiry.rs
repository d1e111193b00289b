//! When a token must be refreshed, judged only by the LOCAL clock.
//!
//! A token is stamped on receipt: `expires_at = received_at + expires_in`, both read from the
//! clock of the machine that received it. A server's clock is never compared with the local one.
//! The refresh leeway is clamped to a share of the token's lifetime, so that a short-lived token is
//! not "due" from the moment it arrives.
//!
//! ```
//! use std::time::Duration;
//! use grafx_core::{Expiry, Freshness, RefreshPolicy, Timestamp};
//!
//! let t0 = Timestamp::from_millis(0);
//! let expiry = Expiry::stamp(t0, Duration::from_secs(3600));
//! let policy = RefreshPolicy::new(Duration::from_secs(300));
//! assert_eq!(expiry.freshness(t0.saturating_add(Duration::from_secs(3299)), &policy), Freshness::Fresh);
//! assert_eq!(expiry.freshness(t0.saturating_add(Duration::from_secs(3300)), &policy), Freshness::RefreshDue);
//! assert_eq!(expiry.freshness(t0.saturating_add(Duration::from_secs(3600)), &policy), Freshness::Expired);
//! ```

use std::time::Duration;

use crate::Error;

/// A point on the local clock, in milliseconds since the Unix epoch (`Date.now()` in a browser,
/// `SystemTime` or a monotonic clock mapped onto it on a server).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(u64);

impl Timestamp {
    /// A timestamp `millis` milliseconds after the epoch.
    pub const fn from_millis(millis: u64) -> Self {
        Self(millis)
    }

    /// A timestamp from a JavaScript `Date.now()` value; negative or non-finite values clamp to 0.
    pub fn from_js_millis(millis: f64) -> Self {
        if millis.is_finite() && millis > 0.0 {
            // `as` saturates at u64::MAX for huge values, which is what a clock reading wants.
            Self(millis as u64)
        } else {
            Self(0)
        }
    }

    /// Milliseconds since the epoch.
    pub const fn as_millis(self) -> u64 {
        self.0
    }

    /// Whole seconds since the epoch.
    pub const fn as_secs(self) -> u64 {
        self.0 / 1000
    }

    /// `self + d`, saturating at the far future instead of overflowing.
    pub fn saturating_add(self, d: Duration) -> Self {
        Self(
            self.0
                .saturating_add(u64::try_from(d.as_millis()).unwrap_or(u64::MAX)),
        )
    }

    /// `self - d`, saturating at the epoch.
    pub fn saturating_sub(self, d: Duration) -> Self {
        Self(
            self.0
                .saturating_sub(u64::try_from(d.as_millis()).unwrap_or(u64::MAX)),
        )
    }

    /// How long after `earlier` this is; zero if it is not after it.
    pub fn since(self, earlier: Timestamp) -> Duration {
        Duration::from_millis(self.0.saturating_sub(earlier.0))
    }
}

/// How usable a cached token is at a given moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Freshness {
    /// Use it; no refresh needed yet.
    Fresh,
    /// Still valid and usable, but inside the leeway: refresh now (in the background if possible).
    /// Also returned when the clock has moved backwards since the token was stamped, because the
    /// time elapsed since then is unknown and a fresh stamp is the only safe answer.
    RefreshDue,
    /// Past its expiry: do not send it.
    Expired,
}

/// The refresh leeway, and the cap that keeps it sensible for short-lived tokens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RefreshPolicy {
    leeway: Duration,
    max_leeway_percent: u8,
}

impl RefreshPolicy {
    /// The default cap: the leeway never exceeds half of a token's lifetime.
    pub const DEFAULT_MAX_LEEWAY_PERCENT: u8 = 50;

    /// A policy that refreshes `leeway` before expiry, capped at half the token's lifetime.
    pub const fn new(leeway: Duration) -> Self {
        Self {
            leeway,
            max_leeway_percent: Self::DEFAULT_MAX_LEEWAY_PERCENT,
        }
    }

    /// Changes the cap: the leeway never exceeds `percent`% of a token's lifetime (1 to 100).
    pub fn with_max_leeway_percent(self, percent: u8) -> Result<Self, Error> {
        if !(1..=100).contains(&percent) {
            return Err(Error::InvalidPolicy(
                "max_leeway_percent must be between 1 and 100",
            ));
        }
        Ok(Self {
            max_leeway_percent: percent,
            ..self
        })
    }

    /// The configured leeway, before clamping.
    pub const fn leeway(&self) -> Duration {
        self.leeway
    }

    /// The leeway that applies to a token of the given lifetime.
    pub fn effective_leeway(&self, lifetime: Duration) -> Duration {
        // Without u128 division, which linked about 1 KB of compiler builtins into the browser
        // package. In u64 milliseconds, exactly: percent is at most 100, so neither product
        // overflows. Beyond them (584 million years), on `Duration`, at most u64::MAX ms as before.
        let percent = self.max_leeway_percent;
        let cap = match u64::try_from(lifetime.as_millis()) {
            Ok(millis) => {
                let p = u64::from(percent);
                Duration::from_millis(millis / 100 * p + millis % 100 * p / 100)
            }
            Err(_) => (lifetime / 100)
                .saturating_mul(u32::from(percent))
                .min(Duration::from_millis(u64::MAX)),
        };
        self.leeway.min(cap)
    }
}

/// A token's validity window on the local clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Expiry {
    received_at: Timestamp,
    expires_at: Timestamp,
}

impl Expiry {
    /// Stamps a token received at `received_at` with a lifetime of `expires_in`.
    pub fn stamp(received_at: Timestamp, expires_in: Duration) -> Self {
        Self {
            received_at,
            expires_at: received_at.saturating_add(expires_in),
        }
    }

    /// When the token was received.
    pub const fn received_at(&self) -> Timestamp {
        self.received_at
    }

    /// When the token expires.
    pub const fn expires_at(&self) -> Timestamp {
        self.expires_at
    }

    /// The lifetime reported on receipt.
    pub fn lifetime(&self) -> Duration {
        self.expires_at.since(self.received_at)
    }

    /// Time left at `now`: zero once expired, and never more than the lifetime (a clock that went
    /// backwards does not lengthen a token's life).
    pub fn remaining(&self, now: Timestamp) -> Duration {
        if now < self.received_at {
            return self.lifetime();
        }
        self.expires_at.since(now)
    }

    /// The moment the token becomes [`Freshness::RefreshDue`] under `policy`.
    pub fn refresh_at(&self, policy: &RefreshPolicy) -> Timestamp {
        self.expires_at
            .saturating_sub(policy.effective_leeway(self.lifetime()))
    }

    /// How usable the token is at `now`.
    pub fn freshness(&self, now: Timestamp, policy: &RefreshPolicy) -> Freshness {
        if now >= self.expires_at {
            Freshness::Expired
        } else if now < self.received_at || now >= self.refresh_at(policy) {
            Freshness::RefreshDue
        } else {
            Freshness::Fresh
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    const S: u64 = 1000;
    fn t(ms: u64) -> Timestamp {
        Timestamp::from_millis(ms)
    }
    fn secs(s: u64) -> Duration {
        Duration::from_secs(s)
    }

    #[test]
    fn boundaries_are_exact_to_the_millisecond() {
        let e = Expiry::stamp(t(1_000 * S), secs(3600));
        let p = RefreshPolicy::new(secs(300));
        let due = 1_000 * S + 3300 * S;
        let exp = 1_000 * S + 3600 * S;
        assert_eq!(e.freshness(t(1_000 * S), &p), Freshness::Fresh);
        assert_eq!(e.freshness(t(due - 1), &p), Freshness::Fresh);
        assert_eq!(e.freshness(t(due), &p), Freshness::RefreshDue);
        assert_eq!(e.freshness(t(exp - 1), &p), Freshness::RefreshDue);
        assert_eq!(e.freshness(t(exp), &p), Freshness::Expired);
        assert_eq!(e.freshness(t(u64::MAX), &p), Freshness::Expired);
        assert_eq!(e.refresh_at(&p), t(due));
        assert_eq!(e.remaining(t(exp - 1)), Duration::from_millis(1));
        assert_eq!(e.remaining(t(exp)), Duration::ZERO);
        assert_eq!(e.remaining(t(exp + 5 * S)), Duration::ZERO);
    }

    #[test]
    fn leeway_is_clamped_for_short_lived_tokens() {
        let p = RefreshPolicy::new(secs(300));
        assert_eq!(p.effective_leeway(secs(86_400)), secs(300));
        assert_eq!(p.effective_leeway(secs(600)), secs(300));
        assert_eq!(p.effective_leeway(secs(60)), secs(30));
        assert_eq!(p.effective_leeway(secs(1)), Duration::from_millis(500));
        assert_eq!(p.effective_leeway(Duration::ZERO), Duration::ZERO);
        // A 60 s token with a 5 min leeway is fresh for its first 30 s, not due on arrival.
        let e = Expiry::stamp(t(0), secs(60));
        assert_eq!(e.freshness(t(0), &p), Freshness::Fresh);
        assert_eq!(e.freshness(t(29_999), &p), Freshness::Fresh);
        assert_eq!(e.freshness(t(30_000), &p), Freshness::RefreshDue);
    }

    #[test]
    fn the_cap_is_configurable_and_validated() {
        let p = RefreshPolicy::new(secs(300))
            .with_max_leeway_percent(10)
            .unwrap();
        assert_eq!(p.effective_leeway(secs(600)), secs(60));
        let p = RefreshPolicy::new(secs(300))
            .with_max_leeway_percent(100)
            .unwrap();
        assert_eq!(p.effective_leeway(secs(100)), secs(100));
        assert!(RefreshPolicy::new(secs(1))
            .with_max_leeway_percent(0)
            .is_err());
        assert!(RefreshPolicy::new(secs(1))
            .with_max_leeway_percent(101)
            .is_err());
    }

    #[test]
    fn zero_leeway_and_zero_lifetime() {
        let p = RefreshPolicy::new(Duration::ZERO);
        let e = Expiry::stamp(t(10), secs(1));
        assert_eq!(e.freshness(t(1009), &p), Freshness::Fresh);
        assert_eq!(e.freshness(t(1010), &p), Freshness::Expired);
        let zero = Expiry::stamp(t(10), Duration::ZERO);
        assert_eq!(zero.freshness(t(10), &p), Freshness::Expired);
    }

    #[test]
    fn the_cap_is_the_lifetime_times_the_percent_over_100_rounded_down() {
        let lifetimes = [
            0,
            1,
            99,
            100,
            101,
            199,
            86_399_999,
            86_400_000,
            u64::MAX / 100 * 100 - 1,
            u64::MAX,
        ];
        for percent in 1..=100u8 {
            let p = RefreshPolicy::new(Duration::MAX)
                .with_max_leeway_percent(percent)
                .unwrap();
            for millis in lifetimes {
                let exact = u128::from(millis) * u128::from(percent) / 100;
                assert_eq!(
                    p.effective_leeway(Duration::from_millis(millis))
                        .as_millis(),
                    exact,
                    "{millis} ms at {percent}%"
                );
            }
            // Beyond u64 milliseconds: the percent of the lifetime, at most u64::MAX ms.
            let beyond = Duration::from_millis(u64::MAX) * 2;
            let exact = (beyond.as_millis() * u128::from(percent) / 100).min(u128::from(u64::MAX));
            let leeway = p.effective_leeway(beyond).as_millis();
            assert!(
                exact.abs_diff(leeway) <= 1,
                "{percent}%: {leeway} against {exact}"
            );
        }
    }

    #[test]
    fn huge_values_saturate_instead_of_overflowing() {
        let p = RefreshPolicy::new(Duration::MAX);
        let e = Expiry::stamp(t(u64::MAX - 10), Duration::MAX);
        assert_eq!(e.expires_at(), t(u64::MAX));
        assert_eq!(e.freshness(t(u64::MAX - 10), &p), Freshness::Fresh);
        assert_eq!(
            p.effective_leeway(Duration::MAX),
            Duration::from_millis(u64::MAX)
        );
        assert_eq!(
            Timestamp::from_millis(5).saturating_sub(Duration::MAX),
            t(0)
        );
        assert_eq!(Timestamp::from_js_millis(1e300), t(u64::MAX));
        assert_eq!(Timestamp::from_js_millis(-5.0), t(0));
        assert_eq!(Timestamp::from_js_millis(f64::NAN), t(0));
        assert_eq!(Timestamp::from_js_millis(1234.9), t(1234));
    }

    #[test]
    fn a_clock_that_jumps_backwards_forces_a_refresh_but_not_expiry() {
        let e = Expiry::stamp(t(1_000 * S), secs(3600));
        let p = RefreshPolicy::new(secs(60));
        let back = t(1_000 * S - 1);
        assert_eq!(e.freshness(back, &p), Freshness::RefreshDue);
        assert_eq!(e.freshness(t(0), &p), Freshness::RefreshDue);
        // Remaining is capped at the lifetime: going back in time never extends a token.
        assert_eq!(e.remaining(t(0)), secs(3600));
    }

    #[test]
    fn a_clock_that_jumps_forwards_expires_the_token() {
        // A laptop that slept for two days: the token is expired when read, no timer needed.
        let e = Expiry::stamp(t(0), secs(86_400));
        let p = RefreshPolicy::new(secs(60));
        assert_eq!(e.freshness(t(2 * 86_400 * S), &p), Freshness::Expired);
    }

    #[test]
    fn freshness_is_monotonic_over_a_sweep() {
        // Exhaustive over a small lifetime: Fresh, then RefreshDue, then Expired, never back.
        for lifetime in 1..=20u64 {
            for leeway in 0..=25u64 {
                let e = Expiry::stamp(t(100), secs(lifetime));
                let p = RefreshPolicy::new(secs(leeway));
                let mut rank = 0;
                for now in (100..=100 + (lifetime + 2) * S).step_by(250) {
                    let r = match e.freshness(t(now), &p) {
                        Freshness::Fresh => 0,
                        Freshness::RefreshDue => 1,
                        Freshness::Expired => 2,
                    };
                    assert!(r >= rank, "lifetime {lifetime} leeway {leeway} now {now}");
                    rank = r;
                }
                assert_eq!(rank, 2);
                assert_eq!(
                    e.freshness(t(100), &p),
                    Freshness::Fresh,
                    "lifetime {lifetime} leeway {leeway}"
                );
            }
        }
    }
}
