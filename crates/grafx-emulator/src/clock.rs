//! Real time plus an offset that tests can move, so that a day-long token can expire in a test
//! that runs for a second: the emulator's clock, and (wrapped by grafx-testkit's `SimClock`) the
//! signer's clock in tests. Written once, here.
//!
//! ```
//! use grafx_emulator::EmulatorClock;
//!
//! let clock = EmulatorClock::with_offset_ms(-5_000); // five seconds behind
//! let before = clock.now();
//! clock.advance_ms(3_600_000); // an hour later, without waiting for it
//! assert!(clock.now().since(before) >= std::time::Duration::from_secs(3_600));
//! ```

use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use grafx_core::Timestamp;

/// Wall-clock time shifted by a test-controlled offset.
#[derive(Debug, Default)]
pub struct EmulatorClock {
    offset_ms: AtomicI64,
}

impl EmulatorClock {
    /// A clock `ms` milliseconds ahead of real time (behind when negative).
    pub fn with_offset_ms(ms: i64) -> Self {
        Self {
            offset_ms: AtomicI64::new(ms),
        }
    }

    /// The clock's current time.
    pub fn now(&self) -> Timestamp {
        let real = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis())
            .unwrap_or(0);
        let real = i64::try_from(real).unwrap_or(i64::MAX);
        let shifted = real
            .saturating_add(self.offset_ms.load(Ordering::Relaxed))
            .max(0);
        Timestamp::from_millis(u64::try_from(shifted).unwrap_or(0))
    }

    /// How far ahead of real time the clock is, in milliseconds (behind when negative).
    pub fn offset_ms(&self) -> i64 {
        self.offset_ms.load(Ordering::Relaxed)
    }

    /// Moves the clock by `ms` (negative moves it back).
    pub fn advance_ms(&self, ms: i64) {
        self.offset_ms.fetch_add(ms, Ordering::Relaxed);
    }

    /// Back to real time.
    pub fn reset(&self) {
        self.offset_ms.store(0, Ordering::Relaxed);
    }
}
