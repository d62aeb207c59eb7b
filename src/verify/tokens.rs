//! Verified JWT access tokens, ended sessions, and the scopes each role grants.
//!
//! A token is verified (signature, claims) and its session checked in the store once; after
//! that a call costs a lookup plus the expiry and session-revocation checks against memory.

use crate::domain::ids::{OrgId, SessionId, UserId};
use crate::domain::role::Role;
use crate::domain::scope::Scopes;
use moka::sync::Cache;
use std::sync::Arc;
use std::time::Duration;

/// The parts of a verified token that Verify answers with.
#[derive(Debug)]
pub struct CachedToken {
    pub user: UserId,
    pub org: OrgId,
    pub role: Role,
    pub session: SessionId,
    /// `exp` in Unix milliseconds.
    pub expires_at_ms: i64,
}

/// What each role grants in one org.
#[derive(Debug, Clone)]
pub struct RoleScopes {
    by_role: [Scopes; 4],
}

impl RoleScopes {
    /// Defaults: owners and admins hold `*`; operators and members hold nothing until an
    /// owner or admin grants it (safe by default: a gateway route that requires no scope still
    /// admits any logged-in member).
    pub fn defaults() -> Self {
        let all = Scopes::parse("scopes", &["*".to_owned()]).unwrap_or_default();
        Self {
            by_role: [Scopes::default(), Scopes::default(), all.clone(), all],
        }
    }

    /// The defaults, overridden by the org's configured rows.
    pub fn with(configured: Vec<(Role, Scopes)>) -> Self {
        let mut scopes = Self::defaults();
        for (role, granted) in configured {
            scopes.by_role[Self::slot(role)] = granted;
        }
        scopes
    }

    fn slot(role: Role) -> usize {
        match role {
            Role::Member => 0,
            Role::Operator => 1,
            Role::Admin => 2,
            Role::Owner => 3,
        }
    }

    pub fn of(&self, role: Role) -> &Scopes {
        &self.by_role[Self::slot(role)]
    }
}

/// Token, session and role-scope caches.
pub struct TokenCache {
    pub tokens: Cache<String, Arc<CachedToken>>,
    /// Sessions known to be over; kept as long as any of their access tokens could be valid.
    pub revoked_sessions: Cache<SessionId, ()>,
    pub role_scopes: Cache<OrgId, Arc<RoleScopes>>,
}

impl TokenCache {
    pub fn new(max_tokens: u64, token_lifetime: Duration) -> Self {
        // `tokens` and `role_scopes` are plain caches: a refused entry only costs a re-check.
        Self {
            tokens: Cache::builder()
                .max_capacity(max_tokens)
                .time_to_live(token_lifetime)
                .build(),
            // No capacity: at capacity moka may refuse a new entry, and a refused entry would
            // let an ended session's tokens through. Entries expire once no access token of the
            // session can still be valid, which bounds the size.
            revoked_sessions: Cache::builder().time_to_live(token_lifetime * 2).build(),
            role_scopes: Cache::builder()
                .max_capacity(100_000)
                .time_to_live(Duration::from_secs(300))
                .build(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_grant_everything_to_owners_and_admins_only() {
        let d = RoleScopes::defaults();
        assert!(d.of(Role::Owner).grants("cameras.write") && d.of(Role::Admin).grants("x.read"));
        assert!(!d.of(Role::Operator).grants("x.read") && !d.of(Role::Member).grants("x.read"));
        let custom = RoleScopes::with(vec![(
            Role::Member,
            Scopes::parse("s", &["x.read".into()]).expect("valid"),
        )]);
        assert!(custom.of(Role::Member).grants("x.read"));
    }
}
