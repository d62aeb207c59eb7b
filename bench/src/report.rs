//! Results: one row per measured window plus the totals, the gatekey/floor ratios and the
//! verdict against the scenario's target; printed as a table or as JSON.

use crate::load::Measurement;
use crate::scenario::{Scenario, Target};
use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt::Write;

/// One measured window (or the total of several), in numbers.
#[derive(Debug, Clone, Serialize)]
pub struct Row {
    /// `floor` or `gatekey`.
    pub server: &'static str,
    /// `None` for the total over every round.
    pub round: Option<u32>,
    pub calls: u64,
    pub seconds: f64,
    pub calls_per_sec: f64,
    pub p50_us: f64,
    pub p99_us: f64,
    pub p999_us: f64,
    pub max_us: f64,
    /// Server CPU time (user + system, every thread) per call.
    pub server_cpu_us_per_call: f64,
    /// Server CPU time per wall-clock second: how many cores it kept busy.
    pub server_cores: f64,
    /// The load generator's own CPU time per call (it shares the machine).
    pub client_cpu_us_per_call: f64,
    pub response_bytes: usize,
    /// Responses by reason, failed calls by gRPC code.
    pub outcomes: BTreeMap<String, u64>,
    /// gatekey's Verify cache hits and misses in the window, from its `/metrics`.
    pub cache_hits: Option<u64>,
    pub cache_misses: Option<u64>,
    /// gatekey's store lookups of keys in the window, from its `/metrics`.
    pub store_lookups: Option<u64>,
}

impl Row {
    pub fn of(server: &'static str, round: Option<u32>, m: &Measurement) -> Self {
        let calls = m.calls.max(1) as f64;
        let seconds = m.elapsed.as_secs_f64();
        let us = |q: f64| m.latency.value_at_quantile(q) as f64 / 1000.0;
        Self {
            server,
            round,
            calls: m.calls,
            seconds,
            calls_per_sec: if seconds > 0.0 { m.calls as f64 / seconds } else { 0.0 },
            p50_us: us(0.50),
            p99_us: us(0.99),
            p999_us: us(0.999),
            max_us: m.latency.max() as f64 / 1000.0,
            server_cpu_us_per_call: m.server_cpu.as_secs_f64() * 1e6 / calls,
            server_cores: if seconds > 0.0 {
                m.server_cpu.as_secs_f64() / seconds
            } else {
                0.0
            },
            client_cpu_us_per_call: m.client_cpu.as_secs_f64() * 1e6 / calls,
            response_bytes: m.response_bytes,
            outcomes: m.outcomes.iter().map(|(k, v)| ((*k).to_owned(), *v)).collect(),
            cache_hits: m.cache.map(|c| c.hits),
            cache_misses: m.cache.map(|c| c.misses),
            store_lookups: m.cache.map(|c| c.lookups),
        }
    }

    /// Share of calls that got `reason`.
    pub fn share_of(&self, reason: &str) -> f64 {
        self.outcomes.get(reason).copied().unwrap_or(0) as f64 / self.calls.max(1) as f64
    }
}

/// gatekey relative to the floor of the same run.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Ratios {
    /// gatekey calls/s over floor calls/s.
    pub throughput: f64,
    /// gatekey server CPU per call over the floor's.
    pub cpu_per_call: f64,
}

/// Whether the run met its target.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Verdict {
    pub throughput_met: bool,
    pub cpu_met: Option<bool>,
}

/// Everything one run measured.
#[derive(Debug, Clone, Serialize)]
pub struct RunReport {
    pub scenario: Scenario,
    pub backend: &'static str,
    pub concurrency: usize,
    pub connections: usize,
    pub warmup_secs: f64,
    pub duration_secs: f64,
    pub rounds: u32,
    /// Distinct credentials sent round-robin.
    pub credentials: usize,
    pub key_cache_max: Option<u64>,
    /// Every measured window, in the order run.
    pub windows: Vec<Row>,
    pub floor: Option<Row>,
    pub gatekey: Row,
    /// Share of gatekey's calls answered with the scenario's expected reason.
    pub expected_reason: String,
    pub expected_share: f64,
    pub ratios: Option<Ratios>,
    pub target: Option<Target>,
    pub verdict: Option<Verdict>,
}

impl RunReport {
    /// Fills in the ratios and the verdict from the totals.
    pub fn judge(&mut self) {
        let Some(floor) = &self.floor else { return };
        let ratios = Ratios {
            throughput: self.gatekey.calls_per_sec / floor.calls_per_sec.max(f64::MIN_POSITIVE),
            cpu_per_call: self.gatekey.server_cpu_us_per_call / floor.server_cpu_us_per_call.max(f64::MIN_POSITIVE),
        };
        self.ratios = Some(ratios);
        self.verdict = self.target.map(|t| Verdict {
            throughput_met: ratios.throughput >= t.min_throughput_ratio,
            cpu_met: t.max_cpu_ratio.map(|max| ratios.cpu_per_call <= max),
        });
    }

    /// The human-readable form.
    pub fn table(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "scenario {} on {}: {} in flight over {} connections, {} credential(s), {:.1}s windows after {:.1}s warm-up, {} round(s)",
            self.scenario.name(),
            self.backend,
            self.concurrency,
            self.connections,
            self.credentials,
            self.duration_secs,
            self.warmup_secs,
            self.rounds,
        );
        let _ = writeln!(
            out,
            "{:<6} {:<8} {:>10} {:>9} {:>9} {:>9} {:>12} {:>7} {:>12} {:>6}  outcomes",
            "round",
            "server",
            "calls/s",
            "p50 ms",
            "p99 ms",
            "p999 ms",
            "srv CPU/call",
            "cores",
            "cli CPU/call",
            "bytes"
        );
        for row in self.windows.iter().chain(self.floor.iter()).chain([&self.gatekey]) {
            let round = row.round.map_or_else(|| "total".to_owned(), |r| r.to_string());
            let mut outcomes: Vec<String> = row
                .outcomes
                .iter()
                .map(|(k, v)| format!("{}={v}", k.trim_start_matches("VERIFY_REASON_")))
                .collect();
            if let (Some(hits), Some(misses)) = (row.cache_hits, row.cache_misses) {
                outcomes.push(format!("cache hit/miss={hits}/{misses}"));
            }
            if let Some(lookups) = row.store_lookups {
                let per_sec = lookups as f64 / row.seconds.max(f64::EPSILON);
                outcomes.push(format!("store lookups={lookups} ({per_sec:.0}/s)"));
            }
            let _ = writeln!(
                out,
                "{:<6} {:<8} {:>10.0} {:>9.3} {:>9.3} {:>9.3} {:>9.1} µs {:>7.2} {:>9.1} µs {:>6}  {}",
                round,
                row.server,
                row.calls_per_sec,
                row.p50_us / 1000.0,
                row.p99_us / 1000.0,
                row.p999_us / 1000.0,
                row.server_cpu_us_per_call,
                row.server_cores,
                row.client_cpu_us_per_call,
                row.response_bytes,
                outcomes.join(" "),
            );
        }
        let _ = writeln!(
            out,
            "{:.2}% of gatekey's calls got {}",
            self.expected_share * 100.0,
            self.expected_reason
        );
        if let Some(r) = self.ratios {
            let _ = write!(
                out,
                "gatekey / floor: throughput {:.3}, server CPU per call {:.3}x",
                r.throughput, r.cpu_per_call
            );
            match (self.target, self.verdict) {
                (Some(t), Some(v)) => {
                    let _ = write!(
                        out,
                        "; target throughput >= {:.2}: {}",
                        t.min_throughput_ratio,
                        met(v.throughput_met)
                    );
                    if let (Some(max), Some(ok)) = (t.max_cpu_ratio, v.cpu_met) {
                        let _ = write!(out, ", CPU/call <= {max:.2}x: {}", met(ok));
                    }
                }
                _ => {
                    let _ = write!(out, "; no floor-relative target for this scenario");
                }
            }
            out.push('\n');
        }
        out
    }
}

fn met(ok: bool) -> &'static str {
    if ok { "met" } else { "MISSED" }
}
