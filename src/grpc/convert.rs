//! Proto <-> domain conversions. Incoming values are validated here, at the edge, and every
//! rejected field is reported at once as a `BadRequest` violation.

use crate::domain::FieldViolation;
use crate::domain::api_key::{ApiKey, KeyStatus};
use crate::domain::audit::AuditEvent;
use crate::domain::key_format::{Environment, KeyKind};
use crate::domain::rate_limit::RateLimitPolicy;
use crate::domain::role::Role;
use crate::domain::time::UnixMs;
use crate::proto::v1 as pb;
use crate::service::ServiceError;
use crate::service::limits::RateLimitSource;
use crate::store::{AuditEntry, ServiceAccount, User};
use std::time::Duration;
use uuid::Uuid;

/// Collects violations so that one response names every bad field.
#[derive(Default)]
pub struct Violations(Vec<FieldViolation>);

impl Violations {
    /// The value when `r` is valid; otherwise records the violation.
    pub fn check<T>(&mut self, r: Result<T, FieldViolation>) -> Option<T> {
        r.map_err(|v| self.0.push(v)).ok()
    }

    /// `Ok` with the checked values when nothing was recorded.
    pub fn finish<T>(self, values: Option<T>) -> Result<T, ServiceError> {
        match values {
            Some(v) if self.0.is_empty() => Ok(v),
            _ => Err(ServiceError::InvalidArgument(self.0)),
        }
    }
}

pub fn role_from(field: &str, value: i32) -> Result<Role, FieldViolation> {
    match pb::Role::try_from(value) {
        Ok(pb::Role::Member) => Ok(Role::Member),
        Ok(pb::Role::Operator) => Ok(Role::Operator),
        Ok(pb::Role::Admin) => Ok(Role::Admin),
        Ok(pb::Role::Owner) => Ok(Role::Owner),
        Ok(pb::Role::Unspecified) => Err(FieldViolation::new(field, "is required")),
        Err(_) => Err(FieldViolation::new(field, "is not a known role")),
    }
}

pub fn role_to(role: Role) -> pb::Role {
    match role {
        Role::Member => pb::Role::Member,
        Role::Operator => pb::Role::Operator,
        Role::Admin => pb::Role::Admin,
        Role::Owner => pb::Role::Owner,
    }
}

/// Unspecified means a secret key.
pub fn kind_from(value: i32) -> Result<KeyKind, FieldViolation> {
    match pb::KeyKind::try_from(value) {
        Ok(pb::KeyKind::Unspecified | pb::KeyKind::Secret) => Ok(KeyKind::Secret),
        Ok(pb::KeyKind::Publishable) => Ok(KeyKind::Publishable),
        Err(_) => Err(FieldViolation::new("kind", "is not a known key kind")),
    }
}

/// Unspecified means live.
pub fn environment_from(value: i32) -> Result<Environment, FieldViolation> {
    match pb::Environment::try_from(value) {
        Ok(pb::Environment::Unspecified | pb::Environment::Live) => Ok(Environment::Live),
        Ok(pb::Environment::Test) => Ok(Environment::Test),
        Err(_) => Err(FieldViolation::new("environment", "is not a known environment")),
    }
}

pub fn timestamp_from(field: &str, t: &prost_types::Timestamp) -> Result<UnixMs, FieldViolation> {
    if !(0..1_000_000_000).contains(&t.nanos) || t.seconds < 0 || t.seconds > 253_402_300_799 {
        return Err(FieldViolation::new(field, "is not a valid timestamp"));
    }
    Ok(UnixMs(t.seconds * 1000 + i64::from(t.nanos / 1_000_000)))
}

/// A new key's expiry: a valid timestamp in the future, checked here with the other fields so
/// a request with several mistakes hears of all of them (the use case checks it again).
pub fn expiry_from(field: &str, t: &prost_types::Timestamp, now: UnixMs) -> Result<UnixMs, FieldViolation> {
    crate::domain::api_key::future_expiry(field, timestamp_from(field, t)?, now)
}

pub fn timestamp_to(t: UnixMs) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: t.0.div_euclid(1000),
        nanos: i32::try_from(t.0.rem_euclid(1000) * 1_000_000).unwrap_or(0),
    }
}

pub fn duration_from(field: &str, d: &prost_types::Duration) -> Result<Duration, FieldViolation> {
    if d.seconds < 0 || !(0..1_000_000_000).contains(&d.nanos) {
        return Err(FieldViolation::new(field, "must be a non-negative duration"));
    }
    Ok(Duration::new(d.seconds.unsigned_abs(), d.nanos.unsigned_abs()))
}

pub fn duration_to(d: Duration) -> prost_types::Duration {
    prost_types::Duration {
        seconds: i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
        nanos: i32::try_from(d.subsec_nanos()).unwrap_or(0),
    }
}

pub fn policy_from(field: &str, p: &pb::RateLimitPolicy) -> Result<RateLimitPolicy, FieldViolation> {
    let window = p
        .window
        .as_ref()
        .ok_or_else(|| FieldViolation::new(format!("{field}.window"), "is required"))
        .and_then(|w| duration_from(&format!("{field}.window"), w))?;
    RateLimitPolicy::new(field, p.limit, window, p.burst)
}

pub fn policy_to(p: &RateLimitPolicy) -> pb::RateLimitPolicy {
    pb::RateLimitPolicy {
        limit: p.limit,
        window: Some(duration_to(p.window)),
        burst: p.burst,
    }
}

fn status_to(s: KeyStatus) -> pb::KeyStatus {
    match s {
        KeyStatus::Active => pb::KeyStatus::Active,
        KeyStatus::Expired => pb::KeyStatus::Expired,
        KeyStatus::Revoked => pb::KeyStatus::Revoked,
        KeyStatus::Disabled => pb::KeyStatus::Disabled,
    }
}

/// The API view of a key at `now` (status is computed). Never a secret or hash: there is
/// none on the domain type to copy.
pub fn api_key_to(k: &ApiKey, now: UnixMs) -> pb::ApiKey {
    pb::ApiKey {
        id: k.id.to_string(),
        org_id: k.org_id.to_string(),
        service_account_id: k.service_account_id.to_string(),
        name: k.name.as_str().to_owned(),
        kind: match k.kind {
            KeyKind::Secret => pb::KeyKind::Secret,
            KeyKind::Publishable => pb::KeyKind::Publishable,
        } as i32,
        environment: match k.environment {
            Environment::Live => pb::Environment::Live,
            Environment::Test => pb::Environment::Test,
        } as i32,
        prefix: k.prefix.clone(),
        start: k.start.clone(),
        scopes: k.scopes.to_strings(),
        ip_allowlist: k.ip_allowlist.to_strings(),
        expires_at: k.expires_at.map(timestamp_to),
        status: status_to(k.status(now)) as i32,
        rate_limit: k.rate_limit.as_ref().map(policy_to),
        metadata: k.metadata.as_map().clone().into_iter().collect(),
        created_at: Some(timestamp_to(k.created_at)),
        last_used_at: k.last_used_at.map(timestamp_to),
        revoked_at: k.revoked_at.map(timestamp_to),
        rotated_from: k.rotated_from.map(|id| id.to_string()).unwrap_or_default(),
        created_by: k.created_by.to_string(),
        revoked_by: k.revoked_by.map(|a| a.to_string()).unwrap_or_default(),
        role: role_to(k.role) as i32,
        pair_id: k.pair_id.map(|p| p.to_string()).unwrap_or_default(),
        disabled_at: k.disabled_at.map(timestamp_to),
    }
}

pub fn service_account_to(sa: &ServiceAccount) -> pb::ServiceAccount {
    pb::ServiceAccount {
        id: sa.id.to_string(),
        org_id: sa.org_id.to_string(),
        name: sa.name.as_str().to_owned(),
        role: role_to(sa.role) as i32,
        created_at: Some(timestamp_to(sa.created_at)),
    }
}

pub fn user_to(u: &User) -> pb::User {
    pb::User {
        id: u.id.to_string(),
        org_id: u.org_id.to_string(),
        email: u.email.clone(),
        role: role_to(u.role) as i32,
        created_at: Some(timestamp_to(u.created_at)),
        last_login_at: u.last_login_at.map(timestamp_to),
    }
}

pub fn audit_event_to(e: &AuditEvent) -> pb::AuditEvent {
    pb::AuditEvent {
        id: e.id.to_string(),
        org_id: e.org_id.map(|o| o.to_string()).unwrap_or_default(),
        actor: e.actor.to_string(),
        action: e.action.clone(),
        target: e.target.clone(),
        key_prefix: e.key_prefix.clone(),
        client_ip: e.client_ip.clone(),
        occurred_at: Some(timestamp_to(e.occurred_at)),
        details: e.details.clone().into_iter().collect(),
        actor_display: String::new(),
    }
}

// Issue 9, members and the reads.

/// An audit event as the log lists it, with its actor in words.
pub fn audit_entry_to(e: &AuditEntry) -> pb::AuditEvent {
    pb::AuditEvent {
        actor_display: e.actor_display.clone(),
        ..audit_event_to(&e.event)
    }
}

/// An audit filter id: empty, a UUID, or `<kind>:<uuid>` as the log writes actors and
/// targets (the kind is not needed to match: ids are unique across kinds).
pub fn id_filter(field: &str, raw: &str) -> Result<Option<Uuid>, FieldViolation> {
    let raw = raw.trim();
    if raw.is_empty() {
        return Ok(None);
    }
    let id = match raw.split_once(':') {
        Some((kind, id)) if !kind.is_empty() && kind.bytes().all(|b| b.is_ascii_lowercase() || b == b'_') => id,
        _ => raw,
    };
    Uuid::parse_str(id)
        .map(Some)
        .map_err(|_| FieldViolation::new(field, "must be an id: a UUID, or <kind>:<uuid> such as user:<uuid>"))
}

pub fn rate_limit_source_to(s: RateLimitSource) -> pb::RateLimitSource {
    match s {
        RateLimitSource::Key => pb::RateLimitSource::Key,
        RateLimitSource::Org => pb::RateLimitSource::Org,
        RateLimitSource::BuiltIn => pb::RateLimitSource::BuiltIn,
    }
}

/// An audit action filter: empty, or a dotted lowercase name.
pub fn action_filter(raw: &str) -> Result<Option<&str>, FieldViolation> {
    if raw.is_empty() {
        return Ok(None);
    }
    let ok = raw.len() <= 64 && raw.bytes().all(|b| b.is_ascii_lowercase() || b == b'.' || b == b'_');
    if !ok {
        return Err(FieldViolation::new(
            "action",
            "must be a dotted action name like service_account.key_revoked",
        ));
    }
    Ok(Some(raw))
}

/// Rejects control characters (NUL, CR/LF: such text ends up in logs and headers) and
/// over-long free text such as a user agent.
pub fn plain_text(field: &str, raw: &str, max: usize) -> Result<String, FieldViolation> {
    if raw.chars().any(char::is_control) {
        return Err(FieldViolation::new(field, "must not contain control characters"));
    }
    if raw.len() > max {
        return Err(FieldViolation::new(field, format!("must be at most {max} bytes")));
    }
    Ok(raw.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_round_trip_at_millisecond_precision() {
        let t = UnixMs(1_700_000_000_123);
        assert_eq!(timestamp_from("t", &timestamp_to(t)), Ok(t));
        assert!(timestamp_from("t", &prost_types::Timestamp { seconds: 1, nanos: -1 }).is_err());
    }

    #[test]
    fn negative_durations_are_rejected() {
        assert!(duration_from("d", &prost_types::Duration { seconds: -1, nanos: 0 }).is_err());
        assert_eq!(
            duration_from("d", &prost_types::Duration { seconds: 2, nanos: 0 }),
            Ok(Duration::from_secs(2))
        );
    }

    #[test]
    fn audit_id_filters_take_a_bare_or_kinded_uuid_and_name_the_field() {
        let id = Uuid::now_v7();
        assert_eq!(id_filter("actor", ""), Ok(None));
        assert_eq!(id_filter("actor", &id.to_string()), Ok(Some(id)));
        assert_eq!(id_filter("target", &format!("service_account:{id}")), Ok(Some(id)));
        let bad = id_filter("target", "key:nope").unwrap_err();
        assert_eq!(bad.field, "target");
        assert!(id_filter("actor", "system").is_err());
    }

    #[test]
    fn unspecified_role_is_required() {
        assert!(role_from("role", 0).is_err());
        assert!(role_from("role", 99).is_err());
        assert_eq!(role_from("role", pb::Role::Admin as i32), Ok(Role::Admin));
    }
}
