//! Test support shared by the signer's integration tests, the benchmarks and the browser suites:
//! one simulated clock, one way to describe an emulator client as an [`Integration`], and a
//! private certificate authority for TLS tests ([`PrivateCa`]).
//!
//! ```no_run
//! # fn run(em: &grafx_emulator::Emulator) {
//! use std::time::Duration;
//! let clock = grafx_testkit::SimClock::default();
//! let integration = grafx_testkit::emulator_integration(em, "default", "demo-reader", Some("http://app.test"));
//! clock.advance(Duration::from_secs(3600)); // an hour later, without waiting for it
//! # }
//! ```

mod private_ca;

pub use private_ca::PrivateCa;

/// Debian's Redis server, which `cargo xtask test` installs and the shared-store tests start on
/// free ports.
pub const REDIS_SERVER: &str = "/usr/bin/redis-server";

use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use grafx_core::{EnvironmentApiUrl, Timestamp};
use grafx_emulator::Emulator;
use grafx_signer::{ClientSecret, Clock, Integration, OriginPolicy, SystemClock};

/// Real time plus an offset that a test moves by hand (usually together with the emulator's
/// clock), so expiry, caches and backoffs can be driven without sleeping.
#[derive(Debug, Default)]
pub struct SimClock(AtomicI64);

impl SimClock {
    /// A clock `ms` milliseconds ahead of real time (behind when negative).
    pub fn offset_ms(ms: i64) -> Self {
        Self(AtomicI64::new(ms))
    }

    /// Moves the clock forward by `by`.
    pub fn advance(&self, by: Duration) {
        let ms = i64::try_from(by.as_millis()).unwrap_or(i64::MAX);
        self.0.fetch_add(ms, Ordering::Relaxed);
    }
}

impl Clock for SimClock {
    fn now(&self) -> Timestamp {
        let real = i64::try_from(SystemClock.now().as_millis()).unwrap_or(i64::MAX);
        let ms = real.saturating_add(self.0.load(Ordering::Relaxed)).max(0);
        Timestamp::from_millis(u64::try_from(ms).unwrap_or(0))
    }
}

/// The emulator's client `client` (secret `{client}-secret`) as integration `name`, with the
/// emulator's environment, API and token URLs, open to `origins` (a comma-separated list) or
/// server-side only (`None`).
///
/// # Panics
/// When `origins` does not parse: a test's own fixture is wrong.
pub fn emulator_integration(
    em: &Emulator,
    name: &str,
    client: &str,
    origins: Option<&str>,
) -> Integration {
    let url = |u: String| EnvironmentApiUrl::parse(&u).expect("the emulator's URLs are valid");
    Integration {
        name: name.into(),
        client_id: client.into(),
        client_secret: ClientSecret::new(format!("{client}-secret")),
        environment: em.environment().clone(),
        environment_api_url: url(em.environment_api_url()),
        platform_api_url: url(em.platform_api_url()),
        auth_url: em
            .token_url()
            .parse()
            .expect("the emulator's token URL is valid"),
        audience: grafx_signer::DEFAULT_AUDIENCE.into(),
        allowed_origins: origins.map_or(OriginPolicy::ServerSideOnly, |o| {
            OriginPolicy::parse_list(o).expect("valid test origins")
        }),
        browser_scopes: None,
        caller: None,
        proxy: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_clock_moves_only_when_told() {
        let clock = SimClock::offset_ms(-5_000);
        let before = clock.now();
        assert!(SystemClock.now().since(before) >= Duration::from_millis(4_900));
        clock.advance(Duration::from_secs(3600));
        assert!(clock.now().since(before) >= Duration::from_secs(3600));
        assert!(clock.now().since(before) < Duration::from_secs(3602));
    }
}
