//! The engine's wall clock: durable timers (`scheduled_timers.fire_at`: when a timer is armed
//! and whether it is due) and the time of day business hours are judged by. Injected into
//! the engine so tests move time forward instead of sleeping through an escalation's minutes,
//! or set it to a Sunday night; production runs on the system clock.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, NaiveDateTime, Utc};

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

    /// Now, as a UTC instant (business hours convert it to the tenant's zone).
    pub fn now_utc(&self) -> DateTime<Utc> {
        self.now().and_utc()
    }

    /// Sets an adjustable clock so that it reads `at` now (and flows on from there); the
    /// system clock cannot be set (returns false).
    pub fn set(&self, at: DateTime<Utc>) -> bool {
        let Some(offset) = &self.offset else {
            return false;
        };
        let real = crate::store::now().and_utc();
        let micros = (at - real).num_microseconds().unwrap_or(i64::MAX);
        offset.store(micros, Ordering::Relaxed);
        true
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

        let sunday = DateTime::from_timestamp(1_700_000_000, 0).expect("valid");
        assert!(!system.set(sunday));
        assert!(clock.set(sunday));
        let drift = shared.now_utc() - sunday;
        assert!(
            drift >= chrono::TimeDelta::zero() && drift < chrono::TimeDelta::minutes(1),
            "{drift}"
        );
    }
}
