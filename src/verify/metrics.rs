//! Counters of the hot path, registered once so a call pays an increment, not a lookup.

use crate::domain::verify::VerifyReason;
use metrics::Counter;

pub(super) struct VerifyMetrics {
    pub by_reason: Vec<(VerifyReason, Counter)>,
    pub cache_hits: Counter,
    pub cache_misses: Counter,
    pub unavailable: Counter,
    pub stale: Counter,
    /// The store did not answer within `store_timeout`.
    pub timed_out: Counter,
    /// Calls answered `RATE_LIMITED` by a flood guard, without a store lookup.
    pub flood_client: Counter,
    pub flood_lookups: Counter,
    /// Store lookups of keys by hash, by what they found: the load a flood puts on the store.
    pub lookups_found: Counter,
    pub lookups_unknown: Counter,
}

impl VerifyMetrics {
    pub fn new() -> Self {
        Self {
            by_reason: VerifyReason::ALL
                .iter()
                .map(|r| (*r, metrics::counter!("gatekey_verify_total", "reason" => r.as_str())))
                .collect(),
            cache_hits: metrics::counter!("gatekey_verify_cache_total", "result" => "hit"),
            cache_misses: metrics::counter!("gatekey_verify_cache_total", "result" => "miss"),
            unavailable: metrics::counter!("gatekey_verify_unavailable_total", "cause" => "store"),
            stale: metrics::counter!("gatekey_verify_unavailable_total", "cause" => "stale"),
            timed_out: metrics::counter!("gatekey_verify_unavailable_total", "cause" => "timeout"),
            flood_client: metrics::counter!("gatekey_verify_flood_denied_total", "guard" => "client_failures"),
            flood_lookups: metrics::counter!("gatekey_verify_flood_denied_total", "guard" => "key_lookups"),
            lookups_found: metrics::counter!("gatekey_verify_key_lookups_total", "result" => "found"),
            lookups_unknown: metrics::counter!("gatekey_verify_key_lookups_total", "result" => "unknown"),
        }
    }

    pub fn count(&self, reason: VerifyReason) {
        if let Some((_, c)) = self.by_reason.iter().find(|(r, _)| *r == reason) {
            c.increment(1);
        }
    }
}
