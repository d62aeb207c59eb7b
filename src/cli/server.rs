//! `gatekey serve`, `gatekey migrate`, `gatekey bootstrap`.

use super::client::{self, UsageError};
use crate::app::{self, Application};
use crate::config::{Config, FlagOverrides};
use crate::domain::fields::{Email, Name, Password};
use crate::domain::time::{SharedClock, SystemClock};
use crate::service::ServiceError;
use crate::service::bootstrap::bootstrap as create_org;
use crate::store::SqliteStore;
use crate::telemetry;
use anyhow::Context as _;
use clap::Args;
use secrecy::ExposeSecret as _;
use serde_json::{Value, json};
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

fn load(store: &StoreArgs, flags: FlagOverrides, json: bool) -> Result<Config, ExitCode> {
    let flags = FlagOverrides {
        database_url: store.database_url.clone(),
        ..flags
    };
    Config::load(store.config.as_deref(), &flags)
        .map_err(|e| client::report(&UsageError(format!("{e:#}")).into(), json))
}

pub async fn serve(args: ServeArgs, json: bool) -> ExitCode {
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
    let config = match load(&args.store, flags, json) {
        Ok(c) => c,
        Err(code) => return code,
    };
    let traces = config
        .otel_settings()
        .and_then(|otel| telemetry::init_with_traces(&config.log_format, &config.log_level, &otel));
    let traces = match traces {
        Ok(t) => t,
        Err(e) => return client::report(&e.context(UsageError("invalid telemetry settings".into())), json),
    };
    // A failure is reported once, on stderr, rather than also as a log line.
    let app = match Application::build(&config).await {
        Ok(app) => app,
        Err(e) => return client::report(&e, json),
    };
    let code = match app.run_until(app::shutdown_signal()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => client::report(&e, json),
    };
    traces.shutdown();
    code
}

pub async fn migrate(args: StoreArgs, json: bool) -> ExitCode {
    let config = match load(&args, FlagOverrides::default(), json) {
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
    let database = database_description(config.database_url());
    match result.await {
        Ok(()) if json => print_json(&json!({ "database": database, "migrations": "applied" })),
        Ok(()) => {
            eprintln!("migrations applied to {database}");
            ExitCode::SUCCESS
        }
        Err(e) => client::report(&e, json),
    }
}

/// Creates the org and prints `{"org_id", "user_id", "database"}`: one JSON line with or
/// without `--json`, as scripts have always read it, pretty-printed with it.
pub async fn bootstrap(args: BootstrapArgs, json: bool) -> ExitCode {
    let config = match load(&args.store, FlagOverrides::default(), json) {
        Ok(c) => c,
        Err(code) => return code,
    };
    telemetry::init(&config.log_format, "warn");
    match create(&args, &config).await {
        Ok(created) if json => print_json(&created),
        Ok(created) => {
            eprintln!(
                "created org {} with its owner {} in {}",
                args.org,
                args.email,
                created["database"].as_str().unwrap_or("the database")
            );
            println!("{created}");
            ExitCode::SUCCESS
        }
        Err(e) => client::report(&e, json),
    }
}

async fn create(args: &BootstrapArgs, config: &Config) -> anyhow::Result<Value> {
    let password = client::prompt::secret_line(BOOTSTRAP_PASSWORD_ENV, "Password for the new owner: ")
        .await
        .context("cannot read the password")?;
    let org = Name::parse("org", &args.org).map_err(|e| UsageError(e.to_string()))?;
    let email = Email::parse("email", &args.email).map_err(|e| UsageError(e.to_string()))?;
    let password =
        Password::new_password("password", password.expose_secret()).map_err(|e| UsageError(e.to_string()))?;
    // Make sure the secrets exist before anything is created with them.
    config.secrets()?;
    let store = app::open_store(config).await?;
    if config.migrate {
        store.migrate().await?;
    }
    let clock: SharedClock = Arc::new(SystemClock);
    let created = create_org(&store, &clock, org, email, password).await;
    store.close().await;
    let created = match created {
        Ok(created) => created,
        // The same stable reason (ORG_NAME_TAKEN, EMAIL_TAKEN) as the API answers.
        Err(e @ ServiceError::AlreadyExists(_)) => {
            return Err(anyhow::Error::new(tonic::Status::from(e)).context("nothing was created"));
        }
        Err(e) => return Err(e.into()),
    };
    Ok(json!({
        "org_id": created.org_id.to_string(),
        "user_id": created.user_id.to_string(),
        "database": database_description(config.database_url()),
    }))
}

fn print_json(value: &Value) -> ExitCode {
    match serde_json::to_string_pretty(value) {
        Ok(text) => {
            println!("{text}");
            ExitCode::SUCCESS
        }
        Err(e) => client::report(&e.into(), true),
    }
}

/// Where the data went, for people: the SQLite file's absolute path, or the server URL with
/// any password replaced by `***`.
fn database_description(url: &str) -> String {
    match SqliteStore::database_file(url) {
        Some(path) => std::path::absolute(&path).unwrap_or(path).display().to_string(),
        None => redact_url(url),
    }
}

/// `url` with the password of its user info and of any `password`-like query parameter
/// replaced by `***`.
fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    let authority = match authority.rsplit_once('@') {
        Some((user_info, host)) => match user_info.split_once(':') {
            Some((user, _password)) => format!("{user}:***@{host}"),
            None => format!("{user_info}@{host}"),
        },
        None => authority.to_owned(),
    };
    let tail = match tail.split_once('?') {
        Some((path, query)) => {
            let query: Vec<String> = query
                .split('&')
                .map(|pair| match pair.split_once('=') {
                    Some((key, _)) if key.to_ascii_lowercase().contains("password") => format!("{key}=***"),
                    _ => pair.to_owned(),
                })
                .collect();
            format!("{path}?{}", query.join("&"))
        }
        None => tail.to_owned(),
    };
    format!("{scheme}://{authority}{tail}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_server_url_is_shown_without_its_password() {
        assert_eq!(
            redact_url("postgres://gk:hunter2@db:5432/gatekey?sslmode=require&sslpassword=x"),
            "postgres://gk:***@db:5432/gatekey?sslmode=require&sslpassword=***"
        );
        assert_eq!(redact_url("mysql://root@127.0.0.1/test"), "mysql://root@127.0.0.1/test");
        assert_eq!(redact_url("postgres://a:b:c@h/d"), "postgres://a:***@h/d");
    }

    #[test]
    fn an_sqlite_url_is_shown_as_its_file() {
        let shown = database_description("sqlite://data/gatekey.db?busy_timeout_ms=100");
        assert!(shown.starts_with('/') && shown.ends_with("data/gatekey.db"), "{shown}");
    }
}
