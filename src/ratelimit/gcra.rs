//! GCRA (the generic cell rate algorithm), as governor and redis-cell use it, written out
//! because the verdict needs more than allow/deny: remaining, reset and retry times.
//!
//! State is one number per bucket, the theoretical arrival time (TAT). Each unit of cost
//! moves it `T = window / limit` later; a request is allowed while the moved TAT stays within
//! `burst * T` of now. So `burst` requests pass at once, and then one every `T`.

use crate::domain::rate_limit::RateLimitPolicy;
use std::time::Duration;

/// The outcome of one check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Verdict {
    pub allowed: bool,
    /// How many more unit-cost requests would pass right now.
    pub remaining: u32,
    /// Until the bucket is full again (all of `burst` available).
    pub reset_after: Duration,
    /// Until this request would pass; zero when allowed.
    pub retry_after: Duration,
}

/// Emission interval and burst tolerance of a policy, in nanoseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Params {
    pub emission_ns: i64,
    pub tolerance_ns: i64,
}

impl Params {
    pub fn of(policy: &RateLimitPolicy) -> Self {
        let window = i64::try_from(policy.window.as_nanos()).unwrap_or(i64::MAX);
        let emission_ns = (window / i64::from(policy.limit.max(1))).max(1);
        Self {
            emission_ns,
            tolerance_ns: emission_ns.saturating_mul(i64::from(policy.burst)),
        }
    }
}

fn nanos(ns: i64) -> Duration {
    Duration::from_nanos(u64::try_from(ns.max(0)).unwrap_or(0))
}

/// Decides a request of `cost` units at `now_ns` against a bucket whose TAT is `tat_ns`
/// (`None` for an unused bucket). Returns the verdict and, when allowed, the new TAT to store.
pub fn check(params: Params, tat_ns: Option<i64>, now_ns: i64, cost: u32) -> (Verdict, Option<i64>) {
    let tat = tat_ns.unwrap_or(now_ns).max(now_ns);
    let new_tat = tat.saturating_add(params.emission_ns.saturating_mul(i64::from(cost)));
    let allow_at = new_tat - params.tolerance_ns;
    let remaining_at = |t: i64| {
        let room = params.tolerance_ns - (t - now_ns);
        u32::try_from((room / params.emission_ns).max(0)).unwrap_or(u32::MAX)
    };
    if now_ns < allow_at {
        let verdict = Verdict {
            allowed: false,
            remaining: remaining_at(tat),
            reset_after: nanos(tat - now_ns),
            retry_after: nanos(allow_at - now_ns),
        };
        return (verdict, None);
    }
    let verdict = Verdict {
        allowed: true,
        remaining: remaining_at(new_tat),
        reset_after: nanos(new_tat - now_ns),
        retry_after: Duration::ZERO,
    };
    (verdict, Some(new_tat))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(limit: u32, window_secs: u64, burst: u32) -> Params {
        Params::of(&RateLimitPolicy {
            limit,
            window: Duration::from_secs(window_secs),
            burst,
        })
    }

    #[test]
    fn exactly_burst_requests_pass_at_once_then_one_per_interval() {
        let p = policy(1000, 60, 100); // T = 60 ms
        let mut tat = None;
        for i in 0..100 {
            let (v, next) = check(p, tat, 0, 1);
            assert!(v.allowed, "request {i}");
            assert_eq!(v.remaining, 99 - i);
            tat = next;
        }
        let (denied, none) = check(p, tat, 0, 1);
        assert!(!denied.allowed && none.is_none());
        assert_eq!(denied.retry_after, Duration::from_millis(60));
        assert_eq!(denied.remaining, 0);
        assert_eq!(denied.reset_after, Duration::from_secs(6));
        // One interval later exactly one more passes.
        let (later, _) = check(p, tat, 60_000_000, 1);
        assert!(later.allowed);
        let (too_soon, _) = check(p, tat, 59_999_999, 1);
        assert!(!too_soon.allowed);
    }

    #[test]
    fn cost_consumes_that_many_units() {
        let p = policy(10, 10, 10);
        let (v, tat) = check(p, None, 0, 7);
        assert!(v.allowed);
        assert_eq!(v.remaining, 3);
        let (v, _) = check(p, tat, 0, 4);
        assert!(!v.allowed);
        assert_eq!(v.retry_after, Duration::from_secs(1));
        let (v, _) = check(p, tat, 0, 3);
        assert!(v.allowed && v.remaining == 0);
    }

    #[test]
    fn an_idle_bucket_refills_but_never_beyond_burst() {
        let p = policy(10, 10, 5);
        let (_, tat) = check(p, None, 0, 5);
        let (v, _) = check(p, tat, 1_000_000_000_000, 1);
        assert!(v.allowed);
        assert_eq!(v.remaining, 4);
    }
}
