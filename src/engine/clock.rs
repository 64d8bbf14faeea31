//! The wall clock rules that depend on the time of day read (business hours). Real time,
//! unless pinned: tests pin it to a chosen instant to exercise out-of-hours behaviour
//! without waiting for the night. Owned by the engine's parts, not global.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

use chrono::{DateTime, Utc};

/// No pinned time: the real clock.
const REAL: i64 = i64::MIN;

#[derive(Clone)]
pub struct WallClock {
    pinned_ms: Arc<AtomicI64>,
}

impl Default for WallClock {
    fn default() -> Self {
        WallClock {
            pinned_ms: Arc::new(AtomicI64::new(REAL)),
        }
    }
}

impl WallClock {
    pub fn now(&self) -> DateTime<Utc> {
        match self.pinned_ms.load(Ordering::Acquire) {
            REAL => Utc::now(),
            ms => DateTime::from_timestamp_millis(ms).unwrap_or_else(Utc::now),
        }
    }

    /// From now on `now()` answers `at` (tests).
    pub fn pin(&self, at: DateTime<Utc>) {
        self.pinned_ms
            .store(at.timestamp_millis(), Ordering::Release);
    }

    /// Back to real time.
    pub fn unpin(&self) {
        self.pinned_ms.store(REAL, Ordering::Release);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pinned_clock_answers_the_pinned_time_until_unpinned() {
        let clock = WallClock::default();
        let at = DateTime::from_timestamp(1_700_000_000, 0).expect("valid");
        clock.pin(at);
        assert_eq!(clock.clone().now(), at, "clones share the pin");
        clock.unpin();
        assert!(clock.now() > at);
    }
}
