//! Sessions and refresh tokens. Compiled once per backend (see `store/sql/mod.rs`); the
//! refresh policy itself is `store::rules::refresh_step`.

use super::Backend;
use super::tx;
use crate::domain::audit::{AuditContext, action};
use crate::domain::ids::SessionId;
use crate::domain::time::UnixMs;
use crate::store::codec::{self, SessionRow};
use crate::store::rules::{self, RefreshStep, TokenState};
use crate::store::sql::{Dialect, db_err};
use crate::store::text::Text;
use crate::store::{
    NewRefreshToken, NextRefreshToken, RefreshOutcome, Session, SessionReads, SessionStore, StoreResult,
};
use async_trait::async_trait;

#[derive(sqlx::FromRow)]
struct TokenRow {
    session_id: uuid::Uuid,
    expires_at: i64,
    used_at: Option<i64>,
}

#[async_trait]
impl SessionReads for Backend {
    #[tracing::instrument(name = "store.get_session", level = "debug", skip_all)]
    async fn get_session(&self, id: SessionId) -> StoreResult<Option<Session>> {
        let row: Option<SessionRow> = sqlx::query_as(&Backend::sql(
            "SELECT id, org_id, user_id, user_agent, remember_me, created_at, revoked_at FROM sessions WHERE id = ?",
        ))
        .bind(id.0)
        .fetch_optional(self.reader())
        .await
        .map_err(db_err)?;
        Ok(row.map(Session::from))
    }
}

#[async_trait]
impl SessionStore for Backend {
    #[tracing::instrument(name = "store.create_session", level = "debug", skip_all)]
    async fn create_session(&self, ctx: &AuditContext, s: &Session, token: &NewRefreshToken) -> StoreResult<()> {
        let mut tx = tx::begin(self).await?;
        sqlx::query(&Backend::sql(
            "INSERT INTO sessions (id, org_id, user_id, user_agent, remember_me, created_at) VALUES (?, ?, ?, ?, ?, ?)",
        ))
        .bind(s.id.0)
        .bind(s.org_id.0)
        .bind(s.user_id.0)
        .bind(&s.user_agent)
        .bind(s.remember_me)
        .bind(s.created_at.0)
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
        tx::insert_refresh_token(&mut tx, token).await?;
        sqlx::query(&Backend::sql("UPDATE users SET last_login_at = ? WHERE id = ?"))
            .bind(s.created_at.0)
            .bind(s.user_id.0)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        tx::insert_audit(
            &mut tx,
            &ctx.event(action::LOGIN_SUCCEEDED, format!("session:{}", s.id)),
        )
        .await?;
        tx::commit(tx).await
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
        let mut tx = tx::begin(self).await?;
        let token: Option<TokenRow> = sqlx::query_as(&Backend::sql(
            "SELECT session_id, expires_at, used_at FROM refresh_tokens WHERE token_hash = ?",
        ))
        .bind(&presented[..])
        .fetch_optional(&mut *tx)
        .await
        .map_err(db_err)?;
        let Some(token) = token else {
            return Ok(RefreshOutcome::NotFound);
        };
        let Some(session) = tx::session(&mut tx, token.session_id).await? else {
            return Ok(RefreshOutcome::NotFound);
        };
        let state = TokenState {
            expires_at: UnixMs(token.expires_at),
            used: token.used_at.is_some(),
        };
        match rules::refresh_step(&session, state, user_agent, now) {
            RefreshStep::SessionRevoked => Ok(RefreshOutcome::SessionRevoked),
            RefreshStep::Expired => Ok(RefreshOutcome::Expired),
            RefreshStep::RevokeForReuse => {
                tx::revoke_session(&mut tx, &session, action::REFRESH_TOKEN_REUSED, client_ip, now).await?;
                tx::commit(tx).await?;
                Ok(RefreshOutcome::Reused(rules::revoked_session(session, now)))
            }
            RefreshStep::AuditUserAgentMismatch => {
                // The session is audited, never the token; the token stays valid for its client.
                let ctx = tx::session_context(&session, client_ip, now);
                let event = ctx.event(action::USER_AGENT_MISMATCH, format!("session:{}", session.id));
                tx::insert_audit(&mut tx, &event).await?;
                tx::commit(tx).await?;
                Ok(RefreshOutcome::UserAgentMismatch)
            }
            RefreshStep::Rotate => rotate(tx, session, presented, next, client_ip, now).await,
        }
    }

    #[tracing::instrument(name = "store.revoke_session_by_token", level = "debug", skip_all)]
    async fn revoke_session_by_token(
        &self,
        presented: &[u8; 32],
        client_ip: &str,
        now: UnixMs,
    ) -> StoreResult<Option<SessionId>> {
        let mut tx = tx::begin(self).await?;
        let session_id: Option<uuid::Uuid> = sqlx::query_scalar(&Backend::sql(
            "SELECT session_id FROM refresh_tokens WHERE token_hash = ?",
        ))
        .bind(&presented[..])
        .fetch_optional(&mut *tx)
        .await
        .map_err(db_err)?;
        let Some(session_id) = session_id else { return Ok(None) };
        let Some(session) = tx::session(&mut tx, session_id).await? else {
            return Ok(None);
        };
        tx::revoke_session(&mut tx, &session, action::SESSION_REVOKED, client_ip, now).await?;
        tx::commit(tx).await?;
        Ok(Some(session.id))
    }
}

/// Consumes the presented token and stores the next one, unless the user has left the org
/// (the session is then revoked) or a concurrent refresh consumed the token first (a reuse).
async fn rotate(
    mut tx: tx::Tx<'static>,
    session: Session,
    presented: &[u8; 32],
    next: &NextRefreshToken,
    client_ip: &str,
    now: UnixMs,
) -> StoreResult<RefreshOutcome> {
    // The role for the new access token, read before the token is consumed: a failure here
    // leaves the client its token to retry with.
    let role: Option<Text> = sqlx::query_scalar(&Backend::sql(
        "SELECT role FROM memberships WHERE org_id = ? AND user_id = ?",
    ))
    .bind(session.org_id.0)
    .bind(session.user_id.0)
    .fetch_optional(&mut *tx)
    .await
    .map_err(db_err)?;
    let Some(role) = role else {
        tx::revoke_session(&mut tx, &session, action::SESSION_REVOKED, client_ip, now).await?;
        tx::commit(tx).await?;
        return Ok(RefreshOutcome::SessionRevoked);
    };
    let role = codec::role(&role.0)?;
    let consumed = sqlx::query(&Backend::sql(
        "UPDATE refresh_tokens SET used_at = ? WHERE token_hash = ? AND used_at IS NULL",
    ))
    .bind(now.0)
    .bind(&presented[..])
    .execute(&mut *tx)
    .await
    .map_err(db_err)?;
    if consumed.rows_affected() == 0 {
        // A concurrent refresh consumed the token first: that is a second use.
        tx::revoke_session(&mut tx, &session, action::REFRESH_TOKEN_REUSED, client_ip, now).await?;
        tx::commit(tx).await?;
        return Ok(RefreshOutcome::Reused(rules::revoked_session(session, now)));
    }
    let token = NewRefreshToken {
        hash: next.hash,
        session_id: session.id,
        created_at: now,
        expires_at: now.plus(rules::next_token_lifetime(&session, next)),
    };
    tx::insert_refresh_token(&mut tx, &token).await?;
    tx::commit(tx).await?;
    Ok(RefreshOutcome::Rotated {
        session,
        expires_at: token.expires_at,
        role,
    })
}
