//! `gatekey serve`, `gatekey migrate`, `gatekey bootstrap`.

use crate::app::{self, Application};
use crate::config::{Config, FlagOverrides};
use crate::domain::fields::{Email, Name, Password};
use crate::domain::time::{SharedClock, SystemClock};
use crate::service::ServiceError;
use crate::service::bootstrap::bootstrap as create_org;
use crate::telemetry;
use clap::Args;
use secrecy::ExposeSecret as _;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

/// Where the store is and how to reach it.
#[derive(Debug, Clone, Args, Default)]
pub struct StoreArgs {
    /// TOML config file (unknown fields are rejected).
    #[arg(long, value_name = "PATH")]
    config: Option<PathBuf>,
    /// `postgres://…`, `mysql://…` or `sqlite://PATH` [env: DATABASE_URL] [default: sqlite://gatekey.db]
    #[arg(long, value_name = "URL")]
    database_url: Option<String>,
}

/// Flags of `gatekey serve`; each also reads `GATEKEY_<NAME>` and the config file.
#[derive(Debug, Clone, Args, Default)]
pub struct ServeArgs {
    #[command(flatten)]
    store: StoreArgs,
    /// gRPC listen address [env: GATEKEY_GRPC_ADDR] [default: 127.0.0.1:50051]
    #[arg(long, value_name = "ADDR")]
    grpc_addr: Option<SocketAddr>,
    /// HTTP (health, JWKS, metrics, forward-auth) listen address [env: GATEKEY_HTTP_ADDR] [default: 127.0.0.1:8080]
    #[arg(long, value_name = "ADDR")]
    http_addr: Option<SocketAddr>,
    /// A listener for gateways only: Verify, ext_authz Check, ShouldRateLimit and
    /// forward-auth, gRPC and HTTP on one port [env: GATEKEY_GATEWAY_ADDR] [default: none]
    #[arg(long, value_name = "ADDR")]
    gateway_addr: Option<SocketAddr>,
    /// Do not apply pending migrations at start.
    #[arg(long)]
    no_migrate: bool,
    /// `text` or `json` [env: GATEKEY_LOG_FORMAT]
    #[arg(long, value_name = "FORMAT")]
    log_format: Option<String>,
    /// Redis for shared rate limits, e.g. redis://127.0.0.1:6379 [env: GATEKEY_REDIS_URL]
    #[arg(long, value_name = "URL")]
    redis_url: Option<String>,
    /// How long Verify and the gateway protocols wait for the store on a cache miss before
    /// answering UNAVAILABLE [env: GATEKEY_STORE_TIMEOUT_MS] [default: 150]
    #[arg(long, value_name = "MS")]
    store_timeout_ms: Option<u64>,
    /// PEM certificate chain; with --tls-key every listener speaks TLS, reloaded when the
    /// file changes or on SIGHUP [env: GATEKEY_TLS_CERT]
    #[arg(long, value_name = "PATH")]
    tls_cert: Option<PathBuf>,
    /// PEM private key of --tls-cert [env: GATEKEY_TLS_KEY]
    #[arg(long, value_name = "PATH")]
    tls_key: Option<PathBuf>,
    /// PEM CA bundle for client certificates: required on the gateway listener, accepted on
    /// the others (see tls_client_auth_*) [env: GATEKEY_TLS_CLIENT_CA]
    #[arg(long, value_name = "PATH")]
    tls_client_ca: Option<PathBuf>,
}

/// Where `bootstrap` reads the owner's password; else the terminal, else standard input.
const BOOTSTRAP_PASSWORD_ENV: &str = "GATEKEY_BOOTSTRAP_PASSWORD";

/// Flags of `gatekey bootstrap`.
#[derive(Debug, Clone, Args)]
pub struct BootstrapArgs {
    #[command(flatten)]
    store: StoreArgs,
    /// Name of the org to create.
    #[arg(long)]
    org: String,
    /// Email of its first owner. The password comes from GATEKEY_BOOTSTRAP_PASSWORD, else is
    /// typed without echo on a terminal, else is one line of standard input.
    #[arg(long)]
    email: String,
}

fn load(store: &StoreArgs, flags: FlagOverrides) -> Result<Config, ExitCode> {
    let flags = FlagOverrides {
        database_url: store.database_url.clone(),
        ..flags
    };
    Config::load(store.config.as_deref(), &flags).map_err(|e| {
        eprintln!("error: {e:#}");
        ExitCode::from(2)
    })
}

fn fail(e: anyhow::Error) -> ExitCode {
    tracing::error!(error = format!("{e:#}"), "gatekey failed");
    eprintln!("error: {e:#}");
    ExitCode::FAILURE
}

pub async fn serve(args: ServeArgs) -> ExitCode {
    let flags = FlagOverrides {
        grpc_addr: args.grpc_addr,
        http_addr: args.http_addr,
        migrate: args.no_migrate.then_some(false),
        log_format: args.log_format.clone(),
        redis_url: args.redis_url.clone(),
        gateway_addr: args.gateway_addr,
        store_timeout_ms: args.store_timeout_ms,
        tls_cert: args.tls_cert.clone(),
        tls_key: args.tls_key.clone(),
        tls_client_ca: args.tls_client_ca.clone(),
        ..Default::default()
    };
    let config = match load(&args.store, flags) {
        Ok(c) => c,
        Err(code) => return code,
    };
    let traces = config
        .otel_settings()
        .and_then(|otel| telemetry::init_with_traces(&config.log_format, &config.log_level, &otel));
    let traces = match traces {
        Ok(t) => t,
        Err(e) => {
            eprintln!("error: {e:#}");
            return ExitCode::from(2);
        }
    };
    let app = match Application::build(&config).await {
        Ok(app) => app,
        Err(e) => return fail(e),
    };
    let code = match app.run_until(app::shutdown_signal()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => fail(e),
    };
    traces.shutdown();
    code
}

pub async fn migrate(args: StoreArgs) -> ExitCode {
    let config = match load(&args, FlagOverrides::default()) {
        Ok(c) => c,
        Err(code) => return code,
    };
    telemetry::init(&config.log_format, &config.log_level);
    let result = async {
        let store = app::open_store(&config).await?;
        store.migrate().await?;
        store.close().await;
        anyhow::Ok(())
    };
    match result.await {
        Ok(()) => {
            eprintln!("migrations applied");
            ExitCode::SUCCESS
        }
        Err(e) => fail(e),
    }
}

pub async fn bootstrap(args: BootstrapArgs) -> ExitCode {
    let config = match load(&args.store, FlagOverrides::default()) {
        Ok(c) => c,
        Err(code) => return code,
    };
    telemetry::init(&config.log_format, "warn");
    let password = super::client::prompt::secret_line(BOOTSTRAP_PASSWORD_ENV, "Password for the new owner: ")
        .await
        .map_err(|e| format!("cannot read the password: {e:#}"));
    let inputs = (|| {
        let password = password?;
        let org = Name::parse("org", &args.org).map_err(|e| e.to_string())?;
        let email = Email::parse("email", &args.email).map_err(|e| e.to_string())?;
        let password = Password::new_password("password", password.expose_secret()).map_err(|e| e.to_string())?;
        Ok::<_, String>((org, email, password))
    })();
    let (org, email, password) = match inputs {
        Ok(v) => v,
        Err(message) => {
            eprintln!("error: {message}");
            return ExitCode::from(2);
        }
    };
    let result = async {
        // Make sure the secrets exist before anything is created with them.
        config.secrets()?;
        let store = app::open_store(&config).await?;
        if config.migrate {
            store.migrate().await?;
        }
        let clock: SharedClock = Arc::new(SystemClock);
        let created = create_org(&store, &clock, org, email, password).await;
        store.close().await;
        anyhow::Ok(created)
    };
    match result.await {
        Ok(Ok(created)) => {
            println!(
                "{}",
                serde_json::json!({ "org_id": created.org_id.to_string(), "user_id": created.user_id.to_string() })
            );
            ExitCode::SUCCESS
        }
        Ok(Err(ServiceError::AlreadyExists(field))) => {
            eprintln!("error: {field} already exists; nothing was created");
            ExitCode::FAILURE
        }
        Ok(Err(e)) => fail(e.into()),
        Err(e) => fail(e),
    }
}
