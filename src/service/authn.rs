//! Establishes the principal of an admin call from its bearer credential.
//!
//! This is the admin path, not the Verify hot path: it consults the store on every call so
//! that a revoked key, a logged-out session or a changed role takes effect at once.

use super::{AuthFailure, CallerIdentity, Core, ServiceError, ServiceResult};
use crate::domain::api_key::KeyStatus;
use crate::domain::ids::{OrgId, SessionId, UserId};
use crate::domain::key_format;
use subtle::ConstantTimeEq;
use uuid::Uuid;

/// Authenticates `Bearer` credentials: API keys by keyed hash, access tokens by signature.
pub struct Authenticator<'a> {
    core: &'a Core,
}

impl<'a> Authenticator<'a> {
    pub fn new(core: &'a Core) -> Self {
        Self { core }
    }

    /// The principal behind `credential` (the value after `Bearer `), or why there is none.
    pub async fn authenticate(&self, credential: Option<&str>) -> ServiceResult<CallerIdentity> {
        let credential = credential.map(str::trim).filter(|c| !c.is_empty());
        let Some(credential) = credential else {
            return Err(ServiceError::Unauthenticated(AuthFailure::MissingCredential));
        };
        if key_format::looks_like_key(credential) {
            self.api_key(credential).await
        } else {
            self.access_token(credential).await
        }
    }

    async fn api_key(&self, raw: &str) -> ServiceResult<CallerIdentity> {
        let invalid = ServiceError::Unauthenticated(AuthFailure::InvalidCredential);
        let parsed = key_format::parse(raw).ok_or(invalid)?;
        let hash = key_format::keyed_hash(&self.core.key_pepper, parsed.secret());
        let key = self
            .core
            .store
            .find_key_by_hash(&hash)
            .await?
            .ok_or(ServiceError::Unauthenticated(AuthFailure::InvalidCredential))?;
        // The lookup was by hash; comparing the display fields as well, in constant time,
        // guards against a corrupt row answering for another key.
        let same =
            key.prefix.as_bytes().ct_eq(parsed.prefix.as_bytes()) & key.start.as_bytes().ct_eq(parsed.start.as_bytes());
        if !bool::from(same) {
            return Err(ServiceError::Unauthenticated(AuthFailure::InvalidCredential));
        }
        match key.status(self.core.clock.now()) {
            KeyStatus::Revoked => Err(ServiceError::Unauthenticated(AuthFailure::CredentialRevoked)),
            KeyStatus::Expired => Err(ServiceError::Unauthenticated(AuthFailure::CredentialExpired)),
            KeyStatus::Disabled => Err(ServiceError::Unauthenticated(AuthFailure::CredentialDisabled)),
            KeyStatus::Active => Ok(CallerIdentity::Key {
                id: key.id,
                org: key.org_id,
                service_account: key.service_account_id,
                role: key.role,
            }),
        }
    }

    async fn access_token(&self, token: &str) -> ServiceResult<CallerIdentity> {
        let claims = self.core.jwt.verify(token).map_err(|e| match e {
            crate::sessions::jwt::TokenError::Expired => ServiceError::Unauthenticated(AuthFailure::CredentialExpired),
            _ => ServiceError::Unauthenticated(AuthFailure::InvalidCredential),
        })?;
        let invalid = || ServiceError::Unauthenticated(AuthFailure::InvalidCredential);
        let parse = |s: &str| Uuid::parse_str(s).map_err(|_| invalid());
        let (user, org, session) = (
            UserId(parse(&claims.sub)?),
            OrgId(parse(&claims.org)?),
            SessionId(parse(&claims.sid)?),
        );
        let live = self.core.store.get_session(session).await?;
        match live {
            Some(s) if s.revoked_at.is_none() && s.user_id == user && s.org_id == org => {}
            Some(s) if s.revoked_at.is_some() => {
                return Err(ServiceError::Unauthenticated(AuthFailure::SessionRevoked));
            }
            _ => return Err(invalid()),
        }
        // The role in force is the membership's now, not the one the token was minted with.
        let member = self.core.store.get_member(org, user).await?.ok_or_else(invalid)?;
        Ok(CallerIdentity::User {
            id: user,
            org,
            role: member.role,
            session,
        })
    }
}
