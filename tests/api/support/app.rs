//! `spawn_app()`: the real application on port 0 over a fresh store, with a clock the test
//! controls, and generated gRPC clients pointed at it.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "a test fails by panicking"
)]

use super::counting_store::CountingStore;
use super::db;
use super::logs;
use figment::Figment;
use figment::providers::Serialized;
use gatekey::app::Application;
use gatekey::config::Config;
use gatekey::domain::fields::{Email, Name, Password};
use gatekey::domain::time::{ManualClock, SharedClock, UnixMs};
use gatekey::proto::v1 as pb;
use gatekey::proto::v1::admin_service_client::AdminServiceClient;
use gatekey::proto::v1::auth_service_client::AuthServiceClient;
use gatekey::proto::v1::key_service_client::KeyServiceClient;
use gatekey::service::Core;
use gatekey::service::bootstrap::bootstrap;
use std::sync::Arc;
use tokio::sync::oneshot;
use tonic::metadata::MetadataValue;
use tonic::transport::{Channel, ClientTlsConfig};
use tonic::{Code, Request, Status};

pub const PASSWORD: &str = "correct horse battery";
pub const USER_AGENT: &str = "gatekey-tests/1.0";

/// Which store the app runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
    MySql,
}

impl Backend {
    /// The backend `spawn_app()` runs on: SQLite, unless `GATEKEY_TEST_BACKEND` names another
    /// (`postgres`, `mysql`), so CI can run the whole API suite again on a server backend.
    pub fn default_for_tests() -> Self {
        match std::env::var("GATEKEY_TEST_BACKEND").as_deref() {
            Err(_) | Ok("" | "sqlite") => Backend::Sqlite,
            Ok("postgres") => Backend::Postgres,
            Ok("mysql") => Backend::MySql,
            Ok(other) => panic!("GATEKEY_TEST_BACKEND={other}: expected sqlite, postgres or mysql"),
        }
    }
}

/// A running server; dropping it shuts it down.
pub struct TestApp {
    pub http_addr: String,
    /// `http://127.0.0.1:<port>` of the gRPC listener (`https://` with TLS on).
    pub grpc_addr: String,
    /// `http://127.0.0.1:<port>` of the gateway listener, when configured (`https://` with TLS on).
    pub gateway_addr: Option<String>,
    pub channel: Channel,
    pub clock: ManualClock,
    pub core: Arc<Core>,
    /// The store's call counter, when spawned with [`Spawn::counting`].
    pub counting: Option<CountingStore>,
    pub database_url: String,
    shutdown: Option<oneshot::Sender<()>>,
    server: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
    _sqlite: Option<tempfile::TempDir>,
    _postgres: Option<db::TestDb>,
}

/// An org created for a test, with its owner logged in.
pub struct TestOrg {
    pub org_id: String,
    pub owner_id: String,
    pub owner_email: String,
    pub owner_token: String,
}

/// A server on the default test backend (see [`Backend::default_for_tests`]).
pub async fn spawn_app() -> TestApp {
    let backend = Backend::default_for_tests();
    try_spawn_app_on(backend)
        .await
        .unwrap_or_else(|| panic!("GATEKEY_TEST_BACKEND names {backend:?}, whose server variable is unset"))
}

/// Spawns on `backend`; `None` when it is a server backend and no server is configured.
pub async fn try_spawn_app_on(backend: Backend) -> Option<TestApp> {
    Spawn::on(backend).start().await
}

/// How to spawn a test app: backend, extra config, a counting store, a shared database.
pub struct Spawn {
    backend: Backend,
    config: serde_json::Map<String, serde_json::Value>,
    counting: bool,
    without_notify: bool,
    shared_url: Option<String>,
    clock: Option<ManualClock>,
    client_tls: Option<ClientTlsConfig>,
}

impl Spawn {
    pub fn on(backend: Backend) -> Self {
        Self {
            backend,
            config: serde_json::Map::new(),
            counting: false,
            without_notify: false,
            shared_url: None,
            clock: None,
            client_tls: None,
        }
    }

    /// How `app.channel` reaches a TLS server (set `tls_cert` and `tls_key` too).
    pub fn tls_client(mut self, tls: ClientTlsConfig) -> Self {
        self.client_tls = Some(tls);
        self
    }

    /// Overrides one config value (as in gatekey.toml).
    pub fn set(mut self, key: &str, value: serde_json::Value) -> Self {
        self.config.insert(key.to_owned(), value);
        self
    }

    /// Wraps the store in a [`CountingStore`], reachable as `app.counting`.
    pub fn counting(mut self) -> Self {
        self.counting = true;
        self
    }

    /// Runs the app as if its store had no NOTIFY, for its whole life, so the change feed
    /// can only poll (see [`CountingStore::without_notify`]). Implies [`Spawn::counting`].
    pub fn without_notify(mut self) -> Self {
        self.counting = true;
        self.without_notify = true;
        self
    }

    /// A second replica on the database (and clock) of `other`.
    pub fn replica_of(mut self, other: &TestApp) -> Self {
        self.shared_url = Some(other.database_url.clone());
        self.clock = Some(other.clock.clone());
        self
    }

    /// Runs on a database the test made and owns (a private cluster's, a file it also opens).
    pub fn on_database(mut self, url: &str) -> Self {
        self.shared_url = Some(url.to_owned());
        self
    }

    /// `None` when the backend is Postgres and no server is configured.
    pub async fn start(self) -> Option<TestApp> {
        logs::capture();
        let (url, sqlite, postgres) = match (self.shared_url, self.backend) {
            (Some(url), _) => (url, None, None),
            (None, Backend::Sqlite) => {
                let (url, dir) = db::fresh_sqlite_url();
                (url, Some(dir), None)
            }
            (None, Backend::Postgres) => {
                let pg = db::fresh_database(db::Server::Postgres).await?;
                (pg.url().to_owned(), None, Some(pg))
            }
            (None, Backend::MySql) => {
                let my = db::fresh_database(db::Server::MySql).await?;
                (my.url().to_owned(), None, Some(my))
            }
        };
        let mut values = serde_json::json!({
            "grpc_addr": "127.0.0.1:0",
            "http_addr": "127.0.0.1:0",
            "database_url": url,
            "key_pepper": "test-pepper-0123456789abcdef0123456789",
            "signing_secret": "test-signing-secret-0123456789abcdef",
            "login_max_failures": 5,
            "shutdown_grace_secs": 5,
            // Far above the production default (150 ms): a loaded test machine must not turn
            // slow lookups into UNAVAILABLE in tests about something else. The fail-fast
            // tests set their own.
            "store_timeout_ms": 5000,
        });
        if let Some(map) = values.as_object_mut() {
            map.extend(self.config);
        }
        let config = Config::from_figment(Figment::from(Serialized::defaults(values))).expect("test config");
        let clock = self
            .clock
            .unwrap_or_else(|| ManualClock::new(UnixMs(chrono::Utc::now().timestamp_millis())));
        let shared: SharedClock = Arc::new(clock.clone());
        let store = gatekey::store::connect(&url).await.expect("open store");
        let counting = self.counting.then(|| {
            let c = CountingStore::new(store.clone());
            if self.without_notify { c.without_notify() } else { c }
        });
        let store: gatekey::store::SharedStore = match &counting {
            Some(c) => Arc::new(c.clone()),
            None => store,
        };
        let app = Application::build_with(&config, shared, store)
            .await
            .expect("build app");
        let scheme = if config.tls.tls_cert.is_some() { "https" } else { "http" };
        let grpc_addr = format!("{scheme}://{}", app.grpc_addr().expect("grpc addr"));
        let http_addr = format!("{scheme}://{}", app.http_addr().expect("http addr"));
        let gateway_addr = app
            .gateway_addr()
            .expect("gateway addr")
            .map(|a| format!("{scheme}://{a}"));
        let core = app.core();
        let (tx, rx) = oneshot::channel::<()>();
        let server = tokio::spawn(app.run_until(async {
            let _ = rx.await;
        }));
        let mut endpoint = Channel::from_shared(grpc_addr.clone()).expect("uri");
        if let Some(tls) = self.client_tls {
            endpoint = endpoint.tls_config(tls).expect("client TLS config");
        }
        let channel = endpoint.connect().await.expect("connect");
        Some(TestApp {
            http_addr,
            grpc_addr,
            gateway_addr,
            channel,
            clock,
            core,
            counting,
            database_url: url,
            shutdown: Some(tx),
            server: Some(server),
            _sqlite: sqlite,
            _postgres: postgres,
        })
    }
}

/// `req` with `authorization: Bearer <credential>`.
pub fn authed<T>(credential: &str, message: T) -> Request<T> {
    let mut req = Request::new(message);
    let value: MetadataValue<_> = format!("Bearer {credential}").parse().expect("ascii credential");
    req.metadata_mut().insert("authorization", value);
    req
}

/// The stable reason code of a failed call.
pub fn reason(status: &Status) -> String {
    use tonic_types::StatusExt;
    status
        .get_error_details()
        .error_info()
        .map(|i| i.reason.clone())
        .unwrap_or_default()
}

/// Asserts `result` failed with `code` and `reason`, and returns the status.
#[track_caller]
pub fn assert_error<T: std::fmt::Debug>(result: Result<T, Status>, code: Code, want: &str) -> Status {
    let status = result.expect_err("the call should have failed");
    assert_eq!(
        (status.code(), reason(&status).as_str()),
        (code, want),
        "status: {status:?}"
    );
    status
}

impl TestApp {
    pub fn auth(&self) -> AuthServiceClient<Channel> {
        AuthServiceClient::new(self.channel.clone())
    }

    pub fn keys(&self) -> KeyServiceClient<Channel> {
        KeyServiceClient::new(self.channel.clone())
    }

    pub fn admin(&self) -> AdminServiceClient<Channel> {
        AdminServiceClient::new(self.channel.clone())
    }

    /// Creates an org (named `name`) with an owner and logs the owner in.
    pub async fn org(&self, name: &str) -> TestOrg {
        let email = format!("owner@{name}.test");
        let created = bootstrap(
            &self.core.store,
            &self.core.clock,
            Name::parse("org", name).unwrap(),
            Email::parse("email", &email).unwrap(),
            Password::new_password("password", PASSWORD).unwrap(),
        )
        .await
        .expect("bootstrap");
        let owner_token = self.login(&email).await.access_token;
        TestOrg {
            org_id: created.org_id.to_string(),
            owner_id: created.user_id.to_string(),
            owner_email: email,
            owner_token,
        }
    }

    pub async fn login(&self, email: &str) -> pb::TokenResponse {
        self.auth()
            .login(pb::LoginRequest {
                email: email.into(),
                password: PASSWORD.into(),
                remember_me: false,
                user_agent: USER_AGENT.into(),
            })
            .await
            .expect("login")
            .into_inner()
    }

    /// Adds a user with `role` to the org of `admin_token` and returns its access token.
    pub async fn member(&self, admin_token: &str, email: &str, role: pb::Role) -> String {
        self.admin()
            .create_user(authed(
                admin_token,
                pb::CreateUserRequest {
                    email: email.into(),
                    password: PASSWORD.into(),
                    role: role as i32,
                },
            ))
            .await
            .expect("create user");
        self.login(email).await.access_token
    }

    pub async fn service_account(&self, token: &str, name: &str, role: pb::Role) -> String {
        self.admin()
            .create_service_account(authed(
                token,
                pb::CreateServiceAccountRequest {
                    name: name.into(),
                    role: role as i32,
                },
            ))
            .await
            .expect("create service account")
            .into_inner()
            .service_account
            .expect("service account")
            .id
    }

    /// Issues a secret live key with `scopes` for `service_account`.
    pub async fn issue(&self, token: &str, service_account: &str, scopes: &[&str]) -> pb::IssueKeyResponse {
        self.keys()
            .issue_key(authed(token, issue_request(service_account, "key", scopes)))
            .await
            .expect("issue key")
            .into_inner()
    }

    /// The published JWKS document.
    pub async fn jwks(&self) -> serde_json::Value {
        reqwest::get(format!("{}/.well-known/jwks.json", self.http_addr))
            .await
            .expect("jwks")
            .json()
            .await
            .expect("json")
    }

    /// Exchanges `refresh_token` (with the tests' user agent), expecting success.
    pub async fn refresh(&self, refresh_token: &str) -> pb::TokenResponse {
        self.auth()
            .refresh(pb::RefreshRequest {
                refresh_token: refresh_token.into(),
                user_agent: USER_AGENT.into(),
            })
            .await
            .expect("refresh")
            .into_inner()
    }

    /// The audit events of `token`'s org with `action` (all when empty), newest first.
    pub async fn audit_events(&self, token: &str, action: &str) -> Vec<pb::AuditEvent> {
        self.admin()
            .list_audit_events(authed(
                token,
                pb::ListAuditEventsRequest {
                    action: action.into(),
                    ..Default::default()
                },
            ))
            .await
            .expect("list audit events")
            .into_inner()
            .events
    }

    /// Raises the org default rate limit of `token`'s org out of the way of tests that call
    /// Verify many times for other reasons.
    pub async fn unlimited(&self, token: &str) {
        let policy = pb::RateLimitPolicy {
            limit: 10_000_000,
            window: Some(prost_types::Duration { seconds: 1, nanos: 0 }),
            burst: 10_000_000,
        };
        self.admin()
            .set_rate_limit(authed(
                token,
                pb::SetRateLimitRequest {
                    key_id: String::new(),
                    policy: Some(policy),
                },
            ))
            .await
            .expect("raise the org rate limit");
    }

    pub async fn stop(mut self) -> anyhow::Result<()> {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        match self.server.take() {
            Some(handle) => handle.await?,
            None => Ok(()),
        }
    }
}

pub fn issue_request(service_account: &str, name: &str, scopes: &[&str]) -> pb::IssueKeyRequest {
    pb::IssueKeyRequest {
        service_account_id: service_account.into(),
        name: name.into(),
        kind: pb::KeyKind::Secret as i32,
        environment: pb::Environment::Live as i32,
        scopes: scopes.iter().map(|s| s.to_string()).collect(),
        ..Default::default()
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}
