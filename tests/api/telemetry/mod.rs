//! What an on-call engineer reads: the Prometheus page, JSON logs and OTLP traces, each
//! checked on the real `gatekey` binary (the tracing subscriber and the metrics recorder are
//! process-wide, so only a process of its own starts them fresh and with its own settings).

mod logs;
mod metrics;
mod traces;

use crate::cli::gatekey;
use crate::support::app::{PASSWORD, USER_AGENT};
use gatekey::proto::v1 as pb;
use gatekey::proto::v1::admin_service_client::AdminServiceClient;
use gatekey::proto::v1::auth_service_client::AuthServiceClient;
use gatekey::proto::v1::key_service_client::KeyServiceClient;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Child;
use tonic::transport::Channel;

/// A `gatekey` server process logging JSON lines, whose stderr is collected as it comes.
pub(crate) struct Server {
    _child: Child,
    _dir: tempfile::TempDir,
    pub grpc: String,
    pub http: String,
    pub channel: Channel,
    lines: Arc<Mutex<Vec<String>>>,
}

impl Server {
    /// Starts the binary on free ports with `env` added, and waits until it serves.
    pub async fn start(env: &[(&str, &str)]) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut cmd = gatekey(dir.path(), "");
        cmd.env("GATEKEY_LOG_FORMAT", "json")
            .env_remove("RUST_LOG")
            .env_remove("OTEL_EXPORTER_OTLP_ENDPOINT");
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd
            .args(["--grpc-addr", "127.0.0.1:0", "--http-addr", "127.0.0.1:0"])
            .stderr(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .expect("spawn server");
        let mut reader = BufReader::new(child.stderr.take().expect("stderr")).lines();
        let lines = Arc::new(Mutex::new(Vec::new()));
        let (addrs_tx, addrs_rx) = tokio::sync::oneshot::channel();
        let sink = lines.clone();
        tokio::spawn(async move {
            let mut addrs_tx = Some(addrs_tx);
            while let Ok(Some(line)) = reader.next_line().await {
                if let Ok(v) = serde_json::from_str::<serde_json::Value>(&line)
                    && v["message"] == "gatekey serving"
                    && let Some(tx) = addrs_tx.take()
                {
                    let _ = tx.send((
                        v["grpc"].as_str().map(str::to_owned),
                        v["http"].as_str().map(str::to_owned),
                    ));
                }
                sink.lock().unwrap().push(line);
            }
        });
        // Generous: on a loaded two-core CI machine a start has taken over 30 s.
        let Ok(started) = tokio::time::timeout(Duration::from_secs(90), addrs_rx).await else {
            panic!(
                "server did not start in time; it logged:\n{}",
                lines.lock().unwrap().join("\n")
            );
        };
        let (grpc, http) = started.expect("server logged its addresses as JSON");
        let grpc = format!("http://{}", grpc.expect("grpc field"));
        let http = format!("http://{}", http.expect("http field"));
        let channel = Channel::from_shared(grpc.clone())
            .expect("uri")
            .connect()
            .await
            .expect("connect");
        Self {
            _child: child,
            _dir: dir,
            grpc,
            http,
            channel,
            lines,
        }
    }

    /// Every stderr line so far.
    pub fn log_lines(&self) -> Vec<String> {
        self.lines.lock().unwrap().clone()
    }

    pub fn auth(&self) -> AuthServiceClient<Channel> {
        AuthServiceClient::new(self.channel.clone())
    }

    pub fn admin(&self) -> AdminServiceClient<Channel> {
        AdminServiceClient::new(self.channel.clone())
    }

    pub fn keys(&self) -> KeyServiceClient<Channel> {
        KeyServiceClient::new(self.channel.clone())
    }

    /// Bootstraps an org with the CLI (on the server's database) and logs its owner in.
    pub async fn owner(&self) -> String {
        let mut boot = gatekey(self._dir.path(), &self.grpc);
        boot.args(["bootstrap", "--org", "acme", "--email", "owner@acme.test"]);
        let booted = crate::cli::run(boot, &format!("{PASSWORD}\n")).await;
        assert_eq!(booted.code, 0, "{}", booted.stderr);
        self.login("owner@acme.test", PASSWORD)
            .await
            .expect("owner logs in")
            .access_token
    }

    pub async fn login(&self, email: &str, password: &str) -> Result<pb::TokenResponse, tonic::Status> {
        self.auth()
            .login(pb::LoginRequest {
                email: email.into(),
                password: password.into(),
                remember_me: false,
                user_agent: USER_AGENT.into(),
            })
            .await
            .map(tonic::Response::into_inner)
    }

    /// The Prometheus page.
    pub async fn scrape(&self) -> Exposition {
        let body = reqwest::get(format!("{}/metrics", self.http))
            .await
            .expect("GET /metrics")
            .error_for_status()
            .expect("200")
            .text()
            .await
            .expect("body");
        Exposition::parse(&body)
    }
}

/// A parsed Prometheus text page.
pub(crate) struct Exposition {
    pub help: Vec<String>,
    /// Family name and type.
    pub types: Vec<(String, String)>,
    /// Series (name with labels, as printed) and value.
    pub samples: Vec<(String, f64)>,
}

impl Exposition {
    fn parse(body: &str) -> Self {
        let mut page = Exposition {
            help: Vec::new(),
            types: Vec::new(),
            samples: Vec::new(),
        };
        for line in body.lines().filter(|l| !l.trim().is_empty()) {
            if let Some(rest) = line.strip_prefix("# HELP ") {
                page.help.push(rest.split_whitespace().next().unwrap().to_owned());
            } else if let Some(rest) = line.strip_prefix("# TYPE ") {
                let mut parts = rest.split_whitespace();
                page.types
                    .push((parts.next().unwrap().to_owned(), parts.next().unwrap().to_owned()));
            } else if !line.starts_with('#') {
                let (series, value) = line.rsplit_once(' ').unwrap();
                page.samples.push((series.to_owned(), value.parse().unwrap()));
            }
        }
        page
    }

    /// The value of the series printed exactly as `series` (labels in the exporter's order).
    pub fn value(&self, series: &str) -> Option<f64> {
        self.samples.iter().find(|(s, _)| s == series).map(|(_, v)| *v)
    }

    /// The family a sample belongs to (a histogram's `_bucket`, `_sum` and `_count` are its own).
    pub fn family_of(&self, series: &str) -> String {
        let name = series.split('{').next().unwrap();
        for suffix in ["_bucket", "_sum", "_count"] {
            if let Some(base) = name.strip_suffix(suffix)
                && self
                    .types
                    .iter()
                    .any(|(f, t)| f == base && (t == "histogram" || t == "summary"))
            {
                return base.to_owned();
            }
        }
        name.to_owned()
    }
}
