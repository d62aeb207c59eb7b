//! SQLite: the embedded default for a single node and for development.
//!
//! Writes go through a pool of one connection: SQLite admits one writer at a time anyway,
//! and queueing in the pool avoids the `SQLITE_BUSY` a second writer would get when it tries
//! to upgrade a read transaction. Reads use their own pool and run in parallel (WAL).

use super::sql::Dialect;
use sqlx::SqlitePool;
use sqlx::migrate::Migrator;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use std::borrow::Cow;
use std::fs::OpenOptions;
use std::io::ErrorKind;
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

static MIGRATOR: Migrator = sqlx::migrate!("./migrations/sqlite");

/// The SQLite store.
pub struct SqliteStore {
    read: SqlitePool,
    write: SqlitePool,
}

impl SqliteStore {
    /// Opens (and creates if missing) the database file named by a `sqlite://PATH` url.
    ///
    /// `?busy_timeout_ms=N` (default 5000) bounds how long a write waits for another process's
    /// write lock before the call answers `UNAVAILABLE`; SQLite is meant for one process, so
    /// that wait is the exception, and it must not hang callers.
    /// Reads wait at most `acquire` for a connection.
    pub async fn connect(url: &str, acquire: Duration) -> anyhow::Result<Self> {
        let (url, busy_timeout) = busy_timeout_param(url)?;
        let options = SqliteConnectOptions::from_str(&url)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(busy_timeout)
            .foreign_keys(true);
        create_owner_only(options.get_filename())?;
        let write = SqlitePoolOptions::new()
            .max_connections(1)
            // A writer queued behind one that waits out the busy timeout may wait it out too.
            .acquire_timeout(busy_timeout.max(Duration::from_secs(1)) * 2)
            .connect_with(options.clone())
            .await
            .map_err(|e| anyhow::anyhow!("cannot open the SQLite database {url}: {e}"))?;
        let read = SqlitePoolOptions::new()
            .max_connections(4)
            .acquire_timeout(acquire)
            .connect_with(options)
            .await?;
        Ok(Self { read, write })
    }

    /// The database file a `sqlite://PATH` url names, `None` for an in-memory database or a
    /// url that is not SQLite's.
    pub fn database_file(url: &str) -> Option<PathBuf> {
        let (url, _) = busy_timeout_param(url).ok()?;
        let options = SqliteConnectOptions::from_str(&url).ok()?;
        let path = options.get_filename();
        (!is_in_memory(path)).then(|| path.to_owned())
    }

    fn reader(&self) -> &SqlitePool {
        &self.read
    }

    fn writer(&self) -> &SqlitePool {
        &self.write
    }

    /// SQLite is one process's file: there is nobody to notify, so followers poll.
    async fn subscribe(&self) -> super::StoreResult<Option<super::ChangeSubscription>> {
        Ok(None)
    }
}

impl Dialect for SqliteStore {
    fn sql(text: &str) -> Cow<'_, str> {
        Cow::Borrowed(text)
    }

    // Takes the write lock up front, where the busy timeout applies: a plain BEGIN that reads
    // first fails at once with SQLITE_BUSY when it later tries to upgrade.
    const BEGIN_WRITE: Option<&'static str> = Some("BEGIN IMMEDIATE");

    const NOTIFY_CHANGE: Option<&'static str> = None;

    const UPSERT_ROLE_SCOPES: &'static str = "INSERT INTO role_scopes (org_id, role, scopes, updated_at) \
         VALUES (?, ?, ?, ?) \
         ON CONFLICT (org_id, role) DO UPDATE SET scopes = excluded.scopes, updated_at = excluded.updated_at";

    const FOR_UPDATE: &'static str = "";

    fn touch_keys_sql(rows: usize) -> String {
        // A VALUES list names its columns column1, column2.
        let values = vec!["(?, ?)"; rows].join(", ");
        format!(
            "UPDATE api_keys SET last_used_at = v.column2 FROM (VALUES {values}) AS v \
             WHERE api_keys.id = v.column1 AND (api_keys.last_used_at IS NULL OR api_keys.last_used_at < v.column2)"
        )
    }
}

// The SQL every backend shares, compiled against this driver (see `store/sql/mod.rs`); each
// backend loads these files, which is what `duplicate_mod` would otherwise flag.
type Db = sqlx::Sqlite;
type Backend = SqliteStore;
#[allow(clippy::duplicate_mod)]
#[path = "sql/audit.rs"]
mod audit;
#[allow(clippy::duplicate_mod)]
#[path = "sql/feed.rs"]
mod feed;
#[allow(clippy::duplicate_mod)]
#[path = "sql/keys.rs"]
mod keys;
#[allow(clippy::duplicate_mod)]
#[path = "sql/members.rs"]
mod members;
#[allow(clippy::duplicate_mod)]
#[path = "sql/orgs.rs"]
mod orgs;
#[allow(clippy::duplicate_mod)]
#[path = "sql/policy.rs"]
mod policy;
#[allow(clippy::duplicate_mod)]
#[path = "sql/sessions.rs"]
mod sessions;
#[allow(clippy::duplicate_mod)]
#[path = "sql/tx.rs"]
mod tx;

fn is_in_memory(path: &Path) -> bool {
    path.as_os_str().is_empty() || path.to_string_lossy().starts_with(":memory:")
}

/// Creates the database file readable by its owner only (0600) when it does not exist yet,
/// before SQLite writes anything to it: it holds key hashes and password hashes. SQLite gives
/// the `-wal` and `-shm` files the database file's mode. An existing file keeps the mode its
/// owner chose (a deliberate group-readable backup setup, say).
fn create_owner_only(path: &Path) -> anyhow::Result<()> {
    if is_in_memory(path) {
        return Ok(());
    }
    match OpenOptions::new().write(true).create_new(true).mode(0o600).open(path) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(anyhow::anyhow!(
            "cannot create the SQLite database {}: {e}",
            path.display()
        )),
    }
}

/// Takes gatekey's `busy_timeout_ms` out of the url (sqlx rejects parameters it does not know).
fn busy_timeout_param(url: &str) -> anyhow::Result<(String, Duration)> {
    const DEFAULT: Duration = Duration::from_secs(5);
    let Some((path, query)) = url.split_once('?') else {
        return Ok((url.to_owned(), DEFAULT));
    };
    let mut timeout = DEFAULT;
    let mut kept = Vec::new();
    for pair in query.split('&') {
        match pair.strip_prefix("busy_timeout_ms=") {
            Some(ms) => {
                let ms: u64 = ms
                    .parse()
                    .map_err(|_| anyhow::anyhow!("busy_timeout_ms must be a number of milliseconds, not {ms:?}"))?;
                timeout = Duration::from_millis(ms);
            }
            None => kept.push(pair),
        }
    }
    let url = if kept.is_empty() {
        path.to_owned()
    } else {
        format!("{path}?{}", kept.join("&"))
    };
    Ok((url, timeout))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "a test fails by panicking")]
mod tests {
    use super::*;

    #[test]
    fn the_busy_timeout_is_read_from_the_url_and_the_rest_is_left_to_sqlx() {
        let (url, t) = busy_timeout_param("sqlite:///d/g.db?busy_timeout_ms=250&mode=rwc").unwrap();
        assert_eq!(
            (url.as_str(), t),
            ("sqlite:///d/g.db?mode=rwc", Duration::from_millis(250))
        );
        let (url, t) = busy_timeout_param("sqlite:///d/g.db").unwrap();
        assert_eq!((url.as_str(), t), ("sqlite:///d/g.db", Duration::from_secs(5)));
        assert!(busy_timeout_param("sqlite:///d/g.db?busy_timeout_ms=soon").is_err());
    }
}
