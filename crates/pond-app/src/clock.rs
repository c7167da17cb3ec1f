//! The time as Pond's rules see it. Production reads the system clock; tests move it forward
//! ([`Clock::advance`]) to see a lockout end without waiting for it, or stop it
//! ([`Clock::frozen_at`], [`Clock::set`]) so that a rule with a deadline (the welcome code's
//! 20 seconds) does not depend on how fast the machine runs the test.

use std::sync::{
    Arc,
    atomic::{AtomicI64, Ordering},
};

/// Marks a clock that follows the system clock.
const RUNNING: i64 = i64::MIN;

/// The system clock plus an offset that only tests change, or a time that tests set. Clones share
/// both.
#[derive(Debug, Clone)]
pub struct Clock {
    offset_ms: Arc<AtomicI64>,
    /// Where a stopped clock stands ([`RUNNING`] while it follows the system clock).
    frozen_at_ms: Arc<AtomicI64>,
}

impl Default for Clock {
    fn default() -> Self {
        Clock { offset_ms: Arc::default(), frozen_at_ms: Arc::new(AtomicI64::new(RUNNING)) }
    }
}

impl Clock {
    /// A clock stopped at `ms` (UTC epoch milliseconds): it moves only when told to.
    pub fn frozen_at(ms: i64) -> Self {
        let clock = Clock::default();
        clock.set(ms);
        clock
    }

    /// Now, as UTC epoch milliseconds.
    pub fn now_ms(&self) -> i64 {
        let base = match self.frozen_at_ms.load(Ordering::Relaxed) {
            RUNNING => pond_store::now_ms(),
            frozen => frozen,
        };
        base + self.offset_ms.load(Ordering::Relaxed)
    }

    /// Stops this clock (and every clone of it) at `ms`; [`Clock::advance`] moves it from there.
    pub fn set(&self, ms: i64) {
        self.offset_ms.store(0, Ordering::Relaxed);
        self.frozen_at_ms.store(ms, Ordering::Relaxed);
    }

    /// Moves this clock (and every clone of it) forward.
    pub fn advance(&self, by: std::time::Duration) {
        let ms = i64::try_from(by.as_millis()).unwrap_or(i64::MAX);
        self.offset_ms.fetch_add(ms, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::Clock;

    #[test]
    fn a_frozen_clock_moves_only_when_told() {
        let clock = Clock::frozen_at(1_700_000_000_000);
        let clone = clock.clone();
        assert_eq!(clone.now_ms(), 1_700_000_000_000);
        clock.advance(std::time::Duration::from_secs(21));
        assert_eq!(clone.now_ms(), 1_700_000_021_000, "clones share the time");
        clone.set(5);
        assert_eq!(clock.now_ms(), 5);
        let running = Clock::default();
        let wall = pond_store::now_ms();
        assert!(running.now_ms() >= wall, "a default clock follows the system clock");
    }
}
