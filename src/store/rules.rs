//! The decisions the store's transactions apply that are not SQL, as pure functions: which
//! refresh outcome a token and its session call for, what a key looks like once revoked or
//! rotated, and which usage mark of a batch wins. The SQL modules run the statements these
//! decisions call for, so every backend applies the same policy.

use super::{NextRefreshToken, Precondition, Session};
use crate::domain::api_key::ApiKey;
use crate::domain::audit::AuditContext;
use crate::domain::ids::KeyId;
use crate::domain::role::Role;
use crate::domain::time::UnixMs;
use std::collections::BTreeMap;
use std::time::Duration;

/// A stored refresh token, as the refresh decision needs it.
#[derive(Debug, Clone, Copy)]
pub struct TokenState {
    pub expires_at: UnixMs,
    pub used: bool,
}

/// What a refresh must do, in the order the checks apply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefreshStep {
    /// The session is already revoked: refuse, change nothing.
    SessionRevoked,
    /// The token was exchanged before: a second use is theft, so revoke the session.
    RevokeForReuse,
    /// Another client presented it: audit the mismatch, keep the token valid for its own client.
    AuditUserAgentMismatch,
    /// The token's lifetime is over: refuse, change nothing.
    Expired,
    /// Consume the token (a lost race there is a reuse) and issue the next one.
    Rotate,
}

/// The refresh policy of [`super::RefreshOutcome`]: revocation first, then reuse (a stolen
/// token is acted on whoever presents it), then the client check, then expiry.
pub fn refresh_step(session: &Session, token: TokenState, user_agent: &str, now: UnixMs) -> RefreshStep {
    if session.revoked_at.is_some() {
        RefreshStep::SessionRevoked
    } else if token.used {
        RefreshStep::RevokeForReuse
    } else if session.user_agent != user_agent {
        RefreshStep::AuditUserAgentMismatch
    } else if now >= token.expires_at {
        RefreshStep::Expired
    } else {
        RefreshStep::Rotate
    }
}

/// How long the next refresh token lives: a remember-me session gets the longer lifetime.
pub fn next_token_lifetime(session: &Session, next: &NextRefreshToken) -> Duration {
    if session.remember_me {
        next.remember_me_lifetime
    } else {
        next.lifetime
    }
}

/// The session as it stands once a reuse has revoked it (or an earlier revocation stands).
pub fn revoked_session(mut session: Session, now: UnixMs) -> Session {
    session.revoked_at.get_or_insert(now);
    session
}

/// `key` as it stands once revoked in `ctx`.
pub fn revoked_key(mut key: ApiKey, ctx: &AuditContext) -> ApiKey {
    key.revoked_at = Some(ctx.now);
    key.revoked_by = Some(ctx.actor);
    key
}

/// How a rotation ends the old key: at once, or at the end of an overlap.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OldKeyEnd {
    RevokeNow,
    ExpireAt(UnixMs),
}

impl OldKeyEnd {
    /// `None` (no overlap) revokes the old key now.
    pub fn from_overlap(old_expires_at: Option<UnixMs>) -> Self {
        old_expires_at.map_or(Self::RevokeNow, Self::ExpireAt)
    }
}

/// The old key as it stands after a rotation that ends it as `end` says.
pub fn rotated_old_key(key: ApiKey, ctx: &AuditContext, end: OldKeyEnd) -> ApiKey {
    match end {
        OldKeyEnd::RevokeNow => revoked_key(key, ctx),
        OldKeyEnd::ExpireAt(at) => ApiKey {
            expires_at: Some(at),
            ..key
        },
    }
}

/// One usage mark per key, the latest. A batch may name a key twice (a cache entry replaced
/// while its use was pending), and a row joined twice in one UPDATE gets either value.
pub fn latest_uses(used: &[(KeyId, UnixMs)]) -> Vec<(KeyId, UnixMs)> {
    let mut latest = BTreeMap::<KeyId, UnixMs>::new();
    for &(id, at) in used {
        let slot = latest.entry(id).or_insert(at);
        *slot = (*slot).max(at);
    }
    latest.into_iter().collect()
}

// Issue 9, members.

/// Whether a member whose role is `current` may get role `next` (`None`: be removed) from a
/// caller whose role is `caller_role`, in an org with `owners` owners: nobody touches a member
/// above their own role, and an org never loses its last owner.
pub fn member_change(current: Role, next: Option<Role>, caller_role: Role, owners: usize) -> Result<(), Precondition> {
    if current > caller_role {
        return Err(Precondition::MemberOutranksCaller);
    }
    if current == Role::Owner && next != Some(Role::Owner) && owners <= 1 {
        return Err(Precondition::LastOwner);
    }
    Ok(())
}

/// What a removed user's email becomes: it frees the unique email for a new user and can
/// never equal a valid one (it has no `@`).
pub fn removed_email_tombstone(user: crate::domain::ids::UserId) -> String {
    format!("removed:{user}")
}

/// What a deleted service account's name becomes: it frees the name within the org and is
/// longer than any valid name, so it can never collide with one.
pub fn deleted_name_tombstone(id: crate::domain::ids::ServiceAccountId) -> String {
    format!("deleted:{id}:{id}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_member_above_the_caller_or_the_last_owner_is_left_alone() {
        use Role::*;
        assert_eq!(
            member_change(Owner, Some(Member), Admin, 2),
            Err(Precondition::MemberOutranksCaller)
        );
        assert_eq!(
            member_change(Owner, Some(Admin), Owner, 1),
            Err(Precondition::LastOwner)
        );
        assert_eq!(member_change(Owner, None, Owner, 1), Err(Precondition::LastOwner));
        assert_eq!(member_change(Owner, Some(Owner), Owner, 1), Ok(()));
        assert_eq!(member_change(Owner, None, Owner, 2), Ok(()));
        assert_eq!(member_change(Admin, Some(Member), Admin, 1), Ok(()));
        let tombstone = removed_email_tombstone(crate::domain::ids::UserId::generate());
        assert!(crate::domain::fields::Email::parse("email", &tombstone).is_err());
        let tombstone = deleted_name_tombstone(crate::domain::ids::ServiceAccountId::generate());
        assert!(crate::domain::fields::Name::parse("name", &tombstone).is_err());
    }
    use crate::domain::ids::{OrgId, SessionId, UserId};

    fn session(user_agent: &str, revoked_at: Option<UnixMs>) -> Session {
        Session {
            id: SessionId(uuid::Uuid::now_v7()),
            org_id: OrgId(uuid::Uuid::now_v7()),
            user_id: UserId(uuid::Uuid::now_v7()),
            user_agent: user_agent.to_owned(),
            remember_me: false,
            created_at: UnixMs(0),
            revoked_at,
        }
    }

    const FRESH: TokenState = TokenState {
        expires_at: UnixMs(1_000),
        used: false,
    };

    #[test]
    fn a_fresh_token_of_its_own_client_rotates_until_its_expiry_millisecond() {
        let s = session("app/1", None);
        assert_eq!(refresh_step(&s, FRESH, "app/1", UnixMs(999)), RefreshStep::Rotate);
        assert_eq!(refresh_step(&s, FRESH, "app/1", UnixMs(1_000)), RefreshStep::Expired);
    }

    #[test]
    fn a_used_token_is_reuse_even_from_another_client_or_after_expiry() {
        let s = session("app/1", None);
        let used = TokenState { used: true, ..FRESH };
        assert_eq!(
            refresh_step(&s, used, "curl/8", UnixMs(5_000)),
            RefreshStep::RevokeForReuse
        );
    }

    #[test]
    fn another_client_is_a_mismatch_before_expiry_is_considered() {
        let s = session("app/1", None);
        assert_eq!(
            refresh_step(&s, FRESH, "curl/8", UnixMs(5_000)),
            RefreshStep::AuditUserAgentMismatch
        );
    }

    #[test]
    fn a_revoked_session_refuses_before_anything_else() {
        let s = session("app/1", Some(UnixMs(1)));
        let used = TokenState { used: true, ..FRESH };
        assert_eq!(
            refresh_step(&s, used, "curl/8", UnixMs(5_000)),
            RefreshStep::SessionRevoked
        );
    }

    #[test]
    fn a_revoked_session_keeps_its_first_revocation_time() {
        assert_eq!(
            revoked_session(session("a", Some(UnixMs(7))), UnixMs(9)).revoked_at,
            Some(UnixMs(7))
        );
        assert_eq!(
            revoked_session(session("a", None), UnixMs(9)).revoked_at,
            Some(UnixMs(9))
        );
    }

    #[test]
    fn no_overlap_revokes_now_and_an_overlap_expires_later() {
        assert_eq!(OldKeyEnd::from_overlap(None), OldKeyEnd::RevokeNow);
        assert_eq!(OldKeyEnd::from_overlap(Some(UnixMs(5))), OldKeyEnd::ExpireAt(UnixMs(5)));
    }

    #[test]
    fn the_latest_use_of_each_key_wins_whatever_the_order() {
        let (a, b) = (KeyId(uuid::Uuid::now_v7()), KeyId(uuid::Uuid::now_v7()));
        let got = latest_uses(&[(a, UnixMs(5)), (b, UnixMs(1)), (a, UnixMs(9)), (a, UnixMs(7))]);
        assert_eq!(got.len(), 2);
        assert!(got.contains(&(a, UnixMs(9))));
        assert!(got.contains(&(b, UnixMs(1))));
        assert!(latest_uses(&[]).is_empty());
    }
}
