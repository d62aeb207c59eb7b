//! Wall-clock time as Unix milliseconds, and the clock that tells it.
//!
//! Milliseconds are precise enough for expiry decisions and store identically in SQLite and
//! PostgreSQL, so both backends compare the same integers.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

/// A point in time, milliseconds since the Unix epoch (UTC).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct UnixMs(pub i64);

impl UnixMs {
    pub fn plus(self, d: Duration) -> UnixMs {
        UnixMs(self.0.saturating_add(i64::try_from(d.as_millis()).unwrap_or(i64::MAX)))
    }

    /// UTC calendar date as `YYMMDD`, used to name rotated keys.
    pub fn yymmdd(self) -> String {
        chrono::DateTime::from_timestamp_millis(self.0)
            .map(|t| t.format("%y%m%d").to_string())
            .unwrap_or_else(|| "000000".to_owned())
    }
}

/// Source of the current time; tests inject a manual one to probe expiry edges.
pub trait Clock: Send + Sync + std::fmt::Debug {
    fn now(&self) -> UnixMs;
}

/// The system clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> UnixMs {
        UnixMs(chrono::Utc::now().timestamp_millis())
    }
}

/// A clock that only moves when told to.
#[derive(Debug, Clone, Default)]
pub struct ManualClock(Arc<AtomicI64>);

impl ManualClock {
    pub fn new(start: UnixMs) -> Self {
        Self(Arc::new(AtomicI64::new(start.0)))
    }
    pub fn set(&self, t: UnixMs) {
        self.0.store(t.0, Ordering::SeqCst);
    }
    pub fn advance(&self, d: Duration) {
        let now = self.now().plus(d);
        self.set(now);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> UnixMs {
        UnixMs(self.0.load(Ordering::SeqCst))
    }
}

/// The clock shared by the whole application.
pub type SharedClock = Arc<dyn Clock>;
