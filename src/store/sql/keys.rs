//! API keys: lookups, the lifecycle and usage marks. Compiled once per backend (see
//! `store/sql/mod.rs`).

use super::Backend;
use super::tx;
use crate::domain::api_key::{ApiKey, KeyRotation, NewKey};
use crate::domain::audit::{AuditContext, action};
use crate::domain::ids::{KeyId, KeyPairId, OrgId, ServiceAccountId};
use crate::domain::time::UnixMs;
use crate::store::codec::{KEY_COLUMNS, KeyRow, paginate};
use crate::store::rules::{self, OldKeyEnd};
use crate::store::sql::{Dialect, db_err, fetch_limit, key_event};
use crate::store::{
    ChangeKind, KeyReads, KeyStore, KeyUsage, Page, PageRequest, Precondition, StoreError, StoreResult,
};
use async_trait::async_trait;

#[async_trait]
impl KeyReads for Backend {
    #[tracing::instrument(name = "store.get_key", level = "debug", skip_all)]
    async fn get_key(&self, org: OrgId, id: KeyId) -> StoreResult<Option<ApiKey>> {
        let sql = format!("SELECT {KEY_COLUMNS} FROM api_keys WHERE org_id = ? AND id = ?");
        let row: Option<KeyRow> = sqlx::query_as(&Backend::sql(&sql))
            .bind(org.0)
            .bind(id.0)
            .fetch_optional(self.reader())
            .await
            .map_err(db_err)?;
        row.map(ApiKey::try_from).transpose()
    }

    #[tracing::instrument(name = "store.find_key_by_hash", level = "debug", skip_all)]
    async fn find_key_by_hash(&self, hash: &[u8; 32]) -> StoreResult<Option<ApiKey>> {
        let sql = format!("SELECT {KEY_COLUMNS} FROM api_keys WHERE key_hash = ?");
        let row: Option<KeyRow> = sqlx::query_as(&Backend::sql(&sql))
            .bind(&hash[..])
            .fetch_optional(self.reader())
            .await
            .map_err(db_err)?;
        row.map(ApiKey::try_from).transpose()
    }

    #[tracing::instrument(name = "store.list_keys", level = "debug", skip_all)]
    async fn list_keys(
        &self,
        org: OrgId,
        service_account: Option<ServiceAccountId>,
        page: PageRequest,
    ) -> StoreResult<Page<ApiKey>> {
        let sql = format!(
            "SELECT {KEY_COLUMNS} FROM api_keys WHERE org_id = ? \
             AND (? IS NULL OR service_account_id = ?) AND (? IS NULL OR id > ?) ORDER BY id LIMIT ?"
        );
        let service_account = service_account.map(|s| s.0);
        let rows: Vec<KeyRow> = sqlx::query_as(&Backend::sql(&sql))
            .bind(org.0)
            .bind(service_account)
            .bind(service_account)
            .bind(page.after)
            .bind(page.after)
            .bind(fetch_limit(page))
            .fetch_all(self.reader())
            .await
            .map_err(db_err)?;
        paginate(rows, page, |k: &ApiKey| k.id.0)
    }

    #[tracing::instrument(name = "store.list_pair_keys", level = "debug", skip_all)]
    async fn list_pair_keys(&self, org: OrgId, pair: KeyPairId) -> StoreResult<Vec<ApiKey>> {
        let sql = format!("SELECT {KEY_COLUMNS} FROM api_keys WHERE org_id = ? AND pair_id = ? ORDER BY id");
        let rows: Vec<KeyRow> = sqlx::query_as(&Backend::sql(&sql))
            .bind(org.0)
            .bind(pair.0)
            .fetch_all(self.reader())
            .await
            .map_err(db_err)?;
        rows.into_iter().map(ApiKey::try_from).collect()
    }
}

#[async_trait]
impl KeyStore for Backend {
    #[tracing::instrument(name = "store.insert_key", level = "debug", skip_all)]
    async fn insert_key(&self, ctx: &AuditContext, new: &NewKey) -> StoreResult<()> {
        let mut tx = tx::begin(self).await?;
        tx::insert_key(&mut tx, new).await?;
        tx::insert_audit(&mut tx, &key_event(ctx, action::KEY_ISSUED, &new.key)).await?;
        tx::commit(tx).await
    }

    #[tracing::instrument(name = "store.revoke_key", level = "debug", skip_all)]
    async fn revoke_key(&self, ctx: &AuditContext, id: KeyId) -> StoreResult<ApiKey> {
        let mut tx = tx::begin(self).await?;
        let key = tx::key(&mut tx, ctx.org_id, id).await?.ok_or(StoreError::NotFound)?;
        if key.revoked_at.is_some() {
            return Ok(key);
        }
        let done = sqlx::query(&Backend::sql(
            "UPDATE api_keys SET revoked_at = ?, revoked_by = ? WHERE id = ? AND revoked_at IS NULL",
        ))
        .bind(ctx.now.0)
        .bind(ctx.actor.to_string())
        .bind(id.0)
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
        if done.rows_affected() == 0 {
            // A concurrent revoke won; report the key as it now stands.
            drop(tx);
            return self.get_key(ctx.org_id, id).await?.ok_or(StoreError::NotFound);
        }
        tx::insert_audit(&mut tx, &key_event(ctx, action::KEY_REVOKED, &key)).await?;
        tx::record_change(&mut tx, ChangeKind::Key, id.to_string(), Some(ctx.org_id), ctx.now).await?;
        tx::commit(tx).await?;
        Ok(rules::revoked_key(key, ctx))
    }

    #[tracing::instrument(name = "store.rotate_key", level = "debug", skip_all)]
    async fn rotate_key(
        &self,
        ctx: &AuditContext,
        old: KeyId,
        new: &NewKey,
        old_expires_at: Option<UnixMs>,
    ) -> StoreResult<(ApiKey, ApiKey)> {
        let mut tx = tx::begin(self).await?;
        let rotated = rotate_in(&mut tx, ctx, old, new, old_expires_at).await?;
        tx::commit(tx).await?;
        Ok(rotated)
    }

    #[tracing::instrument(name = "store.delete_key", level = "debug", skip_all)]
    async fn delete_key(&self, ctx: &AuditContext, id: KeyId) -> StoreResult<()> {
        let mut tx = tx::begin(self).await?;
        let key = tx::key(&mut tx, ctx.org_id, id).await?.ok_or(StoreError::NotFound)?;
        if key.revoked_at.is_none() {
            return Err(StoreError::Precondition(Precondition::KeyNotRevoked));
        }
        sqlx::query(&Backend::sql("DELETE FROM api_keys WHERE id = ? AND org_id = ?"))
            .bind(id.0)
            .bind(ctx.org_id.0)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        tx::insert_audit(&mut tx, &key_event(ctx, action::KEY_DELETED, &key)).await?;
        tx::record_change(&mut tx, ChangeKind::Key, id.to_string(), Some(ctx.org_id), ctx.now).await?;
        tx::commit(tx).await
    }

    #[tracing::instrument(name = "store.disable_key", level = "debug", skip_all)]
    async fn disable_key(&self, ctx: &AuditContext, id: KeyId) -> StoreResult<ApiKey> {
        set_disabled(self, ctx, id, Some(ctx.now)).await
    }

    #[tracing::instrument(name = "store.enable_key", level = "debug", skip_all)]
    async fn enable_key(&self, ctx: &AuditContext, id: KeyId) -> StoreResult<ApiKey> {
        set_disabled(self, ctx, id, None).await
    }

    #[tracing::instrument(name = "store.insert_key_pair", level = "debug", skip_all)]
    async fn insert_key_pair(&self, ctx: &AuditContext, publishable: &NewKey, secret: &NewKey) -> StoreResult<()> {
        let mut tx = tx::begin(self).await?;
        for new in [publishable, secret] {
            tx::insert_key(&mut tx, new).await?;
            tx::insert_audit(&mut tx, &key_event(ctx, action::KEY_ISSUED, &new.key)).await?;
        }
        tx::commit(tx).await
    }

    #[tracing::instrument(name = "store.rotate_key_pair", level = "debug", skip_all)]
    async fn rotate_key_pair(
        &self,
        ctx: &AuditContext,
        first: &KeyRotation,
        second: &KeyRotation,
    ) -> StoreResult<[(ApiKey, ApiKey); 2]> {
        // Rows are locked in id order whichever key was asked for, so two rotations of one
        // pair started from either side wait for each other instead of deadlocking.
        let in_order = first.old <= second.old;
        let (x, y) = if in_order { (first, second) } else { (second, first) };
        let mut tx = tx::begin(self).await?;
        // An error from the second drops the transaction, undoing the first.
        let rx = rotate_in(&mut tx, ctx, x.old, &x.new, x.old_expires_at).await?;
        let ry = rotate_in(&mut tx, ctx, y.old, &y.new, y.old_expires_at).await?;
        tx::commit(tx).await?;
        Ok(if in_order { [rx, ry] } else { [ry, rx] })
    }
}

/// Rotates one key inside `tx`; see [`KeyStore::rotate_key`].
async fn rotate_in(
    tx: &mut tx::Tx<'_>,
    ctx: &AuditContext,
    old: KeyId,
    new: &NewKey,
    old_expires_at: Option<UnixMs>,
) -> StoreResult<(ApiKey, ApiKey)> {
    let end = OldKeyEnd::from_overlap(old_expires_at);
    let old_key = tx::key(tx, ctx.org_id, old).await?.ok_or(StoreError::NotFound)?;
    // The WHERE clause re-checks the state under the row lock: of two racing rotations only
    // one matches. A disabled key is not rotated: its replacement would be enabled, silently
    // lifting the suspension.
    const STILL_ROTATABLE: &str = "WHERE id = ? AND org_id = ? AND revoked_at IS NULL AND rotated_to IS NULL \
         AND disabled_at IS NULL AND (expires_at IS NULL OR expires_at > ?)";
    let done = match end {
        OldKeyEnd::RevokeNow => {
            let sql = format!("UPDATE api_keys SET rotated_to = ?, revoked_at = ?, revoked_by = ? {STILL_ROTATABLE}");
            sqlx::query(&Backend::sql(&sql))
                .bind(new.key.id.0)
                .bind(ctx.now.0)
                .bind(ctx.actor.to_string())
                .bind(old.0)
                .bind(ctx.org_id.0)
                .bind(ctx.now.0)
                .execute(&mut **tx)
                .await
        }
        OldKeyEnd::ExpireAt(at) => {
            let sql = format!("UPDATE api_keys SET rotated_to = ?, expires_at = ? {STILL_ROTATABLE}");
            sqlx::query(&Backend::sql(&sql))
                .bind(new.key.id.0)
                .bind(at.0)
                .bind(old.0)
                .bind(ctx.org_id.0)
                .bind(ctx.now.0)
                .execute(&mut **tx)
                .await
        }
    }
    .map_err(db_err)?;
    if done.rows_affected() == 0 {
        return Err(StoreError::Precondition(Precondition::KeyNotRotatable));
    }
    tx::insert_key(tx, new).await?;
    let mut event = key_event(ctx, action::KEY_ROTATED, &old_key);
    event.details.insert("new_key_id".into(), new.key.id.to_string());
    event.details.insert("new_key_prefix".into(), new.key.display_prefix());
    tx::insert_audit(tx, &event).await?;
    if end == OldKeyEnd::RevokeNow {
        tx::insert_audit(tx, &key_event(ctx, action::KEY_REVOKED, &old_key)).await?;
    }
    tx::record_change(tx, ChangeKind::Key, old.to_string(), Some(ctx.org_id), ctx.now).await?;
    Ok((new.key.clone(), rules::rotated_old_key(old_key, ctx, end)))
}

/// Disables (`to` is `Some(now)`) or enables (`None`) a key; see [`KeyStore::disable_key`].
async fn set_disabled(store: &Backend, ctx: &AuditContext, id: KeyId, to: Option<UnixMs>) -> StoreResult<ApiKey> {
    let mut tx = tx::begin(store).await?;
    let key = tx::key(&mut tx, ctx.org_id, id).await?.ok_or(StoreError::NotFound)?;
    if key.revoked_at.is_some() {
        return Err(StoreError::Precondition(Precondition::KeyRevoked));
    }
    if key.disabled_at.is_some() == to.is_some() {
        return Ok(key);
    }
    // The state is re-checked under the row lock: of two racing calls only one changes the
    // row (and audits it); a revoke that won the race is reported as such.
    let sql = if to.is_some() {
        "UPDATE api_keys SET disabled_at = ? WHERE id = ? AND org_id = ? AND revoked_at IS NULL AND disabled_at IS NULL"
    } else {
        "UPDATE api_keys SET disabled_at = ? WHERE id = ? AND org_id = ? AND revoked_at IS NULL \
         AND disabled_at IS NOT NULL"
    };
    let done = sqlx::query(&Backend::sql(sql))
        .bind(to.map(|t| t.0))
        .bind(id.0)
        .bind(ctx.org_id.0)
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
    if done.rows_affected() == 0 {
        drop(tx);
        let now = store.get_key(ctx.org_id, id).await?.ok_or(StoreError::NotFound)?;
        if now.revoked_at.is_some() {
            return Err(StoreError::Precondition(Precondition::KeyRevoked));
        }
        return Ok(now);
    }
    let act = if to.is_some() {
        action::KEY_DISABLED
    } else {
        action::KEY_ENABLED
    };
    tx::insert_audit(&mut tx, &key_event(ctx, act, &key)).await?;
    tx::record_change(&mut tx, ChangeKind::Key, id.to_string(), Some(ctx.org_id), ctx.now).await?;
    tx::commit(tx).await?;
    Ok(ApiKey { disabled_at: to, ..key })
}

#[async_trait]
impl KeyUsage for Backend {
    #[tracing::instrument(name = "store.touch_keys", level = "debug", skip_all)]
    async fn touch_keys(&self, used: &[(KeyId, UnixMs)]) -> StoreResult<()> {
        let used = rules::latest_uses(used);
        if used.is_empty() {
            return Ok(());
        }
        // One statement, linear in the batch; replicas flush independently, so the later of
        // stored and new time is kept. Only placeholders are formatted in.
        let sql = Backend::touch_keys_sql(used.len());
        let mut query = sqlx::query(&sql);
        for (id, at) in &used {
            query = query.bind(id.0).bind(at.0);
        }
        query.execute(self.writer()).await.map_err(db_err)?;
        Ok(())
    }
}
