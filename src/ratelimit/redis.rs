//! The Redis backend: one GCRA bucket per Redis key, shared by every replica.
//!
//! Each check is one Lua script, atomic on the server, that does the same arithmetic as
//! `gcra::check` on the Redis server's clock (`TIME`), so replicas with skewed clocks still
//! agree. Needs Redis 5 or later (scripts that read `TIME` and then write are replicated by
//! effect only from 5 on).
//!
//! When Redis fails or is slower than the configured timeout, the [`RedisFailureMode`] decides.
//! `connect` only fails on a malformed URL: a server that is down at startup is a failure like
//! any other, so a replica restarted during an outage serves under its failure mode instead of
//! crash-looping, and picks Redis up as soon as it answers.

use super::Bucket;
use super::gcra::{Params, Verdict};
use super::local::LocalLimiter;
use anyhow::Context;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{RedisResult, Script};
use std::str::FromStr;
use std::sync::atomic::AtomicU64;
use std::sync::atomic::Ordering::Relaxed;
use std::time::{Duration, Instant};

/// The GCRA of `gcra.rs`. KEYS[1]: the bucket; ARGV: emission and tolerance in ns, cost.
///
/// Lua numbers are doubles and an epoch in nanoseconds passes 2^53, so the TAT is stored as a
/// decimal string of epoch nanoseconds, split into seconds and nanoseconds on reading, and all
/// arithmetic is on offsets from now: integers below 2^53 (104 days), hence exact. Microseconds
/// with fractions would not do: at today's epoch a double resolves only 0.25 us, enough to flip
/// the verdict of the last request of a burst.
const SCRIPT: &str = r"
local emission = tonumber(ARGV[1])
local tolerance = tonumber(ARGV[2])
local cost = tonumber(ARGV[3])
local time = redis.call('TIME')
local now_s = tonumber(time[1])
local now_ns = tonumber(time[2]) * 1000

-- floor(a / b) for non-negative integers; the rounded quotient can be one off.
local function idiv(a, b)
  local q = math.floor(a / b)
  if q * b > a then q = q - 1 elseif (q + 1) * b <= a then q = q + 1 end
  return q
end
local function remaining(tat)
  local room = tolerance - tat
  if room < 0 then return 0 end
  return idiv(room, emission)
end

local tat = 0
local stored = redis.call('GET', KEYS[1])
if stored and #stored > 9 then
  local s = tonumber(string.sub(stored, 1, -10))
  local ns = tonumber(string.sub(stored, -9))
  tat = (s - now_s) * 1000000000 + ns - now_ns
end
if tat < 0 then tat = 0 end
local new_tat = tat + emission * cost
local allow_at = new_tat - tolerance
if allow_at > 0 then
  return {0, remaining(tat), tat, allow_at}
end
if new_tat > 0 then
  local abs = now_ns + new_tat
  local carry = idiv(abs, 1000000000)
  local stamp = string.format('%d%09d', now_s + carry, abs - carry * 1000000000)
  -- Expire when the bucket is full again: an absent key and a TAT in the past mean the same.
  redis.call('SET', KEYS[1], stamp, 'PX', math.ceil(new_tat / 1000000))
else
  redis.call('DEL', KEYS[1])
end
return {1, remaining(new_tat), new_tat, 0}
";

/// How long `connect` waits for a first answer: a cold connection (TLS, AUTH) needs more than
/// the per-check budget, and waiting longer would only delay startup during an outage.
const CONNECT_WAIT: Duration = Duration::from_secs(1);
/// How long a request denied by [`RedisFailureMode::Deny`] is told to wait.
const DENY_RETRY: Duration = Duration::from_secs(1);
/// At most one warning per this interval: during an outage every check fails.
const WARN_EVERY: Duration = Duration::from_secs(10);

/// What a check does when Redis fails or does not answer in time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RedisFailureMode {
    /// Deny every request, with a retry-after of one second: fail closed.
    Deny,
    /// Allow every request, reporting a full bucket: fail open.
    Allow,
    /// Limit each replica on its own: N replicas allow up to N times the budget.
    #[default]
    Local,
}

impl RedisFailureMode {
    /// The lowercase name, as configured and as the metric label.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Deny => "deny",
            Self::Allow => "allow",
            Self::Local => "local",
        }
    }
}

/// A failure mode other than `deny`, `allow` or `local`.
#[derive(Debug, thiserror::Error)]
#[error("unknown Redis failure mode {0:?}: expected deny, allow or local")]
pub struct UnknownFailureMode(String);

impl FromStr for RedisFailureMode {
    type Err = UnknownFailureMode;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "deny" => Ok(Self::Deny),
            "allow" => Ok(Self::Allow),
            "local" => Ok(Self::Local),
            _ => Err(UnknownFailureMode(s.to_owned())),
        }
    }
}

/// A client for `url`. A `rediss://` url is TLS (rustls), verified against the Mozilla roots
/// built into gatekey, or only against `tls.ca_cert` (PEM) when one is configured, for a
/// private CA. Like the url, neither error nor log shows the password.
pub fn client(url: &str, tls: &crate::config::RedisTls) -> anyhow::Result<redis::Client> {
    let Some(ca) = &tls.ca_cert else {
        return redis::Client::open(url).context("invalid Redis URL");
    };
    anyhow::ensure!(
        url.starts_with("rediss://"),
        "redis_ca_cert is set but the Redis url is not rediss:// (TLS)"
    );
    let pem = std::fs::read(ca).with_context(|| format!("reading redis_ca_cert {}", ca.display()))?;
    let certificates = redis::TlsCertificates {
        client_tls: None,
        root_cert: Some(pem),
    };
    redis::Client::build_with_tls(url, certificates).context("invalid Redis URL or redis_ca_cert")
}

/// GCRA buckets in Redis, so that every replica draws from one budget.
pub struct RedisLimiter {
    conn: ConnectionManager,
    script: Script,
    failure_mode: RedisFailureMode,
    fallback: LocalLimiter,
    timeout: Duration,
    warnings: WarnThrottle,
}

impl RedisLimiter {
    /// A limiter on the Redis at `url`, answering within `timeout` or by `failure_mode`
    /// (`fallback` serves the `Local` mode). Fails only when `url` is malformed; an unreachable
    /// server is logged and then handled per check, while the connection retries by itself.
    /// The URL may hold a password, so it is never logged nor put in the error.
    pub async fn connect(
        url: &str,
        failure_mode: RedisFailureMode,
        fallback: LocalLimiter,
        timeout: Duration,
    ) -> anyhow::Result<Self> {
        let client = redis::Client::open(url).context("invalid Redis URL")?;
        Self::with_client(client, failure_mode, fallback, timeout).await
    }

    /// As [`RedisLimiter::connect`], on a client already built (see [`client`]).
    pub async fn with_client(
        client: redis::Client,
        failure_mode: RedisFailureMode,
        fallback: LocalLimiter,
        timeout: Duration,
    ) -> anyhow::Result<Self> {
        // While Redis is down every check pays the failure mode, so retry often and cap the
        // backoff low: coming back within a second matters more than sparing the server.
        let config = ConnectionManagerConfig::new()
            .set_max_delay(Duration::from_secs(1))
            .set_connection_timeout(Some(CONNECT_WAIT));
        let conn = ConnectionManager::new_lazy_with_config(client, config).context("Redis connection setup")?;
        let limiter = Self {
            conn,
            script: Script::new(SCRIPT),
            failure_mode,
            fallback,
            timeout,
            warnings: WarnThrottle::new(WARN_EVERY),
        };
        // Connect and load the script now, so the first checks need not wait for either.
        if let Err(err) = limiter.load_script(CONNECT_WAIT).await {
            tracing::warn!(
                error = format!("{err:#}"),
                failure_mode = failure_mode.as_str(),
                "Redis rate limiter not reachable at startup; applying the failure mode until it is"
            );
        }
        Ok(limiter)
    }

    /// Proves that Redis answers within the check timeout (by loading the script), for
    /// readiness checks.
    pub async fn ping(&self) -> anyhow::Result<()> {
        self.load_script(self.timeout).await
    }

    async fn load_script(&self, wait: Duration) -> anyhow::Result<()> {
        let mut conn = self.conn.clone();
        let loaded = tokio::time::timeout(wait, self.script.prepare_invoke().load_async(&mut conn)).await;
        loaded
            .context("Redis did not answer in time")?
            .context("loading the rate-limit script into Redis")?;
        Ok(())
    }

    /// Checks and, when allowed, consumes `cost` units of `bucket`, on the Redis clock.
    /// `now_ns` is used only by the `Local` failure mode.
    pub async fn check(&self, bucket: Bucket, params: Params, cost: u32, now_ns: i64) -> Verdict {
        let cause = match tokio::time::timeout(self.timeout, self.eval(bucket, params, cost)).await {
            Ok(Ok(verdict)) => return verdict,
            Ok(Err(err)) => err.to_string(),
            Err(_) => format!("no answer within {:?}", self.timeout),
        };
        self.on_failure(&cause, bucket, params, cost, now_ns)
    }

    async fn eval(&self, bucket: Bucket, params: Params, cost: u32) -> RedisResult<Verdict> {
        let mut conn = self.conn.clone();
        let mut call = self.script.key(bucket.redis_key());
        call.arg(params.emission_ns).arg(params.tolerance_ns).arg(cost);
        // EVALSHA, and EVAL once when the server lost the script (restart, SCRIPT FLUSH).
        let (allowed, remaining, reset_ns, retry_ns): (i64, i64, i64, i64) = call.invoke_async(&mut conn).await?;
        Ok(Verdict {
            allowed: allowed == 1,
            remaining: u32::try_from(remaining.max(0)).unwrap_or(u32::MAX),
            reset_after: nanos(reset_ns),
            retry_after: nanos(retry_ns),
        })
    }

    fn on_failure(&self, cause: &str, bucket: Bucket, params: Params, cost: u32, now_ns: i64) -> Verdict {
        let mode = self.failure_mode;
        metrics::counter!("gatekey_ratelimit_redis_failures_total", "mode" => mode.as_str()).increment(1);
        if let Some(suppressed) = self.warnings.admit() {
            // Redis errors name the failure (refused, timed out, WRONGPASS), never the URL.
            tracing::warn!(
                error = cause,
                failure_mode = mode.as_str(),
                suppressed,
                "Redis rate limiter failed"
            );
        }
        match mode {
            RedisFailureMode::Deny => Verdict {
                allowed: false,
                remaining: 0,
                reset_after: DENY_RETRY,
                retry_after: DENY_RETRY,
            },
            RedisFailureMode::Allow => Verdict {
                allowed: true,
                remaining: burst(params),
                reset_after: Duration::ZERO,
                retry_after: Duration::ZERO,
            },
            RedisFailureMode::Local => self.fallback.check(bucket, params, cost, now_ns),
        }
    }
}

/// The burst of a policy: how many unit requests a full bucket allows.
fn burst(params: Params) -> u32 {
    u32::try_from(params.tolerance_ns / params.emission_ns.max(1)).unwrap_or(u32::MAX)
}

fn nanos(ns: i64) -> Duration {
    Duration::from_nanos(u64::try_from(ns).unwrap_or(0))
}

/// Lets one warning through per interval and counts those it held back, without a lock.
struct WarnThrottle {
    start: Instant,
    every_ms: u64,
    next_ms: AtomicU64,
    held: AtomicU64,
}

impl WarnThrottle {
    fn new(every: Duration) -> Self {
        let every_ms = u64::try_from(every.as_millis()).unwrap_or(u64::MAX);
        Self {
            start: Instant::now(),
            every_ms,
            next_ms: AtomicU64::new(0),
            held: AtomicU64::new(0),
        }
    }

    /// `Some(number held back since the last one)` when a warning may be logged now.
    fn admit(&self) -> Option<u64> {
        self.admit_at(u64::try_from(self.start.elapsed().as_millis()).unwrap_or(u64::MAX))
    }

    fn admit_at(&self, now_ms: u64) -> Option<u64> {
        let next = self.next_ms.load(Relaxed);
        let then = now_ms.saturating_add(self.every_ms);
        // Of racing callers, only the one that moves `next_ms` on logs.
        if now_ms >= next && self.next_ms.compare_exchange(next, then, Relaxed, Relaxed).is_ok() {
            return Some(self.held.swap(0, Relaxed));
        }
        self.held.fetch_add(1, Relaxed);
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::rate_limit::RateLimitPolicy;

    #[test]
    fn failure_modes_parse_from_their_lowercase_names_and_default_to_local() {
        for mode in [RedisFailureMode::Deny, RedisFailureMode::Allow, RedisFailureMode::Local] {
            assert_eq!(mode.as_str().parse::<RedisFailureMode>().unwrap(), mode);
        }
        assert_eq!(" Deny ".parse::<RedisFailureMode>().unwrap(), RedisFailureMode::Deny);
        assert!("open".parse::<RedisFailureMode>().is_err());
        assert_eq!(RedisFailureMode::default(), RedisFailureMode::Local);
    }

    #[test]
    fn the_burst_is_recovered_from_the_params() {
        let params = Params::of(&RateLimitPolicy::DEFAULT);
        assert_eq!(burst(params), 100);
        let odd = Params::of(&RateLimitPolicy {
            limit: 3,
            window: Duration::from_secs(1),
            burst: 7,
        });
        assert_eq!(burst(odd), 7);
    }

    #[test]
    fn warnings_are_throttled_and_report_how_many_were_held_back() {
        let throttle = WarnThrottle::new(Duration::from_secs(10));
        assert_eq!(throttle.admit_at(0), Some(0));
        assert_eq!(throttle.admit_at(5_000), None);
        assert_eq!(throttle.admit_at(9_999), None);
        assert_eq!(throttle.admit_at(10_000), Some(2));
        assert_eq!(throttle.admit_at(10_001), None);
    }
}
