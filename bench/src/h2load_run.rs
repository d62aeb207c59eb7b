//! The `h2load` mode: cached-key Verify on gatekey against a bare tonic no-op unary call
//! (the bare floor, which answers an empty message), both loaded by h2load rather than by
//! our own client, in alternating windows. The canned floor (same answer shape as gatekey)
//! runs too, to tell what the answer's size costs from what gatekey's work costs.
//!
//! h2load only sees HTTP statuses, and a gRPC error is an HTTP 200 with a `grpc-status`
//! trailer, so before loading, one call with our own client must be allowed, and during
//! each gatekey window gatekey's own `OK` counter must grow by exactly h2load's requests.

use crate::child::ServerProcess;
use crate::gatekey::{Admin, GatekeySpec};
use crate::h2load::{H2load, H2loadRun, grpc_frame};
use crate::metrics::verify_ok;
use crate::run::start_floor;
use crate::scenario::Scenario;
use crate::{call::Workload, load, procfs};
use anyhow::Context;
use gatekey::proto::v1 as pb;
use gatekey::proto::v1::auth_service_client::AuthServiceClient;
use serde::Serialize;
use std::fmt::Write;

/// The Verify method's HTTP/2 path (package `gatekey.v1`, service `AuthService`).
const VERIFY_PATH: &str = "/gatekey.v1.AuthService/Verify";
/// The goal: cached Verify at this fraction of the bare floor's throughput.
const TARGET_THROUGHPUT_RATIO: f64 = 0.85;

/// What to run.
#[derive(Debug, Clone)]
pub struct H2loadSpec {
    pub h2load: H2load,
    /// Measured requests per window.
    pub requests: u64,
    /// Unmeasured requests before each window.
    pub warmup_requests: u64,
    pub rounds: u32,
    pub gatekey: GatekeySpec,
}

/// One server's measured windows, summed.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Total {
    pub requests: u64,
    pub seconds: f64,
    pub calls_per_sec: f64,
    pub server_cpu_us_per_call: f64,
    /// Response DATA bytes per call (a 5-byte gRPC frame header plus the message).
    pub data_bytes_per_call: f64,
}

impl Total {
    fn add(&mut self, run: &H2loadRun, cpu: std::time::Duration) {
        let cpu_before = self.server_cpu_us_per_call * self.requests as f64;
        let bytes_before = self.data_bytes_per_call * self.requests as f64;
        self.requests += run.requests;
        self.seconds += run.elapsed_secs;
        let n = self.requests.max(1) as f64;
        self.calls_per_sec = self.requests as f64 / self.seconds.max(f64::MIN_POSITIVE);
        self.server_cpu_us_per_call = (cpu_before + cpu.as_secs_f64() * 1e6) / n;
        self.data_bytes_per_call = (bytes_before + run.data_bytes as f64) / n;
    }
}

/// One measured window.
#[derive(Debug, Clone, Serialize)]
pub struct Window {
    pub server: &'static str,
    pub round: u32,
    pub calls_per_sec: f64,
    pub server_cpu_us_per_call: f64,
    pub h2load: H2loadRun,
}

/// Everything the mode measured.
#[derive(Debug, Clone, Serialize)]
pub struct H2loadReport {
    pub h2load_version: String,
    pub clients: usize,
    pub streams_per_client: usize,
    pub threads: usize,
    pub requests_per_window: u64,
    pub windows: Vec<Window>,
    pub bare_floor: Total,
    pub canned_floor: Total,
    pub gatekey: Total,
    /// gatekey over the bare floor.
    pub throughput_ratio: f64,
    pub cpu_per_call_ratio: f64,
    /// gatekey over the canned floor (same answer shape).
    pub throughput_ratio_canned: f64,
    pub cpu_per_call_ratio_canned: f64,
    pub target_throughput_ratio: f64,
    pub target_met: bool,
}

/// A server under h2load, and how to tell its calls were answered well.
struct Loaded {
    name: &'static str,
    process: ServerProcess,
    /// gatekey's HTTP port, for its `OK` counter; `None` for the floors.
    metrics: Option<std::net::SocketAddr>,
    total: Total,
}

/// Runs `spec`, logging progress on stderr.
pub async fn run(spec: &H2loadSpec) -> anyhow::Result<H2loadReport> {
    let version = spec.h2load.ensure_installed().await?;
    // Its temporary directory (the SQLite file) lives until this function returns.
    let gk = spec.gatekey.start().await?;
    eprintln!("gatekey (pid {}) serving on {}", gk.process.pid(), gk.process.grpc);
    let admin = Admin::login(&gk).await?;
    let Workload::Verify(requests) = Scenario::CachedKey.prepare(&admin, 1).await? else {
        anyhow::bail!("cached-key prepared something other than Verify");
    };
    let request = requests.first().context("no request prepared")?.clone();
    let answer = verify_once(&gk.process, &request).await?;
    anyhow::ensure!(
        answer.allowed && answer.reason == pb::VerifyReason::Ok as i32,
        "gatekey did not allow the cached key: {answer:?}"
    );
    let metrics = gk.process.http;
    anyhow::ensure!(
        verify_ok(metrics).await.is_some(),
        "gatekey's /metrics has no Verify OK counter"
    );

    let dir = tempfile::Builder::new().prefix("gatekey-bench-h2load-").tempdir()?;
    let body = dir.path().join("verify.grpc");
    std::fs::write(&body, grpc_frame(&request)?)?;

    let mut servers = Vec::new();
    for bare in [true, false] {
        let process = start_floor(bare).await?;
        verify_once(&process, &request).await?;
        let name = if bare { "bare floor" } else { "canned floor" };
        servers.push(Loaded::new(name, process, None));
    }
    servers.push(Loaded::new("gatekey", gk.process, metrics));

    let mut windows = Vec::new();
    for round in 1..=spec.rounds.max(1) {
        for server in servers.iter_mut() {
            eprintln!("round {round}: {}", server.name);
            windows.push(server.window(spec, round, &body).await?);
        }
    }
    let [bare, canned, gatekey] = <[Loaded; 3]>::try_from(servers)
        .map_err(|_| anyhow::anyhow!("expected three servers"))?
        .map(|s| s.total);
    let ratio = |a: f64, b: f64| a / b.max(f64::MIN_POSITIVE);
    let throughput_ratio = ratio(gatekey.calls_per_sec, bare.calls_per_sec);
    Ok(H2loadReport {
        h2load_version: version,
        clients: spec.h2load.clients,
        streams_per_client: spec.h2load.streams,
        threads: spec.h2load.threads,
        requests_per_window: spec.requests,
        windows,
        throughput_ratio,
        cpu_per_call_ratio: ratio(gatekey.server_cpu_us_per_call, bare.server_cpu_us_per_call),
        throughput_ratio_canned: ratio(gatekey.calls_per_sec, canned.calls_per_sec),
        cpu_per_call_ratio_canned: ratio(gatekey.server_cpu_us_per_call, canned.server_cpu_us_per_call),
        target_throughput_ratio: TARGET_THROUGHPUT_RATIO,
        target_met: throughput_ratio >= TARGET_THROUGHPUT_RATIO,
        bare_floor: bare,
        canned_floor: canned,
        gatekey,
    })
}

impl Loaded {
    fn new(name: &'static str, process: ServerProcess, metrics: Option<std::net::SocketAddr>) -> Self {
        Self {
            name,
            process,
            metrics,
            total: Total::default(),
        }
    }

    /// A warm-up, then one measured h2load run with the server's CPU read around it.
    async fn window(&mut self, spec: &H2loadSpec, round: u32, body: &std::path::Path) -> anyhow::Result<Window> {
        self.process.ensure_running(self.name)?;
        let url = format!("http://{}{VERIFY_PATH}", self.process.grpc);
        if spec.warmup_requests > 0 {
            spec.h2load.run(&url, body, spec.warmup_requests).await?;
        }
        let ok_before = self.ok_count().await?;
        let cpu_before = procfs::cpu_time(self.process.pid())?;
        let run = spec.h2load.run(&url, body, spec.requests).await?;
        let cpu = procfs::cpu_time(self.process.pid())?.saturating_sub(cpu_before);
        if let (Some(before), Some(after)) = (ok_before, self.ok_count().await?) {
            anyhow::ensure!(
                after - before == run.requests,
                "{}: h2load sent {} requests but {} were allowed",
                self.name,
                run.requests,
                after - before
            );
        }
        self.total.add(&run, cpu);
        Ok(Window {
            server: self.name,
            round,
            calls_per_sec: run.requests as f64 / run.elapsed_secs.max(f64::MIN_POSITIVE),
            server_cpu_us_per_call: cpu.as_secs_f64() * 1e6 / run.requests.max(1) as f64,
            h2load: run,
        })
    }

    /// gatekey's Verify `OK` count; `None` for a floor.
    async fn ok_count(&self) -> anyhow::Result<Option<u64>> {
        match self.metrics {
            None => Ok(None),
            Some(addr) => verify_ok(Some(addr))
                .await
                .map(Some)
                .with_context(|| format!("reading {}'s /metrics", self.name)),
        }
    }
}

/// One Verify with our own client; fails on any gRPC error.
async fn verify_once(server: &ServerProcess, request: &pb::VerifyRequest) -> anyhow::Result<pb::VerifyResponse> {
    let channel = load::connect(server.grpc, 1).await?.pop().context("no channel")?;
    let answer = AuthServiceClient::new(channel)
        .verify(request.clone())
        .await
        .with_context(|| format!("Verify on {}", server.grpc))?;
    Ok(answer.into_inner())
}

impl H2loadReport {
    /// The human-readable form.
    pub fn table(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "{}: cached-key Verify, {} connections x {} streams ({} in flight), {} thread(s), {} requests per window",
            self.h2load_version,
            self.clients,
            self.streams_per_client,
            self.clients * self.streams_per_client,
            self.threads,
            self.requests_per_window,
        );
        let _ = writeln!(
            out,
            "{:<6} {:<13} {:>10} {:>13} {:>11}",
            "round", "server", "calls/s", "srv CPU/call", "bytes/call"
        );
        for w in &self.windows {
            let bytes = w.h2load.data_bytes as f64 / w.h2load.requests.max(1) as f64;
            let _ = writeln!(
                out,
                "{:<6} {:<13} {:>10.0} {:>10.1} µs {:>11.1}",
                w.round, w.server, w.calls_per_sec, w.server_cpu_us_per_call, bytes
            );
        }
        for (name, t) in [
            ("bare floor", &self.bare_floor),
            ("canned floor", &self.canned_floor),
            ("gatekey", &self.gatekey),
        ] {
            let _ = writeln!(
                out,
                "{:<6} {:<13} {:>10.0} {:>10.1} µs {:>11.1}",
                "total", name, t.calls_per_sec, t.server_cpu_us_per_call, t.data_bytes_per_call
            );
        }
        let _ = writeln!(
            out,
            "gatekey / bare floor: throughput {:.3}, server CPU per call {:.2}x; target throughput >= {:.2}: {}",
            self.throughput_ratio,
            self.cpu_per_call_ratio,
            self.target_throughput_ratio,
            if self.target_met { "met" } else { "MISSED" }
        );
        let _ = writeln!(
            out,
            "gatekey / canned floor: throughput {:.3}, server CPU per call {:.2}x",
            self.throughput_ratio_canned, self.cpu_per_call_ratio_canned
        );
        out
    }
}
