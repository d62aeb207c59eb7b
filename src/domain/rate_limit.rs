//! Rate-limit policies: `limit` requests per `window`, with bursts of up to `burst`.

use super::FieldViolation;
use std::time::Duration;

/// A validated GCRA policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimitPolicy {
    pub limit: u32,
    pub window: Duration,
    pub burst: u32,
}

pub const MAX_LIMIT: u32 = 10_000_000;
pub const MIN_WINDOW: Duration = Duration::from_secs(1);
pub const MAX_WINDOW: Duration = Duration::from_secs(86_400);

impl RateLimitPolicy {
    /// The org default when none was set: 1000 requests per minute, bursts of 100.
    pub const DEFAULT: RateLimitPolicy = RateLimitPolicy {
        limit: 1000,
        window: Duration::from_secs(60),
        burst: 100,
    };

    pub fn new(field: &str, limit: u32, window: Duration, burst: u32) -> Result<Self, FieldViolation> {
        if limit == 0 || limit > MAX_LIMIT {
            return Err(FieldViolation::new(
                format!("{field}.limit"),
                format!("must be 1-{MAX_LIMIT}"),
            ));
        }
        if window < MIN_WINDOW || window > MAX_WINDOW {
            return Err(FieldViolation::new(
                format!("{field}.window"),
                "must be between 1 second and 24 hours",
            ));
        }
        if burst == 0 || burst > MAX_LIMIT {
            return Err(FieldViolation::new(
                format!("{field}.burst"),
                format!("must be 1-{MAX_LIMIT}"),
            ));
        }
        // GCRA's tolerance, burst × window / limit, must stay within 2^53 ns (about 104 days):
        // the Redis script's arithmetic is exact only up to there.
        let tolerance_ns = window.as_nanos() / u128::from(limit) * u128::from(burst);
        if tolerance_ns > MAX_TOLERANCE_NS {
            return Err(FieldViolation::new(
                format!("{field}.burst"),
                "burst × window / limit must be at most 100 days",
            ));
        }
        Ok(Self { limit, window, burst })
    }
}

/// 100 days, safely below 2^53 ns.
const MAX_TOLERANCE_NS: u128 = 100 * 86_400 * 1_000_000_000;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policies_are_bounded() {
        assert!(RateLimitPolicy::new("p", 1000, Duration::from_secs(60), 100).is_ok());
        assert!(RateLimitPolicy::new("p", 0, Duration::from_secs(60), 1).is_err());
        assert!(RateLimitPolicy::new("p", 1, Duration::from_millis(10), 1).is_err());
        assert!(
            RateLimitPolicy::new("p", 1, Duration::from_secs(86_400), 1000).is_err(),
            "1000 days of burst"
        );
        assert!(RateLimitPolicy::new("p", 1, Duration::from_secs(86_400), 100).is_ok());
    }
}
