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

impl Dialect for SqliteStore {
    fn sql(text: &str) -> Cow<'_, str> {
        Cow::Borrowed(text)
    }

    const NOTIFY_CHANGE: Option<&'static str> = None;

    const UPSERT_ROLE_SCOPES: &'static str = "INSERT INTO role_scopes (org_id, role, scopes, updated_at) \
         VALUES (?, ?, ?, ?) \
         ON CONFLICT (org_id, role) DO UPDATE SET scopes = excluded.scopes, updated_at = excluded.updated_at";

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
