//! Org administration: service accounts, users, the audit log.

use super::{Caller, CallerIdentity, Core, ServiceError, ServiceResult};
use crate::domain::fields::{Email, Name, Password};
use crate::domain::ids::{ServiceAccountId, UserId};
use crate::domain::role::Role;
use crate::service::Denial;
use crate::store::{AuditEntry, AuditFilter, NewUser, Page, PageRequest, ServiceAccount, User};

impl Core {
    /// Owners and admins create service accounts with a role up to their own.
    pub async fn create_service_account(
        &self,
        caller: &Caller,
        name: Name,
        role: Role,
    ) -> ServiceResult<ServiceAccount> {
        caller.principal.require_admin()?;
        caller.principal.require_can_grant(role)?;
        let now = self.clock.now();
        let sa = ServiceAccount {
            id: ServiceAccountId::generate(),
            org_id: caller.principal.org(),
            name,
            role,
            created_at: now,
        };
        self.store.create_service_account(&caller.audit(now), &sa).await?;
        tracing::info!(service_account_id = %sa.id, "created service account");
        Ok(sa)
    }

    /// Any member (or key) of the org lists its service accounts.
    pub async fn list_service_accounts(
        &self,
        caller: &Caller,
        page: PageRequest,
    ) -> ServiceResult<Page<ServiceAccount>> {
        Ok(self.store.list_service_accounts(caller.principal.org(), page).await?)
    }

    /// Owners and admins add members to their org with a role up to their own.
    pub async fn create_user(
        &self,
        caller: &Caller,
        email: Email,
        password: Password,
        role: Role,
    ) -> ServiceResult<User> {
        caller.principal.require_admin()?;
        caller.principal.require_can_grant(role)?;
        let password_hash = self.passwords.hash(&password).await.map_err(ServiceError::Internal)?;
        let now = self.clock.now();
        let user = NewUser {
            id: UserId::generate(),
            org_id: caller.principal.org(),
            email,
            password_hash,
            role,
            created_at: now,
        };
        let user = self.store.create_user(&caller.audit(now), &user).await?;
        tracing::info!(user_id = %user.id, "created user");
        Ok(user)
    }

    /// Owners and admins read their org's audit log, newest first, each event with its actor
    /// in words.
    pub async fn list_audit_events(
        &self,
        caller: &Caller,
        filter: &AuditFilter,
        page: PageRequest,
    ) -> ServiceResult<Page<AuditEntry>> {
        if let CallerIdentity::Key { .. } = caller.principal {
            return Err(ServiceError::PermissionDenied(Denial::ApiKeyNotAllowed));
        }
        caller.principal.require_admin()?;
        Ok(self
            .store
            .list_audit_entries(caller.principal.org(), filter, page)
            .await?)
    }
}
