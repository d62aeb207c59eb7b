//! A `Store` that counts every call by method and can be switched to fail every call as if
//! the database were down, for the tests of what Verify does (and does not do) to the store.

use async_trait::async_trait;
use gatekey::domain::api_key::{ApiKey, KeyRotation, NewKey};
use gatekey::domain::audit::{AuditContext, AuditEvent};
use gatekey::domain::fields::Email;
use gatekey::domain::ids::{KeyId, KeyPairId, OrgId, ServiceAccountId, SessionId, UserId};
use gatekey::domain::rate_limit::RateLimitPolicy;
use gatekey::domain::role::Role;
use gatekey::domain::scope::Scopes;
use gatekey::domain::time::UnixMs;
use gatekey::store::*;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// Whether a method reads or changes state, as its trait says: every method of a writer
/// trait (`KeyStore`, `KeyUsage`, ...) counts as a write, so a new write method is counted
/// without anyone listing it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    Read,
    Write,
}

/// Wraps a store; cheap to clone, all clones share the counters and the switch.
#[derive(Clone)]
pub struct CountingStore {
    inner: SharedStore,
    calls: Arc<Mutex<HashMap<&'static str, usize>>>,
    access: Arc<Mutex<HashMap<&'static str, Access>>>,
    down: Arc<AtomicBool>,
    /// Every call waits this long (ms) before it is counted and answered: a slow store.
    delay_ms: Arc<AtomicU64>,
    /// Cleared: `subscribe_changes` answers `None`, as on a backend without NOTIFY.
    notify: Arc<AtomicBool>,
}

impl CountingStore {
    pub fn new(inner: SharedStore) -> Self {
        Self {
            inner,
            calls: Arc::default(),
            access: Arc::default(),
            down: Arc::default(),
            delay_ms: Arc::default(),
            notify: Arc::new(AtomicBool::new(true)),
        }
    }

    /// Takes NOTIFY away: `subscribe_changes` answers `None` from now on, as SQLite and MySQL
    /// do, so the change feed can only poll. Set before the app starts to hold for its life.
    pub fn without_notify(self) -> Self {
        self.notify.store(false, Ordering::SeqCst);
        self
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

    /// From now on every call first waits `delay` (zero: answers at once again).
    pub fn set_delay(&self, delay: std::time::Duration) {
        self.delay_ms
            .store(u64::try_from(delay.as_millis()).unwrap(), Ordering::SeqCst);
    }

    async fn pause(&self) {
        let ms = self.delay_ms.load(Ordering::SeqCst);
        if ms > 0 {
            tokio::time::sleep(std::time::Duration::from_millis(ms)).await;
        }
    }

    /// The write methods called so far, with their counts.
    pub fn writes(&self) -> HashMap<&'static str, usize> {
        let access = self.access.lock().unwrap();
        self.snapshot()
            .into_iter()
            .filter(|(method, _)| access.get(method) == Some(&Access::Write))
            .collect()
    }

    fn enter(&self, method: &'static str, access: Access) -> StoreResult<()> {
        *self.calls.lock().unwrap().entry(method).or_default() += 1;
        self.access.lock().unwrap().insert(method, access);
        if self.down.load(Ordering::SeqCst) {
            return Err(StoreError::Unavailable(sqlx::Error::PoolTimedOut));
        }
        Ok(())
    }
}

/// Counts the call, fails it when down, otherwise delegates.
macro_rules! delegate {
    (read $self:ident . $method:ident ( $($arg:expr),* )) => {{
        $self.pause().await;
        $self.enter(stringify!($method), Access::Read)?;
        $self.inner.$method($($arg),*).await
    }};
    (write $self:ident . $method:ident ( $($arg:expr),* )) => {{
        $self.pause().await;
        $self.enter(stringify!($method), Access::Write)?;
        $self.inner.$method($($arg),*).await
    }};
    ($self:ident . $method:ident ( $($arg:expr),* )) => {{
        $self.pause().await;
        $self.enter(stringify!($method), Access::Read)?;
        $self.inner.$method($($arg),*).await
    }};
}

#[async_trait]
impl StoreLifecycle for CountingStore {
    async fn migrate(&self) -> StoreResult<()> {
        delegate!(self.migrate())
    }
    async fn ping(&self) -> StoreResult<()> {
        delegate!(self.ping())
    }
    async fn close(&self) {
        self.inner.close().await
    }
}

#[async_trait]
impl OrgReads for CountingStore {
    async fn find_login(&self, email: &Email) -> StoreResult<Option<LoginRecord>> {
        delegate!(read self.find_login(email))
    }
    async fn get_member(&self, org: OrgId, user: UserId) -> StoreResult<Option<User>> {
        delegate!(read self.get_member(org, user))
    }
    async fn get_service_account(&self, org: OrgId, id: ServiceAccountId) -> StoreResult<Option<ServiceAccount>> {
        delegate!(read self.get_service_account(org, id))
    }
    async fn list_service_accounts(&self, org: OrgId, page: PageRequest) -> StoreResult<Page<ServiceAccount>> {
        delegate!(read self.list_service_accounts(org, page))
    }
    // Issue 9, members.
    async fn list_members(&self, org: OrgId, page: PageRequest) -> StoreResult<Page<User>> {
        delegate!(read self.list_members(org, page))
    }
    async fn member_login(&self, org: OrgId, user: UserId) -> StoreResult<Option<LoginRecord>> {
        delegate!(read self.member_login(org, user))
    }
}

#[async_trait]
impl OrgStore for CountingStore {
    async fn create_org_with_owner(&self, org: &Org, owner: &NewUser) -> StoreResult<()> {
        delegate!(write self.create_org_with_owner(org, owner))
    }
    async fn create_user(&self, ctx: &AuditContext, user: &NewUser) -> StoreResult<User> {
        delegate!(write self.create_user(ctx, user))
    }
    async fn create_service_account(&self, ctx: &AuditContext, sa: &ServiceAccount) -> StoreResult<()> {
        delegate!(write self.create_service_account(ctx, sa))
    }
    // Issue 9, members and service-account deletion.
    async fn set_member_role(
        &self,
        ctx: &AuditContext,
        user: UserId,
        role: Role,
        caller: Role,
    ) -> StoreResult<(User, Ended)> {
        delegate!(write self.set_member_role(ctx, user, role, caller))
    }
    async fn remove_member(&self, ctx: &AuditContext, user: UserId, caller: Role) -> StoreResult<Ended> {
        delegate!(write self.remove_member(ctx, user, caller))
    }
    async fn change_password(
        &self,
        ctx: &AuditContext,
        user: UserId,
        keep: SessionId,
        current_hash: &str,
        new_hash: &str,
    ) -> StoreResult<Ended> {
        delegate!(write self.change_password(ctx, user, keep, current_hash, new_hash))
    }
    async fn delete_service_account(&self, ctx: &AuditContext, id: ServiceAccountId) -> StoreResult<Ended> {
        delegate!(write self.delete_service_account(ctx, id))
    }
}

#[async_trait]
impl KeyReads for CountingStore {
    async fn get_key(&self, org: OrgId, id: KeyId) -> StoreResult<Option<ApiKey>> {
        delegate!(read self.get_key(org, id))
    }
    async fn find_key_by_hash(&self, hash: &[u8; 32]) -> StoreResult<Option<ApiKey>> {
        delegate!(read self.find_key_by_hash(hash))
    }
    async fn list_keys(
        &self,
        org: OrgId,
        service_account: Option<ServiceAccountId>,
        page: PageRequest,
    ) -> StoreResult<Page<ApiKey>> {
        delegate!(read self.list_keys(org, service_account, page))
    }

    // Key pairs.
    async fn list_pair_keys(&self, org: OrgId, pair: KeyPairId) -> StoreResult<Vec<ApiKey>> {
        delegate!(read self.list_pair_keys(org, pair))
    }
}

#[async_trait]
impl KeyStore for CountingStore {
    async fn insert_key(&self, ctx: &AuditContext, key: &NewKey) -> StoreResult<()> {
        delegate!(write self.insert_key(ctx, key))
    }
    async fn revoke_key(&self, ctx: &AuditContext, id: KeyId) -> StoreResult<ApiKey> {
        delegate!(write self.revoke_key(ctx, id))
    }
    async fn rotate_key(
        &self,
        ctx: &AuditContext,
        old: KeyId,
        new: &NewKey,
        old_expires_at: Option<UnixMs>,
    ) -> StoreResult<(ApiKey, ApiKey)> {
        delegate!(write self.rotate_key(ctx, old, new, old_expires_at))
    }
    async fn delete_key(&self, ctx: &AuditContext, id: KeyId) -> StoreResult<()> {
        delegate!(write self.delete_key(ctx, id))
    }

    // Suspension and key pairs.
    async fn disable_key(&self, ctx: &AuditContext, id: KeyId) -> StoreResult<ApiKey> {
        delegate!(write self.disable_key(ctx, id))
    }
    async fn enable_key(&self, ctx: &AuditContext, id: KeyId) -> StoreResult<ApiKey> {
        delegate!(write self.enable_key(ctx, id))
    }
    async fn insert_key_pair(&self, ctx: &AuditContext, publishable: &NewKey, secret: &NewKey) -> StoreResult<()> {
        delegate!(write self.insert_key_pair(ctx, publishable, secret))
    }
    async fn rotate_key_pair(
        &self,
        ctx: &AuditContext,
        first: &KeyRotation,
        second: &KeyRotation,
    ) -> StoreResult<[(ApiKey, ApiKey); 2]> {
        delegate!(write self.rotate_key_pair(ctx, first, second))
    }
}

#[async_trait]
impl KeyUsage for CountingStore {
    async fn touch_keys(&self, used: &[(KeyId, UnixMs)]) -> StoreResult<()> {
        delegate!(write self.touch_keys(used))
    }
}

#[async_trait]
impl SessionReads for CountingStore {
    async fn get_session(&self, id: SessionId) -> StoreResult<Option<Session>> {
        delegate!(read self.get_session(id))
    }
}

#[async_trait]
impl SessionStore for CountingStore {
    async fn create_session(&self, ctx: &AuditContext, s: &Session, t: &NewRefreshToken) -> StoreResult<()> {
        delegate!(write self.create_session(ctx, s, t))
    }
    async fn refresh_session(
        &self,
        presented: &[u8; 32],
        user_agent: &str,
        next: &NextRefreshToken,
        client_ip: &str,
        now: UnixMs,
    ) -> StoreResult<RefreshOutcome> {
        delegate!(write self.refresh_session(presented, user_agent, next, client_ip, now))
    }
    async fn revoke_session_by_token(&self, t: &[u8; 32], ip: &str, now: UnixMs) -> StoreResult<Option<SessionId>> {
        delegate!(write self.revoke_session_by_token(t, ip, now))
    }
}

#[async_trait]
impl AuditReads for CountingStore {
    async fn list_audit_events(
        &self,
        org: OrgId,
        action: Option<&str>,
        page: PageRequest,
    ) -> StoreResult<Page<AuditEvent>> {
        delegate!(read self.list_audit_events(org, action, page))
    }
    // Issue 9, the audit log's readers.
    async fn list_audit_entries(
        &self,
        org: OrgId,
        filter: &AuditFilter,
        page: PageRequest,
    ) -> StoreResult<Page<AuditEntry>> {
        delegate!(read self.list_audit_entries(org, filter, page))
    }
}

#[async_trait]
impl AuditLog for CountingStore {
    async fn append_audit(&self, event: &AuditEvent) -> StoreResult<()> {
        delegate!(write self.append_audit(event))
    }
}

#[async_trait]
impl PolicyReads for CountingStore {
    async fn get_org_rate_limit(&self, org: OrgId) -> StoreResult<Option<Option<RateLimitPolicy>>> {
        delegate!(read self.get_org_rate_limit(org))
    }
    async fn role_scopes(&self, org: OrgId) -> StoreResult<Vec<(Role, Scopes)>> {
        delegate!(read self.role_scopes(org))
    }
}

#[async_trait]
impl PolicyStore for CountingStore {
    async fn set_rate_limit(
        &self,
        ctx: &AuditContext,
        target: RateLimitTarget,
        policy: Option<RateLimitPolicy>,
    ) -> StoreResult<()> {
        delegate!(write self.set_rate_limit(ctx, target, policy))
    }
    async fn set_role_scopes(&self, ctx: &AuditContext, role: Role, scopes: &Scopes) -> StoreResult<()> {
        delegate!(write self.set_role_scopes(ctx, role, scopes))
    }
}

#[async_trait]
impl ChangeFeed for CountingStore {
    async fn latest_change_seq(&self) -> StoreResult<i64> {
        delegate!(read self.latest_change_seq())
    }
    async fn changes_since(&self, after: i64, limit: i64) -> StoreResult<Vec<Change>> {
        delegate!(read self.changes_since(after, limit))
    }
    async fn subscribe_changes(&self) -> StoreResult<Option<ChangeSubscription>> {
        if !self.notify.load(Ordering::SeqCst) {
            self.enter("subscribe_changes", Access::Read)?;
            return Ok(None);
        }
        delegate!(read self.subscribe_changes())
    }
}

#[async_trait]
impl SigningKeyReads for CountingStore {
    async fn list_signing_keys(&self) -> StoreResult<Vec<SigningKeyRecord>> {
        delegate!(read self.list_signing_keys())
    }
}

#[async_trait]
impl SigningKeys for CountingStore {
    async fn insert_signing_key(&self, key: &SigningKeyRecord) -> StoreResult<()> {
        delegate!(write self.insert_signing_key(key))
    }
}
