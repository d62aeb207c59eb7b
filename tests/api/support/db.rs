//! A fresh, private database per test, on SQLite always, on PostgreSQL when
//! `GATEKEY_TEST_POSTGRES_URL` names a server and on MySQL/MariaDB when
//! `GATEKEY_TEST_MYSQL_URL` does.
//!
//! Server tests get a database of their own (`CREATE DATABASE gatekey_test_<uuid>`) rather
//! than a schema or a transaction, so they see exactly what the server sees and can run in
//! parallel. Once a variable is set, an unreachable server fails the test: a suite that
//! silently skips a backend proves nothing.

use gatekey::store::{self, SharedStore};
use sqlx::{Connection, Executor, MySqlConnection, PgConnection};
use tempfile::TempDir;

/// The variable naming a PostgreSQL server (any database on it) the tests may create databases on.
pub const POSTGRES_URL_VAR: &str = "GATEKEY_TEST_POSTGRES_URL";

/// The variable naming a MySQL or MariaDB server the tests may create databases on.
pub const MYSQL_URL_VAR: &str = "GATEKEY_TEST_MYSQL_URL";

/// A database server the tests create databases on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Server {
    Postgres,
    MySql,
}

impl Server {
    /// The variable that names the server.
    pub fn var(self) -> &'static str {
        match self {
            Server::Postgres => POSTGRES_URL_VAR,
            Server::MySql => MYSQL_URL_VAR,
        }
    }

    async fn execute(self, admin_url: &str, sql: &str) -> Result<(), sqlx::Error> {
        match self {
            Server::Postgres => {
                let mut conn = PgConnection::connect(admin_url).await?;
                conn.execute(sql).await?;
                let _ = conn.close().await;
            }
            Server::MySql => {
                let mut conn = MySqlConnection::connect(admin_url).await?;
                // A DROP waits for the metadata locks of open transactions, by default for a year.
                conn.execute("SET SESSION lock_wait_timeout = 10").await?;
                conn.execute(sql).await?;
                let _ = conn.close().await;
            }
        }
        Ok(())
    }

    fn drop_sql(self, name: &str) -> String {
        // FORCE: a test that failed mid-way may leave connections open (MySQL gets a bounded
        // lock wait instead).
        match self {
            Server::Postgres => format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"),
            Server::MySql => format!("DROP DATABASE IF EXISTS {name}"),
        }
    }
}

/// A migrated SQLite store in a temporary directory, removed when the `TempDir` drops.
pub async fn sqlite_store() -> (SharedStore, TempDir) {
    let (url, dir) = fresh_sqlite_url();
    (migrated(&url).await, dir)
}

/// The url of a SQLite database file that does not exist yet, in a directory that lives as
/// long as the returned `TempDir`.
pub fn fresh_sqlite_url() -> (String, TempDir) {
    let dir = tempfile::tempdir().expect("create a temporary directory for SQLite");
    let url = format!("sqlite://{}", dir.path().join("gatekey.db").display());
    (url, dir)
}

/// A migrated store on a fresh database of `server`, or `None` when its variable is unset.
pub async fn server_store(server: Server) -> Option<(SharedStore, TestDb)> {
    let db = fresh_database(server).await?;
    let store = migrated(db.url()).await;
    Some((store, db))
}

/// A fresh, empty (unmigrated) PostgreSQL database, dropped with the guard; `None` when the
/// variable is unset. Panics when it is set but the server cannot be used.
pub async fn fresh_postgres_database() -> Option<TestDb> {
    fresh_database(Server::Postgres).await
}

/// A fresh, empty (unmigrated) database on `server`, dropped with the guard; `None` when the
/// server's variable is unset. Panics when it is set but the server cannot be used.
pub async fn fresh_database(server: Server) -> Option<TestDb> {
    let admin_url = admin_url(server.var())?;
    let name = format!("gatekey_test_{}", uuid::Uuid::new_v4().simple());
    server
        .execute(&admin_url, &format!("CREATE DATABASE {name}"))
        .await
        .unwrap_or_else(|e| {
            panic!(
                "{} is set but CREATE DATABASE {name} on {} failed: {e}",
                server.var(),
                redacted(&admin_url)
            )
        });
    let url = with_database(&admin_url, &name);
    Some(TestDb {
        server,
        admin_url,
        name,
        url,
    })
}

/// The url of a fresh, empty PostgreSQL database that outlives the test (for a server spawned
/// in another process); `None` when the variable is unset.
#[allow(dead_code, reason = "for the gRPC tests, which spawn a server on it")]
pub async fn fresh_postgres_url() -> Option<String> {
    fresh_postgres_database().await.map(TestDb::keep)
}

/// A test database on a server; dropping it drops the database.
#[derive(Debug)]
pub struct TestDb {
    server: Server,
    admin_url: String,
    name: String,
    url: String,
}

impl TestDb {
    /// The url that connects to this database.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Gives up the cleanup: the database stays after the test, and its url is returned.
    #[allow(dead_code, reason = "for the gRPC tests, which spawn a server on it")]
    pub fn keep(mut self) -> String {
        self.name.clear();
        std::mem::take(&mut self.url)
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if self.name.is_empty() {
            return;
        }
        let admin_url = self.admin_url.clone();
        let server = self.server;
        let sql = server.drop_sql(&self.name);
        // `drop` cannot await, and the test's runtime may be single-threaded (blocking in it
        // would deadlock), so the cleanup gets a thread and a runtime of its own. Failures are
        // ignored: a leftover database is harmless, a panic while unwinding is not.
        let cleanup = std::thread::spawn(move || {
            let Ok(runtime) = tokio::runtime::Builder::new_current_thread().enable_all().build() else {
                return;
            };
            runtime.block_on(async {
                let _ = server.execute(&admin_url, &sql).await;
            });
        });
        let _ = cleanup.join();
    }
}

/// The server url from the environment; `None` only when the variable is absent.
fn admin_url(var: &str) -> Option<String> {
    match std::env::var(var) {
        Ok(url) if url.trim().is_empty() => {
            panic!("{var} is set but empty; unset it to skip the tests on that server")
        }
        Ok(url) => Some(url.trim().to_owned()),
        Err(std::env::VarError::NotPresent) => None,
        Err(std::env::VarError::NotUnicode(_)) => panic!("{var} is not valid UTF-8"),
    }
}

async fn migrated(url: &str) -> SharedStore {
    let store = store::connect(url)
        .await
        .unwrap_or_else(|e| panic!("connect the store at {}: {e:#}", redacted(url)));
    store
        .migrate()
        .await
        .unwrap_or_else(|e| panic!("migrate the store at {}: {e:?}", redacted(url)));
    store
}

/// `url` with its database path replaced by `name`, keeping credentials, host and parameters.
fn with_database(url: &str, name: &str) -> String {
    let (scheme, rest) = url
        .split_once("://")
        .unwrap_or_else(|| panic!("a test database url must look like scheme://user@host/db"));
    let (rest, query) = match rest.split_once('?') {
        Some((rest, query)) => (rest, Some(query)),
        None => (rest, None),
    };
    let authority = rest.split_once('/').map_or(rest, |(authority, _)| authority);
    match query {
        Some(query) => format!("{scheme}://{authority}/{name}?{query}"),
        None => format!("{scheme}://{authority}/{name}"),
    }
}

/// `url` without its credentials, for messages that end up in CI logs.
fn redacted(url: &str) -> String {
    match url.split_once("://").zip(url.rsplit_once('@')) {
        Some(((scheme, _), (_, host))) => format!("{scheme}://…@{host}"),
        None => url.to_owned(),
    }
}

#[test]
fn the_database_is_swapped_and_everything_else_kept() {
    assert_eq!(
        with_database("postgres://u:p@h:5432/postgres?sslmode=disable", "t"),
        "postgres://u:p@h:5432/t?sslmode=disable"
    );
    assert_eq!(with_database("postgres://h", "t"), "postgres://h/t");
    assert_eq!(redacted("postgres://u:secret@h/db"), "postgres://…@h/db");
    assert_eq!(redacted("sqlite:///tmp/x.db"), "sqlite:///tmp/x.db");
}
