//! The storage contract written once in portable SQL and instantiated for each backend.
//!
//! Both schemas use the same column names, Unix-millisecond integers and JSON text, and
//! sqlx binds `$N` on SQLite too, so one body of SQL serves both. Races are settled by
//! conditional `UPDATE … WHERE <state>` plus a `rows_affected` check, which behaves the same
//! under PostgreSQL row locks and SQLite's single writer.

use super::StoreError;

/// Classifies a driver error: retryable (`Unavailable`) or a failure (`Internal`); see `fault`.
pub(super) fn db_err(e: sqlx::Error) -> StoreError {
    super::fault::store_error(e)
}

/// A unique violation becomes `Conflict(field)`; anything else as [`db_err`].
pub(super) fn conflict_on(field: super::Taken) -> impl Fn(sqlx::Error) -> StoreError {
    move |e| match &e {
        sqlx::Error::Database(d) if d.is_unique_violation() => StoreError::Conflict(field),
        _ => db_err(e),
    }
}

/// The row limit for a page: one extra row tells whether more exist. The use cases have
/// already bounded `size` (see `service::paging`).
pub(super) fn fetch_limit(page: super::PageRequest) -> i64 {
    i64::from(page.size) + 1
}

macro_rules! impl_sql_store {
    ($store:ty, $db:ty, $migrator:expr, $notify:expr) => {
    // A child module, so these imports shadow (rather than clash with) the backend file's.
    mod generated {
        #[allow(unused_imports)]
        use super::*;
        use crate::domain::api_key::{ApiKey, NewKey};
        use crate::domain::audit::{action, Actor, AuditContext, AuditEvent};
        use crate::domain::fields::Email;
        use crate::domain::ids::{KeyId, OrgId, ServiceAccountId, SessionId, UserId};
        use crate::domain::time::UnixMs;
        use crate::store::codec::{
            self, paginate, policy_to_json, to_json, AuditRow, KeyRow, ServiceAccountRow, SessionRow,
            UserRow, KEY_COLUMNS,
        };
        use crate::store::sql::{conflict_on, db_err, fetch_limit};
        use crate::store::{
            Change, ChangeKind, ChangeSubscription, LoginRecord, NewRefreshToken, NewUser, NextRefreshToken,
            RateLimitTarget, Org, Page, PageRequest, Precondition, RefreshOutcome,
            ServiceAccount, Session, SigningKeyRecord, Store, StoreError, StoreResult, Taken, User,
        };
        use crate::domain::rate_limit::RateLimitPolicy;
        use crate::domain::role::Role;
        use crate::domain::scope::Scopes;
        use async_trait::async_trait;

        type Tx<'a> = sqlx::Transaction<'a, $db>;

        const MEMBER_SELECT: &str = "SELECT u.id, m.org_id, u.email, m.role, u.created_at \
             FROM users u JOIN memberships m ON m.user_id = u.id";

        #[derive(sqlx::FromRow)]
        struct LoginRow {
            #[sqlx(flatten)]
            user: UserRow,
            password_hash: String,
        }

        #[derive(sqlx::FromRow)]
        struct TokenRow {
            session_id: uuid::Uuid,
            expires_at: i64,
            used_at: Option<i64>,
        }

        #[derive(sqlx::FromRow)]
        struct SigningKeyRow {
            kid: String,
            public_key: Vec<u8>,
            created_at: i64,
            activates_at: i64,
        }

        impl $store {
            async fn insert_audit(tx: &mut Tx<'_>, e: &AuditEvent) -> StoreResult<()> {
                sqlx::query(
                    "INSERT INTO audit_events (id, org_id, actor, action, target, key_prefix, client_ip, \
                     occurred_at, details) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
                )
                .bind(e.id.0)
                .bind(e.org_id.map(|o| o.0))
                .bind(e.actor.to_string())
                .bind(&e.action)
                .bind(&e.target)
                .bind(&e.key_prefix)
                .bind(&e.client_ip)
                .bind(e.occurred_at.0)
                .bind(to_json(&e.details))
                .execute(&mut **tx)
                .await
                .map_err(db_err)?;
                Ok(())
            }

            /// Appends to the change feed that replicas follow to drop cached credentials.
            async fn record_change(
                tx: &mut Tx<'_>,
                kind: ChangeKind,
                subject: String,
                org: Option<OrgId>,
                now: UnixMs,
            ) -> StoreResult<()> {
                sqlx::query("INSERT INTO changes (kind, subject, org_id, created_at) VALUES ($1, $2, $3, $4)")
                    .bind(kind.as_str())
                    .bind(subject)
                    .bind(org.map(|o| o.0))
                    .bind(now.0)
                    .execute(&mut **tx)
                    .await
                    .map_err(db_err)?;
                // Wakes listening replicas when the transaction commits (PostgreSQL only).
                let notify: Option<&str> = $notify;
                if let Some(sql) = notify {
                    sqlx::query(sql).execute(&mut **tx).await.map_err(db_err)?;
                }
                Ok(())
            }

            async fn key_in_tx(tx: &mut Tx<'_>, org: OrgId, id: KeyId) -> StoreResult<Option<ApiKey>> {
                let sql = format!("SELECT {KEY_COLUMNS} FROM api_keys WHERE org_id = $1 AND id = $2");
                let row: Option<KeyRow> = sqlx::query_as(&sql)
                    .bind(org.0)
                    .bind(id.0)
                    .fetch_optional(&mut **tx)
                    .await
                    .map_err(db_err)?;
                row.map(ApiKey::try_from).transpose()
            }

            async fn insert_key_row(tx: &mut Tx<'_>, new: &NewKey) -> StoreResult<()> {
                let k = &new.key;
                sqlx::query(
                    "INSERT INTO api_keys (id, org_id, service_account_id, key_hash, pepper_version, name, kind, \
                     environment, prefix, start, role, scopes, ip_allowlist, expires_at, rate_limit, metadata, \
                     created_at, created_by, rotated_from) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, \
                     $12, $13, $14, $15, $16, $17, $18, $19)",
                )
                .bind(k.id.0)
                .bind(k.org_id.0)
                .bind(k.service_account_id.0)
                .bind(&new.hash[..])
                .bind(new.pepper_version)
                .bind(k.name.as_str())
                .bind(k.kind.as_str())
                .bind(k.environment.as_str())
                .bind(&k.prefix)
                .bind(&k.start)
                .bind(k.role.as_str())
                .bind(to_json(&k.scopes.to_strings()))
                .bind(to_json(&k.ip_allowlist.to_strings()))
                .bind(k.expires_at.map(|t| t.0))
                .bind(policy_to_json(&k.rate_limit))
                .bind(to_json(k.metadata.as_map()))
                .bind(k.created_at.0)
                .bind(k.created_by.to_string())
                .bind(k.rotated_from.map(|id| id.0))
                .execute(&mut **tx)
                .await
                .map_err(db_err)?;
                Ok(())
            }

            fn key_event(ctx: &AuditContext, act: &str, key: &ApiKey) -> AuditEvent {
                let mut e = ctx.event(act, format!("key:{}", key.id));
                e.key_prefix = key.display_prefix();
                e.details.insert("service_account_id".into(), key.service_account_id.to_string());
                e.details.insert("name".into(), key.name.as_str().to_owned());
                e
            }

            async fn count(tx: &mut Tx<'_>, sql: &str, value: &str) -> StoreResult<i64> {
                sqlx::query_scalar(sql).bind(value).fetch_one(&mut **tx).await.map_err(db_err)
            }

            /// Revokes a session (theft or logout) with its audit event and change-feed row.
            async fn revoke_session_in_tx(
                tx: &mut Tx<'_>,
                session: &Session,
                act: &str,
                client_ip: &str,
                now: UnixMs,
            ) -> StoreResult<()> {
                let done = sqlx::query("UPDATE sessions SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL")
                    .bind(now.0)
                    .bind(session.id.0)
                    .execute(&mut **tx)
                    .await
                    .map_err(db_err)?;
                if done.rows_affected() == 0 {
                    return Ok(());
                }
                let ctx = AuditContext {
                    org_id: session.org_id,
                    actor: Actor::User(session.user_id),
                    client_ip: client_ip.to_owned(),
                    now,
                };
                Self::insert_audit(tx, &ctx.event(act, format!("session:{}", session.id))).await?;
                Self::record_change(tx, ChangeKind::Session, session.id.to_string(), Some(session.org_id), now).await
            }

            async fn insert_user_in_tx(tx: &mut Tx<'_>, ctx: &AuditContext, user: &NewUser) -> StoreResult<User> {
                if Self::count(tx, "SELECT COUNT(*) FROM users WHERE email = $1", user.email.as_str()).await? > 0 {
                    return Err(StoreError::Conflict(Taken::Email));
                }
                sqlx::query("INSERT INTO users (id, email, password_hash, created_at) VALUES ($1, $2, $3, $4)")
                    .bind(user.id.0)
                    .bind(user.email.as_str())
                    .bind(&user.password_hash)
                    .bind(user.created_at.0)
                    .execute(&mut **tx)
                    .await
                    .map_err(conflict_on(Taken::Email))?;
                sqlx::query("INSERT INTO memberships (org_id, user_id, role, created_at) VALUES ($1, $2, $3, $4)")
                    .bind(ctx.org_id.0)
                    .bind(user.id.0)
                    .bind(user.role.as_str())
                    .bind(user.created_at.0)
                    .execute(&mut **tx)
                    .await
                    .map_err(db_err)?;
                let mut event = ctx.event(action::USER_CREATED, format!("user:{}", user.id));
                event.details.insert("role".into(), user.role.to_string());
                Self::insert_audit(tx, &event).await?;
                Ok(User {
                    id: user.id,
                    org_id: ctx.org_id,
                    email: user.email.as_str().to_owned(),
                    role: user.role,
                    created_at: user.created_at,
                })
            }

            async fn session_in_tx(tx: &mut Tx<'_>, id: uuid::Uuid) -> StoreResult<Option<Session>> {
                let row: Option<SessionRow> = sqlx::query_as(
                    "SELECT id, org_id, user_id, user_agent, remember_me, created_at, revoked_at \
                     FROM sessions WHERE id = $1",
                )
                .bind(id)
                .fetch_optional(&mut **tx)
                .await
                .map_err(db_err)?;
                Ok(row.map(Session::from))
            }

            async fn insert_refresh_token(tx: &mut Tx<'_>, t: &NewRefreshToken) -> StoreResult<()> {
                sqlx::query(
                    "INSERT INTO refresh_tokens (token_hash, session_id, created_at, expires_at) \
                     VALUES ($1, $2, $3, $4)",
                )
                .bind(&t.hash[..])
                .bind(t.session_id.0)
                .bind(t.created_at.0)
                .bind(t.expires_at.0)
                .execute(&mut **tx)
                .await
                .map_err(db_err)?;
                Ok(())
            }
        }

        #[async_trait]
        impl Store for $store {
            #[tracing::instrument(name = "store.migrate", level = "debug", skip_all)]
            async fn migrate(&self) -> StoreResult<()> {
                $migrator
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

            #[tracing::instrument(name = "store.create_org_with_owner", level = "debug", skip_all)]
            async fn create_org_with_owner(&self, org: &Org, owner: &NewUser) -> StoreResult<()> {
                let mut tx = self.writer().begin().await.map_err(db_err)?;
                if Self::count(&mut tx, "SELECT COUNT(*) FROM orgs WHERE name = $1", org.name.as_str()).await? > 0 {
                    return Err(StoreError::Conflict(Taken::OrgName));
                }
                sqlx::query("INSERT INTO orgs (id, name, created_at) VALUES ($1, $2, $3)")
                    .bind(org.id.0)
                    .bind(org.name.as_str())
                    .bind(org.created_at.0)
                    .execute(&mut *tx)
                    .await
                    .map_err(conflict_on(Taken::OrgName))?;
                let ctx = AuditContext { org_id: org.id, actor: Actor::System, client_ip: String::new(), now: org.created_at };
                Self::insert_audit(&mut tx, &ctx.event(action::ORG_CREATED, format!("org:{}", org.id))).await?;
                Self::insert_user_in_tx(&mut tx, &ctx, owner).await?;
                tx.commit().await.map_err(db_err)
            }

            #[tracing::instrument(name = "store.find_login", level = "debug", skip_all)]
            async fn find_login(&self, email: &Email) -> StoreResult<Option<LoginRecord>> {
                let sql = "SELECT u.id, m.org_id, u.email, m.role, u.created_at, u.password_hash \
                     FROM users u JOIN memberships m ON m.user_id = u.id WHERE u.email = $1 \
                     ORDER BY m.created_at LIMIT 1";
                let row: Option<LoginRow> = sqlx::query_as(sql)
                    .bind(email.as_str())
                    .fetch_optional(self.reader())
                    .await
                    .map_err(db_err)?;
                row.map(|r| Ok(LoginRecord { user: User::try_from(r.user)?, password_hash: r.password_hash }))
                    .transpose()
            }

            #[tracing::instrument(name = "store.get_member", level = "debug", skip_all)]
            async fn get_member(&self, org: OrgId, user: UserId) -> StoreResult<Option<User>> {
                let sql = format!("{MEMBER_SELECT} WHERE m.org_id = $1 AND u.id = $2");
                let row: Option<UserRow> = sqlx::query_as(&sql)
                    .bind(org.0)
                    .bind(user.0)
                    .fetch_optional(self.reader())
                    .await
                    .map_err(db_err)?;
                row.map(User::try_from).transpose()
            }

            #[tracing::instrument(name = "store.create_user", level = "debug", skip_all)]
            async fn create_user(&self, ctx: &AuditContext, user: &NewUser) -> StoreResult<User> {
                let mut tx = self.writer().begin().await.map_err(db_err)?;
                let created = Self::insert_user_in_tx(&mut tx, ctx, user).await?;
                tx.commit().await.map_err(db_err)?;
                Ok(created)
            }

            #[tracing::instrument(name = "store.create_service_account", level = "debug", skip_all)]
            async fn create_service_account(&self, ctx: &AuditContext, sa: &ServiceAccount) -> StoreResult<()> {
                let mut tx = self.writer().begin().await.map_err(db_err)?;
                sqlx::query("INSERT INTO service_accounts (id, org_id, name, role, created_at) VALUES ($1, $2, $3, $4, $5)")
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
                Self::insert_audit(&mut tx, &event).await?;
                tx.commit().await.map_err(db_err)
            }

            #[tracing::instrument(name = "store.get_service_account", level = "debug", skip_all)]
            async fn get_service_account(&self, org: OrgId, id: ServiceAccountId) -> StoreResult<Option<ServiceAccount>> {
                let row: Option<ServiceAccountRow> = sqlx::query_as(
                    "SELECT id, org_id, name, role, created_at FROM service_accounts WHERE org_id = $1 AND id = $2",
                )
                .bind(org.0)
                .bind(id.0)
                .fetch_optional(self.reader())
                .await
                .map_err(db_err)?;
                row.map(ServiceAccount::try_from).transpose()
            }

            #[tracing::instrument(name = "store.list_service_accounts", level = "debug", skip_all)]
            async fn list_service_accounts(&self, org: OrgId, page: PageRequest) -> StoreResult<Page<ServiceAccount>> {
                let rows: Vec<ServiceAccountRow> = sqlx::query_as(
                    "SELECT id, org_id, name, role, created_at FROM service_accounts \
                     WHERE org_id = $1 AND ($2 IS NULL OR id > $2) ORDER BY id LIMIT $3",
                )
                .bind(org.0)
                .bind(page.after)
                .bind(fetch_limit(page))
                .fetch_all(self.reader())
                .await
                .map_err(db_err)?;
                paginate(rows, page, |sa: &ServiceAccount| sa.id.0)
            }

            #[tracing::instrument(name = "store.insert_key", level = "debug", skip_all)]
            async fn insert_key(&self, ctx: &AuditContext, new: &NewKey) -> StoreResult<()> {
                let mut tx = self.writer().begin().await.map_err(db_err)?;
                Self::insert_key_row(&mut tx, new).await?;
                Self::insert_audit(&mut tx, &Self::key_event(ctx, action::KEY_ISSUED, &new.key)).await?;
                tx.commit().await.map_err(db_err)
            }

            #[tracing::instrument(name = "store.get_key", level = "debug", skip_all)]
            async fn get_key(&self, org: OrgId, id: KeyId) -> StoreResult<Option<ApiKey>> {
                let sql = format!("SELECT {KEY_COLUMNS} FROM api_keys WHERE org_id = $1 AND id = $2");
                let row: Option<KeyRow> = sqlx::query_as(&sql)
                    .bind(org.0)
                    .bind(id.0)
                    .fetch_optional(self.reader())
                    .await
                    .map_err(db_err)?;
                row.map(ApiKey::try_from).transpose()
            }

            #[tracing::instrument(name = "store.find_key_by_hash", level = "debug", skip_all)]
            async fn find_key_by_hash(&self, hash: &[u8; 32]) -> StoreResult<Option<ApiKey>> {
                let sql = format!("SELECT {KEY_COLUMNS} FROM api_keys WHERE key_hash = $1");
                let row: Option<KeyRow> = sqlx::query_as(&sql)
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
                    "SELECT {KEY_COLUMNS} FROM api_keys WHERE org_id = $1 \
                     AND ($2 IS NULL OR service_account_id = $2) AND ($3 IS NULL OR id > $3) ORDER BY id LIMIT $4"
                );
                let rows: Vec<KeyRow> = sqlx::query_as(&sql)
                    .bind(org.0)
                    .bind(service_account.map(|s| s.0))
                    .bind(page.after)
                    .bind(fetch_limit(page))
                    .fetch_all(self.reader())
                    .await
                    .map_err(db_err)?;
                paginate(rows, page, |k: &ApiKey| k.id.0)
            }

            #[tracing::instrument(name = "store.revoke_key", level = "debug", skip_all)]
            async fn revoke_key(&self, ctx: &AuditContext, id: KeyId) -> StoreResult<ApiKey> {
                let mut tx = self.writer().begin().await.map_err(db_err)?;
                let mut key = Self::key_in_tx(&mut tx, ctx.org_id, id).await?.ok_or(StoreError::NotFound)?;
                if key.revoked_at.is_some() {
                    return Ok(key);
                }
                let done = sqlx::query(
                    "UPDATE api_keys SET revoked_at = $1, revoked_by = $2 WHERE id = $3 AND revoked_at IS NULL",
                )
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
                Self::insert_audit(&mut tx, &Self::key_event(ctx, action::KEY_REVOKED, &key)).await?;
                Self::record_change(&mut tx, ChangeKind::Key, id.to_string(), Some(ctx.org_id), ctx.now).await?;
                tx.commit().await.map_err(db_err)?;
                key.revoked_at = Some(ctx.now);
                key.revoked_by = Some(ctx.actor);
                Ok(key)
            }

            #[tracing::instrument(name = "store.rotate_key", level = "debug", skip_all)]
            async fn rotate_key(
                &self,
                ctx: &AuditContext,
                old: KeyId,
                new: &NewKey,
                old_expires_at: Option<UnixMs>,
            ) -> StoreResult<(ApiKey, ApiKey)> {
                let mut tx = self.writer().begin().await.map_err(db_err)?;
                let mut old_key = Self::key_in_tx(&mut tx, ctx.org_id, old).await?.ok_or(StoreError::NotFound)?;
                // The WHERE clause re-checks the state under the row lock: of two racing
                // rotations only one matches.
                let sql = match old_expires_at {
                    None => "UPDATE api_keys SET rotated_to = $1, revoked_at = $5, revoked_by = $2 \
                         WHERE id = $3 AND org_id = $4 AND revoked_at IS NULL AND rotated_to IS NULL \
                         AND (expires_at IS NULL OR expires_at > $5)",
                    Some(_) => "UPDATE api_keys SET rotated_to = $1, expires_at = $2 \
                         WHERE id = $3 AND org_id = $4 AND revoked_at IS NULL AND rotated_to IS NULL \
                         AND (expires_at IS NULL OR expires_at > $5)",
                };
                // The WHERE clause re-checks the state under the row lock: of two racing
                // rotations only one matches.
                let query = sqlx::query(sql).bind(new.key.id.0);
                let done = match old_expires_at {
                    None => query.bind(ctx.actor.to_string()),
                    Some(exp) => query.bind(exp.0),
                }
                .bind(old.0)
                .bind(ctx.org_id.0)
                .bind(ctx.now.0)
                .execute(&mut *tx)
                .await
                .map_err(db_err)?;
                if done.rows_affected() == 0 {
                    return Err(StoreError::Precondition(Precondition::KeyNotRotatable));
                }
                Self::insert_key_row(&mut tx, new).await?;
                let mut event = Self::key_event(ctx, action::KEY_ROTATED, &old_key);
                event.details.insert("new_key_id".into(), new.key.id.to_string());
                event.details.insert("new_key_prefix".into(), new.key.display_prefix());
                Self::insert_audit(&mut tx, &event).await?;
                match old_expires_at {
                    None => {
                        Self::insert_audit(&mut tx, &Self::key_event(ctx, action::KEY_REVOKED, &old_key)).await?;
                        old_key.revoked_at = Some(ctx.now);
                        old_key.revoked_by = Some(ctx.actor);
                    }
                    Some(exp) => old_key.expires_at = Some(exp),
                }
                Self::record_change(&mut tx, ChangeKind::Key, old.to_string(), Some(ctx.org_id), ctx.now).await?;
                tx.commit().await.map_err(db_err)?;
                Ok((new.key.clone(), old_key))
            }

            #[tracing::instrument(name = "store.delete_key", level = "debug", skip_all)]
            async fn delete_key(&self, ctx: &AuditContext, id: KeyId) -> StoreResult<()> {
                let mut tx = self.writer().begin().await.map_err(db_err)?;
                let key = Self::key_in_tx(&mut tx, ctx.org_id, id).await?.ok_or(StoreError::NotFound)?;
                if key.revoked_at.is_none() {
                    return Err(StoreError::Precondition(Precondition::KeyNotRevoked));
                }
                sqlx::query("DELETE FROM api_keys WHERE id = $1 AND org_id = $2")
                    .bind(id.0)
                    .bind(ctx.org_id.0)
                    .execute(&mut *tx)
                    .await
                    .map_err(db_err)?;
                Self::insert_audit(&mut tx, &Self::key_event(ctx, action::KEY_DELETED, &key)).await?;
                Self::record_change(&mut tx, ChangeKind::Key, id.to_string(), Some(ctx.org_id), ctx.now).await?;
                tx.commit().await.map_err(db_err)
            }

            #[tracing::instrument(name = "store.create_session", level = "debug", skip_all)]
            async fn create_session(&self, ctx: &AuditContext, s: &Session, token: &NewRefreshToken) -> StoreResult<()> {
                let mut tx = self.writer().begin().await.map_err(db_err)?;
                sqlx::query(
                    "INSERT INTO sessions (id, org_id, user_id, user_agent, remember_me, created_at) \
                     VALUES ($1, $2, $3, $4, $5, $6)",
                )
                .bind(s.id.0)
                .bind(s.org_id.0)
                .bind(s.user_id.0)
                .bind(&s.user_agent)
                .bind(s.remember_me)
                .bind(s.created_at.0)
                .execute(&mut *tx)
                .await
                .map_err(db_err)?;
                Self::insert_refresh_token(&mut tx, token).await?;
                Self::insert_audit(&mut tx, &ctx.event(action::LOGIN_SUCCEEDED, format!("session:{}", s.id))).await?;
                tx.commit().await.map_err(db_err)
            }

            #[tracing::instrument(name = "store.refresh_session", level = "debug", skip_all)]
            async fn refresh_session(
                &self,
                presented: &[u8; 32],
                user_agent: &str,
                next: &NextRefreshToken,
                client_ip: &str,
                now: UnixMs,
            ) -> StoreResult<RefreshOutcome> {
                let mut tx = self.writer().begin().await.map_err(db_err)?;
                let token: Option<TokenRow> =
                    sqlx::query_as("SELECT session_id, expires_at, used_at FROM refresh_tokens WHERE token_hash = $1")
                        .bind(&presented[..])
                        .fetch_optional(&mut *tx)
                        .await
                        .map_err(db_err)?;
                let Some(token) = token else { return Ok(RefreshOutcome::NotFound) };
                let Some(session) = Self::session_in_tx(&mut tx, token.session_id).await? else {
                    return Ok(RefreshOutcome::NotFound);
                };
                if session.revoked_at.is_some() {
                    return Ok(RefreshOutcome::SessionRevoked);
                }
                // The session as it stands after the revocation this outcome implies.
                let reused = |mut session: Session| {
                    session.revoked_at.get_or_insert(now);
                    RefreshOutcome::Reused(session)
                };
                if token.used_at.is_some() {
                    Self::revoke_session_in_tx(&mut tx, &session, action::REFRESH_TOKEN_REUSED, client_ip, now).await?;
                    tx.commit().await.map_err(db_err)?;
                    return Ok(reused(session));
                }
                if session.user_agent != user_agent {
                    // Audited (the session, never the token), and nothing else changes: the
                    // token stays valid for its own client.
                    let ctx = AuditContext {
                        org_id: session.org_id,
                        actor: Actor::User(session.user_id),
                        client_ip: client_ip.to_owned(),
                        now,
                    };
                    Self::insert_audit(&mut tx, &ctx.event(action::USER_AGENT_MISMATCH, format!("session:{}", session.id)))
                        .await?;
                    tx.commit().await.map_err(db_err)?;
                    return Ok(RefreshOutcome::UserAgentMismatch);
                }
                if now.0 >= token.expires_at {
                    return Ok(RefreshOutcome::Expired);
                }
                // The role for the new access token, read before the token is consumed: a
                // failure here leaves the client its token to retry with.
                let role: Option<String> =
                    sqlx::query_scalar("SELECT role FROM memberships WHERE org_id = $1 AND user_id = $2")
                        .bind(session.org_id.0)
                        .bind(session.user_id.0)
                        .fetch_optional(&mut *tx)
                        .await
                        .map_err(db_err)?;
                let Some(role) = role else {
                    Self::revoke_session_in_tx(&mut tx, &session, action::SESSION_REVOKED, client_ip, now).await?;
                    tx.commit().await.map_err(db_err)?;
                    return Ok(RefreshOutcome::SessionRevoked);
                };
                let role = codec::role(&role)?;
                let consumed = sqlx::query("UPDATE refresh_tokens SET used_at = $1 WHERE token_hash = $2 AND used_at IS NULL")
                    .bind(now.0)
                    .bind(&presented[..])
                    .execute(&mut *tx)
                    .await
                    .map_err(db_err)?;
                if consumed.rows_affected() == 0 {
                    // A concurrent refresh consumed the token first: that is a second use.
                    Self::revoke_session_in_tx(&mut tx, &session, action::REFRESH_TOKEN_REUSED, client_ip, now).await?;
                    tx.commit().await.map_err(db_err)?;
                    return Ok(reused(session));
                }
                let lifetime = if session.remember_me { next.remember_me_lifetime } else { next.lifetime };
                let token = NewRefreshToken {
                    hash: next.hash,
                    session_id: session.id,
                    created_at: now,
                    expires_at: now.plus(lifetime),
                };
                Self::insert_refresh_token(&mut tx, &token).await?;
                tx.commit().await.map_err(db_err)?;
                Ok(RefreshOutcome::Rotated { session, expires_at: token.expires_at, role })
            }

            #[tracing::instrument(name = "store.revoke_session_by_token", level = "debug", skip_all)]
            async fn revoke_session_by_token(
                &self,
                presented: &[u8; 32],
                client_ip: &str,
                now: UnixMs,
            ) -> StoreResult<Option<SessionId>> {
                let mut tx = self.writer().begin().await.map_err(db_err)?;
                let session_id: Option<uuid::Uuid> =
                    sqlx::query_scalar("SELECT session_id FROM refresh_tokens WHERE token_hash = $1")
                        .bind(&presented[..])
                        .fetch_optional(&mut *tx)
                        .await
                        .map_err(db_err)?;
                let Some(session_id) = session_id else { return Ok(None) };
                let Some(session) = Self::session_in_tx(&mut tx, session_id).await? else { return Ok(None) };
                Self::revoke_session_in_tx(&mut tx, &session, action::SESSION_REVOKED, client_ip, now).await?;
                tx.commit().await.map_err(db_err)?;
                Ok(Some(session.id))
            }

            #[tracing::instrument(name = "store.get_session", level = "debug", skip_all)]
            async fn get_session(&self, id: SessionId) -> StoreResult<Option<Session>> {
                let row: Option<SessionRow> = sqlx::query_as(
                    "SELECT id, org_id, user_id, user_agent, remember_me, created_at, revoked_at \
                     FROM sessions WHERE id = $1",
                )
                .bind(id.0)
                .fetch_optional(self.reader())
                .await
                .map_err(db_err)?;
                Ok(row.map(Session::from))
            }

            #[tracing::instrument(name = "store.append_audit", level = "debug", skip_all)]
            async fn append_audit(&self, event: &AuditEvent) -> StoreResult<()> {
                let mut tx = self.writer().begin().await.map_err(db_err)?;
                Self::insert_audit(&mut tx, event).await?;
                tx.commit().await.map_err(db_err)
            }

            #[tracing::instrument(name = "store.list_audit_events", level = "debug", skip_all)]
            async fn list_audit_events(
                &self,
                org: OrgId,
                action: Option<&str>,
                page: PageRequest,
            ) -> StoreResult<Page<AuditEvent>> {
                let rows: Vec<AuditRow> = sqlx::query_as(
                    "SELECT id, org_id, actor, action, target, key_prefix, client_ip, occurred_at, details \
                     FROM audit_events WHERE org_id = $1 AND ($2 IS NULL OR action = $2) \
                     AND ($3 IS NULL OR id < $3) ORDER BY id DESC LIMIT $4",
                )
                .bind(org.0)
                .bind(action)
                .bind(page.after)
                .bind(fetch_limit(page))
                .fetch_all(self.reader())
                .await
                .map_err(db_err)?;
                paginate(rows, page, |e: &AuditEvent| e.id.0)
            }

            #[tracing::instrument(name = "store.get_org_rate_limit", level = "debug", skip_all)]
            async fn get_org_rate_limit(&self, org: OrgId) -> StoreResult<Option<Option<RateLimitPolicy>>> {
                let row: Option<Option<String>> = sqlx::query_scalar("SELECT rate_limit FROM orgs WHERE id = $1")
                    .bind(org.0)
                    .fetch_optional(self.reader())
                    .await
                    .map_err(db_err)?;
                row.map(|policy| codec::policy_from_json(policy.as_deref())).transpose()
            }

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
                let mut tx = self.writer().begin().await.map_err(db_err)?;
                let json = policy_to_json(&policy);
                let (event, change) = match target {
                    RateLimitTarget::Org => {
                        sqlx::query("UPDATE orgs SET rate_limit = $1 WHERE id = $2")
                            .bind(json)
                            .bind(ctx.org_id.0)
                            .execute(&mut *tx)
                            .await
                            .map_err(db_err)?;
                        let event = ctx.event(action::ORG_RATE_LIMIT_SET, format!("org:{}", ctx.org_id));
                        (event, (ChangeKind::Org, ctx.org_id.to_string()))
                    }
                    RateLimitTarget::Key(id) => {
                        let key = Self::key_in_tx(&mut tx, ctx.org_id, id).await?.ok_or(StoreError::NotFound)?;
                        sqlx::query("UPDATE api_keys SET rate_limit = $1 WHERE id = $2 AND org_id = $3")
                            .bind(json)
                            .bind(id.0)
                            .bind(ctx.org_id.0)
                            .execute(&mut *tx)
                            .await
                            .map_err(db_err)?;
                        (Self::key_event(ctx, action::KEY_RATE_LIMIT_SET, &key), (ChangeKind::Key, id.to_string()))
                    }
                };
                let mut event = event;
                if let Some(p) = policy {
                    event.details.insert("limit".into(), p.limit.to_string());
                    event.details.insert("window_ms".into(), p.window.as_millis().to_string());
                    event.details.insert("burst".into(), p.burst.to_string());
                }
                Self::insert_audit(&mut tx, &event).await?;
                Self::record_change(&mut tx, change.0, change.1, Some(ctx.org_id), ctx.now).await?;
                tx.commit().await.map_err(db_err)
            }

            #[tracing::instrument(name = "store.role_scopes", level = "debug", skip_all)]
            async fn role_scopes(&self, org: OrgId) -> StoreResult<Vec<(Role, Scopes)>> {
                let rows: Vec<(String, String)> = sqlx::query_as("SELECT role, scopes FROM role_scopes WHERE org_id = $1")
                    .bind(org.0)
                    .fetch_all(self.reader())
                    .await
                    .map_err(db_err)?;
                rows.into_iter().map(|(role, scopes)| Ok((codec::role(&role)?, codec::scopes(&scopes)?))).collect()
            }

            #[tracing::instrument(name = "store.set_role_scopes", level = "debug", skip_all)]
            async fn set_role_scopes(&self, ctx: &AuditContext, role: Role, scopes: &Scopes) -> StoreResult<()> {
                let mut tx = self.writer().begin().await.map_err(db_err)?;
                sqlx::query(
                    "INSERT INTO role_scopes (org_id, role, scopes, updated_at) VALUES ($1, $2, $3, $4) \
                     ON CONFLICT (org_id, role) DO UPDATE SET scopes = excluded.scopes, updated_at = excluded.updated_at",
                )
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
                Self::insert_audit(&mut tx, &event).await?;
                Self::record_change(&mut tx, ChangeKind::Org, ctx.org_id.to_string(), Some(ctx.org_id), ctx.now).await?;
                tx.commit().await.map_err(db_err)
            }

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
                let rows: Vec<(i64, String, String, i64)> = sqlx::query_as(
                    "SELECT seq, kind, subject, created_at FROM changes WHERE seq > $1 ORDER BY seq LIMIT $2",
                )
                .bind(after)
                .bind(limit)
                .fetch_all(self.reader())
                .await
                .map_err(db_err)?;
                rows.into_iter()
                    .map(|(seq, kind, subject, created_at)| {
                        let kind = ChangeKind::parse(&kind)
                            .ok_or_else(|| StoreError::Internal(anyhow::anyhow!("unknown change kind {kind:?}")))?;
                        Ok(Change { seq, kind, subject, created_at: UnixMs(created_at) })
                    })
                    .collect()
            }

            #[tracing::instrument(name = "store.touch_keys", level = "debug", skip_all)]
            async fn touch_keys(&self, used: &[(KeyId, UnixMs)]) -> StoreResult<()> {
                if used.is_empty() {
                    return Ok(());
                }
                // A batch may name a key twice (a cache entry replaced while its use was
                // pending); a row joined twice gets either value, so keep only the later time.
                let mut latest = std::collections::BTreeMap::<KeyId, UnixMs>::new();
                for &(id, at) in used {
                    let slot = latest.entry(id).or_insert(at);
                    *slot = (*slot).max(at);
                }
                let used: Vec<(KeyId, UnixMs)> = latest.into_iter().collect();
                // One statement, linear in the batch: join a VALUES list (whose columns both
                // backends name column1, column2) and keep whichever of stored and new is later,
                // since replicas flush independently. Only placeholders are formatted in.
                let rows: Vec<String> = (0..used.len()).map(|i| format!("(${}, ${})", 2 * i + 1, 2 * i + 2)).collect();
                let sql = format!(
                    "UPDATE api_keys SET last_used_at = v.column2 FROM (VALUES {}) AS v \
                     WHERE api_keys.id = v.column1 AND (api_keys.last_used_at IS NULL OR api_keys.last_used_at < v.column2)",
                    rows.join(", ")
                );
                let mut query = sqlx::query(&sql);
                for (id, at) in &used {
                    query = query.bind(id.0).bind(at.0);
                }
                query.execute(self.writer()).await.map_err(db_err)?;
                Ok(())
            }

            #[tracing::instrument(name = "store.subscribe_changes", level = "debug", skip_all)]
            async fn subscribe_changes(&self) -> StoreResult<Option<ChangeSubscription>> {
                self.subscribe().await
            }

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

            #[tracing::instrument(name = "store.insert_signing_key", level = "debug", skip_all)]
            async fn insert_signing_key(&self, key: &SigningKeyRecord) -> StoreResult<()> {
                sqlx::query("INSERT INTO signing_keys (kid, public_key, created_at, activates_at) VALUES ($1, $2, $3, $4)")
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

        // Silences the import when a backend does not need the helper module directly.
        #[allow(unused_imports)]
        use codec::role as _;
    }
    };
}

pub(super) use impl_sql_store;
