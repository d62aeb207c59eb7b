//! Use cases: one function per RPC, independent of tonic. Handlers convert, call one of
//! these, and convert back.

pub mod admin;
pub mod auth;
pub mod authn;
pub mod bootstrap;
mod core;
pub mod error;
pub mod key_pairs;
pub mod keys;
pub mod limits;
pub mod members;
pub mod paging;
pub mod readiness;

pub use self::core::{Core, SessionTtls};
pub use error::{AuthFailure, Denial, Resource, ServiceError, ServiceResult};

use crate::domain::audit::{Actor, AuditContext};
use crate::domain::ids::{KeyId, OrgId, ServiceAccountId, SessionId, UserId};
use crate::domain::role::Role;
use crate::domain::time::UnixMs;

/// Who is calling, as established by [`authn::Authenticator`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallerIdentity {
    /// A logged-in user, with its current role in the org of its token.
    User {
        id: UserId,
        org: OrgId,
        role: Role,
        session: SessionId,
    },
    /// A service-account API key.
    Key {
        id: KeyId,
        org: OrgId,
        service_account: ServiceAccountId,
        role: Role,
    },
}

impl CallerIdentity {
    pub fn org(&self) -> OrgId {
        match self {
            CallerIdentity::User { org, .. } | CallerIdentity::Key { org, .. } => *org,
        }
    }

    pub fn role(&self) -> Role {
        match self {
            CallerIdentity::User { role, .. } | CallerIdentity::Key { role, .. } => *role,
        }
    }

    pub fn actor(&self) -> Actor {
        match self {
            CallerIdentity::User { id, .. } => Actor::User(*id),
            CallerIdentity::Key { id, .. } => Actor::Key(*id),
        }
    }

    /// Owners and admins (users, never keys) manage keys, service accounts and users.
    pub fn require_admin(&self) -> ServiceResult<()> {
        match self {
            CallerIdentity::Key { .. } => Err(ServiceError::PermissionDenied(Denial::ApiKeyNotAllowed)),
            CallerIdentity::User { role, .. } if !role.can_administer() => {
                Err(ServiceError::PermissionDenied(Denial::InsufficientRole))
            }
            CallerIdentity::User { .. } => Ok(()),
        }
    }

    /// Nobody grants a role above their own.
    pub fn require_can_grant(&self, role: Role) -> ServiceResult<()> {
        if role > self.role() {
            return Err(ServiceError::PermissionDenied(Denial::RoleAboveOwn));
        }
        Ok(())
    }
}

/// An authenticated call: the principal and where it came from.
#[derive(Debug, Clone)]
pub struct Caller {
    pub principal: CallerIdentity,
    pub client_ip: String,
}

impl Caller {
    /// The audit context of a change made by this caller at `now`.
    pub fn audit(&self, now: UnixMs) -> AuditContext {
        AuditContext {
            org_id: self.principal.org(),
            actor: self.principal.actor(),
            client_ip: self.client_ip.clone(),
            now,
        }
    }
}
