//! The change feed, and the store's lifecycle. Compiled once per backend (see
//! `store/sql/mod.rs`); `MIGRATOR` and `subscribe` are the backend's own.

use super::{Backend, MIGRATOR};
use crate::domain::time::UnixMs;
use crate::store::sql::{Dialect, db_err};
use crate::store::text::Text;
use crate::store::{Change, ChangeFeed, ChangeKind, ChangeSubscription, StoreError, StoreLifecycle, StoreResult};
use async_trait::async_trait;

#[async_trait]
impl ChangeFeed for Backend {
    #[tracing::instrument(name = "store.latest_change_seq", level = "debug", skip_all)]
    async fn latest_change_seq(&self) -> StoreResult<i64> {
        let seq: Option<i64> = sqlx::query_scalar("SELECT MAX(seq) FROM changes")
            .fetch_one(self.reader())
            .await
            .map_err(db_err)?;
        Ok(seq.unwrap_or(0))
    }

    #[tracing::instrument(name = "store.changes_since", level = "debug", skip_all)]
    async fn changes_since(&self, after: i64, limit: i64) -> StoreResult<Vec<Change>> {
        let rows: Vec<(i64, Text, Text, i64)> = sqlx::query_as(&Backend::sql(
            "SELECT seq, kind, subject, created_at FROM changes WHERE seq > ? ORDER BY seq LIMIT ?",
        ))
        .bind(after)
        .bind(limit)
        .fetch_all(self.reader())
        .await
        .map_err(db_err)?;
        rows.into_iter()
            .map(|(seq, Text(kind), Text(subject), created_at)| {
                let kind = ChangeKind::parse(&kind)
                    .ok_or_else(|| StoreError::Internal(anyhow::anyhow!("unknown change kind {kind:?}")))?;
                Ok(Change {
                    seq,
                    kind,
                    subject,
                    created_at: UnixMs(created_at),
                })
            })
            .collect()
    }

    #[tracing::instrument(name = "store.subscribe_changes", level = "debug", skip_all)]
    async fn subscribe_changes(&self) -> StoreResult<Option<ChangeSubscription>> {
        self.subscribe().await
    }
}

#[async_trait]
impl StoreLifecycle for Backend {
    #[tracing::instrument(name = "store.migrate", level = "debug", skip_all)]
    async fn migrate(&self) -> StoreResult<()> {
        MIGRATOR
            .run(self.writer())
            .await
            .map_err(|e| StoreError::Internal(e.into()))
    }

    #[tracing::instrument(name = "store.ping", level = "debug", skip_all)]
    async fn ping(&self) -> StoreResult<()> {
        sqlx::query("SELECT 1").execute(self.reader()).await.map_err(db_err)?;
        Ok(())
    }

    #[tracing::instrument(name = "store.close", level = "debug", skip_all)]
    async fn close(&self) {
        self.writer().close().await;
        self.reader().close().await;
    }
}
