//! Test support shared by the signer's integration tests, the demo, the benchmarks and the browser
//! suites: one simulated clock, one way to describe an emulator client as an [`Integration`], the
//! API proxy allow-lists the tests and the demo use, a running emulator and signer ([`Stack`]),
//! the browser suites' fixtures ([`BrowserStack`]) and a private certificate authority for TLS
//! tests ([`PrivateCa`]).
//!
//! ```no_run
//! # fn run(em: &grafx_emulator::Emulator) {
//! use std::time::Duration;
//! let clock = grafx_testkit::SimClock::default();
//! let integration = grafx_testkit::emulator_integration(em, "default", "demo-reader", Some("http://app.test"));
//! clock.advance(Duration::from_secs(3600)); // an hour later, without waiting for it
//! # }
//! ```

mod browser;
mod private_ca;
mod stack;

pub use browser::{
    fixture_config, is_fixture, BrowserStack, FAULT_MATRIX_INTEGRATIONS, FIXTURE_INTEGRATIONS,
};
pub use private_ca::PrivateCa;
pub use stack::Stack;

/// The API proxy's allow-list for a page that makes, reads, edits and renders projects: the
/// writes a read-only browser token cannot make, and the reads that go with them.
pub const PROXY_ALLOW: [&str; 8] = [
    "POST projects",
    "GET projects/*",
    "GET projects/*/document",
    "PUT projects/*/document",
    "POST output/*",
    "GET output/tasks/*",
    "GET output/tasks/*/download",
    "GET output/settings",
];

/// What a page that also lists its projects and shows previews adds to [`PROXY_ALLOW`] (the
/// demo's pages): CHILI's previews answer 202 and are polled under `{kind}/preview/tasks/`.
pub const PROXY_ALLOW_PREVIEWS: [&str; 5] = [
    "GET projects",
    "GET templates/*/preview/*",
    "GET templates/preview/tasks/**",
    "GET projects/*/preview/*",
    "GET projects/preview/tasks/**",
];

/// Debian's Redis server, which `cargo xtask test` installs and the shared-store tests start on
/// free ports.
pub const REDIS_SERVER: &str = "/usr/bin/redis-server";

use std::time::Duration;

use grafx_core::{EnvironmentApiUrl, Timestamp};
use grafx_emulator::{Emulator, EmulatorClock};
use grafx_signer::{ClientSecret, Clock, Integration, OriginPolicy};

/// Real time plus an offset that a test moves by hand (usually together with the emulator's
/// clock), so expiry, caches, backoffs and rate limits can be driven without sleeping: the
/// emulator's offset clock ([`EmulatorClock`], written once) as the signer's [`Clock`].
#[derive(Debug, Default)]
pub struct SimClock(EmulatorClock);

impl SimClock {
    /// A clock `ms` milliseconds ahead of real time (behind when negative).
    pub fn offset_ms(ms: i64) -> Self {
        Self(EmulatorClock::with_offset_ms(ms))
    }

    /// Moves the clock forward by `by`.
    pub fn advance(&self, by: Duration) {
        self.0
            .advance_ms(i64::try_from(by.as_millis()).unwrap_or(i64::MAX));
    }
}

impl Clock for SimClock {
    fn now(&self) -> Timestamp {
        self.0.now()
    }

    /// The system clock's steady time, moved by the same offset (never below zero).
    fn steady(&self) -> Duration {
        let offset = self.0.offset_ms();
        let steady = grafx_signer::SystemClock.steady();
        match u64::try_from(offset) {
            Ok(ahead) => steady.saturating_add(Duration::from_millis(ahead)),
            Err(_) => steady.saturating_sub(Duration::from_millis(offset.unsigned_abs())),
        }
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

/// [`emulator_integration`] for browsers at `origins`, limited to read scopes
/// (`browser_scopes = "read-only"`), as the demo and the browser suites hand tokens to pages.
/// The origins are checked first, so a bad list is an error rather than a panic.
pub fn read_only_integration(
    em: &Emulator,
    name: &str,
    client: &str,
    origins: &str,
) -> Result<Integration, grafx_signer::InvalidValue> {
    OriginPolicy::parse_list(origins)?;
    Ok(Integration {
        browser_scopes: Some(grafx_signer::BrowserScopes::ReadOnly),
        ..emulator_integration(em, name, client, Some(origins))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use grafx_signer::SystemClock;

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
