//! Rows as both backends return them, and their conversion to domain types.
//!
//! Values are re-validated on the way out: a row that no longer parses is reported as a
//! store failure instead of flowing on as if it were valid.

use super::text::Text;
use super::{Page, PageRequest, ServiceAccount, Session, StoreError, User};
use crate::domain::api_key::ApiKey;
use crate::domain::audit::{Actor, AuditEvent};
use crate::domain::fields::{KeyName, Metadata, Name};
use crate::domain::ids::{EventId, KeyId, KeyPairId, OrgId, ServiceAccountId, SessionId, UserId};
use crate::domain::ip::IpAllowlist;
use crate::domain::key_format::{Environment, KeyKind};
use crate::domain::rate_limit::RateLimitPolicy;
use crate::domain::role::Role;
use crate::domain::scope::Scopes;
use crate::domain::time::UnixMs;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::time::Duration;
use uuid::Uuid;

fn corrupt(what: &str) -> StoreError {
    StoreError::Internal(anyhow::anyhow!("stored {what} does not parse"))
}

pub(super) fn role(s: &str) -> Result<Role, StoreError> {
    s.parse().map_err(|()| corrupt("role"))
}

fn actor(s: &str) -> Result<Actor, StoreError> {
    s.parse().map_err(|()| corrupt("actor"))
}

#[derive(Serialize, Deserialize)]
struct PolicyJson {
    limit: u32,
    window_ms: u64,
    burst: u32,
}

pub(super) fn policy_to_json(p: &Option<RateLimitPolicy>) -> Option<String> {
    p.map(|p| {
        let json = PolicyJson {
            limit: p.limit,
            window_ms: u64::try_from(p.window.as_millis()).unwrap_or(u64::MAX),
            burst: p.burst,
        };
        serde_json::to_string(&json).unwrap_or_default()
    })
}

pub(super) fn policy_from_json(s: Option<&str>) -> Result<Option<RateLimitPolicy>, StoreError> {
    let Some(s) = s else { return Ok(None) };
    let p: PolicyJson = serde_json::from_str(s).map_err(|_| corrupt("rate limit"))?;
    RateLimitPolicy::new("rate_limit", p.limit, Duration::from_millis(p.window_ms), p.burst)
        .map(Some)
        .map_err(|_| corrupt("rate limit"))
}

pub(super) fn to_json<T: Serialize>(value: &T) -> String {
    serde_json::to_string(value).unwrap_or_default()
}

pub(super) fn scopes(s: &str) -> Result<Scopes, StoreError> {
    Scopes::parse("scopes", &strings(s, "scopes")?).map_err(|_| corrupt("scopes"))
}

fn strings(s: &str, what: &str) -> Result<Vec<String>, StoreError> {
    serde_json::from_str(s).map_err(|_| corrupt(what))
}

fn map(s: &str, what: &str) -> Result<BTreeMap<String, String>, StoreError> {
    serde_json::from_str(s).map_err(|_| corrupt(what))
}

/// Columns selected for an API key, in [`KeyRow`] order.
pub(super) const KEY_COLUMNS: &str = "id, org_id, service_account_id, name, kind, environment, prefix, start, role, \
     scopes, ip_allowlist, expires_at, rate_limit, metadata, created_at, created_by, last_used_at, \
     revoked_at, revoked_by, rotated_from, pair_id, disabled_at";

#[derive(sqlx::FromRow)]
pub(super) struct KeyRow {
    id: Uuid,
    org_id: Uuid,
    service_account_id: Uuid,
    #[sqlx(try_from = "Text")]
    name: String,
    #[sqlx(try_from = "Text")]
    kind: String,
    #[sqlx(try_from = "Text")]
    environment: String,
    #[sqlx(try_from = "Text")]
    prefix: String,
    #[sqlx(try_from = "Text")]
    start: String,
    #[sqlx(try_from = "Text")]
    role: String,
    #[sqlx(try_from = "Text")]
    scopes: String,
    #[sqlx(try_from = "Text")]
    ip_allowlist: String,
    expires_at: Option<i64>,
    rate_limit: Option<Text>,
    #[sqlx(try_from = "Text")]
    metadata: String,
    created_at: i64,
    #[sqlx(try_from = "Text")]
    created_by: String,
    last_used_at: Option<i64>,
    revoked_at: Option<i64>,
    revoked_by: Option<Text>,
    rotated_from: Option<Uuid>,
    pair_id: Option<Uuid>,
    disabled_at: Option<i64>,
}

impl TryFrom<KeyRow> for ApiKey {
    type Error = StoreError;
    fn try_from(r: KeyRow) -> Result<Self, StoreError> {
        Ok(ApiKey {
            id: KeyId(r.id),
            org_id: OrgId(r.org_id),
            service_account_id: ServiceAccountId(r.service_account_id),
            name: KeyName::from_store(r.name),
            kind: KeyKind::parse(&r.kind).ok_or_else(|| corrupt("key kind"))?,
            environment: Environment::parse(&r.environment).ok_or_else(|| corrupt("environment"))?,
            prefix: r.prefix,
            start: r.start,
            role: role(&r.role)?,
            scopes: Scopes::parse("scopes", &strings(&r.scopes, "scopes")?).map_err(|_| corrupt("scopes"))?,
            ip_allowlist: IpAllowlist::parse("ip_allowlist", &strings(&r.ip_allowlist, "ip allowlist")?)
                .map_err(|_| corrupt("ip allowlist"))?,
            expires_at: r.expires_at.map(UnixMs),
            rate_limit: policy_from_json(r.rate_limit.map(String::from).as_deref())?,
            metadata: Metadata::from_store(map(&r.metadata, "metadata")?),
            created_at: UnixMs(r.created_at),
            created_by: actor(&r.created_by)?,
            last_used_at: r.last_used_at.map(UnixMs),
            revoked_at: r.revoked_at.map(UnixMs),
            revoked_by: r.revoked_by.map(|t| actor(&t.0)).transpose()?,
            rotated_from: r.rotated_from.map(KeyId),
            pair_id: r.pair_id.map(KeyPairId),
            disabled_at: r.disabled_at.map(UnixMs),
        })
    }
}

#[derive(sqlx::FromRow)]
pub(super) struct ServiceAccountRow {
    id: Uuid,
    org_id: Uuid,
    #[sqlx(try_from = "Text")]
    name: String,
    #[sqlx(try_from = "Text")]
    role: String,
    created_at: i64,
}

impl TryFrom<ServiceAccountRow> for ServiceAccount {
    type Error = StoreError;
    fn try_from(r: ServiceAccountRow) -> Result<Self, StoreError> {
        Ok(ServiceAccount {
            id: ServiceAccountId(r.id),
            org_id: OrgId(r.org_id),
            name: Name::parse("name", &r.name).map_err(|_| corrupt("service account name"))?,
            role: role(&r.role)?,
            created_at: UnixMs(r.created_at),
        })
    }
}

#[derive(sqlx::FromRow)]
pub(super) struct UserRow {
    pub id: Uuid,
    pub org_id: Uuid,
    #[sqlx(try_from = "Text")]
    pub email: String,
    #[sqlx(try_from = "Text")]
    pub role: String,
    pub created_at: i64,
    pub last_login_at: Option<i64>,
}

impl TryFrom<UserRow> for User {
    type Error = StoreError;
    fn try_from(r: UserRow) -> Result<Self, StoreError> {
        Ok(User {
            id: UserId(r.id),
            org_id: OrgId(r.org_id),
            email: r.email,
            role: role(&r.role)?,
            created_at: UnixMs(r.created_at),
            last_login_at: r.last_login_at.map(UnixMs),
        })
    }
}

#[derive(sqlx::FromRow)]
pub(super) struct SessionRow {
    id: Uuid,
    org_id: Uuid,
    user_id: Uuid,
    #[sqlx(try_from = "Text")]
    user_agent: String,
    remember_me: bool,
    created_at: i64,
    revoked_at: Option<i64>,
}

impl From<SessionRow> for Session {
    fn from(r: SessionRow) -> Self {
        Session {
            id: SessionId(r.id),
            org_id: OrgId(r.org_id),
            user_id: UserId(r.user_id),
            user_agent: r.user_agent,
            remember_me: r.remember_me,
            created_at: UnixMs(r.created_at),
            revoked_at: r.revoked_at.map(UnixMs),
        }
    }
}

#[derive(sqlx::FromRow)]
pub(super) struct AuditRow {
    id: Uuid,
    org_id: Option<Uuid>,
    #[sqlx(try_from = "Text")]
    actor: String,
    #[sqlx(try_from = "Text")]
    action: String,
    #[sqlx(try_from = "Text")]
    target: String,
    #[sqlx(try_from = "Text")]
    key_prefix: String,
    #[sqlx(try_from = "Text")]
    client_ip: String,
    occurred_at: i64,
    #[sqlx(try_from = "Text")]
    details: String,
}

impl TryFrom<AuditRow> for AuditEvent {
    type Error = StoreError;
    fn try_from(r: AuditRow) -> Result<Self, StoreError> {
        Ok(AuditEvent {
            id: EventId(r.id),
            org_id: r.org_id.map(OrgId),
            actor: actor(&r.actor)?,
            action: r.action,
            target: r.target,
            key_prefix: r.key_prefix,
            client_ip: r.client_ip,
            occurred_at: UnixMs(r.occurred_at),
            details: map(&r.details, "audit details")?,
        })
    }
}

/// Turns `size + 1` fetched rows into a page: the extra row only says that more exist.
pub(super) fn paginate<R, T>(rows: Vec<R>, page: PageRequest, id_of: impl Fn(&T) -> Uuid) -> Result<Page<T>, StoreError>
where
    T: TryFrom<R, Error = StoreError>,
{
    let size = page.size as usize;
    let more = rows.len() > size;
    let items = rows
        .into_iter()
        .take(size)
        .map(T::try_from)
        .collect::<Result<Vec<T>, _>>()?;
    let next = if more { items.last().map(&id_of) } else { None };
    Ok(Page { items, next })
}
