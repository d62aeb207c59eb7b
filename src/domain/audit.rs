//! Audit events: append-only records of who did what, written in the same transaction as
//! the change they describe.

use super::ids::{EventId, KeyId, OrgId, UserId};
use super::time::UnixMs;
use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

/// Who performed an action.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Actor {
    User(UserId),
    Key(KeyId),
    /// The service itself or the operator's CLI (bootstrap).
    System,
    /// An unauthenticated caller, e.g. a failed login.
    Anonymous,
}

impl fmt::Display for Actor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Actor::User(id) => write!(f, "user:{id}"),
            Actor::Key(id) => write!(f, "key:{id}"),
            Actor::System => f.write_str("system"),
            Actor::Anonymous => f.write_str("anonymous"),
        }
    }
}

impl FromStr for Actor {
    type Err = ();
    fn from_str(s: &str) -> Result<Self, ()> {
        let parse = |id: &str| uuid::Uuid::parse_str(id).map_err(|_| ());
        match s.split_once(':') {
            Some(("user", id)) => Ok(Actor::User(UserId(parse(id)?))),
            Some(("key", id)) => Ok(Actor::Key(KeyId(parse(id)?))),
            None if s == "system" => Ok(Actor::System),
            None if s == "anonymous" => Ok(Actor::Anonymous),
            _ => Err(()),
        }
    }
}

/// Stable dotted action names; tooling filters on these strings.
pub mod action {
    pub const ORG_CREATED: &str = "org.created";
    pub const USER_CREATED: &str = "user.created";
    pub const LOGIN_SUCCEEDED: &str = "user.login_succeeded";
    pub const LOGIN_FAILED: &str = "user.login_failed";
    pub const SESSION_REVOKED: &str = "session.revoked";
    pub const REFRESH_TOKEN_REUSED: &str = "session.refresh_token_reused";
    pub const USER_AGENT_MISMATCH: &str = "session.user_agent_mismatch";
    pub const SERVICE_ACCOUNT_CREATED: &str = "service_account.created";
    pub const KEY_ISSUED: &str = "service_account.key_issued";
    pub const KEY_ROTATED: &str = "service_account.key_rotated";
    pub const KEY_REVOKED: &str = "service_account.key_revoked";
    pub const KEY_DELETED: &str = "service_account.key_deleted";
    pub const KEY_DISABLED: &str = "service_account.key_disabled";
    pub const KEY_ENABLED: &str = "service_account.key_enabled";
    pub const KEY_RATE_LIMIT_SET: &str = "service_account.key_rate_limit_set";
    pub const ORG_RATE_LIMIT_SET: &str = "org.rate_limit_set";
    pub const ROLE_SCOPES_SET: &str = "org.role_scopes_set";
    // Issue 9, members.
    pub const USER_ROLE_CHANGED: &str = "user.role_changed";
    pub const USER_REMOVED: &str = "user.removed";
    pub const PASSWORD_CHANGED: &str = "user.password_changed";
    pub const SERVICE_ACCOUNT_DELETED: &str = "service_account.deleted";
}

/// One audit record.
#[derive(Debug, Clone, PartialEq)]
pub struct AuditEvent {
    pub id: EventId,
    /// `None` only for a failed login of an email that belongs to no org.
    pub org_id: Option<OrgId>,
    pub actor: Actor,
    pub action: String,
    /// `<kind>:<uuid>` of the object acted on, empty when none.
    pub target: String,
    pub key_prefix: String,
    pub client_ip: String,
    pub occurred_at: UnixMs,
    pub details: BTreeMap<String, String>,
}

/// The request context every audited change carries: who, from where, when.
#[derive(Debug, Clone)]
pub struct AuditContext {
    pub org_id: OrgId,
    pub actor: Actor,
    pub client_ip: String,
    pub now: UnixMs,
}

impl AuditContext {
    /// An event of `action` on `target` in this context.
    pub fn event(&self, action: &str, target: String) -> AuditEvent {
        AuditEvent {
            id: EventId::generate(),
            org_id: Some(self.org_id),
            actor: self.actor,
            action: action.to_owned(),
            target,
            key_prefix: String::new(),
            client_ip: self.client_ip.clone(),
            occurred_at: self.now,
            details: BTreeMap::new(),
        }
    }
}
