//! The admin and auth use cases' view of the store: every call answers within a deadline
//! (`admin_store_timeout_ms`), or fails as [`StoreError::TimedOut`], which callers get as
//! `UNAVAILABLE`. A hung connection or a store behind a black hole then costs a call seconds,
//! not the minutes a TCP timeout takes. The Verify engine does not go through this: it has
//! its own, much shorter, wait (see `verify::engine::lookup`).
//!
//! A deadline that passes mid-transaction drops it, and sqlx rolls it back; a commit whose
//! answer is lost is the same case as a connection lost at that moment (see the README).

use super::*;
use crate::domain::api_key::{ApiKey, KeyRotation, NewKey};
use crate::domain::audit::{AuditContext, AuditEvent};
use crate::domain::fields::Email;
use crate::domain::ids::{KeyId, KeyPairId, OrgId, ServiceAccountId, SessionId, UserId};
use crate::domain::rate_limit::RateLimitPolicy;
use crate::domain::role::Role;
use crate::domain::scope::Scopes;
use crate::domain::time::UnixMs;
use async_trait::async_trait;
use std::time::Duration;

/// A store whose every call is bounded by one deadline.
pub struct DeadlineStore {
    inner: SharedStore,
    limit: Duration,
}

impl DeadlineStore {
    pub fn new(inner: SharedStore, limit: Duration) -> Self {
        Self { inner, limit }
    }

    async fn within<T>(&self, call: impl Future<Output = StoreResult<T>>) -> StoreResult<T> {
        tokio::time::timeout(self.limit, call)
            .await
            .unwrap_or(Err(StoreError::TimedOut(self.limit)))
    }
}

/// Delegates each listed method to the inner store within the deadline.
macro_rules! bounded {
    ($self:ident . $method:ident ( $($arg:expr),* )) => {
        $self.within($self.inner.$method($($arg),*)).await
    };
}

#[async_trait]
impl StoreLifecycle for DeadlineStore {
    /// Not bounded: a migration takes what it takes, and runs before anything is served.
    async fn migrate(&self) -> StoreResult<()> {
        self.inner.migrate().await
    }
    async fn ping(&self) -> StoreResult<()> {
        bounded!(self.ping())
    }
    async fn close(&self) {
        self.inner.close().await
    }
}

#[async_trait]
impl OrgReads for DeadlineStore {
    async fn find_login(&self, email: &Email) -> StoreResult<Option<LoginRecord>> {
        bounded!(self.find_login(email))
    }
    async fn get_member(&self, org: OrgId, user: UserId) -> StoreResult<Option<User>> {
        bounded!(self.get_member(org, user))
    }
    async fn get_service_account(&self, org: OrgId, id: ServiceAccountId) -> StoreResult<Option<ServiceAccount>> {
        bounded!(self.get_service_account(org, id))
    }
    async fn list_service_accounts(&self, org: OrgId, page: PageRequest) -> StoreResult<Page<ServiceAccount>> {
        bounded!(self.list_service_accounts(org, page))
    }
    // Issue 9, members.
    async fn list_members(&self, org: OrgId, page: PageRequest) -> StoreResult<Page<User>> {
        bounded!(self.list_members(org, page))
    }
    async fn member_login(&self, org: OrgId, user: UserId) -> StoreResult<Option<LoginRecord>> {
        bounded!(self.member_login(org, user))
    }
}

#[async_trait]
impl OrgStore for DeadlineStore {
    async fn create_org_with_owner(&self, org: &Org, owner: &NewUser) -> StoreResult<()> {
        bounded!(self.create_org_with_owner(org, owner))
    }
    async fn create_user(&self, ctx: &AuditContext, user: &NewUser) -> StoreResult<User> {
        bounded!(self.create_user(ctx, user))
    }
    async fn create_service_account(&self, ctx: &AuditContext, sa: &ServiceAccount) -> StoreResult<()> {
        bounded!(self.create_service_account(ctx, sa))
    }
    // Issue 9, members and service-account deletion.
    async fn set_member_role(
        &self,
        ctx: &AuditContext,
        user: UserId,
        role: Role,
        caller: Role,
    ) -> StoreResult<(User, Ended)> {
        bounded!(self.set_member_role(ctx, user, role, caller))
    }
    async fn remove_member(&self, ctx: &AuditContext, user: UserId, caller: Role) -> StoreResult<Ended> {
        bounded!(self.remove_member(ctx, user, caller))
    }
    async fn change_password(
        &self,
        ctx: &AuditContext,
        user: UserId,
        keep: SessionId,
        current_hash: &str,
        new_hash: &str,
    ) -> StoreResult<Ended> {
        bounded!(self.change_password(ctx, user, keep, current_hash, new_hash))
    }
    async fn delete_service_account(&self, ctx: &AuditContext, id: ServiceAccountId) -> StoreResult<Ended> {
        bounded!(self.delete_service_account(ctx, id))
    }
}

#[async_trait]
impl KeyReads for DeadlineStore {
    async fn get_key(&self, org: OrgId, id: KeyId) -> StoreResult<Option<ApiKey>> {
        bounded!(self.get_key(org, id))
    }
    async fn find_key_by_hash(&self, hash: &[u8; 32]) -> StoreResult<Option<ApiKey>> {
        bounded!(self.find_key_by_hash(hash))
    }
    async fn list_keys(
        &self,
        org: OrgId,
        service_account: Option<ServiceAccountId>,
        page: PageRequest,
    ) -> StoreResult<Page<ApiKey>> {
        bounded!(self.list_keys(org, service_account, page))
    }

    // Key pairs.
    async fn list_pair_keys(&self, org: OrgId, pair: KeyPairId) -> StoreResult<Vec<ApiKey>> {
        bounded!(self.list_pair_keys(org, pair))
    }
}

#[async_trait]
impl KeyStore for DeadlineStore {
    async fn insert_key(&self, ctx: &AuditContext, key: &NewKey) -> StoreResult<()> {
        bounded!(self.insert_key(ctx, key))
    }
    async fn revoke_key(&self, ctx: &AuditContext, id: KeyId) -> StoreResult<ApiKey> {
        bounded!(self.revoke_key(ctx, id))
    }
    async fn rotate_key(
        &self,
        ctx: &AuditContext,
        old: KeyId,
        new: &NewKey,
        old_expires_at: Option<UnixMs>,
    ) -> StoreResult<(ApiKey, ApiKey)> {
        bounded!(self.rotate_key(ctx, old, new, old_expires_at))
    }
    async fn delete_key(&self, ctx: &AuditContext, id: KeyId) -> StoreResult<()> {
        bounded!(self.delete_key(ctx, id))
    }

    // Suspension and key pairs.
    async fn disable_key(&self, ctx: &AuditContext, id: KeyId) -> StoreResult<ApiKey> {
        bounded!(self.disable_key(ctx, id))
    }
    async fn enable_key(&self, ctx: &AuditContext, id: KeyId) -> StoreResult<ApiKey> {
        bounded!(self.enable_key(ctx, id))
    }
    async fn insert_key_pair(&self, ctx: &AuditContext, publishable: &NewKey, secret: &NewKey) -> StoreResult<()> {
        bounded!(self.insert_key_pair(ctx, publishable, secret))
    }
    async fn rotate_key_pair(
        &self,
        ctx: &AuditContext,
        first: &KeyRotation,
        second: &KeyRotation,
    ) -> StoreResult<[(ApiKey, ApiKey); 2]> {
        bounded!(self.rotate_key_pair(ctx, first, second))
    }
}

#[async_trait]
impl KeyUsage for DeadlineStore {
    async fn touch_keys(&self, used: &[(KeyId, UnixMs)]) -> StoreResult<()> {
        bounded!(self.touch_keys(used))
    }
}

#[async_trait]
impl SessionReads for DeadlineStore {
    async fn get_session(&self, id: SessionId) -> StoreResult<Option<Session>> {
        bounded!(self.get_session(id))
    }
}

#[async_trait]
impl SessionStore for DeadlineStore {
    async fn create_session(&self, ctx: &AuditContext, s: &Session, t: &NewRefreshToken) -> StoreResult<()> {
        bounded!(self.create_session(ctx, s, t))
    }
    async fn refresh_session(
        &self,
        presented: &[u8; 32],
        user_agent: &str,
        next: &NextRefreshToken,
        client_ip: &str,
        now: UnixMs,
    ) -> StoreResult<RefreshOutcome> {
        bounded!(self.refresh_session(presented, user_agent, next, client_ip, now))
    }
    async fn revoke_session_by_token(&self, t: &[u8; 32], ip: &str, now: UnixMs) -> StoreResult<Option<SessionId>> {
        bounded!(self.revoke_session_by_token(t, ip, now))
    }
}

#[async_trait]
impl AuditReads for DeadlineStore {
    async fn list_audit_events(
        &self,
        org: OrgId,
        action: Option<&str>,
        page: PageRequest,
    ) -> StoreResult<Page<AuditEvent>> {
        bounded!(self.list_audit_events(org, action, page))
    }
    // Issue 9, the audit log's readers.
    async fn list_audit_entries(
        &self,
        org: OrgId,
        filter: &AuditFilter,
        page: PageRequest,
    ) -> StoreResult<Page<AuditEntry>> {
        bounded!(self.list_audit_entries(org, filter, page))
    }
}

#[async_trait]
impl AuditLog for DeadlineStore {
    async fn append_audit(&self, event: &AuditEvent) -> StoreResult<()> {
        bounded!(self.append_audit(event))
    }
}

#[async_trait]
impl PolicyReads for DeadlineStore {
    async fn get_org_rate_limit(&self, org: OrgId) -> StoreResult<Option<Option<RateLimitPolicy>>> {
        bounded!(self.get_org_rate_limit(org))
    }
    async fn role_scopes(&self, org: OrgId) -> StoreResult<Vec<(Role, Scopes)>> {
        bounded!(self.role_scopes(org))
    }
}

#[async_trait]
impl PolicyStore for DeadlineStore {
    async fn set_rate_limit(
        &self,
        ctx: &AuditContext,
        target: RateLimitTarget,
        policy: Option<RateLimitPolicy>,
    ) -> StoreResult<()> {
        bounded!(self.set_rate_limit(ctx, target, policy))
    }
    async fn set_role_scopes(&self, ctx: &AuditContext, role: Role, scopes: &Scopes) -> StoreResult<()> {
        bounded!(self.set_role_scopes(ctx, role, scopes))
    }
}

#[async_trait]
impl ChangeFeed for DeadlineStore {
    async fn latest_change_seq(&self) -> StoreResult<i64> {
        bounded!(self.latest_change_seq())
    }
    async fn changes_since(&self, after: i64, limit: i64) -> StoreResult<Vec<Change>> {
        bounded!(self.changes_since(after, limit))
    }
    /// Not bounded: the subscription is a long-lived connection of the change-feed follower.
    async fn subscribe_changes(&self) -> StoreResult<Option<ChangeSubscription>> {
        self.inner.subscribe_changes().await
    }
}

#[async_trait]
impl SigningKeyReads for DeadlineStore {
    async fn list_signing_keys(&self) -> StoreResult<Vec<SigningKeyRecord>> {
        bounded!(self.list_signing_keys())
    }
}

#[async_trait]
impl SigningKeys for DeadlineStore {
    async fn insert_signing_key(&self, key: &SigningKeyRecord) -> StoreResult<()> {
        bounded!(self.insert_signing_key(key))
    }
}
