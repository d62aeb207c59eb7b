//! Rate limits and role scopes. Compiled once per backend (see `store/sql/mod.rs`).

use super::Backend;
use super::tx;
use crate::domain::audit::{AuditContext, action};
use crate::domain::ids::OrgId;
use crate::domain::rate_limit::RateLimitPolicy;
use crate::domain::role::Role;
use crate::domain::scope::Scopes;
use crate::store::codec::{self, policy_to_json, to_json};
use crate::store::sql::{Dialect, db_err, key_event};
use crate::store::text::Text;
use crate::store::{ChangeKind, PolicyReads, PolicyStore, RateLimitTarget, StoreError, StoreResult};
use async_trait::async_trait;

#[async_trait]
impl PolicyReads for Backend {
    #[tracing::instrument(name = "store.get_org_rate_limit", level = "debug", skip_all)]
    async fn get_org_rate_limit(&self, org: OrgId) -> StoreResult<Option<Option<RateLimitPolicy>>> {
        let row: Option<Option<Text>> = sqlx::query_scalar(&Backend::sql("SELECT rate_limit FROM orgs WHERE id = ?"))
            .bind(org.0)
            .fetch_optional(self.reader())
            .await
            .map_err(db_err)?;
        row.map(|policy| codec::policy_from_json(policy.map(String::from).as_deref()))
            .transpose()
    }

    #[tracing::instrument(name = "store.role_scopes", level = "debug", skip_all)]
    async fn role_scopes(&self, org: OrgId) -> StoreResult<Vec<(Role, Scopes)>> {
        let rows: Vec<(Text, Text)> =
            sqlx::query_as(&Backend::sql("SELECT role, scopes FROM role_scopes WHERE org_id = ?"))
                .bind(org.0)
                .fetch_all(self.reader())
                .await
                .map_err(db_err)?;
        rows.into_iter()
            .map(|(Text(role), Text(scopes))| Ok((codec::role(&role)?, codec::scopes(&scopes)?)))
            .collect()
    }
}

#[async_trait]
impl PolicyStore for Backend {
    #[tracing::instrument(name = "store.set_rate_limit", level = "debug", skip_all)]
    async fn set_rate_limit(
        &self,
        ctx: &AuditContext,
        target: RateLimitTarget,
        policy: Option<RateLimitPolicy>,
    ) -> StoreResult<()> {
        if target == RateLimitTarget::Org && policy.is_none() {
            return Err(StoreError::Internal(anyhow::anyhow!("the org default needs a policy")));
        }
        let mut tx = tx::begin(self).await?;
        let json = policy_to_json(&policy);
        let (mut event, kind, subject) = match target {
            RateLimitTarget::Org => {
                sqlx::query(&Backend::sql("UPDATE orgs SET rate_limit = ? WHERE id = ?"))
                    .bind(json)
                    .bind(ctx.org_id.0)
                    .execute(&mut *tx)
                    .await
                    .map_err(db_err)?;
                let event = ctx.event(action::ORG_RATE_LIMIT_SET, format!("org:{}", ctx.org_id));
                (event, ChangeKind::Org, ctx.org_id.to_string())
            }
            RateLimitTarget::Key(id) => {
                let key = tx::key(&mut tx, ctx.org_id, id).await?.ok_or(StoreError::NotFound)?;
                sqlx::query(&Backend::sql(
                    "UPDATE api_keys SET rate_limit = ? WHERE id = ? AND org_id = ?",
                ))
                .bind(json)
                .bind(id.0)
                .bind(ctx.org_id.0)
                .execute(&mut *tx)
                .await
                .map_err(db_err)?;
                (
                    key_event(ctx, action::KEY_RATE_LIMIT_SET, &key),
                    ChangeKind::Key,
                    id.to_string(),
                )
            }
        };
        if let Some(p) = policy {
            event.details.insert("limit".into(), p.limit.to_string());
            event
                .details
                .insert("window_ms".into(), p.window.as_millis().to_string());
            event.details.insert("burst".into(), p.burst.to_string());
        }
        tx::insert_audit(&mut tx, &event).await?;
        tx::record_change(&mut tx, kind, subject, Some(ctx.org_id), ctx.now).await?;
        tx::commit(tx).await
    }

    #[tracing::instrument(name = "store.set_role_scopes", level = "debug", skip_all)]
    async fn set_role_scopes(&self, ctx: &AuditContext, role: Role, scopes: &Scopes) -> StoreResult<()> {
        let mut tx = tx::begin(self).await?;
        sqlx::query(&Backend::sql(Backend::UPSERT_ROLE_SCOPES))
            .bind(ctx.org_id.0)
            .bind(role.as_str())
            .bind(to_json(&scopes.to_strings()))
            .bind(ctx.now.0)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        let mut event = ctx.event(action::ROLE_SCOPES_SET, format!("org:{}", ctx.org_id));
        event.details.insert("role".into(), role.to_string());
        event.details.insert("scopes".into(), scopes.to_strings().join(" "));
        tx::insert_audit(&mut tx, &event).await?;
        tx::record_change(
            &mut tx,
            ChangeKind::Org,
            ctx.org_id.to_string(),
            Some(ctx.org_id),
            ctx.now,
        )
        .await?;
        tx::commit(tx).await
    }
}
