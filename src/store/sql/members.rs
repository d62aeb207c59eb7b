//! Members (list, role changes, removal, password changes) and service-account deletion
//! (issue 9). Compiled once per backend (see `store/sql/mod.rs`); `orgs.rs` delegates here.
//!
//! The org's last owner is guarded by locking every owner membership of the org before the
//! member's own row: two concurrent demotions of the last two owners queue on those locks, and
//! the second counts the owners after the first has committed. SQLite's write transaction
//! holds the whole database, which gives the same order.

use super::Backend;
use super::tx;
use crate::domain::api_key::{ApiKey, KeyStatus};
use crate::domain::audit::{AuditContext, action};
use crate::domain::ids::{KeyId, OrgId, ServiceAccountId, SessionId, UserId};
use crate::domain::role::Role;
use crate::store::codec::{self, KEY_COLUMNS, KeyRow, UserRow, paginate};
use crate::store::rules;
use crate::store::sql::{Dialect, db_err, fetch_limit, key_event};
use crate::store::text::Text;
use crate::store::{ChangeKind, Ended, Page, PageRequest, Precondition, StoreError, StoreResult, User};
use uuid::Uuid;

/// Members as the API shows them; `m.org_id` and `u.id` are filtered on.
pub(super) const MEMBER_SELECT: &str = "SELECT u.id, m.org_id, u.email, m.role, u.created_at, u.last_login_at \
     FROM users u JOIN memberships m ON m.user_id = u.id";

pub(super) async fn list(store: &Backend, org: OrgId, page: PageRequest) -> StoreResult<Page<User>> {
    let sql = format!("{MEMBER_SELECT} WHERE m.org_id = ? AND (? IS NULL OR u.id > ?) ORDER BY u.id LIMIT ?");
    let rows: Vec<UserRow> = sqlx::query_as(&Backend::sql(&sql))
        .bind(org.0)
        .bind(page.after)
        .bind(page.after)
        .bind(fetch_limit(page))
        .fetch_all(store.reader())
        .await
        .map_err(db_err)?;
    paginate(rows, page, |u: &User| u.id.0)
}

/// Locks the org's owner memberships, then the member's; returns the member's role and how
/// many owners the org has, or `NotFound`.
async fn lock_member(tx: &mut tx::Tx<'_>, org: OrgId, user: UserId) -> StoreResult<(Role, usize)> {
    let owners_sql = format!(
        "SELECT user_id FROM memberships WHERE org_id = ? AND role = ?{}",
        Backend::FOR_UPDATE
    );
    let owners: Vec<Uuid> = sqlx::query_scalar(&Backend::sql(&owners_sql))
        .bind(org.0)
        .bind(Role::Owner.as_str())
        .fetch_all(&mut **tx)
        .await
        .map_err(db_err)?;
    let member_sql = format!(
        "SELECT role FROM memberships WHERE org_id = ? AND user_id = ?{}",
        Backend::FOR_UPDATE
    );
    let role: Option<Text> = sqlx::query_scalar(&Backend::sql(&member_sql))
        .bind(org.0)
        .bind(user.0)
        .fetch_optional(&mut **tx)
        .await
        .map_err(db_err)?;
    let role = role.ok_or(StoreError::NotFound)?;
    Ok((codec::role(&role.0)?, owners.len()))
}

async fn member(tx: &mut tx::Tx<'_>, org: OrgId, user: UserId) -> StoreResult<User> {
    let sql = format!("{MEMBER_SELECT} WHERE m.org_id = ? AND u.id = ?");
    let row: UserRow = sqlx::query_as(&Backend::sql(&sql))
        .bind(org.0)
        .bind(user.0)
        .fetch_one(&mut **tx)
        .await
        .map_err(db_err)?;
    User::try_from(row)
}

pub(super) async fn set_role(
    store: &Backend,
    ctx: &AuditContext,
    user: UserId,
    role: Role,
    caller_role: Role,
) -> StoreResult<(User, Ended)> {
    let mut tx = tx::begin(store).await?;
    let (current, owners) = lock_member(&mut tx, ctx.org_id, user).await?;
    rules::member_change(current, Some(role), caller_role, owners).map_err(StoreError::Precondition)?;
    let mut sessions = Vec::new();
    if current != role {
        sqlx::query(&Backend::sql(
            "UPDATE memberships SET role = ? WHERE org_id = ? AND user_id = ?",
        ))
        .bind(role.as_str())
        .bind(ctx.org_id.0)
        .bind(user.0)
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
        let mut event = ctx.event(action::USER_ROLE_CHANGED, format!("user:{user}"));
        event.details.insert("from".into(), current.to_string());
        event.details.insert("to".into(), role.to_string());
        if role < current {
            // Access tokens carry the role Verify grants scopes by: a demoted member's sessions
            // end here (their feed entries drop the cached tokens on every replica), so the
            // old role cannot outlive the change; they log in again with the new one.
            sessions = end_sessions(&mut tx, Some(ctx.org_id), user, None, ctx).await?;
            event
                .details
                .insert("ended_sessions".into(), sessions.len().to_string());
        }
        tx::insert_audit(&mut tx, &event).await?;
    }
    let changed = member(&mut tx, ctx.org_id, user).await?;
    tx::commit(tx).await?;
    Ok((
        changed,
        Ended {
            sessions,
            keys: Vec::new(),
        },
    ))
}

pub(super) async fn remove(store: &Backend, ctx: &AuditContext, user: UserId, caller_role: Role) -> StoreResult<Ended> {
    let mut tx = tx::begin(store).await?;
    let (current, owners) = lock_member(&mut tx, ctx.org_id, user).await?;
    rules::member_change(current, None, caller_role, owners).map_err(StoreError::Precondition)?;
    sqlx::query(&Backend::sql(
        "DELETE FROM memberships WHERE org_id = ? AND user_id = ?",
    ))
    .bind(ctx.org_id.0)
    .bind(user.0)
    .execute(&mut *tx)
    .await
    .map_err(db_err)?;
    // `removed_email` is assigned before `email`: MySQL applies assignments left to right.
    sqlx::query(&Backend::sql(
        "UPDATE users SET removed_at = ?, removed_email = email, email = ? \
         WHERE id = ? AND removed_at IS NULL AND NOT EXISTS (SELECT 1 FROM memberships WHERE user_id = ?)",
    ))
    .bind(ctx.now.0)
    .bind(rules::removed_email_tombstone(user))
    .bind(user.0)
    .bind(user.0)
    .execute(&mut *tx)
    .await
    .map_err(db_err)?;
    let sessions = end_sessions(&mut tx, Some(ctx.org_id), user, None, ctx).await?;
    let mut event = ctx.event(action::USER_REMOVED, format!("user:{user}"));
    event.details.insert("role".into(), current.to_string());
    event
        .details
        .insert("ended_sessions".into(), sessions.len().to_string());
    tx::insert_audit(&mut tx, &event).await?;
    tx::commit(tx).await?;
    Ok(Ended {
        sessions,
        keys: Vec::new(),
    })
}

pub(super) async fn change_password(
    store: &Backend,
    ctx: &AuditContext,
    user: UserId,
    keep: SessionId,
    current_hash: &str,
    new_hash: &str,
) -> StoreResult<Ended> {
    let mut tx = tx::begin(store).await?;
    let done = sqlx::query(&Backend::sql(
        "UPDATE users SET password_hash = ? WHERE id = ? AND password_hash = ? AND removed_at IS NULL",
    ))
    .bind(new_hash)
    .bind(user.0)
    .bind(current_hash)
    .execute(&mut *tx)
    .await
    .map_err(db_err)?;
    if done.rows_affected() == 0 {
        return Err(StoreError::Precondition(Precondition::PasswordChanged));
    }
    let sessions = end_sessions(&mut tx, None, user, Some(keep), ctx).await?;
    let mut event = ctx.event(action::PASSWORD_CHANGED, format!("user:{user}"));
    event
        .details
        .insert("ended_sessions".into(), sessions.len().to_string());
    tx::insert_audit(&mut tx, &event).await?;
    tx::commit(tx).await?;
    Ok(Ended {
        sessions,
        keys: Vec::new(),
    })
}

/// Revokes the user's live sessions (in `org` only, when given) except `keep`, each with a
/// session change so every replica refuses its access tokens.
async fn end_sessions(
    tx: &mut tx::Tx<'_>,
    org: Option<OrgId>,
    user: UserId,
    keep: Option<SessionId>,
    ctx: &AuditContext,
) -> StoreResult<Vec<SessionId>> {
    let org_id = org.map(|o| o.0);
    let sql = format!(
        "SELECT id, org_id FROM sessions WHERE user_id = ? AND (? IS NULL OR org_id = ?) \
         AND revoked_at IS NULL ORDER BY id{}",
        Backend::FOR_UPDATE
    );
    let live: Vec<(Uuid, Uuid)> = sqlx::query_as(&Backend::sql(&sql))
        .bind(user.0)
        .bind(org_id)
        .bind(org_id)
        .fetch_all(&mut **tx)
        .await
        .map_err(db_err)?;
    let mut ended = Vec::new();
    for (id, session_org) in live {
        let id = SessionId(id);
        if Some(id) == keep {
            continue;
        }
        sqlx::query(&Backend::sql(
            "UPDATE sessions SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL",
        ))
        .bind(ctx.now.0)
        .bind(id.0)
        .execute(&mut **tx)
        .await
        .map_err(db_err)?;
        tx::record_change(
            tx,
            ChangeKind::Session,
            id.to_string(),
            Some(OrgId(session_org)),
            ctx.now,
        )
        .await?;
        ended.push(id);
    }
    Ok(ended)
}

pub(super) async fn delete_service_account(
    store: &Backend,
    ctx: &AuditContext,
    id: ServiceAccountId,
) -> StoreResult<Ended> {
    let mut tx = tx::begin(store).await?;
    let name_sql = format!(
        "SELECT name FROM service_accounts WHERE id = ? AND org_id = ? AND deleted_at IS NULL{}",
        Backend::FOR_UPDATE
    );
    let name: Option<Text> = sqlx::query_scalar(&Backend::sql(&name_sql))
        .bind(id.0)
        .bind(ctx.org_id.0)
        .fetch_optional(&mut *tx)
        .await
        .map_err(db_err)?;
    let name = name.ok_or(StoreError::NotFound)?;
    let keys_sql = format!(
        "SELECT {KEY_COLUMNS} FROM api_keys WHERE org_id = ? AND service_account_id = ? \
         AND revoked_at IS NULL ORDER BY id{}",
        Backend::FOR_UPDATE
    );
    let rows: Vec<KeyRow> = sqlx::query_as(&Backend::sql(&keys_sql))
        .bind(ctx.org_id.0)
        .bind(id.0)
        .fetch_all(&mut *tx)
        .await
        .map_err(db_err)?;
    let keys = rows
        .into_iter()
        .map(ApiKey::try_from)
        .collect::<StoreResult<Vec<_>>>()?;
    sqlx::query(&Backend::sql(
        "UPDATE api_keys SET revoked_at = ?, revoked_by = ? \
         WHERE org_id = ? AND service_account_id = ? AND revoked_at IS NULL",
    ))
    .bind(ctx.now.0)
    .bind(ctx.actor.to_string())
    .bind(ctx.org_id.0)
    .bind(id.0)
    .execute(&mut *tx)
    .await
    .map_err(db_err)?;
    let mut revoked: Vec<(KeyId, bool)> = Vec::with_capacity(keys.len());
    for key in &keys {
        let mut event = key_event(ctx, action::KEY_REVOKED, key);
        event.details.insert("reason".into(), "service_account_deleted".into());
        tx::insert_audit(&mut tx, &event).await?;
        tx::record_change(&mut tx, ChangeKind::Key, key.id.to_string(), Some(ctx.org_id), ctx.now).await?;
        revoked.push((key.id, key.status(ctx.now) == KeyStatus::Active));
    }
    sqlx::query(&Backend::sql(
        "UPDATE service_accounts SET deleted_at = ?, name = ? WHERE id = ? AND org_id = ?",
    ))
    .bind(ctx.now.0)
    .bind(rules::deleted_name_tombstone(id))
    .bind(id.0)
    .bind(ctx.org_id.0)
    .execute(&mut *tx)
    .await
    .map_err(db_err)?;
    let usable = revoked.iter().filter(|(_, usable)| *usable).count();
    let mut event = ctx.event(action::SERVICE_ACCOUNT_DELETED, format!("service_account:{id}"));
    event.details.insert("name".into(), name.0);
    event.details.insert("revoked_keys".into(), usable.to_string());
    tx::insert_audit(&mut tx, &event).await?;
    tx::commit(tx).await?;
    Ok(Ended {
        sessions: Vec::new(),
        keys: revoked,
    })
}
