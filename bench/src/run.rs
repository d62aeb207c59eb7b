//! One benchmark run: start gatekey (and the floor), set up the scenario, then alternate
//! floor and gatekey windows so both see the same machine state, and total them up.

use crate::call::Workload;
use crate::child::ServerProcess;
use crate::gatekey::{Admin, GatekeySpec};
use crate::load::{self, LoadSpec, Measurement};
use crate::report::{Row, RunReport};
use crate::scenario::Scenario;
use anyhow::Context;
use tokio::process::Command;

/// What to run.
#[derive(Debug, Clone)]
pub struct RunSpec {
    pub scenario: Scenario,
    pub load: LoadSpec,
    pub rounds: u32,
    /// Alternate with the floor and report the ratios.
    pub floor: bool,
    pub gatekey: GatekeySpec,
    /// Distinct keys for `cache-miss`, made-up ones for the floods.
    pub keys: usize,
}

/// Runs `spec`, logging progress on stderr.
pub async fn run(spec: &RunSpec) -> anyhow::Result<RunReport> {
    let mut gatekey = spec.gatekey.start().await?;
    eprintln!(
        "gatekey (pid {}) serving on {} with {}",
        gatekey.process.pid(),
        gatekey.process.grpc,
        gatekey.backend
    );
    let admin = Admin::login(&gatekey).await?;
    let setup_started = std::time::Instant::now();
    let workload = spec.scenario.prepare(&admin, spec.keys).await?;
    eprintln!(
        "set up {} credential(s) for {} in {:.1?}",
        workload.len(),
        spec.scenario.name(),
        setup_started.elapsed()
    );
    check_answers(&gatekey.process, &workload, spec.scenario).await?;

    let mut floor = match spec.floor {
        true => Some(start_floor(false).await?),
        false => None,
    };
    let mut windows = Vec::new();
    let mut floor_total = Measurement::empty()?;
    let mut gatekey_total = Measurement::empty()?;
    for round in 1..=spec.rounds.max(1) {
        if let Some(f) = floor.as_mut() {
            f.ensure_running("the floor")?;
            eprintln!("round {round}: floor");
            let m = load::measure(f, None, &workload, spec.load).await?;
            windows.push(Row::of("floor", Some(round), &m));
            floor_total.merge(&m)?;
        }
        gatekey.process.ensure_running("gatekey")?;
        eprintln!("round {round}: gatekey");
        let p = &gatekey.process;
        let m = load::measure(p, p.http, &workload, spec.load).await?;
        windows.push(Row::of("gatekey", Some(round), &m));
        gatekey_total.merge(&m)?;
    }
    let gatekey_row = Row::of("gatekey", None, &gatekey_total);
    let expected = spec.scenario.expected().to_owned();
    let mut report = RunReport {
        scenario: spec.scenario,
        backend: gatekey.backend,
        concurrency: spec.load.concurrency,
        connections: spec.load.connections,
        warmup_secs: spec.load.warmup.as_secs_f64(),
        duration_secs: spec.load.duration.as_secs_f64(),
        rounds: spec.rounds.max(1),
        credentials: workload.len(),
        key_cache_max: spec.gatekey.key_cache_max,
        windows,
        floor: floor.is_some().then(|| Row::of("floor", None, &floor_total)),
        expected_share: gatekey_row.share_of(&expected),
        expected_reason: expected,
        gatekey: gatekey_row,
        ratios: None,
        target: spec.scenario.target(),
        verdict: None,
    };
    report.judge();
    Ok(report)
}

/// The floor as a child process of its own: this executable's hidden `serve-floor`; `bare`
/// for the one that answers Verify with an empty message.
pub async fn start_floor(bare: bool) -> anyhow::Result<ServerProcess> {
    let mut cmd = Command::new(std::env::current_exe()?);
    cmd.args(["serve-floor", "--addr", "127.0.0.1:0"]);
    let what = match bare {
        true => {
            cmd.arg("--bare");
            "the bare floor"
        }
        false => "the floor",
    };
    let floor = ServerProcess::start(cmd, what).await?;
    eprintln!("{what} (pid {}) serving on {}", floor.pid(), floor.grpc);
    Ok(floor)
}

/// Fails early when the set-up is wrong: the second call (the first one may be the single
/// allowed call of `rate-limited`) must get the scenario's outcome.
async fn check_answers(server: &ServerProcess, workload: &Workload, scenario: Scenario) -> anyhow::Result<()> {
    let one = LoadSpec {
        concurrency: 1,
        connections: 1,
        warmup: std::time::Duration::ZERO,
        duration: std::time::Duration::ZERO,
    };
    let mut caller = load::callers(server, workload, &one)
        .await?
        .pop()
        .context("no caller")?;
    let mut outcome = "";
    for _ in 0..2 {
        outcome = caller.call(workload, 0).await.outcome;
    }
    anyhow::ensure!(
        scenario.accepts(outcome),
        "{} expects {} but gatekey answered {outcome}",
        scenario.name(),
        scenario.expected(),
    );
    Ok(())
}
