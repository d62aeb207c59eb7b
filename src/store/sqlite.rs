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
    pub async fn connect(url: &str) -> anyhow::Result<Self> {
        let options = SqliteConnectOptions::from_str(url)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(Duration::from_secs(5))
            .foreign_keys(true);
        let write = SqlitePoolOptions::new()
            .max_connections(1)
            .acquire_timeout(Duration::from_secs(10))
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
