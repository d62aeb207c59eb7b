//! Orgs, members and service accounts. Compiled once per backend (see `store/sql/mod.rs`).

use super::Backend;
use super::members::{self, MEMBER_SELECT};
use super::tx;
use crate::domain::audit::{Actor, AuditContext, action};
use crate::domain::fields::Email;
use crate::domain::ids::{OrgId, ServiceAccountId, SessionId, UserId};
use crate::domain::role::Role;
use crate::store::codec::{ServiceAccountRow, UserRow, paginate};
use crate::store::sql::{Dialect, conflict_on, db_err, fetch_limit};
use crate::store::text::Text;
use crate::store::{
    Ended, LoginRecord, NewUser, Org, OrgReads, OrgStore, Page, PageRequest, ServiceAccount, StoreError, StoreResult,
    Taken, User,
};
use async_trait::async_trait;

#[derive(sqlx::FromRow)]
struct LoginRow {
    #[sqlx(flatten)]
    user: UserRow,
    #[sqlx(try_from = "Text")]
    password_hash: String,
}

#[async_trait]
impl OrgStore for Backend {
    #[tracing::instrument(name = "store.create_org_with_owner", level = "debug", skip_all)]
    async fn create_org_with_owner(&self, org: &Org, owner: &NewUser) -> StoreResult<()> {
        let mut tx = tx::begin(self).await?;
        if tx::exists(&mut tx, "SELECT COUNT(*) FROM orgs WHERE name = ?", org.name.as_str()).await? {
            return Err(StoreError::Conflict(Taken::OrgName));
        }
        sqlx::query(&Backend::sql(
            "INSERT INTO orgs (id, name, created_at) VALUES (?, ?, ?)",
        ))
        .bind(org.id.0)
        .bind(org.name.as_str())
        .bind(org.created_at.0)
        .execute(&mut *tx)
        .await
        .map_err(conflict_on(Taken::OrgName))?;
        let ctx = AuditContext {
            org_id: org.id,
            actor: Actor::System,
            client_ip: String::new(),
            now: org.created_at,
        };
        tx::insert_audit(&mut tx, &ctx.event(action::ORG_CREATED, format!("org:{}", org.id))).await?;
        tx::insert_user(&mut tx, &ctx, owner).await?;
        tx::commit(tx).await
    }

    #[tracing::instrument(name = "store.create_user", level = "debug", skip_all)]
    async fn create_user(&self, ctx: &AuditContext, user: &NewUser) -> StoreResult<User> {
        let mut tx = tx::begin(self).await?;
        let created = tx::insert_user(&mut tx, ctx, user).await?;
        tx::commit(tx).await?;
        Ok(created)
    }

    #[tracing::instrument(name = "store.create_service_account", level = "debug", skip_all)]
    async fn create_service_account(&self, ctx: &AuditContext, sa: &ServiceAccount) -> StoreResult<()> {
        let mut tx = tx::begin(self).await?;
        sqlx::query(&Backend::sql(
            "INSERT INTO service_accounts (id, org_id, name, role, created_at) VALUES (?, ?, ?, ?, ?)",
        ))
        .bind(sa.id.0)
        .bind(ctx.org_id.0)
        .bind(sa.name.as_str())
        .bind(sa.role.as_str())
        .bind(sa.created_at.0)
        .execute(&mut *tx)
        .await
        .map_err(conflict_on(Taken::ServiceAccountName))?;
        let mut event = ctx.event(action::SERVICE_ACCOUNT_CREATED, format!("service_account:{}", sa.id));
        event.details.insert("name".into(), sa.name.as_str().to_owned());
        event.details.insert("role".into(), sa.role.to_string());
        tx::insert_audit(&mut tx, &event).await?;
        tx::commit(tx).await
    }

    // Issue 9, members and service-account deletion: the statements are in `members.rs`.

    #[tracing::instrument(name = "store.set_member_role", level = "debug", skip_all)]
    async fn set_member_role(
        &self,
        ctx: &AuditContext,
        user: UserId,
        role: Role,
        caller_role: Role,
    ) -> StoreResult<(User, Ended)> {
        members::set_role(self, ctx, user, role, caller_role).await
    }

    #[tracing::instrument(name = "store.remove_member", level = "debug", skip_all)]
    async fn remove_member(&self, ctx: &AuditContext, user: UserId, caller_role: Role) -> StoreResult<Ended> {
        members::remove(self, ctx, user, caller_role).await
    }

    #[tracing::instrument(name = "store.change_password", level = "debug", skip_all)]
    async fn change_password(
        &self,
        ctx: &AuditContext,
        user: UserId,
        keep: SessionId,
        current_hash: &str,
        new_hash: &str,
    ) -> StoreResult<Ended> {
        members::change_password(self, ctx, user, keep, current_hash, new_hash).await
    }

    #[tracing::instrument(name = "store.delete_service_account", level = "debug", skip_all)]
    async fn delete_service_account(&self, ctx: &AuditContext, id: ServiceAccountId) -> StoreResult<Ended> {
        members::delete_service_account(self, ctx, id).await
    }
}

#[async_trait]
impl OrgReads for Backend {
    #[tracing::instrument(name = "store.find_login", level = "debug", skip_all)]
    async fn find_login(&self, email: &Email) -> StoreResult<Option<LoginRecord>> {
        let row: Option<LoginRow> = sqlx::query_as(&Backend::sql(
            "SELECT u.id, m.org_id, u.email, m.role, u.created_at, u.last_login_at, u.password_hash \
             FROM users u JOIN memberships m ON m.user_id = u.id WHERE u.email = ? \
             ORDER BY m.created_at LIMIT 1",
        ))
        .bind(email.as_str())
        .fetch_optional(self.reader())
        .await
        .map_err(db_err)?;
        row.map(|r| {
            Ok(LoginRecord {
                user: User::try_from(r.user)?,
                password_hash: r.password_hash,
            })
        })
        .transpose()
    }

    #[tracing::instrument(name = "store.get_member", level = "debug", skip_all)]
    async fn get_member(&self, org: OrgId, user: UserId) -> StoreResult<Option<User>> {
        let sql = format!("{MEMBER_SELECT} WHERE m.org_id = ? AND u.id = ?");
        let row: Option<UserRow> = sqlx::query_as(&Backend::sql(&sql))
            .bind(org.0)
            .bind(user.0)
            .fetch_optional(self.reader())
            .await
            .map_err(db_err)?;
        row.map(User::try_from).transpose()
    }

    #[tracing::instrument(name = "store.get_service_account", level = "debug", skip_all)]
    async fn get_service_account(&self, org: OrgId, id: ServiceAccountId) -> StoreResult<Option<ServiceAccount>> {
        let row: Option<ServiceAccountRow> = sqlx::query_as(&Backend::sql(
            "SELECT id, org_id, name, role, created_at FROM service_accounts \
             WHERE org_id = ? AND id = ? AND deleted_at IS NULL",
        ))
        .bind(org.0)
        .bind(id.0)
        .fetch_optional(self.reader())
        .await
        .map_err(db_err)?;
        row.map(ServiceAccount::try_from).transpose()
    }

    #[tracing::instrument(name = "store.list_service_accounts", level = "debug", skip_all)]
    async fn list_service_accounts(&self, org: OrgId, page: PageRequest) -> StoreResult<Page<ServiceAccount>> {
        let rows: Vec<ServiceAccountRow> = sqlx::query_as(&Backend::sql(
            "SELECT id, org_id, name, role, created_at FROM service_accounts \
             WHERE org_id = ? AND deleted_at IS NULL AND (? IS NULL OR id > ?) ORDER BY id LIMIT ?",
        ))
        .bind(org.0)
        .bind(page.after)
        .bind(page.after)
        .bind(fetch_limit(page))
        .fetch_all(self.reader())
        .await
        .map_err(db_err)?;
        paginate(rows, page, |sa: &ServiceAccount| sa.id.0)
    }

    // Issue 9, members.

    #[tracing::instrument(name = "store.list_members", level = "debug", skip_all)]
    async fn list_members(&self, org: OrgId, page: PageRequest) -> StoreResult<Page<User>> {
        members::list(self, org, page).await
    }

    #[tracing::instrument(name = "store.member_login", level = "debug", skip_all)]
    async fn member_login(&self, org: OrgId, user: UserId) -> StoreResult<Option<LoginRecord>> {
        let row: Option<LoginRow> = sqlx::query_as(&Backend::sql(
            "SELECT u.id, m.org_id, u.email, m.role, u.created_at, u.last_login_at, u.password_hash \
             FROM users u JOIN memberships m ON m.user_id = u.id WHERE m.org_id = ? AND u.id = ?",
        ))
        .bind(org.0)
        .bind(user.0)
        .fetch_optional(self.reader())
        .await
        .map_err(db_err)?;
        row.map(|r| {
            Ok(LoginRecord {
                user: User::try_from(r.user)?,
                password_hash: r.password_hash,
            })
        })
        .transpose()
    }
}
