//! Retry timing for outgoing work: exponential backoff with jitter.
//!
//! Jitter spreads retries of many jobs that failed together (an upstream outage) so they do not
//! return as one burst. The random draw is passed in, keeping the rule pure and testable.

/// Backoff policy for a job queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// Delay after the first failure, in milliseconds.
    pub base_ms: i64,
    /// Upper bound for any delay, in milliseconds.
    pub max_ms: i64,
}

impl Default for Backoff {
    fn default() -> Self {
        Self { base_ms: 1_000, max_ms: 15 * 60 * 1_000 }
    }
}

impl Backoff {
    /// Delay before the next attempt after `attempts` failed attempts (1 = first failure).
    /// `unit` is a random draw in `[0, 1)`; the delay lies in `[cap/2, cap)` ("equal jitter").
    pub fn delay_ms(&self, attempts: u32, unit: f64) -> i64 {
        let exp = attempts.saturating_sub(1).min(30);
        let cap = self.base_ms.saturating_mul(1_i64 << exp).min(self.max_ms).max(1);
        let unit = if unit.is_finite() { unit.clamp(0.0, 1.0) } else { 0.0 };
        let half = cap / 2;
        half + ((cap - half) as f64 * unit) as i64
    }
}

#[cfg(test)]
mod tests {
    use super::Backoff;

    #[test]
    fn grows_exponentially_within_jitter_band_and_caps() {
        let b = Backoff { base_ms: 1_000, max_ms: 60_000 };
        assert_eq!(b.delay_ms(1, 0.0), 500);
        assert_eq!(b.delay_ms(2, 0.0), 1_000);
        assert_eq!(b.delay_ms(3, 0.0), 2_000);
        for attempts in 1..40 {
            for unit in [0.0, 0.3, 0.999, 1.0, f64::NAN] {
                let d = b.delay_ms(attempts, unit);
                assert!((1..=60_000).contains(&d), "{attempts} {unit} {d}");
            }
        }
        assert_eq!(b.delay_ms(40, 0.0), 30_000);
    }
}
