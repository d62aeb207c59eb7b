//! SQLite: the embedded default for a single node and for development.
//!
//! Writes go through a pool of one connection: SQLite admits one writer at a time anyway,
//! and queueing in the pool avoids the `SQLITE_BUSY` a second writer would get when it tries
//! to upgrade a read transaction. Reads use their own pool and run in parallel (WAL).

use sqlx::SqlitePool;
use sqlx::migrate::Migrator;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
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
    pub async fn connect(url: &str) -> anyhow::Result<Self> {
        let (url, busy_timeout) = busy_timeout_param(url)?;
        let options = SqliteConnectOptions::from_str(&url)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(busy_timeout)
            .foreign_keys(true);
        let write = SqlitePoolOptions::new()
            .max_connections(1)
            // A writer queued behind one that waits out the busy timeout may wait it out too.
            .acquire_timeout(busy_timeout.max(Duration::from_secs(1)) * 2)
            .connect_with(options.clone())
            .await?;
        let read = SqlitePoolOptions::new()
            .max_connections(4)
            .acquire_timeout(Duration::from_secs(5))
            .connect_with(options)
            .await?;
        Ok(Self { read, write })
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

super::sql::impl_sql_store!(SqliteStore, sqlx::Sqlite, MIGRATOR, None);

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
