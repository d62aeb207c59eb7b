//! The storage contract, split by who needs what.
//!
//! Each trait is one role: the admin use cases need [`KeyStore`], the Verify engine only the
//! read traits it is handed as a [`VerifyStore`], the session use cases [`SessionStore`], and so
//! on. Every backend implements all of them; `tests/api/store_conformance/` proves each contract
//! below on every backend. Writes commit their audit event (and, where replicas must learn of
//! it, a change-feed row) in the same transaction as the change. Reads of an org's objects filter
//! by org, so a foreign id is indistinguishable from a missing one.

use super::{
    AuditEntry, AuditFilter, Change, ChangeSubscription, Ended, LoginRecord, NewRefreshToken, NewUser,
    NextRefreshToken, Org, Page, PageRequest, RateLimitTarget, RefreshOutcome, ServiceAccount, Session,
    SigningKeyRecord, StoreResult, User,
};
use crate::domain::api_key::{ApiKey, KeyRotation, NewKey};
use crate::domain::audit::{AuditContext, AuditEvent};
use crate::domain::fields::Email;
use crate::domain::ids::{KeyId, KeyPairId, OrgId, ServiceAccountId, SessionId, UserId};
use crate::domain::rate_limit::RateLimitPolicy;
use crate::domain::role::Role;
use crate::domain::scope::Scopes;
use crate::domain::time::UnixMs;
use async_trait::async_trait;

/// Opening, health and shutdown: what `app` needs to run a store.
#[async_trait]
pub trait StoreLifecycle: Send + Sync + 'static {
    /// Applies pending migrations. Idempotent.
    async fn migrate(&self) -> StoreResult<()>;

    /// One round trip to the database; health checks call it.
    async fn ping(&self) -> StoreResult<()>;

    /// Closes the pools after in-flight queries finish.
    async fn close(&self);
}

/// Reading orgs, their members and their service accounts.
#[async_trait]
pub trait OrgReads: Send + Sync + 'static {
    /// The login record of the user with `email` (its oldest membership), if any.
    async fn find_login(&self, email: &Email) -> StoreResult<Option<LoginRecord>>;

    /// A member of `org`; `None` when the user does not exist or is not a member of `org`.
    async fn get_member(&self, org: OrgId, user: UserId) -> StoreResult<Option<User>>;

    /// A service account of `org`, or `None`.
    async fn get_service_account(&self, org: OrgId, id: ServiceAccountId) -> StoreResult<Option<ServiceAccount>>;

    /// The org's service accounts in creation order.
    async fn list_service_accounts(&self, org: OrgId, page: PageRequest) -> StoreResult<Page<ServiceAccount>>;

    // Issue 9, members.

    /// The org's members in creation order, each with its last login.
    async fn list_members(&self, org: OrgId, page: PageRequest) -> StoreResult<Page<User>>;

    /// A member of `org` with its password hash, or `None` (not a member, or removed).
    async fn member_login(&self, org: OrgId, user: UserId) -> StoreResult<Option<LoginRecord>>;
}

/// Creating orgs, members and service accounts.
#[async_trait]
pub trait OrgStore: OrgReads {
    /// Creates an org with its first owner (user + owner membership) and audits both.
    /// Must return `Conflict(Taken::OrgName)` or `Conflict(Taken::Email)` when either is taken,
    /// and then create nothing.
    async fn create_org_with_owner(&self, org: &Org, owner: &NewUser) -> StoreResult<()>;

    /// Creates a user and its membership in `ctx.org_id`; `Conflict(Taken::Email)` when taken.
    async fn create_user(&self, ctx: &AuditContext, user: &NewUser) -> StoreResult<User>;

    /// Creates a service account in `ctx.org_id`; `Conflict(Taken::ServiceAccountName)` when the
    /// org already has one of that name.
    async fn create_service_account(&self, ctx: &AuditContext, sa: &ServiceAccount) -> StoreResult<()>;

    // Issue 9, members and service-account deletion. The member changes lock the org's owner
    // memberships first, so of two concurrent changes that would each leave one owner, one
    // sees the other's result and is refused.

    /// Sets the role of `user` in `ctx.org_id`, audits `user.role_changed` (details `from`,
    /// `to`) and returns the member. Must refuse, changing nothing: `NotFound` when `user` is
    /// not a member; `Precondition(MemberOutranksCaller)` when the member's current role is
    /// above `caller_role`; `Precondition(LastOwner)` when the org would have no owner left.
    /// Setting the role the member already has changes and audits nothing. A demotion also
    /// revokes the member's live sessions in the org (a session change each, returned), since
    /// their access tokens carry the old role.
    async fn set_member_role(
        &self,
        ctx: &AuditContext,
        user: UserId,
        role: Role,
        caller_role: Role,
    ) -> StoreResult<(User, Ended)>;

    /// Removes `user` from `ctx.org_id`, with the refusals of [`OrgStore::set_member_role`].
    /// Revokes the user's live sessions in the org (a session change each) and audits
    /// `user.removed`. A user left in no org keeps its row, so the audit log still shows its
    /// email, but the email is released for a new user. Returns the sessions ended.
    async fn remove_member(&self, ctx: &AuditContext, user: UserId, caller_role: Role) -> StoreResult<Ended>;

    /// Replaces the password hash of `user` when it is still `current_hash` (otherwise
    /// `Precondition(PasswordChanged)`, changing nothing), revokes every live session of the
    /// user except `keep` (a session change each) and audits `user.password_changed`.
    /// Returns the sessions ended.
    async fn change_password(
        &self,
        ctx: &AuditContext,
        user: UserId,
        keep: SessionId,
        current_hash: &str,
        new_hash: &str,
    ) -> StoreResult<Ended>;

    /// Deletes a service account of `ctx.org_id`: revokes its unrevoked keys (each audited as
    /// `service_account.key_revoked` with a key change), then the account is no longer found
    /// or listed and its name is free again; audits `service_account.deleted` (details `name`,
    /// `revoked_keys`). The keys stay, revoked, for their history. `NotFound` when there is no
    /// such account in the org (a deleted one included). Returns the keys revoked.
    async fn delete_service_account(&self, ctx: &AuditContext, id: ServiceAccountId) -> StoreResult<Ended>;
}

/// Reading API keys: the admin listing and the Verify engine's lookups.
#[async_trait]
pub trait KeyReads: Send + Sync + 'static {
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

    // Key pairs.

    /// Every key of `org` issued in `pair`, the two first ones and their rotated replacements,
    /// in creation order; empty when `org` has no such pair.
    async fn list_pair_keys(&self, org: OrgId, pair: KeyPairId) -> StoreResult<Vec<ApiKey>>;
}

/// The key lifecycle: issue, revoke, rotate, delete.
#[async_trait]
pub trait KeyStore: KeyReads {
    /// Inserts a key (its hash, never the secret) and audits `service_account.key_issued`.
    async fn insert_key(&self, ctx: &AuditContext, key: &NewKey) -> StoreResult<()>;

    /// Revokes a key at `ctx.now`, audits it and records a change. Must be idempotent: an
    /// already revoked key is returned unchanged, with no new audit event. `NotFound` when the
    /// key is not in `ctx.org_id`.
    async fn revoke_key(&self, ctx: &AuditContext, id: KeyId) -> StoreResult<ApiKey>;

    /// Replaces `old` by `new`: inserts `new`, and on `old` sets `rotated_to` and either
    /// `revoked_at = ctx.now` (when `old_expires_at` is `None`) or `expires_at = old_expires_at`.
    /// Must succeed for exactly one of several concurrent calls on one key; the others, and
    /// calls on a revoked, expired, disabled or already rotated key, get
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

    // Suspension: disable and enable.

    /// Sets `disabled_at = ctx.now`, audits `service_account.key_disabled` and records a change,
    /// so replicas drop the key from their caches. Must be idempotent: an already disabled key
    /// is returned unchanged (its first `disabled_at`), with no new audit event or change.
    /// `Precondition(KeyRevoked)` on a revoked key, which stays as it is; `NotFound` when the
    /// key is not in `ctx.org_id`. An expired key can be disabled (its status stays expired).
    async fn disable_key(&self, ctx: &AuditContext, id: KeyId) -> StoreResult<ApiKey>;

    /// Clears `disabled_at`, audits `service_account.key_enabled` and records a change. Must be
    /// idempotent: a key that is not disabled is returned unchanged, with no new audit event or
    /// change. `Precondition(KeyRevoked)` on a revoked key; `NotFound` when the key is not in
    /// `ctx.org_id`.
    async fn enable_key(&self, ctx: &AuditContext, id: KeyId) -> StoreResult<ApiKey>;

    // Key pairs.

    /// Inserts both keys of a pair (each carrying the same `pair_id`) and audits
    /// `service_account.key_issued` for each, in one transaction: both keys exist, or neither.
    async fn insert_key_pair(&self, ctx: &AuditContext, publishable: &NewKey, secret: &NewKey) -> StoreResult<()>;

    /// Two rotations as [`KeyStore::rotate_key`] performs each, in one transaction: both keys
    /// are replaced, or neither. `Precondition(KeyNotRotatable)` when either old key is not
    /// rotatable (revoked, expired, disabled, already rotated, or lost a race); `NotFound` when
    /// either is not in `ctx.org_id`. Returns `(new, old)` of each, in the order given.
    async fn rotate_key_pair(
        &self,
        ctx: &AuditContext,
        first: &KeyRotation,
        second: &KeyRotation,
    ) -> StoreResult<[(ApiKey, ApiKey); 2]>;
}

/// The usage marks Verify batches up: the only write on the Verify path, off the request.
#[async_trait]
pub trait KeyUsage: Send + Sync + 'static {
    /// Raises `last_used_at` of each key to the given time (never lowers it), in one statement.
    async fn touch_keys(&self, used: &[(KeyId, UnixMs)]) -> StoreResult<()>;
}

/// Reading a session: JWT checks on Verify and admin calls.
#[async_trait]
pub trait SessionReads: Send + Sync + 'static {
    /// The session with `id`, if any.
    async fn get_session(&self, id: SessionId) -> StoreResult<Option<Session>>;
}

/// Logins, refresh-token rotation and logout.
#[async_trait]
pub trait SessionStore: SessionReads {
    /// Starts a session with its first refresh token, sets the user's `last_login_at` to the
    /// session's start, and audits the login.
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
}

/// Reading the audit log.
#[async_trait]
pub trait AuditReads: Send + Sync + 'static {
    /// The org's audit events, newest first, optionally of one action.
    async fn list_audit_events(
        &self,
        org: OrgId,
        action: Option<&str>,
        page: PageRequest,
    ) -> StoreResult<Page<AuditEvent>>;

    // Issue 9, the audit log's readers.

    /// The org's audit events matching every field of `filter`, newest first, each with its
    /// actor in words (see [`AuditEntry`]): a user's email, also after removal, or a key's
    /// display prefix; empty when the actor is not a user or key, or the key was deleted.
    async fn list_audit_entries(
        &self,
        org: OrgId,
        filter: &AuditFilter,
        page: PageRequest,
    ) -> StoreResult<Page<AuditEntry>>;
}

/// Appending to the audit log an event that is not part of another change.
#[async_trait]
pub trait AuditLog: AuditReads {
    /// Appends an event that is itself the change (a failed login).
    async fn append_audit(&self, event: &AuditEvent) -> StoreResult<()>;
}

/// Reading an org's policies: rate limits and what each role grants.
#[async_trait]
pub trait PolicyReads: Send + Sync + 'static {
    /// The org's default rate limit: `None` when there is no such org, `Some(None)` when it
    /// never set one (so callers can tell a made-up org id from an org on the defaults).
    async fn get_org_rate_limit(&self, org: OrgId) -> StoreResult<Option<Option<RateLimitPolicy>>>;

    /// The scopes each role grants in `org`, for the roles the org has configured.
    async fn role_scopes(&self, org: OrgId) -> StoreResult<Vec<(Role, Scopes)>>;
}

/// Changing an org's policies.
#[async_trait]
pub trait PolicyStore: PolicyReads {
    /// Sets the org default (`policy` must then be `Some`) or a key's override (`None` removes
    /// it), audits it and records a change. `NotFound` when the key is not in `ctx.org_id`.
    async fn set_rate_limit(
        &self,
        ctx: &AuditContext,
        target: RateLimitTarget,
        policy: Option<RateLimitPolicy>,
    ) -> StoreResult<()>;

    /// Sets what `role` grants in `ctx.org_id`, audits it and records a change.
    async fn set_role_scopes(&self, ctx: &AuditContext, role: Role, scopes: &Scopes) -> StoreResult<()>;
}

/// The change feed replicas follow to drop cached credentials.
#[async_trait]
pub trait ChangeFeed: Send + Sync + 'static {
    /// The highest change-feed sequence number, 0 on an empty feed.
    async fn latest_change_seq(&self) -> StoreResult<i64>;

    /// Up to `limit` changes with `seq > after`, in sequence order.
    async fn changes_since(&self, after: i64, limit: i64) -> StoreResult<Vec<Change>>;

    /// A wake-up signal for new changes where the backend has one (PostgreSQL LISTEN/NOTIFY);
    /// `None` means poll only.
    async fn subscribe_changes(&self) -> StoreResult<Option<ChangeSubscription>>;
}

/// Reading the public halves of the JWT signing keys.
#[async_trait]
pub trait SigningKeyReads: Send + Sync + 'static {
    /// Every JWT signing key, oldest first.
    async fn list_signing_keys(&self) -> StoreResult<Vec<SigningKeyRecord>>;
}

/// Adding a JWT signing key.
#[async_trait]
pub trait SigningKeys: SigningKeyReads {
    /// Records a new signing key (its public half; the private half is derived from a secret).
    async fn insert_signing_key(&self, key: &SigningKeyRecord) -> StoreResult<()>;
}

/// Every trait is a reader (`…Reads`, [`ChangeFeed`]) or a writer that extends its reader, so
/// what a component may change is what its traits say: a component handed only readers
/// cannot write.
///
/// Everything the Verify engine touches: reads, plus the batched usage marks. That it holds
/// no write trait is what keeps Verify from writing per call.
pub trait VerifyStore: KeyReads + PolicyReads + SessionReads + ChangeFeed + KeyUsage {}

impl<T: KeyReads + PolicyReads + SessionReads + ChangeFeed + KeyUsage> VerifyStore for T {}

/// A whole backend. [`VerifyStore`] is a supertrait so a `dyn Store` hands the engine its
/// readers by upcasting.
pub trait Store:
    VerifyStore + StoreLifecycle + OrgStore + KeyStore + SessionStore + AuditLog + PolicyStore + SigningKeys
{
}

impl<T> Store for T where
    T: VerifyStore + StoreLifecycle + OrgStore + KeyStore + SessionStore + AuditLog + PolicyStore + SigningKeys
{
}
