//! Guards against a flood of made-up credentials. The checksum of a key is public, so a
//! client can mint endless well-formed keys, and each fresh one would cost a store lookup.
//! Two budgets bound that, both in process (per replica) and lock-free on the hot path:
//!
//! - failed credentials per client network (an IPv4 address, or an IPv6 /64, which one
//!   subscriber usually holds whole): past the budget, that network's credentials that are
//!   not already known good in memory are answered `RATE_LIMITED` without a lookup;
//! - store lookups per second for keys not in memory, over every client: the backstop when
//!   a flood comes from more networks than are tracked, or without a client address. A
//!   lookup that finds a key gives its unit back, so the budget is spent by unknown keys.
//!
//! Both answer `RATE_LIMITED`, a retryable deny, rather than `INVALID_CREDENTIAL` (a real
//! key that is merely not cached must not be told it is invalid) or an error (a gateway
//! that fails open on errors would let the flood through).

use super::decision::RateLimitOutcome;
use crate::domain::rate_limit::RateLimitPolicy;
use crate::ratelimit::gcra::Params;
use crate::ratelimit::local::{Cell, LocalLimiter};
use crate::ratelimit::{Bucket, Verdict};
use std::net::IpAddr;
use std::time::Duration;

/// How the guards are tuned; `None` turns a guard off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FloodSettings {
    /// Failed credentials one client network may present: `burst` at once, then `limit` per
    /// `window`.
    pub client_failures: Option<RateLimitPolicy>,
    /// Most client networks tracked at once (each costs a cache entry, ~100 bytes).
    pub max_clients: u64,
    /// Store lookups for keys not in memory; `burst` at once, then `limit` per `window`.
    pub key_lookups: Option<RateLimitPolicy>,
}

impl FloodSettings {
    /// 20 failures at once, then one a second.
    pub const CLIENT_FAILURES: RateLimitPolicy = RateLimitPolicy {
        limit: 60,
        window: Duration::from_secs(60),
        burst: 20,
    };
    /// 1000 lookups of unknown keys a second: a small share of what one indexed lookup a
    /// pooled connection allows, on either backend.
    pub const KEY_LOOKUPS: RateLimitPolicy = RateLimitPolicy {
        limit: 1000,
        window: Duration::from_secs(1),
        burst: 1000,
    };
    /// Both guards off: every unknown key costs a lookup.
    pub const OFF: FloodSettings = FloodSettings {
        client_failures: None,
        max_clients: 0,
        key_lookups: None,
    };
}

impl Default for FloodSettings {
    fn default() -> Self {
        Self {
            client_failures: Some(Self::CLIENT_FAILURES),
            max_clients: 100_000,
            key_lookups: Some(Self::KEY_LOOKUPS),
        }
    }
}

/// One budget: its policy and where its buckets live.
struct Budget<S> {
    policy: RateLimitPolicy,
    params: Params,
    state: S,
}

impl<S> Budget<S> {
    fn new(policy: RateLimitPolicy, state: S) -> Self {
        Self {
            policy,
            params: Params::of(&policy),
            state,
        }
    }

    fn outcome(&self, bucket: Bucket, verdict: Verdict) -> RateLimitOutcome {
        RateLimitOutcome {
            bucket,
            policy: self.policy,
            verdict,
        }
    }
}

/// The two budgets of one replica.
pub struct FloodGuard {
    clients: Option<Budget<LocalLimiter>>,
    lookups: Option<Budget<Cell>>,
}

impl FloodGuard {
    pub fn new(s: FloodSettings) -> Self {
        let clients = s.client_failures.map(|policy| {
            // A bucket idle until it is full again holds nothing worth keeping.
            let params = Params::of(&policy);
            let refill = params.tolerance_ns.saturating_add(params.emission_ns);
            let idle = Duration::from_nanos(u64::try_from(refill).unwrap_or(u64::MAX));
            Budget::new(policy, LocalLimiter::bounded(s.max_clients, idle))
        });
        Self {
            clients,
            lookups: s.key_lookups.map(|policy| Budget::new(policy, Cell::default())),
        }
    }

    /// Charges one failed credential to `client`'s network; `Err` with the verdict to answer
    /// when its budget is spent. Calls without a client address are not charged: they come
    /// from a caller that did not say who its client is, and one bucket for all of them
    /// would let any one client lock out the rest (the lookup budget still bounds them).
    pub fn charge_client(&self, client: Option<IpAddr>, now_ns: i64) -> Result<(), RateLimitOutcome> {
        let (Some(budget), Some(ip)) = (&self.clients, client) else {
            return Ok(());
        };
        let bucket = Bucket::ClientFailures(network(ip));
        let verdict = budget.state.check(bucket, budget.params, 1, now_ns);
        if verdict.allowed {
            Ok(())
        } else {
            Err(budget.outcome(bucket, verdict))
        }
    }

    /// Gives back a charge taken ahead of a lookup that found the credential real.
    pub fn refund_client(&self, client: Option<IpAddr>) {
        if let (Some(budget), Some(ip)) = (&self.clients, client) {
            budget
                .state
                .refund(Bucket::ClientFailures(network(ip)), budget.params, 1);
        }
    }

    /// Takes one store lookup from the replica's budget; `Err` with the verdict to answer
    /// when it is spent.
    pub fn charge_lookup(&self, now_ns: i64) -> Result<(), RateLimitOutcome> {
        let Some(budget) = &self.lookups else {
            return Ok(());
        };
        let verdict = budget.state.check(budget.params, 1, now_ns);
        if verdict.allowed {
            Ok(())
        } else {
            Err(budget.outcome(Bucket::KeyLookups, verdict))
        }
    }

    /// Gives back a lookup that found a key: the budget is for unknown keys.
    pub fn refund_lookup(&self) {
        if let Some(budget) = &self.lookups {
            budget.state.refund(budget.params, 1);
        }
    }
}

/// The network a client is judged by: its IPv4 address (an IPv4-mapped IPv6 address is one),
/// or the /64 of an IPv6 address, since a single host commonly holds a whole /64 and could
/// otherwise present 2^64 fresh addresses.
pub fn network(ip: IpAddr) -> IpAddr {
    match ip.to_canonical() {
        IpAddr::V4(v4) => IpAddr::V4(v4),
        IpAddr::V6(v6) => IpAddr::V6((u128::from(v6) & !u128::from(u64::MAX)).into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> Option<IpAddr> {
        s.parse().ok()
    }

    fn guard(burst: u32) -> FloodGuard {
        FloodGuard::new(FloodSettings {
            client_failures: Some(RateLimitPolicy {
                limit: 60,
                window: Duration::from_secs(60),
                burst,
            }),
            max_clients: 1000,
            key_lookups: Some(RateLimitPolicy {
                limit: 10,
                window: Duration::from_secs(1),
                burst: 10,
            }),
        })
    }

    #[test]
    fn a_client_network_gets_its_burst_then_one_failure_per_interval() {
        let g = guard(3);
        for _ in 0..3 {
            assert!(g.charge_client(ip("203.0.113.9"), 0).is_ok());
        }
        let refused = g.charge_client(ip("203.0.113.9"), 0).expect_err("over budget");
        assert_eq!(refused.bucket.policy_name(), "client_failures");
        assert_eq!(refused.verdict.retry_after, Duration::from_secs(1));
        assert!(g.charge_client(ip("203.0.113.10"), 0).is_ok(), "another address");
        assert!(
            g.charge_client(ip("203.0.113.9"), 1_000_000_000).is_ok(),
            "a second later"
        );
        assert!(g.charge_client(None, 0).is_ok(), "no address, no charge");
    }

    #[test]
    fn an_ipv6_slash_64_is_one_client_and_mapped_ipv4_is_ipv4() {
        let g = guard(2);
        assert!(g.charge_client(ip("2001:db8:1:2::1"), 0).is_ok());
        assert!(g.charge_client(ip("2001:db8:1:2:ffff::7"), 0).is_ok());
        assert!(g.charge_client(ip("2001:db8:1:2::9"), 0).is_err(), "same /64");
        assert!(g.charge_client(ip("2001:db8:1:3::1"), 0).is_ok(), "next /64");
        assert_eq!(
            network("::ffff:192.0.2.1".parse().expect("ip")),
            ip("192.0.2.1").expect("ip")
        );
    }

    #[test]
    fn refunds_give_back_what_a_real_credential_reserved() {
        let g = guard(1);
        assert!(g.charge_client(ip("192.0.2.1"), 0).is_ok());
        g.refund_client(ip("192.0.2.1"));
        assert!(g.charge_client(ip("192.0.2.1"), 0).is_ok());
        for _ in 0..10 {
            assert!(g.charge_lookup(0).is_ok());
        }
        let refused = g.charge_lookup(0).expect_err("over budget");
        assert_eq!(refused.bucket.policy_name(), "key_lookups");
        g.refund_lookup();
        assert!(g.charge_lookup(0).is_ok());
    }

    #[test]
    fn off_means_never_refused() {
        let g = FloodGuard::new(FloodSettings::OFF);
        for _ in 0..10_000 {
            assert!(g.charge_client(ip("192.0.2.1"), 0).is_ok());
            assert!(g.charge_lookup(0).is_ok());
        }
    }
}
