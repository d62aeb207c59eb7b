//! Opening the store at start: which backend the url names, a first connection tried with
//! backoff until the start-up budget runs out (a replica that starts before its database
//! waits for it instead of crash-looping), and errors that name the server and the cause
//! (refused, unknown host, TLS, authentication) without the password the url may hold.

use super::{MySqlStore, PgStore, SharedStore, SqliteStore};
use sqlx::mysql::MySqlConnectOptions;
use sqlx::postgres::PgConnectOptions;
use sqlx::{Connection, MySqlConnection, PgConnection};
use std::future::Future;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;

/// First and longest pause between start-up attempts.
const FIRST_BACKOFF: Duration = Duration::from_millis(250);
const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// How the pool and start-up reach the store.
#[derive(Debug, Clone, Copy)]
pub struct ConnectSettings {
    /// The pool's wait for a connection, connecting included; also bounds each start-up attempt.
    pub acquire_timeout: Duration,
    /// How long start-up keeps retrying an unreachable server (zero: one attempt).
    pub retry_for: Duration,
}

impl Default for ConnectSettings {
    fn default() -> Self {
        Self {
            acquire_timeout: Duration::from_secs(5),
            retry_for: Duration::ZERO,
        }
    }
}

/// Opens the store named by `url` (`postgres://…`, `mysql://…`, `mariadb://…` or
/// `sqlite://PATH`), waiting up to `settings.retry_for` for a server that is not up yet.
pub async fn connect_with(url: &str, settings: &ConnectSettings) -> anyhow::Result<SharedStore> {
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        let options = PgConnectOptions::from_str(url).map_err(|e| invalid_url("PostgreSQL", &e))?;
        let server = Server::new(
            "PostgreSQL",
            options.get_host(),
            options.get_port(),
            options.get_username(),
        );
        reach(&server, settings, || PgConnection::connect_with(&options)).await?;
        let store = PgStore::connect(options, settings.acquire_timeout)
            .await
            .map_err(|e| server.failed(&e))?;
        Ok(Arc::new(store))
    } else if url.starts_with("mysql://") || url.starts_with("mariadb://") {
        // sqlx knows MariaDB by the MySQL scheme.
        let url = url
            .strip_prefix("mariadb://")
            .map_or_else(|| url.to_owned(), |rest| format!("mysql://{rest}"));
        let options = MySqlConnectOptions::from_str(&url).map_err(|e| invalid_url("MySQL", &e))?;
        let server = Server::new("MySQL", options.get_host(), options.get_port(), options.get_username());
        reach(&server, settings, || MySqlConnection::connect_with(&options)).await?;
        let store = MySqlStore::connect(options, settings.acquire_timeout)
            .await
            .map_err(|e| anyhow::anyhow!("{}: {e:#}", server.name()))?;
        Ok(Arc::new(store))
    } else if url.starts_with("sqlite:") {
        let store = SqliteStore::connect(url, settings.acquire_timeout).await?;
        Ok(Arc::new(store))
    } else {
        anyhow::bail!("database url must start with postgres://, mysql:// or sqlite://")
    }
}

/// sqlx's parse errors name the part that is wrong, never the url itself.
fn invalid_url(backend: &str, e: &sqlx::Error) -> anyhow::Error {
    anyhow::anyhow!("invalid {backend} database url: {e}")
}

/// The server a url names, as errors and logs show it: no password.
struct Server {
    name: String,
}

impl Server {
    fn new(backend: &str, host: &str, port: u16, user: &str) -> Self {
        Self {
            name: format!("{backend} at {host}:{port} (user {user})"),
        }
    }

    fn name(&self) -> &str {
        &self.name
    }

    fn failed(&self, e: &sqlx::Error) -> anyhow::Error {
        anyhow::anyhow!("cannot connect to {}: {}: {e}", self.name, cause(e).text)
    }
}

/// Tries one connection at a time until one succeeds, the budget runs out, or an error comes
/// that waiting cannot fix (authentication, TLS, configuration). Logs every failed attempt.
async fn reach<C, F, Fut>(server: &Server, settings: &ConnectSettings, connect: F) -> anyhow::Result<()>
where
    C: Connection,
    F: Fn() -> Fut,
    Fut: Future<Output = Result<C, sqlx::Error>>,
{
    let deadline = Instant::now() + settings.retry_for;
    let mut backoff = FIRST_BACKOFF;
    for attempt in 1u32.. {
        let result = match tokio::time::timeout(settings.acquire_timeout, connect()).await {
            Ok(result) => result,
            Err(_) => Err(sqlx::Error::PoolTimedOut),
        };
        let error = match result {
            Ok(conn) => {
                let _ = conn.close().await;
                if attempt > 1 {
                    tracing::info!(store = server.name(), attempt, "store reachable");
                }
                return Ok(());
            }
            Err(e) => e,
        };
        let cause = cause(&error);
        let now = Instant::now();
        if !cause.retry || now >= deadline {
            return Err(server.failed(&error));
        }
        let pause = backoff.min(deadline - now);
        tracing::warn!(
            store = server.name(),
            attempt,
            cause = cause.text,
            error = %error,
            retry_in_ms = u64::try_from(pause.as_millis()).unwrap_or(u64::MAX),
            "store not reachable yet; retrying"
        );
        tokio::time::sleep(pause).await;
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
    Err(server.failed(&sqlx::Error::PoolTimedOut))
}

/// Why a connection failed, in words, and whether waiting may help.
#[derive(Debug, PartialEq, Eq)]
struct Cause {
    text: &'static str,
    retry: bool,
}

fn cause(e: &sqlx::Error) -> Cause {
    let (text, retry) = match e {
        // A failed handshake (unknown issuer, wrong name) comes back as an I/O error.
        sqlx::Error::Io(io) if io.get_ref().is_some_and(|e| e.is::<rustls::Error>()) => {
            ("TLS handshake failed (certificate or sslmode)", false)
        }
        sqlx::Error::Io(io) => match io.kind() {
            std::io::ErrorKind::ConnectionRefused => ("connection refused", true),
            std::io::ErrorKind::TimedOut => ("connection timed out", true),
            std::io::ErrorKind::ConnectionReset | std::io::ErrorKind::ConnectionAborted => ("connection reset", true),
            // tokio's resolver reports a failed lookup as an uncategorised error.
            _ if is_dns_failure(&io.to_string()) => ("host not found (DNS lookup failed)", true),
            _ => ("network error", true),
        },
        sqlx::Error::PoolTimedOut => ("no answer in time", true),
        sqlx::Error::Tls(_) => ("TLS handshake failed (certificate or sslmode)", false),
        sqlx::Error::Configuration(_) => ("invalid configuration", false),
        sqlx::Error::Database(d) => database_cause(d.code().as_deref(), mysql_number(d.as_ref())),
        _ => ("unexpected error", false),
    };
    Cause { text, retry }
}

fn is_dns_failure(message: &str) -> bool {
    [
        "failed to lookup address",
        "Name or service not known",
        "nodename nor servname",
        "No such host",
    ]
    .iter()
    .any(|m| message.contains(m))
}

fn database_cause(sqlstate: Option<&str>, mysql: Option<u16>) -> (&'static str, bool) {
    match (sqlstate, mysql) {
        (_, Some(1045)) | (Some("28P01"), _) => ("authentication failed", false),
        // invalid_authorization_specification: no pg_hba.conf entry (often: TLS required).
        (Some("28000"), _) => ("connection not authorised (pg_hba.conf, TLS required?)", false),
        (_, Some(1049)) | (Some("3D000"), _) => ("database does not exist", false),
        (Some("57P03"), _) => ("server starting up", true),
        (_, Some(1040)) | (Some("53300"), _) => ("too many connections", true),
        (Some(s), _) if s.starts_with("08") => ("connection failure", true),
        _ => ("refused by the server", false),
    }
}

fn mysql_number(d: &dyn sqlx::error::DatabaseError) -> Option<u16> {
    d.try_downcast_ref::<sqlx::mysql::MySqlDatabaseError>()
        .map(|e| e.number())
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "a test fails by panicking")]
mod tests {
    use super::*;

    #[test]
    fn refused_and_unknown_hosts_are_waited_for_and_named() {
        let refused = sqlx::Error::Io(std::io::Error::from(std::io::ErrorKind::ConnectionRefused));
        assert_eq!(
            cause(&refused),
            Cause {
                text: "connection refused",
                retry: true
            }
        );
        let dns = sqlx::Error::Io(std::io::Error::other(
            "failed to lookup address information: Name or service not known",
        ));
        assert_eq!(cause(&dns).text, "host not found (DNS lookup failed)");
        assert!(cause(&dns).retry);
    }

    #[test]
    fn tls_and_authentication_failures_are_not_retried() {
        let tls = sqlx::Error::Tls("invalid peer certificate: UnknownIssuer".into());
        assert!(!cause(&tls).retry);
        let handshake = sqlx::Error::Io(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer),
        ));
        assert_eq!(cause(&handshake).text, "TLS handshake failed (certificate or sslmode)");
        assert_eq!(database_cause(Some("28P01"), None), ("authentication failed", false));
        assert_eq!(database_cause(Some("28000"), Some(1045)).0, "authentication failed");
        assert!(
            database_cause(Some("57P03"), None).1,
            "a server starting up is waited for"
        );
    }

    #[test]
    fn the_server_is_named_without_the_password() {
        let options = PgConnectOptions::from_str("postgres://gatekey:s3cret-pw@db.internal:6543/gk").unwrap();
        let server = Server::new(
            "PostgreSQL",
            options.get_host(),
            options.get_port(),
            options.get_username(),
        );
        let refused = sqlx::Error::Io(std::io::Error::from(std::io::ErrorKind::ConnectionRefused));
        let message = server.failed(&refused).to_string();
        assert!(message.contains("db.internal:6543"), "{message}");
        assert!(message.contains("refused"), "{message}");
        assert!(!message.contains("s3cret-pw"), "{message}");
    }
}
