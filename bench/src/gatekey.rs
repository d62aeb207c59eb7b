//! The server under test: the `gatekey` binary on a fresh temporary SQLite database (or the
//! PostgreSQL database given), with an org bootstrapped through the CLI and everything else
//! set up over gRPC, as an operator would.

use crate::child::ServerProcess;
use anyhow::Context;
use gatekey::proto::v1 as pb;
use gatekey::proto::v1::admin_service_client::AdminServiceClient;
use gatekey::proto::v1::auth_service_client::AuthServiceClient;
use gatekey::proto::v1::key_service_client::KeyServiceClient;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use tokio::process::Command;
use tokio::task::JoinSet;
use tonic::Request;
use tonic::metadata::MetadataValue;
use tonic::transport::Channel;

/// Bench-only secrets, for a throwaway database; never use them anywhere else.
const PEPPER: &str = "gatekey-bench-pepper-for-throwaway-databases-only";
const SIGNING_SECRET: &str = "gatekey-bench-signing-secret-for-throwaway-databases";
const PASSWORD: &str = "gatekey-bench-password";
/// Keys issued in parallel while setting up.
const ISSUE_CONCURRENCY: usize = 16;

/// How to start gatekey.
#[derive(Debug, Clone)]
pub struct GatekeySpec {
    pub binary: PathBuf,
    /// `None`: a fresh SQLite file in a temporary directory.
    pub database_url: Option<String>,
    /// `GATEKEY_KEY_CACHE_MAX`; `None` keeps the server's default.
    pub key_cache_max: Option<u64>,
    /// `GATEKEY_LOG_LEVEL` of the server.
    pub log_level: String,
    /// More `GATEKEY_*` settings for the server, e.g. to turn the flood guards off.
    pub env: Vec<(String, String)>,
}

/// A running gatekey and the owner of the org created for the run.
pub struct Gatekey {
    pub process: ServerProcess,
    pub backend: &'static str,
    pub email: String,
    _dir: Option<tempfile::TempDir>,
}

impl GatekeySpec {
    /// `gatekey` next to this executable.
    pub fn binary_beside_us() -> anyhow::Result<PathBuf> {
        let path = std::env::current_exe()?.with_file_name("gatekey");
        anyhow::ensure!(
            path.exists(),
            "{} not found; build both with `cargo build --release --workspace --bins`",
            path.display()
        );
        Ok(path)
    }

    /// `gatekey ARGS --database-url URL` with only our configuration in its environment.
    fn command(&self, args: &[&str], database_url: &str) -> Command {
        let mut cmd = Command::new(&self.binary);
        cmd.args(args);
        // Only what we set here configures the server, not the caller's environment.
        for (name, _) in std::env::vars_os() {
            if name.to_str().is_some_and(|n| n.starts_with("GATEKEY_")) {
                cmd.env_remove(&name);
            }
        }
        cmd.env_remove("DATABASE_URL")
            .env_remove("RUST_LOG")
            .env("GATEKEY_KEY_PEPPER", PEPPER)
            .env("GATEKEY_SIGNING_SECRET", SIGNING_SECRET)
            .env("GATEKEY_LOG_LEVEL", &self.log_level)
            .env("GATEKEY_LOG_FORMAT", "text")
            .arg("--database-url")
            .arg(database_url)
            .kill_on_drop(true);
        if let Some(max) = self.key_cache_max {
            cmd.env("GATEKEY_KEY_CACHE_MAX", max.to_string());
        }
        cmd.envs(self.env.iter().map(|(k, v)| (k, v)));
        cmd
    }

    /// Bootstraps a uniquely named org through `gatekey bootstrap`, then serves on free
    /// loopback ports.
    pub async fn start(&self) -> anyhow::Result<Gatekey> {
        let (url, dir, backend) = match &self.database_url {
            Some(url) if url.starts_with("sqlite") => (url.clone(), None, "sqlite"),
            Some(url) => (url.clone(), None, "postgres"),
            None => {
                let dir = tempfile::Builder::new().prefix("gatekey-bench-").tempdir()?;
                let url = format!("sqlite://{}", dir.path().join("bench.db").display());
                (url, Some(dir), "sqlite")
            }
        };
        let run = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)?
            .as_millis();
        let email = format!("bench-{run}@bench.test");
        let org = format!("bench-{run}");
        let mut boot = self.command(&["bootstrap", "--org", &org, "--email", &email], &url);
        boot.env("GATEKEY_BOOTSTRAP_PASSWORD", PASSWORD);
        let out = boot.output().await.context("running gatekey bootstrap")?;
        anyhow::ensure!(
            out.status.success(),
            "gatekey bootstrap failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let serve = self.command(
            &["serve", "--grpc-addr", "127.0.0.1:0", "--http-addr", "127.0.0.1:0"],
            &url,
        );
        let process = ServerProcess::start(serve, "gatekey").await?;
        Ok(Gatekey {
            process,
            backend,
            email,
            _dir: dir,
        })
    }
}

/// `message` with `authorization: Bearer <token>`.
fn authed<T>(token: &str, message: T) -> anyhow::Result<Request<T>> {
    let mut req = Request::new(message);
    let value: MetadataValue<_> = format!("Bearer {token}").parse()?;
    req.metadata_mut().insert("authorization", value);
    Ok(req)
}

/// The org owner, logged in, setting up what a scenario needs.
pub struct Admin {
    channel: Channel,
    /// The owner's access token; also the credential of the `cached-jwt` scenario.
    pub token: String,
}

impl Admin {
    pub async fn login(gatekey: &Gatekey) -> anyhow::Result<Self> {
        Self::login_at(gatekey.process.grpc, &gatekey.email, PASSWORD).await
    }

    /// Logs in as `email` on a gatekey the bench did not start (`gatekey-bench bench-key`).
    pub async fn login_at(grpc: std::net::SocketAddr, email: &str, password: &str) -> anyhow::Result<Self> {
        let channel = crate::load::connect(grpc, 1).await?.pop().context("no channel")?;
        let tokens = AuthServiceClient::new(channel.clone())
            .login(pb::LoginRequest {
                email: email.to_owned(),
                password: password.to_owned(),
                remember_me: false,
                user_agent: "gatekey-bench".to_owned(),
            })
            .await
            .context("logging in")?
            .into_inner();
        Ok(Self {
            channel,
            token: tokens.access_token,
        })
    }

    /// Sets the org's default rate limit.
    pub async fn set_org_rate_limit(&self, limit: u32, window_secs: i64, burst: u32) -> anyhow::Result<()> {
        let policy = pb::RateLimitPolicy {
            limit,
            window: Some(prost_types::Duration {
                seconds: window_secs,
                nanos: 0,
            }),
            burst,
        };
        AdminServiceClient::new(self.channel.clone())
            .set_rate_limit(authed(
                &self.token,
                pb::SetRateLimitRequest {
                    key_id: String::new(),
                    policy: Some(policy),
                },
            )?)
            .await
            .context("setting the org rate limit")?;
        Ok(())
    }

    /// Creates an operator service account and returns its id.
    pub async fn service_account(&self) -> anyhow::Result<String> {
        let created = AdminServiceClient::new(self.channel.clone())
            .create_service_account(authed(
                &self.token,
                pb::CreateServiceAccountRequest {
                    name: "bench".to_owned(),
                    role: pb::Role::Operator as i32,
                },
            )?)
            .await
            .context("creating a service account")?
            .into_inner();
        Ok(created.service_account.context("no service account returned")?.id)
    }

    /// Issues `n` secret live keys for `service_account` and returns their secrets.
    pub async fn issue_keys(&self, service_account: &str, n: usize) -> anyhow::Result<Vec<String>> {
        let next = Arc::new(AtomicUsize::new(0));
        let mut issuers = JoinSet::new();
        for _ in 0..ISSUE_CONCURRENCY.min(n.max(1)) {
            let client = KeyServiceClient::new(self.channel.clone());
            let (token, sa, next) = (self.token.clone(), service_account.to_owned(), next.clone());
            issuers.spawn(async move {
                let mut client = client;
                let mut secrets = Vec::new();
                while next.fetch_add(1, Ordering::Relaxed) < n {
                    let request = authed(&token, issue_request(&sa))?;
                    let issued = client.issue_key(request).await.context("issuing a key")?;
                    secrets.push(issued.into_inner().secret);
                }
                anyhow::Ok(secrets)
            });
        }
        let mut all = Vec::with_capacity(n);
        while let Some(secrets) = issuers.join_next().await {
            all.extend(secrets??);
        }
        Ok(all)
    }
}

/// A key like the floor's canned principal: two scopes, one metadata entry.
fn issue_request(service_account: &str) -> pb::IssueKeyRequest {
    pb::IssueKeyRequest {
        service_account_id: service_account.to_owned(),
        name: "bench".to_owned(),
        kind: pb::KeyKind::Secret as i32,
        environment: pb::Environment::Live as i32,
        scopes: vec!["cameras.read".to_owned(), "leads.write".to_owned()],
        metadata: HashMap::from([("team".to_owned(), "bench".to_owned())]),
        ..Default::default()
    }
}
