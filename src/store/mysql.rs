//! MySQL and MariaDB: for platforms that run MySQL rather than PostgreSQL.
//!
//! Every replica shares the database, as on PostgreSQL, but there is no NOTIFY: followers
//! learn of changes by polling the feed (at most `feed_poll` apart, 1 s by default).
//! Sessions run at READ COMMITTED, as PostgreSQL does, so the conditional updates that settle
//! races see the latest committed row and take no gap locks; lock waits are bounded, and a
//! wait that runs out is retryable (`UNAVAILABLE`), never a hang.

use super::StoreResult;
use super::sql::Dialect;
use sqlx::migrate::Migrator;
use sqlx::mysql::{MySqlConnectOptions, MySqlPoolOptions};
use sqlx::{Executor, MySqlPool};
use std::borrow::Cow;
use std::time::Duration;

static MIGRATOR: Migrator = sqlx::migrate!("./migrations/mysql");

/// How long a statement waits for a row lock before giving up (MySQL's default is 50 s). Well
/// below the admin store timeout (default 5 s): a write that got its lock only after the
/// caller was answered `UNAVAILABLE` would still commit, and a rotation's new secret would be
/// lost to its caller. Keep `admin_store_timeout_ms` above this on MySQL.
const LOCK_WAIT_SECS: u32 = 2;

/// The MySQL/MariaDB store.
pub struct MySqlStore {
    pool: MySqlPool,
}

impl MySqlStore {
    /// A pool on `options` (TLS as its `ssl-mode` says) that waits at most `acquire` for a
    /// connection.
    pub async fn connect(options: MySqlConnectOptions, acquire: Duration) -> anyhow::Result<Self> {
        let pool = MySqlPoolOptions::new()
            .max_connections(16)
            .acquire_timeout(acquire)
            // Connections opened before a read-only answer lead to a demoted primary.
            .before_acquire(|_, meta| Box::pin(async move { Ok(super::fault::opened_since_last_read_only(meta.age)) }))
            .after_connect(|conn, _meta| {
                Box::pin(async move {
                    conn.execute("SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED")
                        .await?;
                    conn.execute(format!("SET SESSION innodb_lock_wait_timeout = {LOCK_WAIT_SECS}").as_str())
                        .await?;
                    Ok(())
                })
            })
            .connect_with(options)
            .await?;
        // The change feed reads sequence numbers one apart; a server that numbers in steps
        // (Galera, multi-primary replication) would make every row look like a hole.
        let step: i64 = sqlx::query_scalar("SELECT CAST(@@auto_increment_increment AS SIGNED)")
            .fetch_one(&pool)
            .await?;
        anyhow::ensure!(
            step == 1,
            "auto_increment_increment is {step}; gatekey's change feed needs 1 (set it for gatekey's sessions or on the server)"
        );
        Ok(Self { pool })
    }

    fn reader(&self) -> &MySqlPool {
        &self.pool
    }

    fn writer(&self) -> &MySqlPool {
        &self.pool
    }

    /// No NOTIFY on MySQL: followers poll.
    async fn subscribe(&self) -> StoreResult<Option<super::ChangeSubscription>> {
        Ok(None)
    }
}

impl Dialect for MySqlStore {
    fn sql(text: &str) -> Cow<'_, str> {
        Cow::Borrowed(text)
    }

    const BEGIN_WRITE: Option<&'static str> = None;

    const NOTIFY_CHANGE: Option<&'static str> = None;

    const UPSERT_ROLE_SCOPES: &'static str = "INSERT INTO role_scopes (org_id, role, scopes, updated_at) \
         VALUES (?, ?, ?, ?) \
         ON DUPLICATE KEY UPDATE scopes = VALUES(scopes), updated_at = VALUES(updated_at)";

    const FOR_UPDATE: &'static str = " FOR UPDATE";

    fn touch_keys_sql(rows: usize) -> String {
        // No UPDATE … FROM here: join a derived table of the pairs instead.
        let mut pairs = vec!["SELECT ? AS id, ? AS used_at"];
        pairs.extend(std::iter::repeat_n("SELECT ?, ?", rows.saturating_sub(1)));
        format!(
            "UPDATE api_keys JOIN ({}) AS v ON api_keys.id = v.id SET api_keys.last_used_at = v.used_at \
             WHERE api_keys.last_used_at IS NULL OR api_keys.last_used_at < v.used_at",
            pairs.join(" UNION ALL ")
        )
    }
}

// The SQL every backend shares, compiled against this driver (see `store/sql/mod.rs`); each
// backend loads these files, which is what `duplicate_mod` would otherwise flag.
type Db = sqlx::MySql;
type Backend = MySqlStore;
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
