//! The JSON shapes shared by several routes, and their conversions from and to the proto
//! messages. Field names are the proto's, so a field violation names the JSON field too.

use crate::domain::scope::MAX_SCOPE_LEN;
use crate::proto::v1 as pb;
use serde::{Deserialize, Deserializer, Serialize};
use std::collections::HashMap;
use utoipa::openapi::RefOr;
use utoipa::openapi::schema::{ObjectBuilder, Schema, Type};
use utoipa::{PartialSchema, ToSchema};

/// A JSON enum beside its proto enum: lowercase words (`operator`, `active`) for values, or
/// with `as codes` the UPPER_SNAKE of a stable reason, as error codes and gateway headers are.
macro_rules! wire_enum {
    ($(#[$doc:meta])* $name:ident => $pb:ty { $($variant:ident = $pbv:ident),* $(,)? }) => {
        wire_enum!(@ "snake_case" $(#[$doc])* $name => $pb { $($variant = $pbv),* });
    };
    ($(#[$doc:meta])* $name:ident => $pb:ty as codes { $($variant:ident = $pbv:ident),* $(,)? }) => {
        wire_enum!(@ "SCREAMING_SNAKE_CASE" $(#[$doc])* $name => $pb { $($variant = $pbv),* });
    };
    (@ $case:tt $(#[$doc:meta])* $name:ident => $pb:ty { $($variant:ident = $pbv:ident),* $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
        #[serde(rename_all = $case)]
        pub enum $name { $($variant),* }

        impl $name {
            /// The proto enum's number.
            pub fn to_proto(self) -> i32 {
                match self { $(Self::$variant => <$pb>::$pbv as i32),* }
            }

            /// `None` for the unspecified value and numbers this build does not know.
            pub fn from_proto(v: i32) -> Option<Self> {
                $(if v == <$pb>::$pbv as i32 { return Some(Self::$variant); })*
                None
            }
        }
    };
}

wire_enum!(
    /// A role, lowest first.
    Role => pb::Role { Member = Member, Operator = Operator, Admin = Admin, Owner = Owner }
);
wire_enum!(
    /// Secret keys are for servers; publishable ones may sit in a browser.
    KeyKind => pb::KeyKind { Secret = Secret, Publishable = Publishable }
);
wire_enum!(
    /// Live or test key.
    Environment => pb::Environment { Live = Live, Test = Test }
);
wire_enum!(
    /// What a key is now.
    KeyStatus => pb::KeyStatus { Active = Active, Expired = Expired, Revoked = Revoked, Disabled = Disabled }
);
wire_enum!(
    /// Why a Verify call was decided as it was: the reason's name (`OK`, `DISABLED`), the same
    /// word the gateways' `x-gatekey-reason` header carries.
    VerifyReason => pb::VerifyReason as codes {
        Ok = Ok,
        MissingCredential = MissingCredential,
        InvalidCredential = InvalidCredential,
        Expired = Expired,
        Revoked = Revoked,
        IpNotAllowed = IpNotAllowed,
        InsufficientScope = InsufficientScope,
        RateLimited = RateLimited,
        SessionRevoked = SessionRevoked,
        Disabled = Disabled,
    }
);
wire_enum!(
    /// Who a credential speaks for.
    PrincipalType => pb::PrincipalType { ServiceAccount = ServiceAccount, User = User }
);
wire_enum!(
    /// Where the rate limit in force comes from.
    RateLimitSource => pb::RateLimitSource { Key = Key, Org = Org, BuiltIn = BuiltIn }
);

/// `2026-11-30T20:00:00Z`, the text of a proto timestamp.
pub fn time_to(t: Option<&prost_types::Timestamp>) -> Option<String> {
    let t = t?;
    let nanos = u32::try_from(t.nanos).ok()?;
    chrono::DateTime::from_timestamp(t.seconds, nanos).map(|d| d.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true))
}

/// An RFC 3339 instant in a request; anything else is refused naming the field.
#[derive(Debug, Clone, Copy, ToSchema)]
#[schema(value_type = String, format = DateTime)]
pub struct Instant(pub prost_types::Timestamp);

impl<'de> Deserialize<'de> for Instant {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        let parsed = chrono::DateTime::parse_from_rfc3339(&text)
            .map_err(|_| serde::de::Error::custom("must be an RFC 3339 timestamp"))?;
        Ok(Self(prost_types::Timestamp {
            seconds: parsed.timestamp(),
            nanos: i32::try_from(parsed.timestamp_subsec_nanos()).unwrap_or(0),
        }))
    }
}

impl Serialize for Instant {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        time_to(Some(&self.0)).unwrap_or_default().serialize(s)
    }
}

/// Whole seconds as a proto duration.
pub fn secs_to_duration(secs: u32) -> prost_types::Duration {
    prost_types::Duration {
        seconds: i64::from(secs),
        nanos: 0,
    }
}

fn duration_secs(d: Option<&prost_types::Duration>) -> u64 {
    d.map_or(0, |d| u64::try_from(d.seconds).unwrap_or(0))
}

/// `None` for the empty string, proto's "unset".
pub fn text(s: &str) -> Option<String> {
    (!s.is_empty()).then(|| s.to_owned())
}

/// `{"limit": 100, "window_secs": 60, "burst": 10}`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RateLimitPolicy {
    #[serde(default)]
    #[schema(required = true, minimum = 1, maximum = 10_000_000)]
    pub limit: u32,
    #[serde(default)]
    #[schema(required = true, minimum = 1, maximum = 86_400)]
    pub window_secs: u32,
    #[serde(default)]
    #[schema(required = true, minimum = 1, maximum = 10_000_000)]
    pub burst: u32,
}

impl RateLimitPolicy {
    pub fn to_proto(&self) -> pb::RateLimitPolicy {
        pb::RateLimitPolicy {
            limit: self.limit,
            window: Some(secs_to_duration(self.window_secs)),
            burst: self.burst,
        }
    }

    pub fn from_proto(p: &pb::RateLimitPolicy) -> Self {
        Self {
            limit: p.limit,
            window_secs: u32::try_from(duration_secs(p.window.as_ref())).unwrap_or(u32::MAX),
            burst: p.burst,
        }
    }
}

/// An API key as the admin API shows it (never its secret).
#[derive(Debug, Serialize, ToSchema)]
pub struct ApiKey {
    pub id: String,
    pub org_id: String,
    pub service_account_id: String,
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kind: Option<KeyKind>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub environment: Option<Environment>,
    pub prefix: String,
    pub start: String,
    pub scopes: Vec<String>,
    pub ip_allowlist: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(format = DateTime)]
    pub expires_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<KeyStatus>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rate_limit: Option<RateLimitPolicy>,
    pub metadata: HashMap<String, String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(format = DateTime)]
    pub created_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(format = DateTime)]
    pub last_used_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(format = DateTime)]
    pub revoked_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(format = DateTime)]
    pub disabled_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rotated_from: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub created_by: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub revoked_by: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub role: Option<Role>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pair_id: Option<String>,
}

impl From<pb::ApiKey> for ApiKey {
    fn from(k: pb::ApiKey) -> Self {
        Self {
            kind: KeyKind::from_proto(k.kind),
            environment: Environment::from_proto(k.environment),
            expires_at: time_to(k.expires_at.as_ref()),
            status: KeyStatus::from_proto(k.status),
            rate_limit: k.rate_limit.as_ref().map(RateLimitPolicy::from_proto),
            created_at: time_to(k.created_at.as_ref()),
            last_used_at: time_to(k.last_used_at.as_ref()),
            revoked_at: time_to(k.revoked_at.as_ref()),
            disabled_at: time_to(k.disabled_at.as_ref()),
            rotated_from: text(&k.rotated_from),
            created_by: text(&k.created_by),
            revoked_by: text(&k.revoked_by),
            role: Role::from_proto(k.role),
            pair_id: text(&k.pair_id),
            id: k.id,
            org_id: k.org_id,
            service_account_id: k.service_account_id,
            name: k.name,
            prefix: k.prefix,
            start: k.start,
            scopes: k.scopes,
            ip_allowlist: k.ip_allowlist,
            metadata: k.metadata,
        }
    }
}

/// The key of a response that always names one.
pub fn key_of(k: Option<pb::ApiKey>) -> ApiKey {
    ApiKey::from(k.unwrap_or_default())
}

/// A service account.
#[derive(Debug, Serialize, ToSchema)]
pub struct ServiceAccount {
    pub id: String,
    pub org_id: String,
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub role: Option<Role>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(format = DateTime)]
    pub created_at: Option<String>,
}

impl From<pb::ServiceAccount> for ServiceAccount {
    fn from(s: pb::ServiceAccount) -> Self {
        Self {
            role: Role::from_proto(s.role),
            created_at: time_to(s.created_at.as_ref()),
            id: s.id,
            org_id: s.org_id,
            name: s.name,
        }
    }
}

/// A member of the org.
#[derive(Debug, Serialize, ToSchema)]
pub struct User {
    pub id: String,
    pub org_id: String,
    pub email: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub role: Option<Role>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(format = DateTime)]
    pub created_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(format = DateTime)]
    pub last_login_at: Option<String>,
}

impl From<pb::User> for User {
    fn from(u: pb::User) -> Self {
        Self {
            role: Role::from_proto(u.role),
            created_at: time_to(u.created_at.as_ref()),
            last_login_at: time_to(u.last_login_at.as_ref()),
            id: u.id,
            org_id: u.org_id,
            email: u.email,
        }
    }
}

/// One entry of the audit log.
#[derive(Debug, Serialize, ToSchema)]
pub struct AuditEvent {
    pub id: String,
    pub org_id: String,
    pub actor: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub actor_display: Option<String>,
    pub action: String,
    pub target: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_prefix: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_ip: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(format = DateTime)]
    pub occurred_at: Option<String>,
    pub details: HashMap<String, String>,
}

impl From<pb::AuditEvent> for AuditEvent {
    fn from(e: pb::AuditEvent) -> Self {
        Self {
            actor_display: text(&e.actor_display),
            key_prefix: text(&e.key_prefix),
            client_ip: text(&e.client_ip),
            occurred_at: time_to(e.occurred_at.as_ref()),
            id: e.id,
            org_id: e.org_id,
            actor: e.actor,
            action: e.action,
            target: e.target,
            details: e.details,
        }
    }
}

/// A scope as a request names it, for the document only (bodies carry scopes as text and the
/// service parses them): lowercase segments of `a-z 0-9 _ -` joined by `.` or `:`, the last
/// of which may be `*`.
pub struct ScopeName;

/// A scope a request needs, for the document only: as [`ScopeName`], but never a wildcard.
pub struct RequiredScopeName;

fn scope_schema(pattern: &str) -> RefOr<Schema> {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .pattern(Some(pattern))
        .max_length(Some(MAX_SCOPE_LEN))
        .into()
}

impl PartialSchema for ScopeName {
    fn schema() -> RefOr<Schema> {
        scope_schema(r"^([a-z0-9_-]+[.:])*([a-z0-9_-]+|\*)$")
    }
}

impl ToSchema for ScopeName {}

impl PartialSchema for RequiredScopeName {
    fn schema() -> RefOr<Schema> {
        scope_schema(r"^([a-z0-9_-]+[.:])*[a-z0-9_-]+$")
    }
}

impl ToSchema for RequiredScopeName {}

/// `page_size` and `page_token` of a list.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct Page {
    #[serde(default)]
    #[param(maximum = 1000)]
    pub page_size: u32,
    #[serde(default)]
    pub page_token: String,
}
