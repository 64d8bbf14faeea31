//! The engine's wall clock for durable timers (`scheduled_timers.fire_at`): when a timer is
//! armed and whether it is due. Injected into the engine so tests move time forward instead
//! of sleeping through an escalation's minutes; production runs on the system clock.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use chrono::NaiveDateTime;

/// Cheap to clone; clones share the same offset.
#[derive(Clone, Debug, Default)]
pub struct Clock {
    /// Microseconds added to the system time. Only a clock made by [`Clock::adjustable`] can
    /// move it; the system clock keeps `None`.
    offset: Option<Arc<AtomicI64>>,
}

impl Clock {
    /// The system clock.
    pub fn system() -> Clock {
        Clock { offset: None }
    }

    /// The system clock, plus whatever [`Clock::advance`] added: time keeps flowing, and a
    /// test jumps it forward.
    pub fn adjustable() -> Clock {
        Clock {
            offset: Some(Arc::new(AtomicI64::new(0))),
        }
    }

    /// Now, truncated to microseconds like [`crate::store::now`].
    pub fn now(&self) -> NaiveDateTime {
        let now = crate::store::now();
        match &self.offset {
            Some(offset) => now + chrono::TimeDelta::microseconds(offset.load(Ordering::Relaxed)),
            None => now,
        }
    }

    /// Moves an adjustable clock forward; the system clock cannot be moved (returns false).
    pub fn advance(&self, by: Duration) -> bool {
        let Some(offset) = &self.offset else {
            return false;
        };
        let micros = i64::try_from(by.as_micros()).unwrap_or(i64::MAX);
        offset.fetch_add(micros, Ordering::Relaxed);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_an_adjustable_clock_moves() {
        let system = Clock::system();
        assert!(!system.advance(Duration::from_secs(3600)));
        assert!(system.now() - crate::store::now() < chrono::TimeDelta::minutes(1));

        let clock = Clock::adjustable();
        let shared = clock.clone();
        assert!(shared.advance(Duration::from_secs(300)));
        let ahead = clock.now() - crate::store::now();
        assert!(ahead >= chrono::TimeDelta::seconds(299), "{ahead}");
        assert!(ahead < chrono::TimeDelta::seconds(360), "{ahead}");
    }
}
