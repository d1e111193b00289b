//! Rate limits on `/token`: per client IP first (IPv6 per /64, since a client rotates freely
//! inside its /64), then per signed-in user once caller authentication named one.
//!
//! Memory stays bounded without scanning the table on every request: keys whose quota has fully
//! refilled are forgotten at most every few seconds, the table's size is sampled rather than
//! counted per request, and past [`MAX_KEYS`] clients are counted in one of
//! [`OVERFLOW_BUCKETS`] hashed buckets (each with a full allowance) until the table shrinks, so a
//! flood of addresses can neither grow the table nor put every client in one bucket.
//!
//! ```
//! # use std::net::IpAddr;
//! use grafx_signer::RateLimits;
//!
//! let limits = RateLimits::new(600, 60);
//! let a: IpAddr = "2001:db8:1:2:aaaa::1".parse().unwrap();
//! let b: IpAddr = "2001:db8:1:2:bbbb::2".parse().unwrap();
//! assert_eq!(RateLimits::ip_key(a), RateLimits::ip_key(b), "one /64, one client");
//! assert!(limits.check_ip(a).is_ok());
//! ```

use std::net::{IpAddr, Ipv6Addr};
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use std::convert::Infallible;

use dashmap::DashMap;
use governor::middleware::NoOpMiddleware;
use governor::nanos::Nanos;
use governor::state::keyed::ShrinkableKeyedStateStore;
use governor::state::{InMemoryState, StateStore};
use governor::{Quota, RateLimiter};

use crate::clock::{Clock, LimiterClock, SystemClock};

/// Distinct keys kept per limiter at most; beyond it clients share hashed buckets.
pub const MAX_KEYS: usize = 100_000;
/// Buckets clients are hashed into while the table is full.
pub const OVERFLOW_BUCKETS: u16 = 1024;
/// The table's size is read once every this many checks.
const SAMPLE_EVERY: u64 = 256;
/// How often, at most, refilled keys are forgotten (a scan of the table).
const SWEEP_EVERY: Duration = Duration::from_secs(5);
/// `last_sweep_ms` before the first sweep (the steady clock starts near 0 with the process).
const NEVER_SWEPT: u64 = u64::MAX;

/// What a limit is counted against.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Key {
    /// An IPv4 address, or an IPv6 /64 (the address with its last 64 bits cleared).
    Ip(IpAddr),
    /// A signed-in user.
    User(Arc<str>),
    /// A hashed bucket, while the table is full.
    Overflow(u16),
}

/// A limiter's table: governor's own DashMap store, held in an `Arc` so that the limiter can see
/// which keys it holds (a known client keeps its own entry while the table is full) and can be
/// asked without charging (all of a request's quotas are charged, or none).
#[derive(Clone, Default)]
struct Table(Arc<DashMap<Key, InMemoryState>>);

/// A key to check, and whether the check charges it or only looks. Its `Eq` and `Hash` exist
/// for governor's bounds only: [`Table`] stores and finds entries by `key` alone.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Probe {
    key: Key,
    charge: bool,
}

impl StateStore for Table {
    type Key = Probe;

    fn measure_and_replace<T, F, E>(&self, probe: &Probe, f: F) -> Result<T, E>
    where
        F: Fn(Option<Nanos>) -> Result<(T, Nanos), E>,
    {
        if probe.charge {
            return self.0.measure_and_replace(&probe.key, f);
        }
        if !self.0.contains_key(&probe.key) {
            return f(None).map(|(t, _)| t);
        }
        // A look: governor decides as if charging, and the closure's `Err` keeps the old state.
        let looked = self
            .0
            .measure_and_replace(&probe.key, |old| Err::<(Infallible, Nanos), _>(f(old)));
        match looked {
            Ok(never) => match never {},
            Err(outcome) => outcome.map(|(t, _)| t),
        }
    }
}

impl ShrinkableKeyedStateStore<Probe> for Table {
    fn retain_recent(&self, drop_below: Nanos) {
        ShrinkableKeyedStateStore::<Key>::retain_recent(&*self.0, drop_below);
    }

    fn len(&self) -> usize {
        self.0.len()
    }

    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// One keyed limiter with a bounded table, on the signer's clock.
struct Limiter {
    inner: RateLimiter<Probe, Table, LimiterClock, NoOpMiddleware<Nanos>>,
    table: Table,
    clock: LimiterClock,
    last_sweep_ms: AtomicU64,
    /// Checks so far, to sample the table's size.
    checks: AtomicU64,
    /// Whether the table was full when last sampled.
    full: std::sync::atomic::AtomicBool,
}

impl Limiter {
    fn new(per_minute: u32, clock: &Arc<dyn Clock>) -> Option<Self> {
        let n = NonZeroU32::new(per_minute)?;
        // A burst of half the minute's allowance (at least 5), refilled evenly: a morning rush
        // behind one NAT is served at once, a sustained flood is not.
        let burst = NonZeroU32::new((per_minute / 2).max(5)).unwrap_or(n);
        Some(Self::with_quota(
            Quota::per_minute(n).allow_burst(burst),
            clock,
        ))
    }

    fn with_quota(quota: Quota, clock: &Arc<dyn Clock>) -> Self {
        let table = Table::default();
        let clock = LimiterClock(Arc::clone(clock));
        Self {
            inner: RateLimiter::new(quota, table.clone(), clock.clone()),
            table,
            clock,
            last_sweep_ms: AtomicU64::new(NEVER_SWEPT),
            checks: AtomicU64::new(0),
            full: std::sync::atomic::AtomicBool::new(false),
        }
    }

    /// Charges `key`; `Err(wait)` when it is over its allowance.
    fn check(&self, key: Key) -> Result<(), Duration> {
        self.probe(key, true)
    }

    /// Whether charging `key` now would pass, without charging it.
    fn allows(&self, key: Key) -> Result<(), Duration> {
        self.probe(key, false)
    }

    fn probe(&self, key: Key, charge: bool) -> Result<(), Duration> {
        if self.checks.fetch_add(1, Ordering::Relaxed) % SAMPLE_EVERY == 0 {
            self.sample();
        }
        // While the table is full, clients it does not know share hashed buckets; a known one
        // keeps its own entry (an exhausted caller gets no fresh allowance from a bucket).
        let key = if self.full.load(Ordering::Relaxed) && !self.table.0.contains_key(&key) {
            Key::Overflow(bucket_of(&key))
        } else {
            key
        };
        self.inner
            .check_key(&Probe { key, charge })
            .map_err(|not_until| not_until.wait_time_from(governor::clock::Clock::now(&self.clock)))
    }

    /// Reads the table's size; over half full, forgets refilled keys (at most every few seconds,
    /// by one caller).
    fn sample(&self) {
        let len = self.inner.len();
        let now_ms = self.clock.steady_ms();
        let last = self.last_sweep_ms.load(Ordering::Relaxed);
        let len = if len > MAX_KEYS / 2
            && (last == NEVER_SWEPT
                || now_ms.saturating_sub(last) >= SWEEP_EVERY.as_millis() as u64)
            && self
                .last_sweep_ms
                .compare_exchange(last, now_ms, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            self.inner.retain_recent();
            self.inner.len()
        } else {
            len
        };
        self.full.store(len >= MAX_KEYS, Ordering::Relaxed);
    }
}

/// The overflow bucket of a key: a hash, so clients spread over [`OVERFLOW_BUCKETS`].
fn bucket_of(key: &Key) -> u16 {
    use std::hash::BuildHasher;
    static SEED: std::sync::OnceLock<std::collections::hash_map::RandomState> =
        std::sync::OnceLock::new();
    let hash = SEED
        .get_or_init(std::collections::hash_map::RandomState::new)
        .hash_one(key);
    (hash % u64::from(OVERFLOW_BUCKETS)) as u16
}

/// The per-IP and per-user limits of `/token` and the API proxy.
pub struct RateLimits {
    ip: Option<Arc<Limiter>>,
    user: Option<Arc<Limiter>>,
    per_minute: (u32, u32),
    clock: Arc<dyn Clock>,
}

impl RateLimits {
    /// Limits of `ip_per_minute` per client IP and `user_per_minute` per signed-in user (0: none),
    /// on the system clock.
    pub fn new(ip_per_minute: u32, user_per_minute: u32) -> Self {
        Self::with_clock(ip_per_minute, user_per_minute, Arc::new(SystemClock))
    }

    /// The same limits on `clock` (the signer's: a test clock moves them).
    pub fn with_clock(ip_per_minute: u32, user_per_minute: u32, clock: Arc<dyn Clock>) -> Self {
        Self {
            ip: Limiter::new(ip_per_minute, &clock).map(Arc::new),
            user: Limiter::new(user_per_minute, &clock).map(Arc::new),
            per_minute: (ip_per_minute, user_per_minute),
            clock,
        }
    }

    /// The same limits as `new`, keeping `old`'s counts (and clock) for every limit whose rate is
    /// unchanged (a reload must not hand every client a fresh allowance).
    pub fn carried_over(old: &RateLimits, ip_per_minute: u32, user_per_minute: u32) -> Self {
        let mut limits = Self::with_clock(ip_per_minute, user_per_minute, Arc::clone(&old.clock));
        if old.per_minute.0 == ip_per_minute {
            limits.ip.clone_from(&old.ip);
        }
        if old.per_minute.1 == user_per_minute {
            limits.user.clone_from(&old.user);
        }
        limits
    }

    /// The address a limit is counted against: IPv4 as is (IPv4-mapped IPv6 too), IPv6 per /64.
    pub fn ip_key(ip: IpAddr) -> IpAddr {
        match ip {
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => IpAddr::V4(v4),
                None => IpAddr::V6(Ipv6Addr::from(u128::from(v6) & !((1u128 << 64) - 1))),
            },
            v4 => v4,
        }
    }

    /// `Err(wait)` when the client IP is over its limit.
    pub fn check_ip(&self, ip: IpAddr) -> Result<(), Duration> {
        match &self.ip {
            Some(l) => l.check(Key::Ip(Self::ip_key(ip))),
            None => Ok(()),
        }
    }

    /// `Err(wait)` when the signed-in user is over their limit.
    pub fn check_user(&self, user: &str) -> Result<(), Duration> {
        match &self.user {
            Some(l) => l.check(Key::User(user.into())),
            None => Ok(()),
        }
    }
}

/// Who a proxy quota counts against: the signed-in user, else the client's IP (per /64).
#[derive(Debug, Clone, Copy)]
pub enum QuotaKey<'a> {
    /// A signed-in user (the caller check's subject).
    User(&'a str),
    /// An anonymous caller's address.
    Ip(IpAddr),
}

/// One integration's proxy quotas: each counts the requests matching its rule, per caller.
pub struct ProxyQuotas {
    rules: Vec<(crate::ProxyQuota, Arc<Limiter>)>,
}

impl ProxyQuotas {
    /// A limiter per quota on the system clock; the whole hour's allowance may be spent at once.
    #[cfg(test)]
    pub fn new(quotas: &[crate::ProxyQuota]) -> Self {
        Self::carried_over(None, quotas, &(Arc::new(SystemClock) as Arc<dyn Clock>))
    }

    /// The quotas on `clock`, keeping `old`'s counts for every quota whose rule and rate are
    /// unchanged.
    pub fn carried_over(
        old: Option<&ProxyQuotas>,
        quotas: &[crate::ProxyQuota],
        clock: &Arc<dyn Clock>,
    ) -> Self {
        let kept = |q: &crate::ProxyQuota| {
            old?.rules
                .iter()
                .find(|(o, _)| o == q)
                .map(|(_, l)| Arc::clone(l))
        };
        Self {
            rules: quotas
                .iter()
                .map(|q| {
                    let limiter = kept(q).unwrap_or_else(|| {
                        Arc::new(Limiter::with_quota(Quota::per_hour(q.per_hour), clock))
                    });
                    (q.clone(), limiter)
                })
                .collect(),
        }
    }

    /// Charges `method path` to `who` on every quota whose rule it matches, or, when one is used
    /// up, on none: `Err` names the first such quota and how long until it allows one more.
    /// (Two requests racing for the last unit may still both charge the quotas checked first.)
    pub fn check(
        &self,
        method: &str,
        path: &crate::ProxyPath,
        who: QuotaKey<'_>,
    ) -> Result<(), (Duration, &crate::ProxyQuota)> {
        let key = match who {
            QuotaKey::User(u) => Key::User(u.into()),
            QuotaKey::Ip(ip) => Key::Ip(RateLimits::ip_key(ip)),
        };
        let matching = || {
            self.rules
                .iter()
                .filter(|(quota, _)| quota.rule.matches(method, path))
        };
        for (quota, limiter) in matching() {
            limiter.allows(key.clone()).map_err(|wait| (wait, quota))?;
        }
        for (quota, limiter) in matching() {
            limiter.check(key.clone()).map_err(|wait| (wait, quota))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use grafx_core::Timestamp;

    fn system() -> Arc<dyn Clock> {
        Arc::new(SystemClock)
    }

    /// A clock that moves only when told (the signer's clock in tests): `.0` ms pass, and the
    /// wall clock may be stepped back `.1` ms (NTP), which the steady time does not see.
    #[derive(Default)]
    struct ManualClock(AtomicU64, AtomicU64);

    impl Clock for ManualClock {
        fn now(&self) -> Timestamp {
            Timestamp::from_millis(
                1_700_000_000_000 + self.0.load(Ordering::Relaxed) - self.1.load(Ordering::Relaxed),
            )
        }

        fn steady(&self) -> Duration {
            Duration::from_millis(self.0.load(Ordering::Relaxed))
        }
    }

    #[test]
    fn limits_and_quotas_run_on_the_signers_clock() {
        let manual = Arc::new(ManualClock::default());
        let clock: Arc<dyn Clock> = manual.clone();
        let limits = RateLimits::with_clock(0, 10, Arc::clone(&clock)); // a burst of 5
        while limits.check_user("alice").is_ok() {}
        // No time passes on the signer's clock, however long the test takes: still refused.
        std::thread::sleep(Duration::from_millis(50));
        let wait = limits.check_user("alice").unwrap_err();
        assert!(
            wait > Duration::from_secs(5) && wait <= Duration::from_secs(6),
            "{wait:?}"
        );
        // Six seconds later on it (10 a minute: one every 6 s), one more; a wall clock stepped
        // back an hour meanwhile changes nothing (the limits count steady time).
        manual.1.fetch_add(3_600_000, Ordering::Relaxed);
        manual.0.fetch_add(6_000, Ordering::Relaxed);
        assert!(limits.check_user("alice").is_ok());
        assert!(limits.check_user("alice").is_err());
        // A quota too, and a reload keeps its clock.
        let quota = crate::ProxyQuota {
            rule: crate::ProxyRule::parse("POST output/*").unwrap(),
            per_hour: NonZeroU32::new(1).unwrap(),
        };
        let quotas = ProxyQuotas::carried_over(None, &[quota], &clock);
        let pdf = crate::ProxyPath::parse("output/pdf").unwrap();
        assert!(quotas.check("POST", &pdf, QuotaKey::User("bob")).is_ok());
        assert!(quotas.check("POST", &pdf, QuotaKey::User("bob")).is_err());
        manual.0.fetch_add(3_600_000, Ordering::Relaxed);
        assert!(quotas.check("POST", &pdf, QuotaKey::User("bob")).is_ok());
        let reloaded = RateLimits::carried_over(&limits, 0, 20);
        while reloaded.check_user("carol").is_ok() {}
        manual.0.fetch_add(3_000, Ordering::Relaxed);
        assert!(
            reloaded.check_user("carol").is_ok(),
            "the new limit is on the same clock"
        );
    }

    #[test]
    fn proxy_quotas_count_matching_requests_per_caller() {
        let quota = crate::ProxyQuota {
            rule: crate::ProxyRule::parse("POST output/*").unwrap(),
            per_hour: NonZeroU32::new(2).unwrap(),
        };
        let quotas = ProxyQuotas::new(&[quota]);
        let pdf = crate::ProxyPath::parse("output/pdf").unwrap();
        let alice = QuotaKey::User("alice");
        assert!(quotas.check("POST", &pdf, alice).is_ok());
        assert!(quotas.check("POST", &pdf, alice).is_ok());
        let (wait, q) = quotas.check("POST", &pdf, alice).unwrap_err();
        assert_eq!(q.rule.to_string(), "POST output/*");
        assert!(
            wait > Duration::from_secs(1700) && wait <= Duration::from_secs(1800),
            "{wait:?}"
        );
        // Not counted: another method or path, another user, an anonymous IP.
        assert!(quotas.check("GET", &pdf, alice).is_ok());
        let tasks = crate::ProxyPath::parse("output/tasks/1").unwrap();
        assert!(quotas.check("POST", &tasks, alice).is_ok());
        assert!(quotas.check("POST", &pdf, QuotaKey::User("bob")).is_ok());
        assert!(quotas
            .check("POST", &pdf, QuotaKey::Ip("203.0.113.9".parse().unwrap()))
            .is_ok());
    }

    #[test]
    fn ipv6_clients_are_one_per_64_and_v4_mapped_is_v4() {
        let key = |s: &str| RateLimits::ip_key(s.parse().unwrap()).to_string();
        assert_eq!(key("2001:db8:a:b:1:2:3:4"), "2001:db8:a:b::");
        assert_eq!(key("2001:db8:a:c::1"), "2001:db8:a:c::");
        assert_eq!(key("::ffff:203.0.113.7"), "203.0.113.7");
        assert_eq!(key("203.0.113.7"), "203.0.113.7");
    }

    #[test]
    fn a_rotating_ipv6_client_is_limited_as_one() {
        let limits = RateLimits::new(10, 0); // a burst of 5
        let mut refused = 0;
        for i in 0..20u16 {
            let ip = IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 1, 2, i, i, i, i));
            refused += usize::from(limits.check_ip(ip).is_err());
        }
        assert_eq!(refused, 15, "20 addresses of one /64 share one burst of 5");
        let other = IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 1, 3, 0, 0, 0, 1));
        assert!(limits.check_ip(other).is_ok(), "another /64 has its own");
    }

    #[test]
    fn the_table_is_bounded_and_overflow_is_spread_over_buckets() {
        let limiter = Limiter::new(600, &system()).unwrap();
        let ip = |i: u32| Key::Ip(IpAddr::V4(std::net::Ipv4Addr::from(i)));
        for i in 0..(MAX_KEYS as u32 + 10_000) {
            let _ = limiter.check(ip(i));
        }
        // At most one sampling interval of keys past the bound, plus the buckets.
        let bound = MAX_KEYS + SAMPLE_EVERY as usize + usize::from(OVERFLOW_BUCKETS);
        assert!(limiter.inner.len() <= bound, "{}", limiter.inner.len());
        // While full, a client is not thrown into one shared bucket: a fresh one gets its burst.
        assert!(limiter.full.load(Ordering::Relaxed));
        let fresh = ip(u32::MAX);
        let allowed = (0..10)
            .filter(|_| limiter.check(fresh.clone()).is_ok())
            .count();
        assert!(
            allowed >= 5,
            "a bucket of its own most of the time: {allowed}"
        );
    }

    #[test]
    fn a_known_client_keeps_its_own_entry_while_the_table_is_full() {
        let limiter = Limiter::new(10, &system()).unwrap(); // a burst of 5
        let known = Key::User("alice".into());
        let used = (0..10)
            .filter(|_| limiter.check(known.clone()).is_ok())
            .count();
        assert_eq!(used, 5);
        // The table fills up with other clients.
        let ip = |i: u32| Key::Ip(IpAddr::V4(std::net::Ipv4Addr::from(i)));
        for i in 0..(MAX_KEYS as u32 + 1000) {
            let _ = limiter.check(ip(i));
        }
        assert!(limiter.full.load(Ordering::Relaxed));
        // No fresh allowance from an overflow bucket for the exhausted client.
        assert!(limiter.check(known).is_err());
    }

    #[test]
    fn a_look_does_not_charge() {
        let limiter = Limiter::new(10, &system()).unwrap(); // a burst of 5
        let key = Key::User("bob".into());
        for _ in 0..20 {
            assert!(limiter.allows(key.clone()).is_ok());
        }
        assert_eq!(
            limiter.table.0.len(),
            0,
            "a look at an unknown key stores nothing"
        );
        for _ in 0..5 {
            assert!(limiter.check(key.clone()).is_ok());
        }
        assert!(limiter.allows(key.clone()).is_err());
        assert!(limiter.check(key).is_err());
    }

    #[test]
    fn a_refused_quota_charges_none_of_the_others() {
        let quota = |rule: &str, n: u32| crate::ProxyQuota {
            rule: crate::ProxyRule::parse(rule).unwrap(),
            per_hour: NonZeroU32::new(n).unwrap(),
        };
        // Every write: 5 an hour; PDFs: 2 an hour.
        let quotas = ProxyQuotas::new(&[quota("POST **", 5), quota("POST output/pdf", 2)]);
        let pdf = crate::ProxyPath::parse("output/pdf").unwrap();
        let png = crate::ProxyPath::parse("output/png").unwrap();
        let alice = QuotaKey::User("alice");
        assert!(quotas.check("POST", &pdf, alice).is_ok());
        assert!(quotas.check("POST", &pdf, alice).is_ok());
        for _ in 0..10 {
            let (_, q) = quotas.check("POST", &pdf, alice).unwrap_err();
            assert_eq!(q.rule.to_string(), "POST output/pdf");
        }
        // The refused PDFs took nothing from the writes' quota: 3 of 5 are left.
        for _ in 0..3 {
            assert!(quotas.check("POST", &png, alice).is_ok());
        }
        let (_, q) = quotas.check("POST", &png, alice).unwrap_err();
        assert_eq!(q.rule.to_string(), "POST **");
    }

    #[test]
    fn a_reload_keeps_the_counts_of_unchanged_limits() {
        let quota = |n: u32| crate::ProxyQuota {
            rule: crate::ProxyRule::parse("POST output/*").unwrap(),
            per_hour: NonZeroU32::new(n).unwrap(),
        };
        let pdf = crate::ProxyPath::parse("output/pdf").unwrap();
        let alice = QuotaKey::User("alice");
        let old = ProxyQuotas::new(&[quota(3)]);
        for _ in 0..3 {
            assert!(old.check("POST", &pdf, alice).is_ok());
        }
        let same = ProxyQuotas::carried_over(Some(&old), &[quota(3)], &system());
        assert!(
            same.check("POST", &pdf, alice).is_err(),
            "SIGHUP is no reset"
        );
        let changed = ProxyQuotas::carried_over(Some(&old), &[quota(4)], &system());
        assert!(
            changed.check("POST", &pdf, alice).is_ok(),
            "a new rate starts anew"
        );

        let limits = RateLimits::new(10, 10);
        let ip: IpAddr = "203.0.113.5".parse().unwrap();
        while limits.check_ip(ip).is_ok() {}
        while limits.check_user("alice").is_ok() {}
        let kept = RateLimits::carried_over(&limits, 10, 20);
        assert!(
            kept.check_ip(ip).is_err(),
            "the IP limit is unchanged: kept"
        );
        assert!(
            kept.check_user("alice").is_ok(),
            "the user limit changed: anew"
        );
    }

    /// A limiter whose keys refill within a microsecond, to see what a sweep forgets.
    fn refilling_at_once() -> Limiter {
        Limiter::with_quota(
            Quota::with_period(Duration::from_micros(1)).unwrap(),
            &system(),
        )
    }

    fn fill(limiter: &Limiter, keys: std::ops::Range<u32>) {
        for i in keys {
            let _ = limiter.check(Key::Ip(IpAddr::V4(std::net::Ipv4Addr::from(i))));
        }
    }

    #[test]
    fn below_the_bound_every_client_has_its_own_entry() {
        let limiter = refilling_at_once();
        fill(&limiter, 0..1000);
        assert_eq!(limiter.table.0.len(), 1000);
        assert!(!limiter.full.load(Ordering::Relaxed));
        assert!(!limiter.inner.is_empty());
        assert!(refilling_at_once().inner.is_empty());
    }

    #[test]
    fn the_size_is_sampled_every_so_many_checks_not_counted_per_request() {
        // One a minute: no key refills during the test, so no sweep can shrink the table.
        let limiter = Limiter::new(1, &system()).unwrap();
        // Checks 0..=MAX_KEYS: the last sample (at a multiple of SAMPLE_EVERY) saw fewer keys.
        fill(&limiter, 0..MAX_KEYS as u32 + 1);
        assert!(!limiter.full.load(Ordering::Relaxed));
        // Within the next SAMPLE_EVERY checks the table is seen full.
        fill(
            &limiter,
            MAX_KEYS as u32 + 1..MAX_KEYS as u32 + 1 + SAMPLE_EVERY as u32,
        );
        assert!(limiter.full.load(Ordering::Relaxed));
    }

    #[test]
    fn refilled_keys_are_forgotten_once_the_table_is_over_half_full() {
        let half = MAX_KEYS as u32 / 2;
        let limiter = refilling_at_once();
        fill(&limiter, 0..half);
        std::thread::sleep(Duration::from_millis(20));
        // At half: no scan (it costs a pass over the table); one key more: refilled keys go.
        limiter.sample();
        assert_eq!(limiter.table.0.len(), half as usize);
        fill(&limiter, half..half + 1);
        std::thread::sleep(Duration::from_millis(20));
        limiter.sample();
        assert_eq!(limiter.table.0.len(), 0, "every key had refilled");
        // At most one scan every SWEEP_EVERY: stamp the last sweep as now, however slow the
        // machine was to get here.
        fill(&limiter, 0..half + 1);
        std::thread::sleep(Duration::from_millis(20));
        limiter
            .last_sweep_ms
            .store(SystemClock.steady().as_millis() as u64, Ordering::Relaxed);
        limiter.sample();
        assert_eq!(limiter.table.0.len(), half as usize + 1, "swept just now");
        // The sweep keeps keys that have not refilled (one a minute: none does here).
        let slow = Limiter::new(1, &system()).unwrap();
        fill(&slow, 0..half + 1);
        slow.sample();
        assert_eq!(slow.table.0.len(), half as usize + 1);
    }

    #[test]
    fn users_have_their_own_allowance() {
        let limits = RateLimits::new(0, 10);
        for _ in 0..5 {
            assert!(limits.check_user("alice").is_ok());
        }
        assert!(limits.check_user("alice").is_err());
        assert!(limits.check_user("bob").is_ok());
    }
}
