//! The API-key record and its computed status.

use super::FieldViolation;
use super::audit::Actor;
use super::fields::{KeyName, Metadata};
use super::ids::{KeyId, KeyPairId, OrgId, ServiceAccountId};
use super::ip::IpAllowlist;
use super::key_format::{Environment, KeyKind};
use super::rate_limit::RateLimitPolicy;
use super::role::Role;
use super::scope::Scopes;
use super::time::UnixMs;

/// Status is derived from the timestamps, never stored, so it cannot drift from them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyStatus {
    Active,
    Expired,
    Revoked,
    /// Suspended until enabled again; unlike revocation, reversible.
    Disabled,
}

/// The timestamps a key's status is derived from.
#[derive(Debug, Clone, Copy, Default)]
pub struct KeyTimes {
    pub revoked_at: Option<UnixMs>,
    pub expires_at: Option<UnixMs>,
    pub disabled_at: Option<UnixMs>,
}

/// A new key's expiry, which must lie after `now` (a key born expired is a mistake).
pub fn future_expiry(field: &str, at: UnixMs, now: UnixMs) -> Result<UnixMs, FieldViolation> {
    if at <= now {
        return Err(FieldViolation::new(field, "must be in the future"));
    }
    Ok(at)
}

/// Revoked wins over expired, expired over disabled: the permanent end is what an admin needs
/// to see, and enabling a revoked or expired key would not bring it back. A key is expired from
/// the millisecond `now >= expires_at`.
pub fn key_status(t: KeyTimes, now: UnixMs) -> KeyStatus {
    if t.revoked_at.is_some() {
        KeyStatus::Revoked
    } else if t.expires_at.is_some_and(|exp| now >= exp) {
        KeyStatus::Expired
    } else if t.disabled_at.is_some() {
        KeyStatus::Disabled
    } else {
        KeyStatus::Active
    }
}

/// A stored API key: display fields and policy, never the secret.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiKey {
    pub id: KeyId,
    pub org_id: OrgId,
    pub service_account_id: ServiceAccountId,
    pub name: KeyName,
    pub kind: KeyKind,
    pub environment: Environment,
    pub prefix: String,
    pub start: String,
    pub role: Role,
    pub scopes: Scopes,
    pub ip_allowlist: IpAllowlist,
    pub expires_at: Option<UnixMs>,
    pub rate_limit: Option<RateLimitPolicy>,
    pub metadata: Metadata,
    pub created_at: UnixMs,
    pub created_by: Actor,
    pub last_used_at: Option<UnixMs>,
    pub revoked_at: Option<UnixMs>,
    pub revoked_by: Option<Actor>,
    pub rotated_from: Option<KeyId>,
    /// The pair this key was issued in (`IssueKeyPair`), kept across rotations.
    pub pair_id: Option<KeyPairId>,
    /// Set while the key is disabled.
    pub disabled_at: Option<UnixMs>,
}

impl ApiKey {
    /// See [`key_status`]: revoked > expired > disabled > active.
    pub fn status(&self, now: UnixMs) -> KeyStatus {
        key_status(
            KeyTimes {
                revoked_at: self.revoked_at,
                expires_at: self.expires_at,
                disabled_at: self.disabled_at,
            },
            now,
        )
    }

    /// `sk_live_AbCd`: enough to recognise a key in logs and audit events, useless to an attacker.
    pub fn display_prefix(&self) -> String {
        format!("{}{}", self.prefix, self.start)
    }
}

/// What the store needs to insert a key; the caller has already validated every field.
#[derive(Debug, Clone)]
pub struct NewKey {
    pub key: ApiKey,
    pub hash: [u8; 32],
    pub pepper_version: i32,
}

/// One key's rotation, as the store performs it: `old` is replaced by `new`, and ends at once
/// (`old_expires_at` is `None`) or at `old_expires_at`.
#[derive(Debug, Clone)]
pub struct KeyRotation {
    pub old: KeyId,
    pub new: NewKey,
    pub old_expires_at: Option<UnixMs>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(expires_at: Option<i64>, revoked_at: Option<i64>) -> ApiKey {
        disabled(expires_at, revoked_at, None)
    }

    fn disabled(expires_at: Option<i64>, revoked_at: Option<i64>, disabled_at: Option<i64>) -> ApiKey {
        ApiKey {
            id: KeyId::generate(),
            org_id: OrgId::generate(),
            service_account_id: ServiceAccountId::generate(),
            name: KeyName::from_store("k".into()),
            kind: KeyKind::Secret,
            environment: Environment::Live,
            prefix: "sk_live_".into(),
            start: "AbCd".into(),
            role: Role::Member,
            scopes: Scopes::default(),
            ip_allowlist: IpAllowlist::default(),
            expires_at: expires_at.map(UnixMs),
            rate_limit: None,
            metadata: Metadata::default(),
            created_at: UnixMs(0),
            created_by: Actor::System,
            last_used_at: None,
            revoked_at: revoked_at.map(UnixMs),
            revoked_by: None,
            rotated_from: None,
            pair_id: None,
            disabled_at: disabled_at.map(UnixMs),
        }
    }

    #[test]
    fn expiry_takes_effect_at_the_exact_millisecond() {
        let k = key(Some(1000), None);
        assert_eq!(k.status(UnixMs(999)), KeyStatus::Active);
        assert_eq!(k.status(UnixMs(1000)), KeyStatus::Expired);
        assert_eq!(k.status(UnixMs(1001)), KeyStatus::Expired);
    }

    #[test]
    fn revoked_wins_over_expired() {
        assert_eq!(key(Some(10), Some(5)).status(UnixMs(20)), KeyStatus::Revoked);
        assert_eq!(key(None, None).status(UnixMs(i64::MAX)), KeyStatus::Active);
    }

    #[test]
    fn disabled_shows_only_on_a_key_that_is_neither_revoked_nor_expired() {
        assert_eq!(disabled(None, None, Some(1)).status(UnixMs(5)), KeyStatus::Disabled);
        assert_eq!(disabled(Some(3), None, Some(1)).status(UnixMs(5)), KeyStatus::Expired);
        assert_eq!(disabled(None, Some(2), Some(1)).status(UnixMs(5)), KeyStatus::Revoked);
        assert_eq!(disabled(Some(9), None, Some(1)).status(UnixMs(5)), KeyStatus::Disabled);
    }
}
