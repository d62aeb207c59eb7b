//! Rows the store returns and accepts beyond the domain types.

use crate::domain::fields::{Email, Name};
use crate::domain::ids::{OrgId, ServiceAccountId, SessionId, UserId};
use crate::domain::role::Role;
use crate::domain::time::UnixMs;
use uuid::Uuid;

/// Most items one page may hold.
pub const MAX_PAGE_SIZE: u32 = 1000;
/// Items per page when the request says 0.
pub const DEFAULT_PAGE_SIZE: u32 = 100;

/// A page request: how many, and after which id (ids are time-ordered UUIDv7).
#[derive(Debug, Clone, Copy)]
pub struct PageRequest {
    pub size: u32,
    pub after: Option<Uuid>,
}

/// One page of results and the cursor for the next, if there is more.
#[derive(Debug, Clone)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next: Option<Uuid>,
}

#[derive(Debug, Clone)]
pub struct Org {
    pub id: OrgId,
    pub name: Name,
    pub created_at: UnixMs,
}

/// A user to create, with the argon2id PHC string of its password (never shown by `Debug`).
#[derive(Clone)]
pub struct NewUser {
    pub id: UserId,
    pub org_id: OrgId,
    pub email: Email,
    pub password_hash: String,
    pub role: Role,
    pub created_at: UnixMs,
}

/// A member of an org, as the API shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct User {
    pub id: UserId,
    pub org_id: OrgId,
    pub email: String,
    pub role: Role,
    pub created_at: UnixMs,
    /// The last successful login, `None` before the first.
    pub last_login_at: Option<UnixMs>,
}

/// What login needs: the member and its password hash (never shown by `Debug`).
#[derive(Clone)]
pub struct LoginRecord {
    pub user: User,
    pub password_hash: String,
}

impl std::fmt::Debug for LoginRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoginRecord")
            .field("user", &self.user)
            .field("password_hash", &"<redacted>")
            .finish()
    }
}

impl std::fmt::Debug for NewUser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewUser")
            .field("id", &self.id)
            .field("org_id", &self.org_id)
            .field("email", &self.email)
            .field("role", &self.role)
            .field("password_hash", &"<redacted>")
            .finish()
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct ServiceAccount {
    pub id: ServiceAccountId,
    pub org_id: OrgId,
    pub name: Name,
    pub role: Role,
    pub created_at: UnixMs,
}

/// One login: every refresh token and access token of it shares the session id.
#[derive(Debug, Clone, PartialEq)]
pub struct Session {
    pub id: SessionId,
    pub org_id: OrgId,
    pub user_id: UserId,
    pub user_agent: String,
    pub remember_me: bool,
    pub created_at: UnixMs,
    pub revoked_at: Option<UnixMs>,
}

/// A refresh token to store: its keyed hash and lifetime, never the token.
#[derive(Debug, Clone)]
pub struct NewRefreshToken {
    pub hash: [u8; 32],
    pub session_id: SessionId,
    pub created_at: UnixMs,
    pub expires_at: UnixMs,
}

/// The token to hand out if a refresh succeeds. Its lifetime depends on the session found
/// (remember-me or not), which only the store's transaction knows.
#[derive(Debug, Clone)]
pub struct NextRefreshToken {
    pub hash: [u8; 32],
    pub lifetime: std::time::Duration,
    pub remember_me_lifetime: std::time::Duration,
}

/// How a refresh attempt ended. A token is consumed only when `Rotated` is returned.
///
/// Policy: a token is single-use. Presenting a token that was already exchanged is treated
/// as theft: the whole session is revoked (and audited) before `Reused` is returned. A
/// different User-Agent is refused without consuming the token. A session whose user is no
/// longer a member of its org is revoked (`SessionRevoked`).
#[derive(Debug, Clone, PartialEq)]
pub enum RefreshOutcome {
    /// The token was exchanged; the new one expires at `expires_at`.
    Rotated {
        session: Session,
        expires_at: UnixMs,
        /// The member's role now, read in the same transaction, for the new access token.
        role: crate::domain::role::Role,
    },
    NotFound,
    Expired,
    SessionRevoked,
    /// Another User-Agent presented the token: refused and audited as
    /// `session.user_agent_mismatch` (the session, not the token); nothing else changes.
    UserAgentMismatch,
    Reused(Session),
}

/// The public half of a JWT signing key. The private half is derived from the configured
/// signing secret and the `kid`, so every replica on the store signs with the same keys.
#[derive(Debug, Clone, PartialEq)]
pub struct SigningKeyRecord {
    pub kid: String,
    pub public_key: Vec<u8>,
    pub created_at: UnixMs,
    /// Before this time the key is published in JWKS but not yet used to sign, so every
    /// verifier has it by the time the first token signed with it arrives.
    pub activates_at: UnixMs,
}

/// One row of the change feed: something replicas must drop from their caches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    pub seq: i64,
    pub kind: ChangeKind,
    /// The id of the key, session or org the change is about.
    pub subject: String,
    pub created_at: UnixMs,
}

/// What changed; replicas invalidate accordingly.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangeKind {
    /// A key's state or policy changed (revoked, rotated, rate limit); subject: key id.
    Key,
    /// A session ended (logout, refresh-token reuse); subject: session id.
    Session,
    /// An org's rate-limit default or role scopes changed; subject: org id.
    Org,
}

impl ChangeKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ChangeKind::Key => "key",
            ChangeKind::Session => "session",
            ChangeKind::Org => "org",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [ChangeKind::Key, ChangeKind::Session, ChangeKind::Org]
            .into_iter()
            .find(|k| k.as_str() == s)
    }
}

/// What a rate-limit policy is set on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RateLimitTarget {
    /// The caller's org default, shared by every key without an override.
    Org,
    /// One key's override.
    Key(crate::domain::ids::KeyId),
}

// Issue 9, members and the audit log's readers.

/// Which audit events to list; every field set must match.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditFilter {
    /// Exactly this action, e.g. `service_account.key_revoked`.
    pub action: Option<String>,
    /// Events whose actor is the user or key with this id.
    pub actor: Option<Uuid>,
    /// Events whose target is the object with this id, whatever its kind.
    pub target: Option<Uuid>,
}

/// An audit event as the log shows it, with its actor in words.
#[derive(Debug, Clone, PartialEq)]
pub struct AuditEntry {
    pub event: crate::domain::audit::AuditEvent,
    /// The acting user's email (also once removed) or the acting key's display prefix; empty
    /// for the system, anonymous callers and deleted keys.
    pub actor_display: String,
}

/// What ending a member's access or deleting a service account ended, for the caller to
/// drop from this replica's caches at once (other replicas learn through the change feed).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Ended {
    /// Sessions revoked by the change.
    pub sessions: Vec<SessionId>,
    /// Keys revoked by the change, with whether each was still usable (not expired) then.
    pub keys: Vec<(crate::domain::ids::KeyId, bool)>,
}
