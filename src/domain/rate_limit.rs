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
        Ok(Self { limit, window, burst })
    }
}
