//! The latency of every gateway-facing decision, by transport and outcome.
//!
//! A fixed-bucket histogram of atomic counters rather than the exporter's histogram: the
//! exporter keeps every sample in a lock-free list that allocates a block per 64 samples
//! until the next scrape, which would add an allocation to every 64th cached Verify (and
//! memory without bound when nobody scrapes). Here an observation is a bucket search and
//! three relaxed atomic adds; the handles are resolved once, into a static table.

use crate::domain::verify::VerifyReason;
use crate::gateway::Answer;
use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// The family's name (seconds, the Prometheus base unit).
pub const NAME: &str = "gatekey_verify_duration_seconds";

/// Upper bounds in microseconds: 10 µs (a cached key) to 1 s (a store lookup under load).
const BOUNDS_US: [u64; 16] = [
    10, 25, 50, 100, 250, 500, 1_000, 2_500, 5_000, 10_000, 25_000, 50_000, 100_000, 250_000, 500_000, 1_000_000,
];

/// The protocol a decision was asked in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    /// `gatekey.v1.AuthService/Verify`.
    GrpcVerify,
    /// Envoy's `Authorization/Check`.
    ExtAuthz,
    /// Envoy's `RateLimitService/ShouldRateLimit`.
    RateLimit,
    /// HTTP forward-auth (nginx, Caddy, Traefik).
    ForwardAuth,
}

impl Transport {
    pub const ALL: [Transport; 4] = [
        Transport::GrpcVerify,
        Transport::ExtAuthz,
        Transport::RateLimit,
        Transport::ForwardAuth,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Transport::GrpcVerify => "grpc_verify",
            Transport::ExtAuthz => "ext_authz",
            Transport::RateLimit => "rate_limit",
            Transport::ForwardAuth => "forward_auth",
        }
    }
}

/// How a call ended: a Verify reason, or no decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Reason(VerifyReason),
    /// The engine could not answer (store or Redis needed and unreachable, or stale).
    Unavailable,
    /// The request was malformed (gRPC `INVALID_ARGUMENT`).
    InvalidArgument,
    /// The gateway sent malformed per-route settings.
    Misconfigured,
}

const EXTRA: [Outcome; 3] = [Outcome::Unavailable, Outcome::InvalidArgument, Outcome::Misconfigured];
const OUTCOMES: usize = VerifyReason::ALL.len() + EXTRA.len();

impl Outcome {
    fn index(self) -> usize {
        match self {
            Outcome::Reason(r) => VerifyReason::ALL.iter().position(|x| *x == r).unwrap_or(0),
            Outcome::Unavailable => VerifyReason::ALL.len(),
            Outcome::InvalidArgument => VerifyReason::ALL.len() + 1,
            Outcome::Misconfigured => VerifyReason::ALL.len() + 2,
        }
    }

    /// How a gateway answer ended.
    pub fn of(answer: &Answer) -> Self {
        match answer.reason {
            Some(r) => Outcome::Reason(r),
            None if answer.is_unavailable() => Outcome::Unavailable,
            None => Outcome::Misconfigured,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Reason(r) => r.as_str(),
            Outcome::Unavailable => "unavailable",
            Outcome::InvalidArgument => "invalid_argument",
            Outcome::Misconfigured => "misconfigured",
        }
    }

    fn all() -> impl Iterator<Item = Outcome> {
        VerifyReason::ALL.iter().map(|r| Outcome::Reason(*r)).chain(EXTRA)
    }
}

/// One series: cumulative counts are computed at render time, so an observation touches one
/// bucket.
struct Series {
    buckets: [AtomicU64; BOUNDS_US.len() + 1],
    count: AtomicU64,
    sum_ns: AtomicU64,
}

impl Series {
    const fn new() -> Self {
        Self {
            buckets: [const { AtomicU64::new(0) }; BOUNDS_US.len() + 1],
            count: AtomicU64::new(0),
            sum_ns: AtomicU64::new(0),
        }
    }

    fn observe(&self, elapsed: Duration) {
        let us = u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX);
        let slot = BOUNDS_US.iter().position(|b| us <= *b).unwrap_or(BOUNDS_US.len());
        self.buckets[slot].fetch_add(1, Ordering::Relaxed);
        self.sum_ns
            .fetch_add(u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX), Ordering::Relaxed);
        self.count.fetch_add(1, Ordering::Relaxed);
    }
}

static TABLE: [[Series; OUTCOMES]; Transport::ALL.len()] =
    [const { [const { Series::new() }; OUTCOMES] }; Transport::ALL.len()];

/// Records one decision of `transport` that took `elapsed`.
pub fn observe(transport: Transport, outcome: Outcome, elapsed: Duration) {
    let t = Transport::ALL.iter().position(|x| *x == transport).unwrap_or(0);
    TABLE[t][outcome.index()].observe(elapsed);
}

/// The family in Prometheus text format. Series nothing was observed in are left out (44
/// empty series of 19 lines each would bury the rest of the page).
pub fn render(out: &mut String) {
    let _ = writeln!(
        out,
        "# HELP {NAME} Time to decide one Verify, ext_authz Check, ShouldRateLimit or forward-auth request, by transport and outcome."
    );
    let _ = writeln!(out, "# TYPE {NAME} histogram");
    for transport in Transport::ALL {
        for outcome in Outcome::all() {
            let t = Transport::ALL.iter().position(|x| *x == transport).unwrap_or(0);
            let series = &TABLE[t][outcome.index()];
            let count = series.count.load(Ordering::Relaxed);
            if count == 0 {
                continue;
            }
            let labels = format!("transport=\"{}\",outcome=\"{}\"", transport.as_str(), outcome.as_str());
            let mut cumulative = 0;
            for (i, bucket) in series.buckets.iter().enumerate() {
                cumulative += bucket.load(Ordering::Relaxed);
                let le = BOUNDS_US
                    .get(i)
                    .map_or_else(|| "+Inf".to_owned(), |us| format!("{}", *us as f64 / 1e6));
                let _ = writeln!(out, "{NAME}_bucket{{{labels},le=\"{le}\"}} {cumulative}");
            }
            let sum = series.sum_ns.load(Ordering::Relaxed) as f64 / 1e9;
            let _ = writeln!(out, "{NAME}_sum{{{labels}}} {sum}");
            let _ = writeln!(out, "{NAME}_count{{{labels}}} {cumulative}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_observation_lands_in_its_bucket_and_every_wider_one() {
        let s = Series::new();
        s.observe(Duration::from_micros(30));
        s.observe(Duration::from_secs(5));
        assert_eq!(
            s.buckets[2].load(Ordering::Relaxed),
            1,
            "30 µs is under the 50 µs bound"
        );
        assert_eq!(
            s.buckets[BOUNDS_US.len()].load(Ordering::Relaxed),
            1,
            "5 s is only under +Inf"
        );
        assert_eq!(s.count.load(Ordering::Relaxed), 2);
    }

    #[test]
    fn outcomes_have_distinct_slots() {
        let mut seen: Vec<usize> = Outcome::all().map(Outcome::index).collect();
        seen.sort_unstable();
        seen.dedup();
        assert_eq!(seen.len(), OUTCOMES);
    }
}
