//! Statements run inside another method's transaction: the audit event and change-feed row
//! every write commits with, and the reads and inserts several aggregates share.
//!
//! Compiled once per backend (see `store/sql/mod.rs`); `Db` and `Backend` are the backend's.

use super::{Backend, Db};
use crate::domain::api_key::{ApiKey, NewKey};
use crate::domain::audit::{Actor, AuditContext, AuditEvent, action};
use crate::domain::ids::{KeyId, OrgId};
use crate::domain::time::UnixMs;
use crate::store::codec::{KEY_COLUMNS, KeyRow, SessionRow, UserRow, policy_to_json, to_json};
use crate::store::sql::{Dialect, conflict_on, db_err};
use crate::store::{ChangeKind, NewRefreshToken, NewUser, Session, StoreError, StoreResult, Taken, User};

pub(super) type Tx<'a> = sqlx::Transaction<'a, Db>;

/// Opens a write transaction.
pub(super) async fn begin(store: &Backend) -> StoreResult<Tx<'static>> {
    match Backend::BEGIN_WRITE {
        Some(statement) => store.writer().begin_with(statement).await,
        None => store.writer().begin().await,
    }
    .map_err(db_err)
}

/// Commits; a failed `COMMIT` leaves the outcome unknown, so it is classified like any other
/// driver error (a lost connection is retryable, never a bug).
pub(super) async fn commit(tx: Tx<'_>) -> StoreResult<()> {
    tx.commit().await.map_err(db_err)
}

pub(super) async fn insert_audit(tx: &mut Tx<'_>, e: &AuditEvent) -> StoreResult<()> {
    sqlx::query(&Backend::sql(
        "INSERT INTO audit_events (id, org_id, actor, action, target, key_prefix, client_ip, \
         occurred_at, details) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
    ))
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
pub(super) async fn record_change(
    tx: &mut Tx<'_>,
    kind: ChangeKind,
    subject: String,
    org: Option<OrgId>,
    now: UnixMs,
) -> StoreResult<()> {
    sqlx::query(&Backend::sql(
        "INSERT INTO changes (kind, subject, org_id, created_at) VALUES (?, ?, ?, ?)",
    ))
    .bind(kind.as_str())
    .bind(subject)
    .bind(org.map(|o| o.0))
    .bind(now.0)
    .execute(&mut **tx)
    .await
    .map_err(db_err)?;
    // Wakes listening replicas when the transaction commits, where the backend can.
    if let Some(notify) = Backend::NOTIFY_CHANGE {
        sqlx::query(notify).execute(&mut **tx).await.map_err(db_err)?;
    }
    Ok(())
}

pub(super) async fn key(tx: &mut Tx<'_>, org: OrgId, id: KeyId) -> StoreResult<Option<ApiKey>> {
    let sql = format!("SELECT {KEY_COLUMNS} FROM api_keys WHERE org_id = ? AND id = ?");
    let row: Option<KeyRow> = sqlx::query_as(&Backend::sql(&sql))
        .bind(org.0)
        .bind(id.0)
        .fetch_optional(&mut **tx)
        .await
        .map_err(db_err)?;
    row.map(ApiKey::try_from).transpose()
}

pub(super) async fn insert_key(tx: &mut Tx<'_>, new: &NewKey) -> StoreResult<()> {
    let k = &new.key;
    // The account must still exist, and stays locked until commit: a deletion running at the
    // same time either waits for this key (and revokes it) or has already removed the account
    // (NotFound), so no active key outlives its account.
    let account_sql = format!(
        "SELECT 1 FROM service_accounts WHERE id = ? AND org_id = ? AND deleted_at IS NULL{}",
        Backend::FOR_UPDATE
    );
    let account = sqlx::query(&Backend::sql(&account_sql))
        .bind(k.service_account_id.0)
        .bind(k.org_id.0)
        .fetch_optional(&mut **tx)
        .await
        .map_err(db_err)?;
    if account.is_none() {
        return Err(StoreError::NotFound);
    }
    sqlx::query(&Backend::sql(
        "INSERT INTO api_keys (id, org_id, service_account_id, key_hash, pepper_version, name, kind, \
         environment, prefix, start, role, scopes, ip_allowlist, expires_at, rate_limit, metadata, \
         created_at, created_by, rotated_from, pair_id, disabled_at) \
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
    ))
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
    .bind(k.pair_id.map(|id| id.0))
    .bind(k.disabled_at.map(|t| t.0))
    .execute(&mut **tx)
    .await
    .map_err(db_err)?;
    Ok(())
}

/// Whether a row matching `sql` (one `?`, bound to `value`) exists.
pub(super) async fn exists(tx: &mut Tx<'_>, sql: &'static str, value: &str) -> StoreResult<bool> {
    let n: i64 = sqlx::query_scalar(&Backend::sql(sql))
        .bind(value)
        .fetch_one(&mut **tx)
        .await
        .map_err(db_err)?;
    Ok(n > 0)
}

/// Revokes a session (theft or logout) with its audit event and change-feed row; a session
/// already revoked is left as it is.
pub(super) async fn revoke_session(
    tx: &mut Tx<'_>,
    session: &Session,
    act: &str,
    client_ip: &str,
    now: UnixMs,
) -> StoreResult<()> {
    let done = sqlx::query(&Backend::sql(
        "UPDATE sessions SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL",
    ))
    .bind(now.0)
    .bind(session.id.0)
    .execute(&mut **tx)
    .await
    .map_err(db_err)?;
    if done.rows_affected() == 0 {
        return Ok(());
    }
    let ctx = session_context(session, client_ip, now);
    insert_audit(tx, &ctx.event(act, format!("session:{}", session.id))).await?;
    record_change(
        tx,
        ChangeKind::Session,
        session.id.to_string(),
        Some(session.org_id),
        now,
    )
    .await
}

/// The audit context of a change the session's own user makes.
pub(super) fn session_context(session: &Session, client_ip: &str, now: UnixMs) -> AuditContext {
    AuditContext {
        org_id: session.org_id,
        actor: Actor::User(session.user_id),
        client_ip: client_ip.to_owned(),
        now,
    }
}

pub(super) async fn insert_user(tx: &mut Tx<'_>, ctx: &AuditContext, user: &NewUser) -> StoreResult<User> {
    if exists(tx, "SELECT COUNT(*) FROM users WHERE email = ?", user.email.as_str()).await? {
        return Err(StoreError::Conflict(Taken::Email));
    }
    sqlx::query(&Backend::sql(
        "INSERT INTO users (id, email, password_hash, created_at) VALUES (?, ?, ?, ?)",
    ))
    .bind(user.id.0)
    .bind(user.email.as_str())
    .bind(&user.password_hash)
    .bind(user.created_at.0)
    .execute(&mut **tx)
    .await
    .map_err(conflict_on(Taken::Email))?;
    sqlx::query(&Backend::sql(
        "INSERT INTO memberships (org_id, user_id, role, created_at) VALUES (?, ?, ?, ?)",
    ))
    .bind(ctx.org_id.0)
    .bind(user.id.0)
    .bind(user.role.as_str())
    .bind(user.created_at.0)
    .execute(&mut **tx)
    .await
    .map_err(db_err)?;
    let mut event = ctx.event(action::USER_CREATED, format!("user:{}", user.id));
    event.details.insert("role".into(), user.role.to_string());
    insert_audit(tx, &event).await?;
    let row = UserRow {
        id: user.id.0,
        org_id: ctx.org_id.0,
        email: user.email.as_str().to_owned(),
        role: user.role.as_str().to_owned(),
        created_at: user.created_at.0,
        last_login_at: None,
    };
    User::try_from(row)
}

pub(super) async fn session(tx: &mut Tx<'_>, id: uuid::Uuid) -> StoreResult<Option<Session>> {
    let row: Option<SessionRow> = sqlx::query_as(&Backend::sql(
        "SELECT id, org_id, user_id, user_agent, remember_me, created_at, revoked_at FROM sessions WHERE id = ?",
    ))
    .bind(id)
    .fetch_optional(&mut **tx)
    .await
    .map_err(db_err)?;
    Ok(row.map(Session::from))
}

pub(super) async fn insert_refresh_token(tx: &mut Tx<'_>, t: &NewRefreshToken) -> StoreResult<()> {
    sqlx::query(&Backend::sql(
        "INSERT INTO refresh_tokens (token_hash, session_id, created_at, expires_at) VALUES (?, ?, ?, ?)",
    ))
    .bind(&t.hash[..])
    .bind(t.session_id.0)
    .bind(t.created_at.0)
    .bind(t.expires_at.0)
    .execute(&mut **tx)
    .await
    .map_err(db_err)?;
    Ok(())
}
