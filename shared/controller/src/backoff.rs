//! Exponential backoff with jitter, for reconcile errors: a failing object is retried at
//! base·factor^attempt, capped, and spread over [d/2, d] so failures do not retry in lockstep.

use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Backoff {
    pub base: Duration,
    pub max: Duration,
    pub factor: f64,
}

impl Default for Backoff {
    /// 1 s doubling to 5 min: quick for blips, gentle for a resource that stays broken
    /// (an exhausted IP pool must not become a hot loop).
    fn default() -> Self {
        Self {
            base: Duration::from_secs(1),
            max: Duration::from_secs(300),
            factor: 2.0,
        }
    }
}

impl Backoff {
    /// The delay before retry number `attempt` (0-based); `jitter` in [0, 1) picks the point
    /// in [d/2, d]. Pure: the caller supplies the randomness.
    pub fn delay(&self, attempt: u32, jitter: f64) -> Duration {
        let exp = self.factor.powi(attempt.min(64) as i32);
        let full = self.base.as_secs_f64() * exp;
        let capped = full.min(self.max.as_secs_f64());
        let jitter = jitter.clamp(0.0, 1.0);
        Duration::from_secs_f64(capped * (0.5 + 0.5 * jitter))
    }

    /// [`Backoff::delay`] with thread-local randomness.
    pub fn next(&self, attempt: u32) -> Duration {
        use rand::RngExt;
        self.delay(attempt, rand::rng().random::<f64>())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grows_exponentially_and_caps() {
        let b = Backoff::default();
        assert_eq!(b.delay(0, 1.0), Duration::from_secs(1));
        assert_eq!(b.delay(3, 1.0), Duration::from_secs(8));
        assert_eq!(b.delay(20, 1.0), Duration::from_secs(300));
        assert_eq!(b.delay(u32::MAX, 1.0), Duration::from_secs(300));
    }

    #[test]
    fn jitter_spreads_between_half_and_full() {
        let b = Backoff::default();
        assert_eq!(b.delay(4, 0.0), Duration::from_secs(8));
        assert_eq!(b.delay(4, 0.5), Duration::from_secs(12));
        for _ in 0..100 {
            let d = b.next(4);
            assert!(
                d >= Duration::from_secs(8) && d <= Duration::from_secs(16),
                "{d:?}"
            );
        }
    }
}
