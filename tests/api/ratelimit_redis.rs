//! The Redis rate limiter against a real Redis named by `GATEKEY_TEST_REDIS_URL`.
//!
//! Skipped (loudly) when the variable is unset; once it is set, an unreachable server fails
//! the test. Every test draws from a bucket of its own, so they share one Redis in parallel.
//! The limiters here fail closed with a generous timeout: a Redis failure shows up as a
//! denial the assertions catch, never as a quiet fallback.

use gatekey::domain::ids::OrgId;
use gatekey::domain::rate_limit::RateLimitPolicy;
use gatekey::ratelimit::gcra::{self, Params};
use gatekey::ratelimit::{Bucket, LocalLimiter, RedisFailureMode, RedisLimiter, Verdict};
use std::time::{Duration, Instant};

const REDIS_URL_VAR: &str = "GATEKEY_TEST_REDIS_URL";
/// A port nothing listens on.
const DEAD_REDIS: &str = "redis://127.0.0.1:1";

fn redis_url() -> Option<String> {
    let url = std::env::var(REDIS_URL_VAR).ok().filter(|u| !u.is_empty());
    if url.is_none() {
        eprintln!("skipped: {REDIS_URL_VAR} is unset");
    }
    url
}

/// A limiter on the test Redis, proven reachable; `None` when the variable is unset.
async fn limiter() -> Option<RedisLimiter> {
    let url = redis_url()?;
    Some(limiter_on(&url).await)
}

async fn limiter_on(url: &str) -> RedisLimiter {
    let limiter = RedisLimiter::connect(
        url,
        RedisFailureMode::Deny,
        LocalLimiter::default(),
        Duration::from_secs(2),
    )
    .await
    .expect("connect");
    limiter
        .ping()
        .await
        .unwrap_or_else(|e| panic!("{REDIS_URL_VAR} is set but Redis does not answer: {e:#}"));
    limiter
}

fn params(limit: u32, window_secs: u64, burst: u32) -> Params {
    Params::of(&RateLimitPolicy {
        limit,
        window: Duration::from_secs(window_secs),
        burst,
    })
}

fn fresh_bucket() -> Bucket {
    Bucket::Org(OrgId::generate())
}

/// Asserts that a duration the script reported is `expected` (as `gcra.rs` computes it at the
/// instant the test started) less the Redis time since then, which is at most `elapsed`.
fn assert_counted_down(got: Duration, expected: Duration, elapsed: Duration) {
    // One millisecond for the difference between the Redis clock and ours.
    let earliest = expected.saturating_sub(elapsed + Duration::from_millis(1));
    assert!(
        earliest <= got && got <= expected,
        "{got:?} is not {expected:?} less at most {elapsed:?}"
    );
}

#[tokio::test]
async fn redis_allows_exactly_the_burst_then_denies_with_retry_after() {
    let Some(limiter) = limiter().await else { return };
    let (bucket, p) = (fresh_bucket(), params(1000, 60, 100)); // one unit per 60 ms
    // Pipelined, so the burst takes well under an emission interval of the Redis clock.
    let start = Instant::now();
    let burst = futures::future::join_all((0..100).map(|_| limiter.check(bucket, p, 1, 0))).await;
    let denied = limiter.check(bucket, p, 1, 0).await;
    let elapsed = start.elapsed();
    assert!(
        burst.iter().all(|v| v.allowed),
        "part of the burst was denied: {burst:?}"
    );
    let mut remaining: Vec<u32> = burst.iter().map(|v| v.remaining).collect();
    remaining.sort_unstable();
    assert_eq!(remaining, (0..100).collect::<Vec<_>>());
    assert!(!denied.allowed, "the 101st request passed: {denied:?}");
    assert_eq!(denied.remaining, 0);
    // One interval (60 ms) after the burst began, on the Redis clock, which ran on meanwhile.
    assert_counted_down(denied.retry_after, Duration::from_millis(60), elapsed);
    assert_counted_down(denied.reset_after, Duration::from_secs(6), elapsed);
    assert_eq!(
        denied.reset_after - denied.retry_after,
        Duration::from_millis(5_940),
        "both from one TAT"
    );
}

#[tokio::test]
async fn two_limiters_sharing_redis_allow_no_more_than_the_burst_together() {
    let Some(url) = redis_url() else { return };
    let replicas = [limiter_on(&url).await, limiter_on(&url).await];
    let (bucket, p) = (fresh_bucket(), params(100, 3600, 50)); // no refill during the test
    let attempts = replicas
        .iter()
        .flat_map(|replica| (0..60).map(move |_| replica.check(bucket, p, 1, 0)));
    let verdicts = futures::future::join_all(attempts).await;
    let allowed = verdicts.iter().filter(|v| v.allowed).count();
    assert_eq!(allowed, 50, "120 concurrent requests on two replicas");
    assert!(
        verdicts
            .iter()
            .filter(|v| !v.allowed)
            .all(|v| v.retry_after > Duration::from_secs(35))
    );
}

#[tokio::test]
async fn cost_consumes_that_many_units() {
    let Some(limiter) = limiter().await else { return };
    let (bucket, p) = (fresh_bucket(), params(10, 10, 10));
    let start = Instant::now();
    let v = limiter.check(bucket, p, 7, 0).await;
    assert!(v.allowed && v.remaining == 3, "{v:?}");
    let v = limiter.check(bucket, p, 4, 0).await;
    assert!(!v.allowed && v.remaining == 3, "{v:?}");
    assert_counted_down(v.retry_after, Duration::from_secs(1), start.elapsed());
    let v = limiter.check(bucket, p, 3, 0).await;
    assert!(v.allowed && v.remaining == 0, "{v:?}");
}

#[tokio::test]
async fn the_bucket_key_expires_when_the_bucket_is_full_again() {
    let Some(url) = redis_url() else { return };
    let limiter = limiter_on(&url).await;
    let (bucket, p) = (fresh_bucket(), params(10, 10, 10));
    let start = Instant::now();
    let v = limiter.check(bucket, p, 3, 0).await;
    assert!(v.allowed);
    assert_counted_down(v.reset_after, Duration::from_secs(3), start.elapsed());
    let mut raw = redis::Client::open(url)
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    let pttl: i64 = redis::cmd("PTTL")
        .arg(bucket.redis_key())
        .query_async(&mut raw)
        .await
        .unwrap();
    let elapsed = i64::try_from(start.elapsed().as_millis()).unwrap();
    assert!(
        (3_000 - elapsed - 1..=3_000).contains(&pttl),
        "PTTL {pttl} ms, expected 3000 less {elapsed}"
    );
}

/// The script is `gcra::check` on the Redis clock: back-to-back costs, far less time apart
/// than one emission interval, get the verdicts and remaining counts `gcra.rs` gives at one
/// fixed instant, and the same times less the Redis time that passed.
#[tokio::test]
async fn the_lua_script_agrees_with_gcra_rs() {
    let Some(limiter) = limiter().await else { return };
    let cases = [
        (params(10, 10, 5), vec![1, 1, 2, 1, 1, 1, 0, 5]),
        (params(3, 10, 3), vec![1, 1, 1, 1, 0]), // 3_333_333_333 ns: no whole microsecond
        (params(7, 60, 4), vec![4, 1, 0, 3]),
        (params(1000, 600, 100), vec![50, 49, 2, 1, 1, 100]),
        (params(5, 3600, 1), vec![2, 1, 1]), // a cost above the burst never passes
    ];
    for (p, costs) in cases {
        let (bucket, start) = (fresh_bucket(), Instant::now());
        let mut tat = None;
        for (i, &cost) in costs.iter().enumerate() {
            let (expected, next) = gcra::check(p, tat, 0, cost);
            tat = next.or(tat);
            let got = limiter.check(bucket, p, cost, 0).await;
            let context = format!("{p:?}, request {i} (cost {cost}): redis {got:?}, gcra.rs {expected:?}");
            assert_eq!(
                (got.allowed, got.remaining),
                (expected.allowed, expected.remaining),
                "{context}"
            );
            assert_counted_down(got.retry_after, expected.retry_after, start.elapsed());
            assert_counted_down(got.reset_after, expected.reset_after, start.elapsed());
        }
    }
}

#[tokio::test]
async fn a_dead_redis_falls_back_per_failure_mode() {
    // `connect` succeeds lazily: only a malformed URL fails it, so a replica can start during
    // an outage and serve under its failure mode.
    let dead = |mode| RedisLimiter::connect(DEAD_REDIS, mode, LocalLimiter::default(), Duration::from_millis(50));
    let (deny, allow, local) = tokio::join!(
        dead(RedisFailureMode::Deny),
        dead(RedisFailureMode::Allow),
        dead(RedisFailureMode::Local)
    );
    let (deny, allow, local) = (deny.unwrap(), allow.unwrap(), local.unwrap());
    assert!(deny.ping().await.is_err(), "a dead Redis answered a ping");
    let p = params(10, 60, 2);

    let v = deny.check(fresh_bucket(), p, 1, 0).await;
    let expected = Verdict {
        allowed: false,
        remaining: 0,
        reset_after: Duration::from_secs(1),
        retry_after: Duration::from_secs(1),
    };
    assert_eq!(v, expected);

    let v = allow.check(fresh_bucket(), p, 1, 0).await;
    assert!(v.allowed && v.remaining == 2, "allow reports a full bucket: {v:?}");

    // The local fallback is a real limiter on the caller's clock: the burst, then denial.
    let bucket = fresh_bucket();
    let pattern: Vec<bool> = futures::future::join_all((0..3).map(|_| local.check(bucket, p, 1, 0)))
        .await
        .iter()
        .map(|v| v.allowed)
        .collect();
    assert_eq!(pattern, [true, true, false]);
    let later = local.check(bucket, p, 1, 6_000_000_000).await;
    assert!(later.allowed, "the local bucket refills on the caller's clock");
}

#[tokio::test]
async fn a_malformed_url_fails_connect_without_echoing_it() {
    let url = "redis://:hunter2@127.0.0.1:6379/not-a-database";
    let err = RedisLimiter::connect(
        url,
        RedisFailureMode::Local,
        LocalLimiter::default(),
        Duration::from_millis(50),
    )
    .await
    .err()
    .expect("a malformed URL is refused");
    assert!(!format!("{err:#}").contains("hunter2"), "{err:#}");
}
