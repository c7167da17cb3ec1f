//! The time as Pond's rules see it. Production reads the system clock; tests move it forward
//! ([`Clock::advance`]) to see a lockout end without waiting for it.

use std::sync::{
    Arc,
    atomic::{AtomicI64, Ordering},
};

/// The system clock plus an offset that only tests change. Clones share the offset.
#[derive(Debug, Clone, Default)]
pub struct Clock {
    offset_ms: Arc<AtomicI64>,
}

impl Clock {
    /// Now, as UTC epoch milliseconds.
    pub fn now_ms(&self) -> i64 {
        pond_store::now_ms() + self.offset_ms.load(Ordering::Relaxed)
    }

    /// Moves this clock (and every clone of it) forward.
    pub fn advance(&self, by: std::time::Duration) {
        let ms = i64::try_from(by.as_millis()).unwrap_or(i64::MAX);
        self.offset_ms.fetch_add(ms, Ordering::Relaxed);
    }
}
