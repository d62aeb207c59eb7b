//! PostgreSQL: the production backend, shared by every replica.

use super::StoreResult;
use super::sql::{Dialect, db_err, numbered_placeholders};
use sqlx::PgPool;
use sqlx::migrate::Migrator;
use sqlx::postgres::PgListener;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use std::borrow::Cow;
use std::time::Duration;

static MIGRATOR: Migrator = sqlx::migrate!("./migrations/postgres");

/// The PostgreSQL store.
pub struct PgStore {
    pool: PgPool,
}

impl PgStore {
    /// A pool on `options` (TLS as its `sslmode` says) that waits at most `acquire` for a
    /// connection.
    pub async fn connect(options: PgConnectOptions, acquire: Duration) -> Result<Self, sqlx::Error> {
        let pool = PgPoolOptions::new()
            .max_connections(16)
            // Also bounds a call while the server is down: connecting is retried until then.
            .acquire_timeout(acquire)
            // After a failover, drop the connections that still lead to the demoted primary.
            .before_acquire(|_, meta| Box::pin(async move { Ok(super::fault::opened_since_last_read_only(meta.age)) }))
            .connect_with(options)
            .await?;
        Ok(Self { pool })
    }

    fn reader(&self) -> &PgPool {
        &self.pool
    }

    fn writer(&self) -> &PgPool {
        &self.pool
    }

    /// LISTEN on the change channel over a connection of its own.
    async fn subscribe(&self) -> StoreResult<Option<ChangeSubscription>> {
        let mut listener = PgListener::connect_with(&self.pool).await.map_err(db_err)?;
        listener.listen(CHANGE_CHANNEL).await.map_err(db_err)?;
        Ok(Some(ChangeSubscription { listener }))
    }
}

/// The NOTIFY channel that wakes replicas when a change commits.
pub const CHANGE_CHANNEL: &str = "gatekey_changes";

/// A LISTEN connection. Notifications only wake the follower early; a missed one (a dropped
/// connection) is caught by polling, so nothing depends on them.
pub struct ChangeSubscription {
    listener: PgListener,
}

impl ChangeSubscription {
    /// Waits for the next notification. After a lost connection the listener reconnects and
    /// this returns, so the caller polls and catches up on whatever it missed.
    pub async fn recv(&mut self) -> StoreResult<()> {
        match self.listener.try_recv().await.map_err(db_err)? {
            Some(_) => Ok(()),
            None => {
                tracing::warn!("change-feed LISTEN connection lost; reconnecting");
                Ok(())
            }
        }
    }
}

impl Dialect for PgStore {
    fn sql(text: &str) -> Cow<'_, str> {
        Cow::Owned(numbered_placeholders(text))
    }

    const BEGIN_WRITE: Option<&'static str> = None;

    const NOTIFY_CHANGE: Option<&'static str> = Some("SELECT pg_notify('gatekey_changes', '')");

    const UPSERT_ROLE_SCOPES: &'static str = "INSERT INTO role_scopes (org_id, role, scopes, updated_at) \
         VALUES (?, ?, ?, ?) \
         ON CONFLICT (org_id, role) DO UPDATE SET scopes = excluded.scopes, updated_at = excluded.updated_at";

    const FOR_UPDATE: &'static str = " FOR UPDATE";

    fn touch_keys_sql(rows: usize) -> String {
        // A VALUES list names its columns column1, column2.
        let values: Vec<String> = (0..rows).map(|i| format!("(${}, ${})", 2 * i + 1, 2 * i + 2)).collect();
        format!(
            "UPDATE api_keys SET last_used_at = v.column2 FROM (VALUES {}) AS v \
             WHERE api_keys.id = v.column1 AND (api_keys.last_used_at IS NULL OR api_keys.last_used_at < v.column2)",
            values.join(", ")
        )
    }
}

// The SQL every backend shares, compiled against this driver (see `store/sql/mod.rs`); each
// backend loads these files, which is what `duplicate_mod` would otherwise flag.
type Db = sqlx::Postgres;
type Backend = PgStore;
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
