//! Members of an org, one's own password, and service-account deletion (issue 9).
//!
//! A role change takes effect on the member's next admin call: the authenticator reads the
//! membership on every call. Removal and a password change end sessions at once: here on
//! this replica, and through the change feed on the others.

use super::{AuthFailure, Caller, CallerIdentity, Core, Denial, Resource, ServiceError, ServiceResult};
use crate::domain::fields::Password;
use crate::domain::ids::{ServiceAccountId, UserId};
use crate::domain::role::Role;
use crate::store::{Ended, Page, PageRequest, Precondition, StoreError, User};

/// The member-change refusals as the API answers them.
fn member_error(e: StoreError) -> ServiceError {
    match e {
        StoreError::NotFound => ServiceError::NotFound(Resource::User),
        StoreError::Precondition(Precondition::MemberOutranksCaller) => {
            ServiceError::PermissionDenied(Denial::RoleAboveOwn)
        }
        other => other.into(),
    }
}

impl Core {
    /// Any user of the org lists its members. API keys may not: emails are personal data.
    pub async fn list_users(&self, caller: &Caller, page: PageRequest) -> ServiceResult<Page<User>> {
        if let CallerIdentity::Key { .. } = caller.principal {
            return Err(ServiceError::PermissionDenied(Denial::ApiKeyNotAllowed));
        }
        Ok(self.store.list_members(caller.principal.org(), page).await?)
    }

    /// Owners and admins set a member's role: never above their own, never for a member
    /// above their own, never leaving the org without an owner.
    pub async fn set_user_role(&self, caller: &Caller, user: UserId, role: Role) -> ServiceResult<User> {
        caller.principal.require_admin()?;
        caller.principal.require_can_grant(role)?;
        let ctx = caller.audit(self.clock.now());
        let (member, ended) = self
            .store
            .set_member_role(&ctx, user, role, caller.principal.role())
            .await
            .map_err(member_error)?;
        self.forget_ended(&ended);
        tracing::info!(user_id = %user, %role, "set user role");
        Ok(member)
    }

    /// Owners and admins remove a member (themselves included) with the same limits as a
    /// role change; the member's sessions end at once.
    pub async fn remove_user(&self, caller: &Caller, user: UserId) -> ServiceResult<()> {
        caller.principal.require_admin()?;
        let ctx = caller.audit(self.clock.now());
        let ended = self
            .store
            .remove_member(&ctx, user, caller.principal.role())
            .await
            .map_err(member_error)?;
        self.forget_ended(&ended);
        tracing::info!(user_id = %user, ended_sessions = ended.sessions.len(), "removed user");
        Ok(())
    }

    /// The calling user replaces their password; every other session of theirs ends, the
    /// caller's own survives. A wrong current password counts against the login throttle of
    /// the user's email. Returns how many sessions ended.
    pub async fn change_password(&self, caller: &Caller, current: Password, new: Password) -> ServiceResult<usize> {
        let CallerIdentity::User { id, org, session, .. } = caller.principal else {
            return Err(ServiceError::PermissionDenied(Denial::ApiKeyNotAllowed));
        };
        let record = self
            .store
            .member_login(org, id)
            .await?
            .ok_or(ServiceError::Unauthenticated(AuthFailure::InvalidCredential))?;
        let email = record.user.email.as_str();
        if let Err(retry_after) = self.throttle.begin(email) {
            return Err(ServiceError::Throttled { retry_after });
        }
        let ok = self
            .passwords
            .verify(&current, Some(&record.password_hash))
            .await
            .map_err(|_| ServiceError::Busy)?;
        if !ok {
            tracing::info!(user_id = %id, "password change refused: wrong current password");
            return Err(ServiceError::Unauthenticated(AuthFailure::InvalidCredentials));
        }
        self.throttle.succeeded(email);
        let new_hash = self.passwords.hash(&new).await.map_err(ServiceError::Internal)?;
        let ctx = caller.audit(self.clock.now());
        let ended = self
            .store
            .change_password(&ctx, id, session, &record.password_hash, &new_hash)
            .await
            .map_err(|e| match e {
                // Another change won: the password given is no longer the current one.
                StoreError::Precondition(Precondition::PasswordChanged) => {
                    ServiceError::Unauthenticated(AuthFailure::InvalidCredentials)
                }
                other => other.into(),
            })?;
        self.forget_ended(&ended);
        tracing::info!(user_id = %id, ended_sessions = ended.sessions.len(), "password changed");
        Ok(ended.sessions.len())
    }

    /// Owners and admins delete a service account whose role is not above their own; its
    /// keys are revoked with it. Returns how many of them were still usable.
    pub async fn delete_service_account(&self, caller: &Caller, id: ServiceAccountId) -> ServiceResult<usize> {
        caller.principal.require_admin()?;
        let sa = self
            .store
            .get_service_account(caller.principal.org(), id)
            .await?
            .ok_or(ServiceError::NotFound(Resource::ServiceAccount))?;
        caller.principal.require_can_grant(sa.role)?;
        let ended = self
            .store
            .delete_service_account(&caller.audit(self.clock.now()), id)
            .await
            .map_err(ServiceError::from_store(Resource::ServiceAccount))?;
        self.forget_ended(&ended);
        let usable = ended.keys.iter().filter(|(_, usable)| *usable).count();
        tracing::info!(service_account_id = %id, revoked_keys = usable, "deleted service account");
        Ok(usable)
    }

    /// This replica refuses what the change ended from the next call on.
    fn forget_ended(&self, ended: &Ended) {
        for session in &ended.sessions {
            self.verifier.session_ended(*session);
        }
        for (key, _) in &ended.keys {
            self.verifier.forget_key(*key);
        }
    }
}
