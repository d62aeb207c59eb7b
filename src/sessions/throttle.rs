//! Throttling of repeated failed logins per email.
//!
//! An attempt is reserved before any hashing and counts as a failure unless it succeeds, so
//! parallel guesses cannot all slip through between a check and an update. After
//! `max_failures` within `window`, attempts for that email are refused without hashing until
//! the window has passed. It applies to unknown emails too, so it reveals nothing about which
//! emails exist. State is per replica: N replicas give an attacker N times the budget, still
//! far below what online guessing needs.

use moka::sync::Cache;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

struct Window {
    attempts: u32,
    since: Instant,
}

/// Per-email attempt counter with a fixed window.
pub struct LoginThrottle {
    // No capacity: at capacity a refused entry would exempt its email from throttling. The
    // window bounds the size, and argon2's own limit bounds how fast entries can appear.
    windows: Cache<String, Arc<Mutex<Window>>>,
    max_failures: u32,
    window: Duration,
}

impl LoginThrottle {
    pub fn new(max_failures: u32, window: Duration) -> Self {
        Self {
            windows: Cache::builder().time_to_idle(window).build(),
            max_failures,
            window,
        }
    }

    /// Reserves an attempt for `email`, or says how long it is blocked for.
    pub fn begin(&self, email: &str) -> Result<(), Duration> {
        let entry = self.windows.get_with(email.to_owned(), || {
            Arc::new(Mutex::new(Window {
                attempts: 0,
                since: Instant::now(),
            }))
        });
        let mut w = entry.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if w.since.elapsed() >= self.window {
            *w = Window {
                attempts: 0,
                since: Instant::now(),
            };
        }
        if w.attempts >= self.max_failures {
            return Err(self.window.saturating_sub(w.since.elapsed()));
        }
        w.attempts += 1;
        Ok(())
    }

    /// A successful login clears the email's failures.
    pub fn succeeded(&self, email: &str) {
        self.windows.invalidate(email);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_after_the_limit_and_resets_on_success() {
        let t = LoginThrottle::new(3, Duration::from_secs(60));
        for _ in 0..3 {
            assert!(t.begin("a@b.io").is_ok());
        }
        assert!(
            t.begin("a@b.io").is_err(),
            "the fourth attempt in the window is refused"
        );
        assert!(t.begin("other@b.io").is_ok());
        t.succeeded("a@b.io");
        assert!(t.begin("a@b.io").is_ok());
    }

    #[test]
    fn parallel_attempts_cannot_exceed_the_limit() {
        let t = LoginThrottle::new(5, Duration::from_secs(60));
        let admitted: usize = std::thread::scope(|s| {
            let hs: Vec<_> = (0..8)
                .map(|_| s.spawn(|| (0..10).filter(|_| t.begin("x@y.z").is_ok()).count()))
                .collect();
            hs.into_iter().map(|h| h.join().unwrap_or(0)).sum()
        });
        assert_eq!(admitted, 5);
    }
}
