//! Throttling of repeated failed logins per email.
//!
//! After `max_failures` failures within `window`, further attempts for that email are refused
//! without hashing until the window has passed. It applies to unknown emails too, so it
//! reveals nothing about which emails exist. State is per replica: an attacker spreading
//! attempts over N replicas gets N times the budget, which is still far below what online
//! guessing needs.

use moka::sync::Cache;
use std::time::{Duration, Instant};

/// Per-email failure counter with a fixed window.
pub struct LoginThrottle {
    failures: Cache<String, (u32, Instant)>,
    max_failures: u32,
    window: Duration,
}

impl LoginThrottle {
    pub fn new(max_failures: u32, window: Duration) -> Self {
        Self {
            failures: Cache::builder().max_capacity(100_000).time_to_live(window).build(),
            max_failures,
            window,
        }
    }

    /// `Some(wait)` when attempts for `email` are blocked for `wait` more.
    pub fn blocked_for(&self, email: &str) -> Option<Duration> {
        let (count, since) = self.failures.get(email)?;
        let elapsed = since.elapsed();
        (count >= self.max_failures && elapsed < self.window).then(|| self.window - elapsed)
    }

    pub fn record_failure(&self, email: &str) {
        let now = Instant::now();
        let next = match self.failures.get(email) {
            Some((count, since)) if since.elapsed() < self.window => (count + 1, since),
            _ => (1, now),
        };
        self.failures.insert(email.to_owned(), next);
    }

    pub fn record_success(&self, email: &str) {
        self.failures.invalidate(email);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_after_the_limit_and_resets_on_success() {
        let t = LoginThrottle::new(3, Duration::from_secs(60));
        for _ in 0..2 {
            t.record_failure("a@b.io");
        }
        assert!(t.blocked_for("a@b.io").is_none());
        t.record_failure("a@b.io");
        assert!(t.blocked_for("a@b.io").is_some());
        assert!(t.blocked_for("other@b.io").is_none());
        t.record_success("a@b.io");
        assert!(t.blocked_for("a@b.io").is_none());
    }
}
