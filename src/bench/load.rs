//! The load loop: `concurrency` callers share `connections` HTTP/2 connections and call
//! Verify back to back until the phase's deadline; latencies go to an HDR histogram and the
//! server's CPU time is read around the measured window.

use super::metrics::{CacheCounts, cache_counts};
use super::procfs;
use crate::proto::v1 as pb;
use crate::proto::v1::auth_service_client::AuthServiceClient;
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
const CALL_TIMEOUT: Duration = Duration::from_secs(5);
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
    /// Responses by `VerifyReason` name, failures by gRPC code.
    pub outcomes: BTreeMap<&'static str, u64>,
    pub server_cpu: Duration,
    pub client_cpu: Duration,
    /// Encoded size of the first response, to compare payloads with the floor's.
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

/// Warms up, then measures one window of load on the server `server_pid` at `addr` (whose
/// `/metrics` is on `http`, if any). Callers take `requests` round-robin.
pub async fn measure(
    addr: SocketAddr,
    server_pid: u32,
    http: Option<SocketAddr>,
    requests: Arc<[pb::VerifyRequest]>,
    spec: LoadSpec,
) -> anyhow::Result<Measurement> {
    anyhow::ensure!(!requests.is_empty(), "no requests to send");
    let channels = connect(addr, spec.connections).await?;
    if !spec.warmup.is_zero() {
        run_phase(&channels, &requests, spec.concurrency, spec.warmup).await?;
    }
    let cache_before = cache_counts(http).await;
    let server_before = procfs::cpu_time(server_pid)?;
    let client_before = procfs::own_cpu_time()?;
    let started = Instant::now();
    let mut m = run_phase(&channels, &requests, spec.concurrency, spec.duration).await?;
    m.elapsed = started.elapsed();
    m.server_cpu = procfs::cpu_time(server_pid)?.saturating_sub(server_before);
    m.client_cpu = procfs::own_cpu_time()?.saturating_sub(client_before);
    m.cache = cache_before.zip(cache_counts(http).await).map(|(b, a)| a.since(b));
    Ok(m)
}

/// What one caller saw.
struct Tally {
    calls: u64,
    latency: Histogram<u64>,
    outcomes: BTreeMap<&'static str, u64>,
    response_bytes: usize,
}

async fn run_phase(
    channels: &[Channel],
    requests: &Arc<[pb::VerifyRequest]>,
    concurrency: usize,
    length: Duration,
) -> anyhow::Result<Measurement> {
    let deadline = Instant::now() + length;
    let next = Arc::new(AtomicUsize::new(0));
    let mut callers = JoinSet::new();
    for i in 0..concurrency.max(1) {
        let client = AuthServiceClient::new(channels[i % channels.len()].clone());
        callers.spawn(call_until(client, requests.clone(), next.clone(), deadline));
    }
    let mut m = Measurement::empty()?;
    let drained = tokio::time::timeout(length + DRAIN_TIMEOUT, async {
        while let Some(tally) = callers.join_next().await {
            let t = tally.context("a caller task failed")??;
            m.calls += t.calls;
            m.latency.add(&t.latency).context("merging histograms")?;
            for (k, v) in t.outcomes {
                *m.outcomes.entry(k).or_default() += v;
            }
            m.response_bytes = m.response_bytes.max(t.response_bytes);
        }
        anyhow::Ok(())
    })
    .await;
    match drained {
        Ok(result) => result?,
        Err(_) => anyhow::bail!("calls were still in flight {DRAIN_TIMEOUT:?} after the deadline"),
    }
    Ok(m)
}

async fn call_until(
    mut client: AuthServiceClient<Channel>,
    requests: Arc<[pb::VerifyRequest]>,
    next: Arc<AtomicUsize>,
    deadline: Instant,
) -> anyhow::Result<Tally> {
    let mut t = Tally {
        calls: 0,
        latency: histogram()?,
        outcomes: BTreeMap::new(),
        response_bytes: 0,
    };
    let single = requests.len() == 1;
    while Instant::now() < deadline {
        let i = if single {
            0
        } else {
            next.fetch_add(1, Ordering::Relaxed) % requests.len()
        };
        let request = requests[i].clone();
        let sent = Instant::now();
        let result = client.verify(request).await;
        let took = u64::try_from(sent.elapsed().as_nanos()).unwrap_or(MAX_LATENCY_NS);
        t.latency.saturating_record(took.clamp(1, MAX_LATENCY_NS));
        t.calls += 1;
        let outcome = match result {
            Ok(response) => {
                let response = response.into_inner();
                if t.response_bytes == 0 {
                    t.response_bytes = prost::Message::encoded_len(&response);
                }
                pb::VerifyReason::try_from(response.reason)
                    .map(|r| r.as_str_name())
                    .unwrap_or("VERIFY_REASON_UNKNOWN")
            }
            Err(status) => status_name(status.code()),
        };
        *t.outcomes.entry(outcome).or_default() += 1;
    }
    Ok(t)
}

fn status_name(code: tonic::Code) -> &'static str {
    use tonic::Code::*;
    match code {
        Ok => "grpc:OK",
        Cancelled => "grpc:CANCELLED",
        Unknown => "grpc:UNKNOWN",
        InvalidArgument => "grpc:INVALID_ARGUMENT",
        DeadlineExceeded => "grpc:DEADLINE_EXCEEDED",
        NotFound => "grpc:NOT_FOUND",
        AlreadyExists => "grpc:ALREADY_EXISTS",
        PermissionDenied => "grpc:PERMISSION_DENIED",
        ResourceExhausted => "grpc:RESOURCE_EXHAUSTED",
        FailedPrecondition => "grpc:FAILED_PRECONDITION",
        Aborted => "grpc:ABORTED",
        OutOfRange => "grpc:OUT_OF_RANGE",
        Unimplemented => "grpc:UNIMPLEMENTED",
        Internal => "grpc:INTERNAL",
        Unavailable => "grpc:UNAVAILABLE",
        DataLoss => "grpc:DATA_LOSS",
        Unauthenticated => "grpc:UNAUTHENTICATED",
    }
}
