//! PostgreSQL: the production backend, shared by every replica.

use super::StoreResult;
use super::sql::db_err;
use sqlx::PgPool;
use sqlx::migrate::Migrator;
use sqlx::postgres::PgListener;
use sqlx::postgres::PgPoolOptions;
use std::time::Duration;

static MIGRATOR: Migrator = sqlx::migrate!("./migrations/postgres");

/// The PostgreSQL store.
pub struct PgStore {
    pool: PgPool,
}

impl PgStore {
    pub async fn connect(url: &str) -> anyhow::Result<Self> {
        let pool = PgPoolOptions::new()
            .max_connections(16)
            // Also bounds a call while the server is down: connecting is retried until then.
            .acquire_timeout(Duration::from_secs(5))
            // After a failover, drop the connections that still lead to the demoted primary.
            .before_acquire(|_, meta| Box::pin(async move { Ok(super::fault::opened_since_last_read_only(meta.age)) }))
            .connect(url)
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

/// A LISTEN connection. Notifications only wake the follower early; a missed one (dropped
/// connection, CockroachDB, SQLite) is caught by polling, so nothing depends on them.
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

super::sql::impl_sql_store!(
    PgStore,
    sqlx::Postgres,
    MIGRATOR,
    Some("SELECT pg_notify('gatekey_changes', '')")
);
