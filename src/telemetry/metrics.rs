//! The Prometheus page: one recorder per process, every family described (`# HELP`, unit)
//! and every counter of a bounded label set registered at 0 when the recorder is installed,
//! so an alert on `rate()` works before the first failure.

use super::latency;
use crate::domain::verify::VerifyReason;
use crate::proto::FILE_DESCRIPTOR_SET;
use crate::verify::Verifier;
use metrics::{Unit, describe_counter, describe_gauge};
use metrics_exporter_prometheus::PrometheusHandle;
use prost::Message;
use std::sync::OnceLock;

/// Services whose calls `gatekey_admin_calls_total` counts.
pub const ADMIN_SERVICES: [&str; 2] = ["gatekey.v1.AdminService", "gatekey.v1.KeyService"];

/// gRPC codes by number, as Prometheus labels (tonic's `Code` prints in CamelCase).
const CODES: [&str; 17] = [
    "OK",
    "CANCELLED",
    "UNKNOWN",
    "INVALID_ARGUMENT",
    "DEADLINE_EXCEEDED",
    "NOT_FOUND",
    "ALREADY_EXISTS",
    "PERMISSION_DENIED",
    "RESOURCE_EXHAUSTED",
    "FAILED_PRECONDITION",
    "ABORTED",
    "OUT_OF_RANGE",
    "UNIMPLEMENTED",
    "INTERNAL",
    "UNAVAILABLE",
    "DATA_LOSS",
    "UNAUTHENTICATED",
];

/// The codes gatekey's error map answers admin calls with; each (method, code) pair starts at 0.
const ADMIN_CODES: [usize; 10] = [0, 3, 5, 6, 7, 8, 9, 13, 14, 16];

/// Login outcomes, each a series from the start.
pub const LOGIN_OUTCOMES: [&str; 7] = [
    "ok",
    "bad_credentials",
    "throttled",
    "busy",
    "invalid_argument",
    "unavailable",
    "error",
];

/// The gRPC code `n` as a label; unknown numbers read `UNKNOWN`.
pub fn code_label(n: i32) -> &'static str {
    usize::try_from(n)
        .ok()
        .and_then(|i| CODES.get(i))
        .copied()
        .unwrap_or("UNKNOWN")
}

/// The process-wide recorder, installed on first use (before anything registers a metric:
/// the `metrics` macros are no-ops without one). Several `Application`s in one process
/// (tests) share it.
pub fn handle() -> Option<PrometheusHandle> {
    static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let recorder = metrics_exporter_prometheus::PrometheusBuilder::new().build_recorder();
            let handle = recorder.handle();
            let installed = metrics::set_global_recorder(recorder).ok().map(|()| handle);
            if installed.is_some() {
                describe();
                register();
            }
            installed
        })
        .clone()
}

/// The page for `GET /metrics`, with the gauges that are read at scrape time brought up to date.
pub fn render(verifier: &Verifier) -> Option<String> {
    let handle = handle()?;
    metrics::gauge!("gatekey_change_feed_last_read_age_seconds").set(verifier.since_synced().as_secs_f64());
    metrics::gauge!("gatekey_verify_cache_keys").set(verifier.cached_keys() as f64);
    let mut page = handle.render();
    latency::render(&mut page);
    Some(page)
}

/// The admin methods, `package.Service/Method`, read from the descriptor set so a new rpc
/// is counted without a list to keep in step.
pub fn admin_methods() -> &'static [String] {
    static METHODS: OnceLock<Vec<String>> = OnceLock::new();
    METHODS.get_or_init(|| {
        let Ok(set) = prost_types::FileDescriptorSet::decode(FILE_DESCRIPTOR_SET) else {
            return Vec::new();
        };
        set.file
            .iter()
            .flat_map(|f| {
                let package = f.package().to_owned();
                f.service.iter().flat_map(move |s| {
                    let service = format!("{package}.{}", s.name());
                    s.method.iter().map(move |m| format!("{service}/{}", m.name()))
                })
            })
            .filter(|m| ADMIN_SERVICES.iter().any(|s| m.starts_with(&format!("{s}/"))))
            .collect()
    })
}

fn describe() {
    describe_counter!(
        "gatekey_verify_total",
        Unit::Count,
        "Verify decisions (every transport), by reason."
    );
    describe_counter!(
        "gatekey_verify_cache_total",
        Unit::Count,
        "API-key cache lookups on the Verify path, by result (hit or miss)."
    );
    describe_counter!(
        "gatekey_verify_unavailable_total",
        Unit::Count,
        "Verify calls answered UNAVAILABLE, by cause (store unreachable, or change feed stale)."
    );
    describe_counter!(
        "gatekey_verify_flood_denied_total",
        Unit::Count,
        "Calls answered RATE_LIMITED by a flood guard without a store lookup, by guard."
    );
    describe_counter!(
        "gatekey_verify_key_lookups_total",
        Unit::Count,
        "Store lookups of API keys by hash on a cache miss, by result (found or unknown)."
    );
    describe_counter!(
        "gatekey_verify_cache_evictions_total",
        Unit::Count,
        "API keys dropped from the Verify cache to stay within key_cache_max (size) or at their TTL (expired)."
    );
    describe_gauge!(
        "gatekey_verify_cache_keys",
        Unit::Count,
        "API keys held in the Verify cache (read at scrape time)."
    );
    describe_gauge!(
        "gatekey_change_feed_last_read_age_seconds",
        Unit::Seconds,
        "Seconds since the change feed was last read successfully; cached allows stop at verify_stale_secs."
    );
    describe_counter!(
        "gatekey_change_feed_errors_total",
        Unit::Count,
        "Failed reads of the change feed."
    );
    describe_counter!(
        "gatekey_usage_flush_failures_total",
        Unit::Count,
        "Failed batch writes of keys' last_used_at."
    );
    describe_counter!(
        "gatekey_ratelimit_redis_failures_total",
        Unit::Count,
        "Redis rate-limit checks that failed, by the failure mode applied."
    );
    describe_counter!(
        "gatekey_admin_calls_total",
        Unit::Count,
        "AdminService and KeyService calls, by method and gRPC code."
    );
    describe_counter!(
        "gatekey_logins_total",
        Unit::Count,
        "AuthService.Login calls, by outcome."
    );
    describe_gauge!(
        "gatekey_build_info",
        Unit::Count,
        "Always 1; the labels say which build is running."
    );
}

/// Every series of a bounded label set, at 0.
fn register() {
    for r in VerifyReason::ALL {
        metrics::counter!("gatekey_verify_total", "reason" => r.as_str()).absolute(0);
    }
    for (name, label, values) in [
        ("gatekey_verify_cache_total", "result", &["hit", "miss"][..]),
        (
            "gatekey_verify_unavailable_total",
            "cause",
            &["store", "stale", "timeout"][..],
        ),
        (
            "gatekey_verify_flood_denied_total",
            "guard",
            &["client_failures", "key_lookups"][..],
        ),
        ("gatekey_verify_key_lookups_total", "result", &["found", "unknown"][..]),
        (
            "gatekey_verify_cache_evictions_total",
            "cause",
            &["size", "expired"][..],
        ),
        (
            "gatekey_ratelimit_redis_failures_total",
            "mode",
            &["local", "deny", "allow"][..],
        ),
        ("gatekey_logins_total", "outcome", &LOGIN_OUTCOMES[..]),
    ] {
        for v in values {
            metrics::counter!(name, label => *v).absolute(0);
        }
    }
    metrics::counter!("gatekey_change_feed_errors_total").absolute(0);
    metrics::counter!("gatekey_usage_flush_failures_total").absolute(0);
    for method in admin_methods() {
        for code in ADMIN_CODES {
            metrics::counter!("gatekey_admin_calls_total", "method" => method.clone(), "code" => CODES[code])
                .absolute(0);
        }
    }
    metrics::gauge!("gatekey_change_feed_last_read_age_seconds").set(0.0);
    metrics::gauge!("gatekey_verify_cache_keys").set(0.0);
    metrics::gauge!("gatekey_build_info", "version" => env!("CARGO_PKG_VERSION")).set(1.0);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn admin_methods_come_from_the_descriptor_set() {
        let methods = admin_methods();
        assert!(
            methods.iter().any(|m| m == "gatekey.v1.AdminService/CreateUser"),
            "{methods:?}"
        );
        assert!(
            methods.iter().any(|m| m == "gatekey.v1.KeyService/IssueKey"),
            "{methods:?}"
        );
        assert!(!methods.iter().any(|m| m.contains("AuthService")), "{methods:?}");
    }

    #[test]
    fn codes_are_named_as_grpc_names_them() {
        assert_eq!(code_label(7), "PERMISSION_DENIED");
        assert_eq!(code_label(16), "UNAUTHENTICATED");
        assert_eq!(code_label(99), "UNKNOWN");
    }
}
