//! The emulator's clock: real time plus an offset that tests can move, so that a day-long token
//! can expire in a test that runs for a second.

use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use grafx_core::Timestamp;

/// Wall-clock time shifted by a test-controlled offset.
#[derive(Debug, Default)]
pub struct EmulatorClock {
    offset_ms: AtomicI64,
}

impl EmulatorClock {
    /// The emulator's current time.
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

    /// Moves the clock by `ms` (negative moves it back).
    pub fn advance_ms(&self, ms: i64) {
        self.offset_ms.fetch_add(ms, Ordering::Relaxed);
    }

    /// Back to real time.
    pub fn reset(&self) {
        self.offset_ms.store(0, Ordering::Relaxed);
    }
}
