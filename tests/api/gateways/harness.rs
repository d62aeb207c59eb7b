//! Processes and plumbing for the gateway tests: a header-echoing upstream, free ports, the
//! shipped configurations with their fixed addresses replaced, and gateway processes that
//! die with the test.

use axum::extract::Request;
use axum::routing::any;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};
use tokio::process::{Child, Command};

/// Whether `binary` can run here; panics when it cannot and CI made gateways mandatory.
pub fn available(binary: &str) -> bool {
    let found = std::process::Command::new("sh")
        .args(["-c", &format!("command -v {binary}")])
        .stdout(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    let mandatory = std::env::var("GATEKEY_TEST_GATEWAYS").is_ok_and(|v| v == "1");
    assert!(
        found || !mandatory,
        "{binary} is not installed and GATEKEY_TEST_GATEWAYS=1"
    );
    if !found {
        eprintln!("skipped: {binary} is not installed (set GATEKEY_TEST_GATEWAYS=1 to require it)");
    }
    found
}

/// A port nothing listens on right now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port()
}

/// What the upstream received: path and headers (lowercase names, repeated ones joined).
#[derive(Debug, serde::Deserialize)]
pub struct Echo {
    pub path: String,
    pub query: String,
    pub headers: BTreeMap<String, String>,
}

impl Echo {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(String::as_str)
    }
}

/// Starts the echoing upstream on a port of its own; returns its port.
pub async fn upstream() -> u16 {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind upstream");
    let port = listener.local_addr().expect("addr").port();
    let app = axum::Router::new().fallback(any(|req: Request| async move {
        let mut headers: BTreeMap<String, String> = BTreeMap::new();
        for (name, value) in req.headers() {
            let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
            headers
                .entry(name.as_str().to_owned())
                .and_modify(|v| {
                    v.push_str(", ");
                    v.push_str(&value);
                })
                .or_insert(value);
        }
        axum::Json(serde_json::json!({ "path": req.uri().path(), "query": req.uri().query().unwrap_or_default(), "headers": headers }))
    }));
    tokio::spawn(async move { axum::serve(listener, app).await });
    port
}

/// A file of `deploy/` with `(from, to)` replacements applied, written into `dir`.
pub fn config(dir: &Path, shipped: &str, replacements: &[(&str, String)]) -> PathBuf {
    let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy").join(shipped);
    let mut text = std::fs::read_to_string(&source).expect("read shipped config");
    for (from, to) in replacements {
        assert!(text.contains(from), "{shipped} no longer contains {from:?}");
        text = text.replace(from, to);
    }
    let out = dir.join(source.file_name().expect("file name"));
    std::fs::write(&out, text).expect("write config");
    out
}

/// Uncomments the lines marked `# gatekey:hide_credentials` (their first `# `).
pub fn hide_credentials(path: &Path) {
    let text = std::fs::read_to_string(path).expect("read config");
    let mut changed = 0;
    let out: Vec<String> = text
        .lines()
        .map(|line| {
            if line.contains("# gatekey:hide_credentials") {
                changed += 1;
                line.replacen("# ", "", 1)
            } else {
                line.to_owned()
            }
        })
        .collect();
    assert!(changed > 0, "no hide_credentials lines in {}", path.display());
    std::fs::write(path, out.join("\n") + "\n").expect("write config");
}

/// A gateway process, killed when dropped; its output goes to a log file kept for failures.
pub struct Gateway {
    pub base: String,
    _child: Child,
    log: PathBuf,
}

impl Gateway {
    /// Starts `command` and waits until the gateway answers through gatekey: a request without
    /// a credential gets gatekey's 401 (Traefik, for one, answers 404 until its routes load).
    pub async fn start(mut command: Command, port: u16, log: PathBuf) -> Self {
        let out = std::fs::File::create(&log).expect("log file");
        let err = out.try_clone().expect("log file");
        let child = command
            .stdout(out)
            .stderr(err)
            .kill_on_drop(true)
            .spawn()
            .expect("start gateway");
        let gateway = Self {
            base: format!("http://127.0.0.1:{port}"),
            _child: child,
            log,
        };
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(30) {
            let probe = client().get(format!("{}/api/ready", gateway.base)).send().await;
            if probe.is_ok_and(|r| r.status() == reqwest::StatusCode::UNAUTHORIZED) {
                return gateway;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("gateway did not start:\n{}", gateway.output());
    }

    pub fn output(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

/// The address the tests' client calls from: not the gateways' own (127.0.0.1, the only
/// trusted proxy in these tests), so a forged `X-Forwarded-For` would show.
pub const CLIENT_IP: &str = "127.0.0.2";

pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .local_address(CLIENT_IP.parse::<std::net::IpAddr>().ok())
        .timeout(Duration::from_secs(10))
        .build()
        .expect("client")
}
