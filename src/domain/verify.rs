//! The verify decision: reasons, their HTTP statuses, and the rules for an API key.

use super::FieldViolation;
use super::api_key::KeyStatus;
use super::ip::IpAllowlist;
use super::key_format::KeyKind;
use super::scope::{Scope, Scopes};

/// Most scopes one Verify call may require.
pub const MAX_REQUIRED_SCOPES: usize = 32;

/// Why a request was allowed or denied.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum VerifyReason {
    Ok,
    MissingCredential,
    InvalidCredential,
    Expired,
    Revoked,
    IpNotAllowed,
    InsufficientScope,
    RateLimited,
    SessionRevoked,
    /// The key is disabled (suspended) until an admin enables it again.
    Disabled,
}

impl VerifyReason {
    /// The status a gateway should answer with: 401 for credential problems, 403 for IP and
    /// scope, 429 for the rate limit.
    pub fn http_status(self) -> u32 {
        match self {
            VerifyReason::Ok => 200,
            VerifyReason::MissingCredential
            | VerifyReason::InvalidCredential
            | VerifyReason::Expired
            | VerifyReason::Revoked
            | VerifyReason::SessionRevoked
            | VerifyReason::Disabled => 401,
            VerifyReason::IpNotAllowed | VerifyReason::InsufficientScope => 403,
            VerifyReason::RateLimited => 429,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            VerifyReason::Ok => "ok",
            VerifyReason::MissingCredential => "missing_credential",
            VerifyReason::InvalidCredential => "invalid_credential",
            VerifyReason::Expired => "expired",
            VerifyReason::Revoked => "revoked",
            VerifyReason::IpNotAllowed => "ip_not_allowed",
            VerifyReason::InsufficientScope => "insufficient_scope",
            VerifyReason::RateLimited => "rate_limited",
            VerifyReason::SessionRevoked => "session_revoked",
            VerifyReason::Disabled => "disabled",
        }
    }

    pub const ALL: [VerifyReason; 10] = [
        VerifyReason::Ok,
        VerifyReason::MissingCredential,
        VerifyReason::InvalidCredential,
        VerifyReason::Expired,
        VerifyReason::Revoked,
        VerifyReason::IpNotAllowed,
        VerifyReason::InsufficientScope,
        VerifyReason::RateLimited,
        VerifyReason::SessionRevoked,
        VerifyReason::Disabled,
    ];
}

/// Scopes a route requires: each a valid scope without wildcards, at most 32.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RequiredScopes(Vec<Scope>);

impl RequiredScopes {
    pub fn parse(field: &str, raw: &[String]) -> Result<Self, FieldViolation> {
        if raw.len() > MAX_REQUIRED_SCOPES {
            return Err(FieldViolation::new(
                field,
                format!("at most {MAX_REQUIRED_SCOPES} scopes"),
            ));
        }
        let mut scopes = Vec::with_capacity(raw.len());
        for s in raw {
            let scope = Scope::parse(field, s)?;
            if scope.is_wildcard() {
                return Err(FieldViolation::new(
                    field,
                    format!("required scope {s:?} may not be a wildcard"),
                ));
            }
            scopes.push(scope);
        }
        Ok(Self(scopes))
    }

    /// Whether `granted` covers every required scope; a publishable key never passes a scope
    /// that is not a read scope, whatever it holds.
    pub fn satisfied_by(&self, granted: &Scopes, kind: Option<KeyKind>) -> bool {
        self.0.iter().all(|req| covers(granted, kind, req))
    }

    /// The required scopes `granted` does not cover, in the order they were required.
    pub fn missing<'a>(&'a self, granted: &'a Scopes, kind: Option<KeyKind>) -> impl Iterator<Item = &'a Scope> + 'a {
        self.0.iter().filter(move |req| !covers(granted, kind, req))
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Every scope of `self` and of `other`, each once.
    pub fn union(mut self, other: &RequiredScopes) -> Self {
        for s in &other.0 {
            if !self.0.contains(s) {
                self.0.push(s.clone());
            }
        }
        self
    }
}

fn covers(granted: &Scopes, kind: Option<KeyKind>, req: &Scope) -> bool {
    let write_on_publishable = kind == Some(KeyKind::Publishable) && !req.is_read_only();
    !write_on_publishable && granted.grants(req.as_str())
}

/// The rules for an API key before the rate limit, in order: revoked, expired, disabled, IP,
/// scopes.
pub fn check_key(
    status: KeyStatus,
    allowlist: &IpAllowlist,
    client_ip: Option<std::net::IpAddr>,
    kind: KeyKind,
    granted: &Scopes,
    required: &RequiredScopes,
) -> Result<(), VerifyReason> {
    match status {
        KeyStatus::Revoked => return Err(VerifyReason::Revoked),
        KeyStatus::Expired => return Err(VerifyReason::Expired),
        KeyStatus::Disabled => return Err(VerifyReason::Disabled),
        KeyStatus::Active => {}
    }
    if !allowlist.allows(client_ip) {
        return Err(VerifyReason::IpNotAllowed);
    }
    if !required.satisfied_by(granted, Some(kind)) {
        return Err(VerifyReason::InsufficientScope);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scopes(s: &[&str]) -> Scopes {
        Scopes::parse("scopes", &s.iter().map(|x| x.to_string()).collect::<Vec<_>>()).expect("valid")
    }

    fn required(s: &[&str]) -> RequiredScopes {
        RequiredScopes::parse("required_scopes", &s.iter().map(|x| x.to_string()).collect::<Vec<_>>()).expect("valid")
    }

    #[test]
    fn rules_apply_in_order() {
        let any = IpAllowlist::default();
        let none = RequiredScopes::default();
        let s = scopes(&["cameras.read"]);
        assert_eq!(
            check_key(KeyStatus::Revoked, &any, None, KeyKind::Secret, &s, &none),
            Err(VerifyReason::Revoked)
        );
        assert_eq!(
            check_key(KeyStatus::Expired, &any, None, KeyKind::Secret, &s, &none),
            Err(VerifyReason::Expired)
        );
        assert_eq!(
            check_key(KeyStatus::Disabled, &any, None, KeyKind::Secret, &s, &none),
            Err(VerifyReason::Disabled)
        );
        let only = IpAllowlist::parse("ip", &["10.0.0.0/8".into()]).expect("valid");
        assert_eq!(
            check_key(KeyStatus::Active, &only, None, KeyKind::Secret, &s, &none),
            Err(VerifyReason::IpNotAllowed)
        );
        let ip = Some("10.1.1.1".parse().expect("ip"));
        assert_eq!(
            check_key(KeyStatus::Active, &only, ip, KeyKind::Secret, &s, &none),
            Ok(())
        );
        let write = required(&["cameras.write"]);
        assert_eq!(
            check_key(KeyStatus::Active, &any, None, KeyKind::Secret, &s, &write),
            Err(VerifyReason::InsufficientScope)
        );
    }

    #[test]
    fn publishable_keys_never_pass_a_write_scope() {
        assert!(!required(&["cameras.write"]).satisfied_by(&scopes(&["*"]), Some(KeyKind::Publishable)));
        assert!(required(&["cameras.read"]).satisfied_by(&scopes(&["cameras.read"]), Some(KeyKind::Publishable)));
    }

    #[test]
    fn required_scopes_are_bounded_and_concrete() {
        let many: Vec<String> = (0..33).map(|i| format!("s{i}.read")).collect();
        assert!(RequiredScopes::parse("required_scopes", &many).is_err());
        assert!(RequiredScopes::parse("required_scopes", &["a.*".into()]).is_err());
        assert_eq!(VerifyReason::RateLimited.http_status(), 429);
        assert_eq!(VerifyReason::IpNotAllowed.http_status(), 403);
        assert_eq!(VerifyReason::SessionRevoked.http_status(), 401);
        assert_eq!(VerifyReason::Disabled.http_status(), 401);
    }
}
