//! Login, refresh and logout.
//!
//! Refresh policy: every refresh token is single-use and bound to the User-Agent of the
//! login. A different User-Agent is refused without consuming the token. A token presented a
//! second time (a replay, or the loser of two concurrent refreshes) revokes the whole session:
//! its refresh tokens and, through the session id, its access tokens.

use super::{AuthFailure, Core, ServiceError, ServiceResult};
use crate::domain::audit::{Actor, AuditContext, action};
use crate::domain::fields::{Email, Password};
use crate::domain::ids::{OrgId, SessionId, UserId};
use crate::domain::role::Role;
use crate::domain::time::UnixMs;
use crate::sessions::jwt::{ACCESS_TYP, AccessClaims};
use crate::sessions::refresh;
use crate::store::{NewRefreshToken, NextRefreshToken, RefreshOutcome, Session};
use secrecy::SecretString;
use std::time::Duration;

/// A validated login request.
#[derive(Debug)]
pub struct LoginInput {
    pub email: Email,
    pub password: Password,
    pub remember_me: bool,
    pub user_agent: String,
    pub client_ip: String,
}

/// The credentials a login or refresh hands out.
pub struct Tokens {
    pub access_token: String,
    pub access_expires_at: UnixMs,
    pub refresh_token: SecretString,
    pub refresh_expires_at: UnixMs,
}

impl std::fmt::Debug for Tokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Tokens(<redacted>)")
    }
}

impl Core {
    /// Email + password login. Unknown email and wrong password fail identically, after the
    /// same argon2 work; repeated failures for one email are throttled.
    pub async fn login(&self, input: LoginInput) -> ServiceResult<Tokens> {
        let email = input.email.as_str();
        if let Err(retry_after) = self.throttle.begin(email) {
            return Err(ServiceError::Throttled { retry_after });
        }
        let record = self.store.find_login(&input.email).await?;
        let ok = self
            .passwords
            .verify(&input.password, record.as_ref().map(|r| r.password_hash.as_str()))
            .await
            .map_err(|_| ServiceError::Busy)?;
        let now = self.clock.now();
        let Some(record) = record.filter(|_| ok) else {
            self.audit_failed_login(&input, now).await?;
            return Err(ServiceError::Unauthenticated(AuthFailure::InvalidCredentials));
        };
        self.throttle.succeeded(email);
        let user = record.user;
        let session = Session {
            id: SessionId::generate(),
            org_id: user.org_id,
            user_id: user.id,
            user_agent: input.user_agent.clone(),
            remember_me: input.remember_me,
            created_at: now,
            revoked_at: None,
        };
        let (refresh_token, next) = self.new_refresh_token(&session, now);
        let ctx = AuditContext {
            org_id: user.org_id,
            actor: Actor::User(user.id),
            client_ip: input.client_ip,
            now,
        };
        let (access_token, access_expires_at) = self.access_token(user.id, user.org_id, user.role, session.id, now)?;
        self.store.create_session(&ctx, &session, &next).await?;
        tracing::info!(user_id = %user.id, session_id = %session.id, "login succeeded");
        Ok(Tokens {
            access_token,
            access_expires_at,
            refresh_token,
            refresh_expires_at: next.expires_at,
        })
    }

    async fn audit_failed_login(&self, input: &LoginInput, now: UnixMs) -> ServiceResult<()> {
        // The event names the org only when the email belongs to one; its text never says
        // whether it did, so the audit log cannot be used as an email oracle by members.
        let org: Option<OrgId> = self.store.find_login(&input.email).await?.map(|r| r.user.org_id);
        let ctx = AuditContext {
            org_id: org.unwrap_or(OrgId(uuid::Uuid::nil())),
            actor: Actor::Anonymous,
            client_ip: input.client_ip.clone(),
            now,
        };
        let mut event = ctx.event(action::LOGIN_FAILED, String::new());
        event.org_id = org;
        event.details.insert("email".into(), input.email.as_str().to_owned());
        self.store.append_audit(&event).await?;
        Ok(())
    }

    /// Exchanges a refresh token for a new pair; see the module docs for the policy.
    pub async fn refresh(&self, token: &SecretString, user_agent: &str, client_ip: &str) -> ServiceResult<Tokens> {
        let presented = refresh::hash(&self.key_pepper, token);
        let now = self.clock.now();
        let next_secret = refresh::generate();
        let next = NextRefreshToken {
            hash: refresh::hash(&self.key_pepper, &next_secret),
            lifetime: self.ttls.refresh,
            remember_me_lifetime: self.ttls.remember_me,
        };
        // Checked before the store consumes the presented token: a refresh that could not
        // hand out an access token must leave the client its refresh token.
        if !self.jwt.can_sign() {
            return Err(ServiceError::Internal(anyhow::anyhow!("no active JWT signing key")));
        }
        let fail = |f: AuthFailure| Err(ServiceError::Unauthenticated(f));
        let outcome = self
            .store
            .refresh_session(&presented, user_agent, &next, client_ip, now)
            .await?;
        let (session, refresh_expires_at, role) = match outcome {
            RefreshOutcome::Rotated {
                session,
                expires_at,
                role,
            } => (session, expires_at, role),
            RefreshOutcome::NotFound => return fail(AuthFailure::InvalidRefreshToken),
            RefreshOutcome::Expired => return fail(AuthFailure::RefreshTokenExpired),
            RefreshOutcome::SessionRevoked => return fail(AuthFailure::SessionRevoked),
            RefreshOutcome::UserAgentMismatch => return fail(AuthFailure::SessionMismatch),
            RefreshOutcome::Reused(session) => {
                self.verifier.session_ended(session.id);
                tracing::warn!(session_id = %session.id, "refresh token reused; session revoked");
                return fail(AuthFailure::RefreshTokenReused);
            }
        };
        let (access_token, access_expires_at) =
            self.access_token(session.user_id, session.org_id, role, session.id, now)?;
        Ok(Tokens {
            access_token,
            access_expires_at,
            refresh_token: next_secret,
            refresh_expires_at,
        })
    }

    /// Revokes the session of `token`. Unknown tokens are accepted silently: logout is idempotent.
    pub async fn logout(&self, token: &SecretString, client_ip: &str) -> ServiceResult<()> {
        let presented = refresh::hash(&self.key_pepper, token);
        let revoked = self
            .store
            .revoke_session_by_token(&presented, client_ip, self.clock.now())
            .await?;
        if let Some(session) = revoked {
            self.verifier.session_ended(session);
            tracing::info!(session_id = %session, "session logged out");
        }
        Ok(())
    }

    fn refresh_lifetime(&self, remember_me: bool) -> Duration {
        if remember_me {
            self.ttls.remember_me
        } else {
            self.ttls.refresh
        }
    }

    fn new_refresh_token(&self, session: &Session, now: UnixMs) -> (SecretString, NewRefreshToken) {
        let secret = refresh::generate();
        let record = NewRefreshToken {
            hash: refresh::hash(&self.key_pepper, &secret),
            session_id: session.id,
            created_at: now,
            expires_at: now.plus(self.refresh_lifetime(session.remember_me)),
        };
        (secret, record)
    }

    fn access_token(
        &self,
        user: UserId,
        org: OrgId,
        role: Role,
        session: SessionId,
        now: UnixMs,
    ) -> ServiceResult<(String, UnixMs)> {
        let expires_at = now.plus(self.ttls.access);
        let claims = AccessClaims {
            sub: user.to_string(),
            org: org.to_string(),
            role: role.to_string(),
            sid: session.to_string(),
            iss: self.jwt.issuer().to_owned(),
            aud: self.jwt.audience().to_owned(),
            typ: ACCESS_TYP.to_owned(),
            iat: now.0 / 1000,
            exp: expires_at.0 / 1000,
            nbf: None,
            jti: uuid::Uuid::new_v4().to_string(),
        };
        let token = self.jwt.sign(&claims).map_err(|e| ServiceError::Internal(e.into()))?;
        Ok((token, UnixMs(claims.exp * 1000)))
    }
}
