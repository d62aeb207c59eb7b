//! The audit log and the signing keys' public halves. Compiled once per backend (see
//! `store/sql/mod.rs`).

use super::Backend;
use super::tx;
use crate::domain::audit::AuditEvent;
use crate::domain::ids::OrgId;
use crate::domain::time::UnixMs;
use crate::store::codec::{AuditRow, paginate};
use crate::store::sql::{Dialect, db_err, fetch_limit};
use crate::store::text::Text;
use crate::store::{
    AuditLog, AuditReads, Page, PageRequest, SigningKeyReads, SigningKeyRecord, SigningKeys, StoreResult,
};
use async_trait::async_trait;

#[derive(sqlx::FromRow)]
struct SigningKeyRow {
    #[sqlx(try_from = "Text")]
    kid: String,
    public_key: Vec<u8>,
    created_at: i64,
    activates_at: i64,
}

#[async_trait]
impl AuditLog for Backend {
    #[tracing::instrument(name = "store.append_audit", level = "debug", skip_all)]
    async fn append_audit(&self, event: &AuditEvent) -> StoreResult<()> {
        let mut tx = tx::begin(self).await?;
        tx::insert_audit(&mut tx, event).await?;
        tx::commit(tx).await
    }
}

#[async_trait]
impl AuditReads for Backend {
    #[tracing::instrument(name = "store.list_audit_events", level = "debug", skip_all)]
    async fn list_audit_events(
        &self,
        org: OrgId,
        action: Option<&str>,
        page: PageRequest,
    ) -> StoreResult<Page<AuditEvent>> {
        let rows: Vec<AuditRow> = sqlx::query_as(&Backend::sql(
            "SELECT id, org_id, actor, action, target, key_prefix, client_ip, occurred_at, details \
             FROM audit_events WHERE org_id = ? AND (? IS NULL OR action = ?) \
             AND (? IS NULL OR id < ?) ORDER BY id DESC LIMIT ?",
        ))
        .bind(org.0)
        .bind(action)
        .bind(action)
        .bind(page.after)
        .bind(page.after)
        .bind(fetch_limit(page))
        .fetch_all(self.reader())
        .await
        .map_err(db_err)?;
        paginate(rows, page, |e: &AuditEvent| e.id.0)
    }
}

#[async_trait]
impl SigningKeyReads for Backend {
    #[tracing::instrument(name = "store.list_signing_keys", level = "debug", skip_all)]
    async fn list_signing_keys(&self) -> StoreResult<Vec<SigningKeyRecord>> {
        let rows: Vec<SigningKeyRow> = sqlx::query_as(
            "SELECT kid, public_key, created_at, activates_at FROM signing_keys ORDER BY created_at, kid",
        )
        .fetch_all(self.reader())
        .await
        .map_err(db_err)?;
        Ok(rows
            .into_iter()
            .map(|r| SigningKeyRecord {
                kid: r.kid,
                public_key: r.public_key,
                created_at: UnixMs(r.created_at),
                activates_at: UnixMs(r.activates_at),
            })
            .collect())
    }
}

#[async_trait]
impl SigningKeys for Backend {
    #[tracing::instrument(name = "store.insert_signing_key", level = "debug", skip_all)]
    async fn insert_signing_key(&self, key: &SigningKeyRecord) -> StoreResult<()> {
        sqlx::query(&Backend::sql(
            "INSERT INTO signing_keys (kid, public_key, created_at, activates_at) VALUES (?, ?, ?, ?)",
        ))
        .bind(&key.kid)
        .bind(&key.public_key)
        .bind(key.created_at.0)
        .bind(key.activates_at.0)
        .execute(self.writer())
        .await
        .map_err(db_err)?;
        Ok(())
    }
}
