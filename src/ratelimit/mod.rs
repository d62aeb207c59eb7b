//! Rate limiting: GCRA buckets per org (the default) or per key (an override), in process or
//! in Redis so that every replica shares one budget.

pub mod gcra;
pub mod local;
pub mod redis;

use crate::domain::ids::{KeyId, OrgId};
use crate::domain::rate_limit::RateLimitPolicy;
use std::net::IpAddr;
use std::time::Duration;

pub use gcra::Verdict;
pub use local::LocalLimiter;
pub use redis::{RedisFailureMode, RedisLimiter, client as redis_client};

/// Whose budget a request draws from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Bucket {
    /// Every key of the org without an override shares this one.
    Org(OrgId),
    /// A key with its own policy.
    Key(KeyId),
    /// A rate-limit-service descriptor: a hash of its domain, rule and entries.
    Descriptor(u64),
    /// Failed credentials from one client network (an IPv4 address or an IPv6 /64).
    ClientFailures(IpAddr),
    /// This replica's store lookups for keys not in memory.
    KeyLookups,
}

impl Bucket {
    /// The policy name reported in the verdict and the IETF headers.
    pub fn policy_name(self) -> &'static str {
        match self {
            Bucket::Org(_) => "org",
            Bucket::Key(_) => "key",
            Bucket::Descriptor(_) => "descriptor",
            Bucket::ClientFailures(_) => "client_failures",
            Bucket::KeyLookups => "key_lookups",
        }
    }

    /// The Redis key of this bucket.
    pub fn redis_key(self) -> String {
        match self {
            Bucket::Org(id) => format!("gatekey:rl:org:{id}"),
            Bucket::Key(id) => format!("gatekey:rl:key:{id}"),
            Bucket::Descriptor(h) => format!("gatekey:rl:desc:{h:016x}"),
            // Only ever local (they guard this replica's store use), named for completeness.
            Bucket::ClientFailures(ip) => format!("gatekey:rl:client:{ip}"),
            Bucket::KeyLookups => "gatekey:rl:key-lookups".to_owned(),
        }
    }
}

/// The configured backend.
pub enum Limiter {
    Local(LocalLimiter),
    Redis(RedisLimiter),
}

impl Limiter {
    /// Checks `cost` units of `bucket` under `policy`. `now_ns` is the caller's clock; the
    /// Redis backend uses the Redis server's clock instead, so replicas agree.
    pub async fn check(&self, bucket: Bucket, policy: &RateLimitPolicy, cost: u32, now_ns: i64) -> Verdict {
        let params = gcra::Params::of(policy);
        match self {
            Limiter::Local(local) => local.check(bucket, params, cost, now_ns),
            Limiter::Redis(redis) => redis.check(bucket, params, cost, now_ns).await,
        }
    }
}

/// `RateLimit-Policy` field value (draft-ietf-httpapi-ratelimit-headers): quota and window.
pub fn policy_header(bucket: Bucket, policy: &RateLimitPolicy) -> String {
    let mut s = String::with_capacity(HEADER_CAPACITY);
    // Writing to a String cannot fail.
    let _ = write_policy_header(&mut s, bucket, policy);
    s
}

/// `RateLimit` field value: remaining units and seconds until the bucket resets.
pub fn header(bucket: Bucket, verdict: &Verdict) -> String {
    let mut s = String::with_capacity(HEADER_CAPACITY);
    let _ = write_header(&mut s, bucket, verdict);
    s
}

/// Longest header value: a 15-byte policy name, a u32 and a u64 with their punctuation.
pub const HEADER_CAPACITY: usize = 56;

/// [`policy_header`] into `w`, so Verify can write it where it is sent without a `String`.
pub fn write_policy_header(w: &mut impl std::fmt::Write, bucket: Bucket, policy: &RateLimitPolicy) -> std::fmt::Result {
    write!(
        w,
        "\"{}\";q={};w={}",
        bucket.policy_name(),
        policy.limit,
        policy.window.as_secs()
    )
}

/// [`header`] into `w`.
pub fn write_header(w: &mut impl std::fmt::Write, bucket: Bucket, verdict: &Verdict) -> std::fmt::Result {
    write!(
        w,
        "\"{}\";r={};t={}",
        bucket.policy_name(),
        verdict.remaining,
        ceil_secs(verdict.reset_after)
    )
}

/// Whole seconds, rounded up.
pub fn ceil_secs(d: Duration) -> u64 {
    d.as_secs() + u64::from(d.subsec_nanos() > 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_follow_the_ietf_structured_field_syntax() {
        let bucket = Bucket::Org(OrgId::generate());
        let policy = RateLimitPolicy::DEFAULT;
        assert_eq!(policy_header(bucket, &policy), "\"org\";q=1000;w=60");
        let v = Verdict {
            allowed: true,
            remaining: 99,
            reset_after: Duration::from_millis(60),
            retry_after: Duration::ZERO,
        };
        assert_eq!(header(bucket, &v), "\"org\";r=99;t=1");
    }
}
