//! The signer's one clock: token expiry, cached caller decisions and JWKS ages read its wall time
//! (`now`), the rate limits and proxy quotas its steady time (`steady`, through `LimiterClock`,
//! governor's view of it), so a test clock moves them together.
//!
//! ```
//! use grafx_signer::{Clock, SystemClock};
//!
//! let now = SystemClock.now();
//! assert!(now.as_millis() > 1_700_000_000_000);
//! ```

use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use governor::nanos::Nanos;
use grafx_core::Timestamp;

/// The source of "now".
pub trait Clock: Send + Sync + 'static {
    /// The current local time (wall clock: token expiry, session dates, cache ages).
    fn now(&self) -> Timestamp;

    /// Time since a fixed point, never stepping back: what the rate limits and proxy quotas
    /// count on, so that a wall clock stepped back (NTP, a restored VM) does not refuse every
    /// recent caller until it catches up. The process's monotonic clock by default; a test clock
    /// moves it together with `now`.
    fn steady(&self) -> Duration {
        process_steady()
    }
}

/// The monotonic time since this process first asked.
fn process_steady() -> Duration {
    static START: OnceLock<Instant> = OnceLock::new();
    START.get_or_init(Instant::now).elapsed()
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

/// A [`Clock`]'s steady time as governor reads one, in its nanoseconds (saturating, so no
/// reading can overflow).
#[derive(Clone)]
pub(crate) struct LimiterClock(pub(crate) Arc<dyn Clock>);

impl LimiterClock {
    /// The steady time in milliseconds (the limiter's sweep interval is counted in them).
    pub(crate) fn steady_ms(&self) -> u64 {
        u64::try_from(self.0.steady().as_millis()).unwrap_or(u64::MAX)
    }
}

impl governor::clock::Clock for LimiterClock {
    type Instant = Nanos;

    fn now(&self) -> Nanos {
        Nanos::from(u64::try_from(self.0.steady().as_nanos()).unwrap_or(u64::MAX))
    }
}
