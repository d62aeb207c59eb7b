//! `gatekey-bench`: load generator for `AuthService.Verify` and the gateway protocols, after
//! redis-benchmark.
//!
//! `gatekey-bench --scenario cached-key --floor` starts `gatekey` (found next to this
//! executable) and the floor as child processes, alternates measured windows between them and
//! prints throughput, latency percentiles and server CPU per call, with the ratios.

use clap::{Args, Parser, Subcommand};
use gatekey_bench::gatekey::{Admin, GatekeySpec};
use gatekey_bench::h2load::H2load;
use gatekey_bench::h2load_run::{self, H2loadSpec};
use gatekey_bench::load::LoadSpec;
use gatekey_bench::run::{RunSpec, run};
use gatekey_bench::scenario::Scenario;
use gatekey_bench::{floor, memory};
use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

#[derive(Debug, Parser)]
#[command(name = "gatekey-bench", about, args_conflicts_with_subcommands = true)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    run: RunArgs,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Load gatekey (the default with no subcommand).
    Run(RunArgs),
    /// Resident memory per key held in the Verify key cache, measured in this process.
    Memory(MemoryArgs),
    /// cached-key Verify under nghttp2's h2load against a bare tonic no-op unary call.
    H2load(H2loadArgs),
    /// Serve the floor (used by `run --floor` and `benches/gateway_path.sh`).
    #[command(hide = true)]
    ServeFloor {
        /// Verify and ext_authz `Check`.
        #[arg(long, default_value = "127.0.0.1:0")]
        addr: SocketAddr,
        /// Forward-auth.
        #[arg(long, default_value = "127.0.0.1:0")]
        http_addr: SocketAddr,
        /// Answer Verify with an empty message (the bare no-op floor of `h2load`).
        #[arg(long)]
        bare: bool,
    },
    /// On a running gatekey: log in as the org owner, lift the org rate limit to 10M/s,
    /// issue a key like `cached-key`'s and print its secret (for `benches/gateway_path.sh`).
    #[command(hide = true)]
    BenchKey {
        #[arg(long)]
        grpc_addr: SocketAddr,
        #[arg(long)]
        email: String,
        /// Read from the environment so it stays off the command line.
        #[arg(long, env = "GATEKEY_BOOTSTRAP_PASSWORD", hide_env_values = true)]
        password: String,
    },
}

#[derive(Debug, Args)]
struct RunArgs {
    #[arg(long, value_enum, default_value = "cached-key")]
    scenario: Scenario,
    /// Calls in flight at once.
    #[arg(long, default_value_t = 64)]
    concurrency: usize,
    /// HTTP/2 connections the calls share (forward-auth, over HTTP/1.1, opens one per call
    /// in flight instead).
    #[arg(long, default_value_t = 4)]
    connections: usize,
    /// Measured window per round, e.g. `10s` or `500ms`.
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    duration: Duration,
    /// Unmeasured load before each window.
    #[arg(long, default_value = "2s", value_parser = parse_duration)]
    warmup: Duration,
    /// Windows per server; with `--floor` they alternate floor, gatekey, floor, gatekey...
    #[arg(long, default_value_t = 2)]
    rounds: u32,
    /// Also measure the floor (a no-op Verify server) and report gatekey relative to it.
    #[arg(long)]
    floor: bool,
    /// The gatekey binary to run; default the `gatekey` next to this executable.
    #[arg(long, value_name = "PATH")]
    server_binary: Option<std::path::PathBuf>,
    /// PostgreSQL (or SQLite) database for gatekey; default a fresh temporary SQLite file.
    #[arg(long, value_name = "URL")]
    database_url: Option<String>,
    /// Distinct keys sent round-robin: issued ones in `cache-miss` (default 5000), made-up
    /// ones in the floods (default 200000, so none repeats within the 5 s an unknown key is
    /// remembered).
    #[arg(long)]
    keys: Option<usize>,
    /// A `GATEKEY_*` setting for the server, `NAME=VALUE`; repeatable (e.g.
    /// `--server-env GATEKEY_VERIFY_IP_FAILURE_LIMIT=false`).
    #[arg(long, value_name = "NAME=VALUE", value_parser = parse_env)]
    server_env: Vec<(String, String)>,
    /// gatekey's key cache size; defaults to 1000 for `cache-miss`, gatekey's own otherwise.
    #[arg(long)]
    key_cache_max: Option<u64>,
    /// gatekey's log filter (its production default is `info`). It must keep `gatekey::app`
    /// at `info`: the address is read from its startup line.
    #[arg(long, default_value = "info")]
    server_log_level: String,
    /// Print the report as JSON on stdout.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Args)]
struct MemoryArgs {
    #[arg(long, default_value_t = 100_000)]
    keys: usize,
    /// Hold the keys in a plain `Vec` instead of the cache, to separate the cache's overhead.
    #[arg(long)]
    payload_only: bool,
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Args)]
struct H2loadArgs {
    /// h2load's `-c`: HTTP/2 connections.
    #[arg(long, default_value_t = 4)]
    connections: usize,
    /// h2load's `-m`: calls in flight per connection (4 x 16 = 64 in flight, as `run`).
    #[arg(long, default_value_t = 16)]
    streams: usize,
    /// h2load's `-t`: client threads (one leaves the other core to the server).
    #[arg(long, default_value_t = 1)]
    threads: usize,
    /// h2load's `-n` for each measured window.
    #[arg(long, default_value_t = 300_000)]
    requests: u64,
    /// Unmeasured requests before each window.
    #[arg(long, default_value_t = 30_000)]
    warmup_requests: u64,
    /// Windows per server, alternating bare floor, canned floor, gatekey.
    #[arg(long, default_value_t = 2)]
    rounds: u32,
    /// The h2load to run.
    #[arg(long, value_name = "PATH", default_value = "h2load")]
    h2load: std::path::PathBuf,
    /// The gatekey binary to run; default the `gatekey` next to this executable.
    #[arg(long, value_name = "PATH")]
    server_binary: Option<std::path::PathBuf>,
    /// PostgreSQL (or SQLite) database for gatekey; default a fresh temporary SQLite file.
    #[arg(long, value_name = "URL")]
    database_url: Option<String>,
    /// gatekey's log filter; it must keep `gatekey::app` at `info` (see `run`).
    #[arg(long, default_value = "info")]
    server_log_level: String,
    #[arg(long)]
    json: bool,
}

/// `GATEKEY_NAME=value`.
fn parse_env(raw: &str) -> Result<(String, String), String> {
    match raw.split_once('=') {
        Some((name, value)) if name.starts_with("GATEKEY_") => Ok((name.to_owned(), value.to_owned())),
        _ => Err(format!("{raw:?} is not GATEKEY_NAME=VALUE")),
    }
}

/// `10s`, `500ms`, `2m`, or bare seconds.
fn parse_duration(raw: &str) -> Result<Duration, String> {
    let raw = raw.trim();
    let (number, unit) = match raw.find(|c: char| c.is_ascii_alphabetic()) {
        Some(i) => raw.split_at(i),
        None => (raw, "s"),
    };
    let n: f64 = number
        .trim()
        .parse()
        .map_err(|_| format!("{raw:?} is not a duration like 10s"))?;
    let secs = match unit {
        "ms" => n / 1000.0,
        "s" => n,
        "m" => n * 60.0,
        _ => return Err(format!("unknown unit {unit:?}; use ms, s or m")),
    };
    Duration::try_from_secs_f64(secs).map_err(|e| e.to_string())
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async move {
        match cli.command {
            None => load(cli.run).await,
            Some(Command::Run(args)) => load(args).await,
            Some(Command::Memory(args)) => memory_per_key(&args),
            Some(Command::H2load(args)) => h2load(args).await,
            Some(Command::ServeFloor { addr, http_addr, bare }) => {
                floor::serve(addr, http_addr, bare, gatekey::app::shutdown_signal()).await
            }
            Some(Command::BenchKey {
                grpc_addr,
                email,
                password,
            }) => bench_key(grpc_addr, &email, &password).await,
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn load(args: RunArgs) -> anyhow::Result<()> {
    anyhow::ensure!(
        args.concurrency > 0 && args.connections > 0,
        "concurrency and connections must be positive"
    );
    anyhow::ensure!(!args.duration.is_zero(), "duration must be positive");
    let key_cache_max = args
        .key_cache_max
        .or((args.scenario == Scenario::CacheMiss).then_some(1000));
    let spec = RunSpec {
        scenario: args.scenario,
        load: LoadSpec {
            concurrency: args.concurrency,
            connections: args.connections,
            warmup: args.warmup,
            duration: args.duration,
        },
        rounds: args.rounds,
        floor: args.floor,
        gatekey: GatekeySpec {
            binary: match args.server_binary {
                Some(path) => path,
                None => GatekeySpec::binary_beside_us()?,
            },
            database_url: args.database_url,
            key_cache_max,
            log_level: args.server_log_level,
            env: args.server_env,
        },
        keys: args.keys.unwrap_or(match args.scenario {
            Scenario::UnknownKeyFlood | Scenario::UnknownKeySpray => 200_000,
            _ => 5000,
        }),
    };
    let report = run(&spec).await?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", report.table());
    }
    Ok(())
}

async fn h2load(args: H2loadArgs) -> anyhow::Result<()> {
    anyhow::ensure!(
        args.connections > 0 && args.streams > 0 && args.threads > 0 && args.requests > 0,
        "connections, streams, threads and requests must be positive"
    );
    let spec = H2loadSpec {
        h2load: H2load {
            binary: args.h2load,
            clients: args.connections,
            streams: args.streams,
            threads: args.threads,
        },
        requests: args.requests,
        warmup_requests: args.warmup_requests,
        rounds: args.rounds,
        gatekey: GatekeySpec {
            binary: match args.server_binary {
                Some(path) => path,
                None => GatekeySpec::binary_beside_us()?,
            },
            database_url: args.database_url,
            key_cache_max: None,
            log_level: args.server_log_level,
            env: Vec::new(),
        },
    };
    let report = h2load_run::run(&spec).await?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", report.table());
    }
    Ok(())
}

async fn bench_key(grpc: SocketAddr, email: &str, password: &str) -> anyhow::Result<()> {
    let admin = Admin::login_at(grpc, email, password).await?;
    // The limiter still runs on every call but never denies, as in `cached-key`.
    admin.set_org_rate_limit(10_000_000, 1, 10_000_000).await?;
    let sa = admin.service_account().await?;
    let key = admin.issue_keys(&sa, 1).await?.pop();
    println!("{}", key.ok_or_else(|| anyhow::anyhow!("no key issued"))?);
    Ok(())
}

fn memory_per_key(args: &MemoryArgs) -> anyhow::Result<()> {
    let report = memory::measure(args.keys, !args.payload_only)?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", report.table());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_take_common_units() {
        assert_eq!(parse_duration("10s"), Ok(Duration::from_secs(10)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("3"), Ok(Duration::from_secs(3)));
        assert!(parse_duration("3h").is_err());
        assert!(parse_duration("fast").is_err());
    }
}
