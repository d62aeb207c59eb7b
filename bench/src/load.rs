//! The load loop: `concurrency` callers share `connections` HTTP/2 connections (or, over
//! HTTP/1.1, hold one each) and call back to back until the phase's deadline; latencies go to
//! an HDR histogram and the server's CPU time is read around the measured window.

use crate::call::{Caller, Workload};
use crate::child::ServerProcess;
use crate::metrics::{CacheCounts, cache_counts};
use crate::procfs;
use anyhow::Context;
use hdrhistogram::Histogram;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use tokio::task::JoinSet;
use tonic::transport::{Channel, Endpoint};

/// One call slower than this fails (and is counted) instead of stalling the run.
pub const CALL_TIMEOUT: Duration = Duration::from_secs(5);
/// Slack past the deadline for in-flight calls to finish before the phase is abandoned.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(10);
/// Latencies are recorded in nanoseconds, from 1 ns to 1 minute, to 3 significant digits.
const MAX_LATENCY_NS: u64 = 60_000_000_000;

/// Shape of the load.
#[derive(Debug, Clone, Copy)]
pub struct LoadSpec {
    pub concurrency: usize,
    pub connections: usize,
    pub warmup: Duration,
    pub duration: Duration,
}

/// What one measured window saw.
pub struct Measurement {
    pub calls: u64,
    pub elapsed: Duration,
    /// Per-call latency in nanoseconds.
    pub latency: Histogram<u64>,
    /// Answers by `VerifyReason` name, ext_authz code or HTTP status; failures by gRPC code.
    pub outcomes: BTreeMap<&'static str, u64>,
    pub server_cpu: Duration,
    pub client_cpu: Duration,
    /// Encoded size of the first answer (for HTTP, its header block), to compare payloads
    /// with the floor's.
    pub response_bytes: usize,
    /// The server's own cache counters over the window, when it exposes them.
    pub cache: Option<CacheCounts>,
}

impl Measurement {
    /// An empty measurement to merge rounds into.
    pub fn empty() -> anyhow::Result<Self> {
        Ok(Self {
            calls: 0,
            elapsed: Duration::ZERO,
            latency: histogram()?,
            outcomes: BTreeMap::new(),
            server_cpu: Duration::ZERO,
            client_cpu: Duration::ZERO,
            response_bytes: 0,
            cache: None,
        })
    }

    /// Adds `other`'s calls, time and latencies to these.
    pub fn merge(&mut self, other: &Measurement) -> anyhow::Result<()> {
        self.calls += other.calls;
        self.elapsed += other.elapsed;
        self.latency.add(&other.latency).context("merging histograms")?;
        for (k, v) in &other.outcomes {
            *self.outcomes.entry(k).or_default() += v;
        }
        self.server_cpu += other.server_cpu;
        self.client_cpu += other.client_cpu;
        self.response_bytes = self.response_bytes.max(other.response_bytes);
        self.cache = match (self.cache, other.cache) {
            (Some(a), Some(b)) => Some(a.plus(b)),
            (a, b) => a.or(b),
        };
        Ok(())
    }
}

fn histogram() -> anyhow::Result<Histogram<u64>> {
    Histogram::new_with_bounds(1, MAX_LATENCY_NS, 3).context("creating a histogram")
}

/// Opens `n` channels to `addr`; each `Channel` is its own HTTP/2 connection.
pub async fn connect(addr: SocketAddr, n: usize) -> anyhow::Result<Vec<Channel>> {
    anyhow::ensure!(
        addr.ip().is_loopback(),
        "refusing to load {addr}: not a loopback address"
    );
    let endpoint = Endpoint::from_shared(format!("http://{addr}"))?
        .tcp_nodelay(true)
        .connect_timeout(CALL_TIMEOUT)
        .timeout(CALL_TIMEOUT);
    let mut channels = Vec::with_capacity(n);
    for _ in 0..n.max(1) {
        channels.push(
            endpoint
                .connect()
                .await
                .with_context(|| format!("connecting to {addr}"))?,
        );
    }
    Ok(channels)
}

/// One client per caller: gRPC callers share `spec.connections` channels; HTTP/1.1 callers
/// each hold a keep-alive connection, so there are as many connections as callers.
pub async fn callers(server: &ServerProcess, workload: &Workload, spec: &LoadSpec) -> anyhow::Result<Vec<Caller>> {
    let n = spec.concurrency.max(1);
    let mut callers = Vec::with_capacity(n);
    if workload.is_http() {
        let addr = server.http.context("the server reported no HTTP address")?;
        for _ in 0..n {
            callers.push(Caller::http(addr).await?);
        }
    } else {
        let channels = connect(server.grpc, spec.connections).await?;
        for i in 0..n {
            callers.push(Caller::grpc(workload, channels[i % channels.len()].clone())?);
        }
    }
    Ok(callers)
}

/// Warms up, then measures one window of load on `server` (whose `/metrics` is on
/// `metrics`, if any). Callers take the workload's requests round-robin.
pub async fn measure(
    server: &ServerProcess,
    metrics: Option<SocketAddr>,
    workload: &Workload,
    spec: LoadSpec,
) -> anyhow::Result<Measurement> {
    anyhow::ensure!(!workload.is_empty(), "no requests to send");
    let mut callers = callers(server, workload, &spec).await?;
    if !spec.warmup.is_zero() {
        callers = run_phase(callers, workload, spec.warmup).await?.1;
    }
    let cache_before = cache_counts(metrics).await;
    let server_before = procfs::cpu_time(server.pid())?;
    let client_before = procfs::own_cpu_time()?;
    let started = Instant::now();
    let (mut m, _) = run_phase(callers, workload, spec.duration).await?;
    m.elapsed = started.elapsed();
    m.server_cpu = procfs::cpu_time(server.pid())?.saturating_sub(server_before);
    m.client_cpu = procfs::own_cpu_time()?.saturating_sub(client_before);
    m.cache = cache_before.zip(cache_counts(metrics).await).map(|(b, a)| a.since(b));
    Ok(m)
}

/// What one caller saw; it hands its client back for the next phase.
struct Tally {
    caller: Caller,
    calls: u64,
    latency: Histogram<u64>,
    outcomes: BTreeMap<&'static str, u64>,
    response_bytes: usize,
}

async fn run_phase(
    callers: Vec<Caller>,
    workload: &Workload,
    length: Duration,
) -> anyhow::Result<(Measurement, Vec<Caller>)> {
    let deadline = Instant::now() + length;
    let next = Arc::new(AtomicUsize::new(0));
    let mut tasks = JoinSet::new();
    for caller in callers {
        tasks.spawn(call_until(caller, workload.clone(), next.clone(), deadline));
    }
    let mut m = Measurement::empty()?;
    let mut returned = Vec::new();
    let drained = tokio::time::timeout(length + DRAIN_TIMEOUT, async {
        while let Some(tally) = tasks.join_next().await {
            let t = tally.context("a caller task failed")??;
            m.calls += t.calls;
            m.latency.add(&t.latency).context("merging histograms")?;
            for (k, v) in t.outcomes {
                *m.outcomes.entry(k).or_default() += v;
            }
            m.response_bytes = m.response_bytes.max(t.response_bytes);
            returned.push(t.caller);
        }
        anyhow::Ok(())
    })
    .await;
    match drained {
        Ok(result) => result?,
        Err(_) => anyhow::bail!("calls were still in flight {DRAIN_TIMEOUT:?} after the deadline"),
    }
    Ok((m, returned))
}

async fn call_until(
    mut caller: Caller,
    workload: Workload,
    next: Arc<AtomicUsize>,
    deadline: Instant,
) -> anyhow::Result<Tally> {
    let mut calls = 0;
    let mut latency = histogram()?;
    let mut outcomes = BTreeMap::new();
    let mut response_bytes = 0;
    let single = workload.len() == 1;
    while Instant::now() < deadline {
        let i = if single {
            0
        } else {
            next.fetch_add(1, Ordering::Relaxed) % workload.len()
        };
        let sent = Instant::now();
        let answer = caller.call(&workload, i).await;
        let took = u64::try_from(sent.elapsed().as_nanos()).unwrap_or(MAX_LATENCY_NS);
        latency.saturating_record(took.clamp(1, MAX_LATENCY_NS));
        calls += 1;
        if response_bytes == 0 {
            response_bytes = answer.bytes;
        }
        *outcomes.entry(answer.outcome).or_default() += 1;
    }
    Ok(Tally {
        caller,
        calls,
        latency,
        outcomes,
        response_bytes,
    })
}
