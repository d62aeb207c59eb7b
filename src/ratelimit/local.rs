//! The in-process limiter: one atomic TAT per bucket, updated with compare-and-swap, so a
//! check takes no lock.

use super::Bucket;
use super::gcra::{self, Params, Verdict};
use moka::sync::Cache;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

/// Buckets idle this long are dropped; by then they are full again for any window we allow.
const IDLE: Duration = Duration::from_secs(25 * 3600);

/// i64::MIN marks a fresh bucket, so the first check starts from `now`.
const FRESH: i64 = i64::MIN;

/// One GCRA bucket: its TAT, shared by every caller without a lock.
#[derive(Debug)]
pub struct Cell {
    tat: AtomicI64,
}

impl Default for Cell {
    fn default() -> Self {
        Self {
            tat: AtomicI64::new(FRESH),
        }
    }
}

impl Cell {
    /// Checks and, when allowed, consumes `cost` units at `now_ns`.
    pub fn check(&self, params: Params, cost: u32, now_ns: i64) -> Verdict {
        let mut current = self.tat.load(Ordering::Acquire);
        loop {
            let stored = (current != FRESH).then_some(current);
            let (verdict, next) = gcra::check(params, stored, now_ns, cost);
            let Some(next) = next else { return verdict };
            match self
                .tat
                .compare_exchange_weak(current, next, Ordering::AcqRel, Ordering::Acquire)
            {
                Ok(_) => return verdict,
                Err(actual) => current = actual,
            }
        }
    }

    /// Gives back `cost` units an earlier allowed check consumed (a reservation that turned
    /// out not to be needed). A TAT moved into the past reads as a full bucket, as GCRA wants.
    pub fn refund(&self, params: Params, cost: u32) {
        let units = params.emission_ns.saturating_mul(i64::from(cost));
        // Declined only for a fresh bucket, which holds nothing to give back.
        let _ = self.tat.fetch_update(Ordering::AcqRel, Ordering::Acquire, |tat| {
            (tat != FRESH).then(|| tat.saturating_sub(units).max(FRESH + 1))
        });
    }
}

/// GCRA buckets in this process.
#[derive(Clone)]
pub struct LocalLimiter {
    buckets: Cache<Bucket, Arc<Cell>>,
}

impl Default for LocalLimiter {
    fn default() -> Self {
        Self::new()
    }
}

impl LocalLimiter {
    pub fn new() -> Self {
        // No capacity: at capacity moka may refuse a new entry, and a refused bucket would
        // start full on every call, i.e. no limit. Buckets exist only for real orgs and keys
        // (Verify checks the credential first) and go once idle.
        Self {
            buckets: Cache::builder().time_to_idle(IDLE).build(),
        }
    }

    /// A limiter holding at most `max_buckets`, each dropped after `idle` unused. For buckets
    /// whose names a client chooses (its address), where memory must stay bounded: a bucket
    /// refused at capacity starts full, so callers need a backstop that does not depend on it.
    pub fn bounded(max_buckets: u64, idle: Duration) -> Self {
        Self {
            buckets: Cache::builder().max_capacity(max_buckets).time_to_idle(idle).build(),
        }
    }

    /// Checks and, when allowed, consumes `cost` units of `bucket` at `now_ns`.
    pub fn check(&self, bucket: Bucket, params: Params, cost: u32, now_ns: i64) -> Verdict {
        self.buckets.get_with(bucket, Arc::default).check(params, cost, now_ns)
    }

    /// Gives back `cost` units of `bucket` (see [`Cell::refund`]); nothing if it is gone.
    pub fn refund(&self, bucket: Bucket, params: Params, cost: u32) {
        if let Some(cell) = self.buckets.get(&bucket) {
            cell.refund(params, cost);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::ids::OrgId;
    use crate::domain::rate_limit::RateLimitPolicy;

    fn params(limit: u32, window_secs: u64, burst: u32) -> Params {
        Params::of(&RateLimitPolicy {
            limit,
            window: Duration::from_secs(window_secs),
            burst,
        })
    }

    #[test]
    fn concurrent_checks_never_allow_more_than_the_burst() {
        let limiter = LocalLimiter::default();
        let params = params(100, 3600, 50);
        let bucket = Bucket::Org(OrgId::generate());
        let allowed: usize = std::thread::scope(|s| {
            let handles: Vec<_> = (0..4)
                .map(|_| s.spawn(|| (0..100).filter(|_| limiter.check(bucket, params, 1, 0).allowed).count()))
                .collect();
            handles.into_iter().map(|h| h.join().unwrap_or(0)).sum()
        });
        assert_eq!(allowed, 50);
    }

    #[test]
    fn a_refund_gives_back_exactly_what_was_taken() {
        let cell = Cell::default();
        let p = params(60, 60, 3);
        for _ in 0..3 {
            assert!(cell.check(p, 1, 0).allowed);
        }
        assert!(!cell.check(p, 1, 0).allowed);
        cell.refund(p, 1);
        assert!(cell.check(p, 1, 0).allowed, "the refunded unit");
        assert!(!cell.check(p, 1, 0).allowed, "and no more");
        // Refunds never make a bucket hold more than its burst.
        let full = Cell::default();
        full.refund(p, 5);
        assert_eq!(full.check(p, 1, 0).remaining, 2);
    }
}
