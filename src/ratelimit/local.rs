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

/// GCRA buckets in this process.
#[derive(Clone)]
pub struct LocalLimiter {
    buckets: Cache<Bucket, Arc<AtomicI64>>,
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

    /// Checks and, when allowed, consumes `cost` units of `bucket` at `now_ns`.
    pub fn check(&self, bucket: Bucket, params: Params, cost: u32, now_ns: i64) -> Verdict {
        // i64::MIN marks a fresh bucket, so the first check starts from `now`.
        let tat = self.buckets.get_with(bucket, || Arc::new(AtomicI64::new(i64::MIN)));
        let mut current = tat.load(Ordering::Acquire);
        loop {
            let stored = (current != i64::MIN).then_some(current);
            let (verdict, next) = gcra::check(params, stored, now_ns, cost);
            let Some(next) = next else { return verdict };
            match tat.compare_exchange_weak(current, next, Ordering::AcqRel, Ordering::Acquire) {
                Ok(_) => return verdict,
                Err(actual) => current = actual,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::ids::OrgId;
    use crate::domain::rate_limit::RateLimitPolicy;

    #[test]
    fn concurrent_checks_never_allow_more_than_the_burst() {
        let limiter = LocalLimiter::default();
        let params = Params::of(&RateLimitPolicy {
            limit: 100,
            window: Duration::from_secs(3600),
            burst: 50,
        });
        let bucket = Bucket::Org(OrgId::generate());
        let allowed: usize = std::thread::scope(|s| {
            let handles: Vec<_> = (0..4)
                .map(|_| s.spawn(|| (0..100).filter(|_| limiter.check(bucket, params, 1, 0).allowed).count()))
                .collect();
            handles.into_iter().map(|h| h.join().unwrap_or(0)).sum()
        });
        assert_eq!(allowed, 50);
    }
}
