//! The signer's one clock: token expiry, cached caller decisions, JWKS ages, and the rate limits
//! and proxy quotas (through [`LimiterClock`], governor's view of it) all read it, so a test
//! clock moves them together.
//!
//! ```
//! use grafx_signer::{Clock, SystemClock};
//!
//! let now = SystemClock.now();
//! assert!(now.as_millis() > 1_700_000_000_000);
//! ```

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use governor::nanos::Nanos;
use grafx_core::Timestamp;

/// The source of "now".
pub trait Clock: Send + Sync + 'static {
    /// The current local time.
    fn now(&self) -> Timestamp;
}

/// The system's wall clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        let ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis())
            .unwrap_or(0);
        Timestamp::from_millis(u64::try_from(ms).unwrap_or(u64::MAX))
    }
}

/// A [`Clock`] as governor reads one: milliseconds since the epoch, in governor's nanoseconds.
/// Wall-clock time, like the rest of the signer: a clock stepped back (NTP) makes a limited
/// caller wait that much longer, never shorter.
#[derive(Clone)]
pub(crate) struct LimiterClock(pub(crate) Arc<dyn Clock>);

impl governor::clock::Clock for LimiterClock {
    type Instant = Nanos;

    fn now(&self) -> Nanos {
        Nanos::from(Duration::from_millis(self.0.now().as_millis()))
    }
}
