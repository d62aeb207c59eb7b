//! The storage contract and its two backends.
//!
//! Every method that changes state writes its audit event (and, where replicas must learn of
//! it, a change-feed row) in the same transaction as the change. Every method that reads an
//! org's objects filters by org, so a foreign id is indistinguishable from a missing one.

mod codec;
mod fault;
mod postgres;
mod records;
mod sql;
mod sqlite;

pub use records::*;

use crate::domain::api_key::{ApiKey, NewKey};
use crate::domain::audit::{AuditContext, AuditEvent};
use crate::domain::fields::Email;
use crate::domain::ids::{KeyId, OrgId, ServiceAccountId, SessionId, UserId};
use crate::domain::rate_limit::RateLimitPolicy;
use crate::domain::role::Role;
use crate::domain::scope::Scopes;
use crate::domain::time::UnixMs;
use async_trait::async_trait;
use std::sync::Arc;

pub use postgres::{ChangeSubscription, PgStore};
pub use sqlite::SqliteStore;

/// Why a store call failed. The use cases map each case; none carries a secret.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// No such object in the caller's org (a foreign object counts as missing).
    #[error("not found")]
    NotFound,
    /// A unique field is taken.
    #[error("{0} already exists")]
    Conflict(Taken),
    /// The object exists but is in the wrong state for the change.
    #[error("precondition failed: {0:?}")]
    Precondition(Precondition),
    /// The database could not be reached or timed out; retrying may help.
    #[error("store unavailable")]
    Unavailable(#[source] sqlx::Error),
    /// Anything else: a bug, a corrupt row, a failed migration.
    #[error("store failure")]
    Internal(#[source] anyhow::Error),
}

/// The unique fields a create can collide on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Taken {
    Email,
    OrgName,
    ServiceAccountName,
}

impl std::fmt::Display for Taken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Taken::Email => "email",
            Taken::OrgName => "org name",
            Taken::ServiceAccountName => "service account name",
        })
    }
}

/// The state rules a change can break.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Precondition {
    /// DeleteKey on a key that is not revoked.
    KeyNotRevoked,
    /// RotateKey on a key that is revoked, expired, or already rotated (a lost race included).
    KeyNotRotatable,
}

pub type StoreResult<T> = Result<T, StoreError>;

/// The storage interface shared by PostgreSQL and SQLite; `tests/api/store_conformance/`
/// proves every contract below on both.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Applies pending migrations. Idempotent.
    async fn migrate(&self) -> StoreResult<()>;

    /// One round trip to the database; health checks call it.
    async fn ping(&self) -> StoreResult<()>;

    /// Closes the pool after in-flight queries finish.
    async fn close(&self);

    /// Creates an org with its first owner (user + owner membership) and audits both.
    /// Must return `Conflict(Taken::OrgName)` or `Conflict(Taken::Email)` when either is taken, and then
    /// create nothing.
    async fn create_org_with_owner(&self, org: &Org, owner: &NewUser) -> StoreResult<()>;

    /// The login record of the user with `email` (its oldest membership), if any.
    async fn find_login(&self, email: &Email) -> StoreResult<Option<LoginRecord>>;

    /// A member of `org`; `None` when the user does not exist or is not a member of `org`.
    async fn get_member(&self, org: OrgId, user: UserId) -> StoreResult<Option<User>>;

    /// Creates a user and its membership in `ctx.org_id`; `Conflict(Taken::Email)` when taken.
    async fn create_user(&self, ctx: &AuditContext, user: &NewUser) -> StoreResult<User>;

    /// Creates a service account in `ctx.org_id`; `Conflict(Taken::ServiceAccountName)` when the
    /// org already has one of that name.
    async fn create_service_account(&self, ctx: &AuditContext, sa: &ServiceAccount) -> StoreResult<()>;

    /// A service account of `org`, or `None`.
    async fn get_service_account(&self, org: OrgId, id: ServiceAccountId) -> StoreResult<Option<ServiceAccount>>;

    /// The org's service accounts in creation order.
    async fn list_service_accounts(&self, org: OrgId, page: PageRequest) -> StoreResult<Page<ServiceAccount>>;

    /// Inserts a key (its hash, never the secret) and audits `service_account.key_issued`.
    async fn insert_key(&self, ctx: &AuditContext, key: &NewKey) -> StoreResult<()>;

    /// A key of `org`, or `None`.
    async fn get_key(&self, org: OrgId, id: KeyId) -> StoreResult<Option<ApiKey>>;

    /// The key whose keyed hash is `hash`, in any org and any state, or `None`.
    async fn find_key_by_hash(&self, hash: &[u8; 32]) -> StoreResult<Option<ApiKey>>;

    /// The org's keys in creation order, optionally only those of one service account.
    async fn list_keys(
        &self,
        org: OrgId,
        service_account: Option<ServiceAccountId>,
        page: PageRequest,
    ) -> StoreResult<Page<ApiKey>>;

    /// Revokes a key at `ctx.now`, audits it and records a change. Must be idempotent: an
    /// already revoked key is returned unchanged, with no new audit event. `NotFound` when the
    /// key is not in `ctx.org_id`.
    async fn revoke_key(&self, ctx: &AuditContext, id: KeyId) -> StoreResult<ApiKey>;

    /// Replaces `old` by `new`: inserts `new`, and on `old` sets `rotated_to` and either
    /// `revoked_at = ctx.now` (when `old_expires_at` is `None`) or `expires_at = old_expires_at`.
    /// Must succeed for exactly one of several concurrent calls on one key; the others, and
    /// calls on a revoked, expired or already rotated key, get
    /// `Precondition(KeyNotRotatable)`. Returns `(new, old)` as stored.
    async fn rotate_key(
        &self,
        ctx: &AuditContext,
        old: KeyId,
        new: &NewKey,
        old_expires_at: Option<UnixMs>,
    ) -> StoreResult<(ApiKey, ApiKey)>;

    /// Deletes a revoked key; its audit history stays. `Precondition(KeyNotRevoked)` otherwise.
    async fn delete_key(&self, ctx: &AuditContext, id: KeyId) -> StoreResult<()>;

    /// Starts a session with its first refresh token and audits the login.
    async fn create_session(&self, ctx: &AuditContext, session: &Session, token: &NewRefreshToken) -> StoreResult<()>;

    /// Exchanges the refresh token with hash `presented` for `next`, following the policy in
    /// [`RefreshOutcome`]. Of several concurrent calls with one token, exactly one rotates.
    async fn refresh_session(
        &self,
        presented: &[u8; 32],
        user_agent: &str,
        next: &NextRefreshToken,
        client_ip: &str,
        now: UnixMs,
    ) -> StoreResult<RefreshOutcome>;

    /// Revokes the session a refresh token belongs to (logout) and audits it. Returns the
    /// session's id, `None` when no such token exists; an already revoked session is left as it is.
    async fn revoke_session_by_token(
        &self,
        presented: &[u8; 32],
        client_ip: &str,
        now: UnixMs,
    ) -> StoreResult<Option<SessionId>>;

    /// The session with `id`, if any.
    async fn get_session(&self, id: SessionId) -> StoreResult<Option<Session>>;

    /// Appends an event that is itself the change (a failed login).
    async fn append_audit(&self, event: &AuditEvent) -> StoreResult<()>;

    /// The org's audit events, newest first, optionally of one action.
    async fn list_audit_events(
        &self,
        org: OrgId,
        action: Option<&str>,
        page: PageRequest,
    ) -> StoreResult<Page<AuditEvent>>;

    /// The org's default rate limit: `None` when there is no such org, `Some(None)` when it
    /// never set one (so callers can tell a made-up org id from an org on the defaults).
    async fn get_org_rate_limit(&self, org: OrgId) -> StoreResult<Option<Option<RateLimitPolicy>>>;

    /// Sets the org default (`policy` must then be `Some`) or a key's override (`None` removes
    /// it), audits it and records a change. `NotFound` when the key is not in `ctx.org_id`.
    async fn set_rate_limit(
        &self,
        ctx: &AuditContext,
        target: RateLimitTarget,
        policy: Option<RateLimitPolicy>,
    ) -> StoreResult<()>;

    /// The scopes each role grants in `org`, for the roles the org has configured.
    async fn role_scopes(&self, org: OrgId) -> StoreResult<Vec<(Role, Scopes)>>;

    /// Sets what `role` grants in `ctx.org_id`, audits it and records a change.
    async fn set_role_scopes(&self, ctx: &AuditContext, role: Role, scopes: &Scopes) -> StoreResult<()>;

    /// The highest change-feed sequence number, 0 on an empty feed.
    async fn latest_change_seq(&self) -> StoreResult<i64>;

    /// Up to `limit` changes with `seq > after`, in sequence order.
    async fn changes_since(&self, after: i64, limit: i64) -> StoreResult<Vec<Change>>;

    /// Raises `last_used_at` of each key to the given time (never lowers it), in one statement.
    async fn touch_keys(&self, used: &[(KeyId, UnixMs)]) -> StoreResult<()>;

    /// A wake-up signal for new changes where the backend has one (PostgreSQL LISTEN/NOTIFY);
    /// `None` means poll only.
    async fn subscribe_changes(&self) -> StoreResult<Option<ChangeSubscription>>;

    /// Every JWT signing key, oldest first.
    async fn list_signing_keys(&self) -> StoreResult<Vec<SigningKeyRecord>>;

    /// Records a new signing key (its public half; the private half is derived from a secret).
    async fn insert_signing_key(&self, key: &SigningKeyRecord) -> StoreResult<()>;
}

/// The store the application runs on.
pub type SharedStore = Arc<dyn Store>;

/// Opens the store named by `url` (`postgres://…` or `sqlite://PATH`).
pub async fn connect(url: &str) -> anyhow::Result<SharedStore> {
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Ok(Arc::new(PgStore::connect(url).await?))
    } else if url.starts_with("sqlite:") {
        Ok(Arc::new(SqliteStore::connect(url).await?))
    } else {
        anyhow::bail!("database url must start with postgres:// or sqlite://")
    }
}
