//! A `Store` that counts every call by method and can be switched to fail every call as if
//! the database were down, for the tests of what Verify does (and does not do) to the store.

use async_trait::async_trait;
use gatekey::domain::api_key::{ApiKey, NewKey};
use gatekey::domain::audit::{AuditContext, AuditEvent};
use gatekey::domain::fields::Email;
use gatekey::domain::ids::{KeyId, OrgId, ServiceAccountId, SessionId, UserId};
use gatekey::domain::rate_limit::RateLimitPolicy;
use gatekey::domain::role::Role;
use gatekey::domain::scope::Scopes;
use gatekey::domain::time::UnixMs;
use gatekey::store::*;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

/// Methods that change state.
pub const WRITES: &[&str] = &[
    "create_org_with_owner",
    "create_user",
    "create_service_account",
    "insert_key",
    "revoke_key",
    "rotate_key",
    "delete_key",
    "create_session",
    "refresh_session",
    "revoke_session_by_token",
    "append_audit",
    "set_rate_limit",
    "set_role_scopes",
    "touch_keys",
    "insert_signing_key",
];

/// Wraps a store; cheap to clone, all clones share the counters and the switch.
#[derive(Clone)]
pub struct CountingStore {
    inner: SharedStore,
    calls: Arc<Mutex<HashMap<&'static str, usize>>>,
    down: Arc<AtomicBool>,
}

impl CountingStore {
    pub fn new(inner: SharedStore) -> Self {
        Self {
            inner,
            calls: Arc::default(),
            down: Arc::default(),
        }
    }

    /// Calls per method so far.
    pub fn snapshot(&self) -> HashMap<&'static str, usize> {
        self.calls.lock().unwrap().clone()
    }

    pub fn count(&self, method: &str) -> usize {
        self.calls.lock().unwrap().get(method).copied().unwrap_or(0)
    }

    /// From now on every call fails with `Unavailable` (or works again).
    pub fn set_down(&self, down: bool) {
        self.down.store(down, Ordering::SeqCst);
    }

    fn enter(&self, method: &'static str) -> StoreResult<()> {
        *self.calls.lock().unwrap().entry(method).or_default() += 1;
        if self.down.load(Ordering::SeqCst) {
            return Err(StoreError::Unavailable(sqlx::Error::PoolTimedOut));
        }
        Ok(())
    }
}

/// Counts the call, fails it when down, otherwise delegates.
macro_rules! delegate {
    ($self:ident . $method:ident ( $($arg:expr),* )) => {{
        $self.enter(stringify!($method))?;
        $self.inner.$method($($arg),*).await
    }};
}

#[async_trait]
impl Store for CountingStore {
    async fn migrate(&self) -> StoreResult<()> {
        delegate!(self.migrate())
    }
    async fn ping(&self) -> StoreResult<()> {
        delegate!(self.ping())
    }
    async fn close(&self) {
        self.inner.close().await
    }
    async fn create_org_with_owner(&self, org: &Org, owner: &NewUser) -> StoreResult<()> {
        delegate!(self.create_org_with_owner(org, owner))
    }
    async fn find_login(&self, email: &Email) -> StoreResult<Option<LoginRecord>> {
        delegate!(self.find_login(email))
    }
    async fn get_member(&self, org: OrgId, user: UserId) -> StoreResult<Option<User>> {
        delegate!(self.get_member(org, user))
    }
    async fn create_user(&self, ctx: &AuditContext, user: &NewUser) -> StoreResult<User> {
        delegate!(self.create_user(ctx, user))
    }
    async fn create_service_account(&self, ctx: &AuditContext, sa: &ServiceAccount) -> StoreResult<()> {
        delegate!(self.create_service_account(ctx, sa))
    }
    async fn get_service_account(&self, org: OrgId, id: ServiceAccountId) -> StoreResult<Option<ServiceAccount>> {
        delegate!(self.get_service_account(org, id))
    }
    async fn list_service_accounts(&self, org: OrgId, page: PageRequest) -> StoreResult<Page<ServiceAccount>> {
        delegate!(self.list_service_accounts(org, page))
    }
    async fn insert_key(&self, ctx: &AuditContext, key: &NewKey) -> StoreResult<()> {
        delegate!(self.insert_key(ctx, key))
    }
    async fn get_key(&self, org: OrgId, id: KeyId) -> StoreResult<Option<ApiKey>> {
        delegate!(self.get_key(org, id))
    }
    async fn find_key_by_hash(&self, hash: &[u8; 32]) -> StoreResult<Option<ApiKey>> {
        delegate!(self.find_key_by_hash(hash))
    }
    async fn list_keys(
        &self,
        org: OrgId,
        service_account: Option<ServiceAccountId>,
        page: PageRequest,
    ) -> StoreResult<Page<ApiKey>> {
        delegate!(self.list_keys(org, service_account, page))
    }
    async fn revoke_key(&self, ctx: &AuditContext, id: KeyId) -> StoreResult<ApiKey> {
        delegate!(self.revoke_key(ctx, id))
    }
    async fn rotate_key(
        &self,
        ctx: &AuditContext,
        old: KeyId,
        new: &NewKey,
        old_expires_at: Option<UnixMs>,
    ) -> StoreResult<(ApiKey, ApiKey)> {
        delegate!(self.rotate_key(ctx, old, new, old_expires_at))
    }
    async fn delete_key(&self, ctx: &AuditContext, id: KeyId) -> StoreResult<()> {
        delegate!(self.delete_key(ctx, id))
    }
    async fn create_session(&self, ctx: &AuditContext, s: &Session, t: &NewRefreshToken) -> StoreResult<()> {
        delegate!(self.create_session(ctx, s, t))
    }
    async fn refresh_session(
        &self,
        presented: &[u8; 32],
        user_agent: &str,
        next: &NextRefreshToken,
        client_ip: &str,
        now: UnixMs,
    ) -> StoreResult<RefreshOutcome> {
        delegate!(self.refresh_session(presented, user_agent, next, client_ip, now))
    }
    async fn revoke_session_by_token(&self, t: &[u8; 32], ip: &str, now: UnixMs) -> StoreResult<Option<SessionId>> {
        delegate!(self.revoke_session_by_token(t, ip, now))
    }
    async fn get_session(&self, id: SessionId) -> StoreResult<Option<Session>> {
        delegate!(self.get_session(id))
    }
    async fn append_audit(&self, event: &AuditEvent) -> StoreResult<()> {
        delegate!(self.append_audit(event))
    }
    async fn list_audit_events(
        &self,
        org: OrgId,
        action: Option<&str>,
        page: PageRequest,
    ) -> StoreResult<Page<AuditEvent>> {
        delegate!(self.list_audit_events(org, action, page))
    }
    async fn get_org_rate_limit(&self, org: OrgId) -> StoreResult<Option<Option<RateLimitPolicy>>> {
        delegate!(self.get_org_rate_limit(org))
    }
    async fn set_rate_limit(
        &self,
        ctx: &AuditContext,
        target: RateLimitTarget,
        policy: Option<RateLimitPolicy>,
    ) -> StoreResult<()> {
        delegate!(self.set_rate_limit(ctx, target, policy))
    }
    async fn role_scopes(&self, org: OrgId) -> StoreResult<Vec<(Role, Scopes)>> {
        delegate!(self.role_scopes(org))
    }
    async fn set_role_scopes(&self, ctx: &AuditContext, role: Role, scopes: &Scopes) -> StoreResult<()> {
        delegate!(self.set_role_scopes(ctx, role, scopes))
    }
    async fn latest_change_seq(&self) -> StoreResult<i64> {
        delegate!(self.latest_change_seq())
    }
    async fn changes_since(&self, after: i64, limit: i64) -> StoreResult<Vec<Change>> {
        delegate!(self.changes_since(after, limit))
    }
    async fn touch_keys(&self, used: &[(KeyId, UnixMs)]) -> StoreResult<()> {
        delegate!(self.touch_keys(used))
    }
    async fn subscribe_changes(&self) -> StoreResult<Option<ChangeSubscription>> {
        delegate!(self.subscribe_changes())
    }
    async fn list_signing_keys(&self) -> StoreResult<Vec<SigningKeyRecord>> {
        delegate!(self.list_signing_keys())
    }
    async fn insert_signing_key(&self, key: &SigningKeyRecord) -> StoreResult<()> {
        delegate!(self.insert_signing_key(key))
    }
}
