//! Who the caller is, as the upstream sees it: the `X-Gatekey-*` headers and Envoy's
//! dynamic metadata carry the same fields.

use crate::domain::key_format::prefix_of;
use crate::verify::Principal;
use http::HeaderValue;

/// The identity headers, in the order they are set. Every one is always set on an allow
/// (empty when it does not apply), and a client's copy never reaches the upstream.
pub const IDENTITY_HEADERS: [&str; 8] = [
    "x-gatekey-org",
    "x-gatekey-principal",
    "x-gatekey-principal-type",
    "x-gatekey-role",
    "x-gatekey-scopes",
    "x-gatekey-key-id",
    "x-gatekey-key-prefix",
    "x-gatekey-environment",
];

/// Every header in gatekey's namespace is gatekey's: a client may set none of them, nor the
/// spellings with another separator (`X_Gatekey_Org`, `x.gatekey.org`), which CGI-style
/// upstreams (PHP, Rack) read as the same name.
pub fn is_reserved(header: &str) -> bool {
    let b = header.as_bytes();
    let separator = |i: usize| b.get(i).is_some_and(|c| !c.is_ascii_alphanumeric());
    b.first().is_some_and(|c| c.eq_ignore_ascii_case(&b'x'))
        && separator(1)
        && b.get(2..9).is_some_and(|w| w.eq_ignore_ascii_case(b"gatekey"))
        && separator(9)
}

/// The allowed caller.
#[derive(Debug, Clone)]
pub struct Identity {
    pub org_id: String,
    pub principal: String,
    /// `service_account` or `user`.
    pub principal_type: &'static str,
    /// Lowercase: `owner`, `admin`, `operator`, `member`.
    pub role: &'static str,
    /// Space-separated.
    pub scopes: String,
    pub key_id: String,
    /// The key's prefix as issued, e.g. `sk_live_`.
    pub key_prefix: &'static str,
    /// `live` or `test`; empty for users.
    pub environment: &'static str,
    /// The same values as HTTP header values, built once: forward-auth answers share them.
    pub header_values: [HeaderValue; 8],
}

impl Identity {
    pub fn of(p: &Principal) -> Self {
        let mut identity = match p {
            Principal::Key(cached) => {
                let k = &cached.key;
                Self {
                    org_id: k.org_id.to_string(),
                    principal: k.service_account_id.to_string(),
                    principal_type: "service_account",
                    role: k.role.as_str(),
                    scopes: k.scopes.to_strings().join(" "),
                    key_id: k.id.to_string(),
                    key_prefix: prefix_of(k.kind, k.environment),
                    environment: k.environment.as_str(),
                    header_values: std::array::from_fn(|_| HeaderValue::from_static("")),
                }
            }
            Principal::User { token, scopes } => Self {
                org_id: token.org.to_string(),
                principal: token.user.to_string(),
                principal_type: "user",
                role: token.role.as_str(),
                scopes: scopes.of(token.role).to_strings().join(" "),
                key_id: String::new(),
                key_prefix: "",
                environment: "",
                header_values: std::array::from_fn(|_| HeaderValue::from_static("")),
            },
        };
        // Ids, roles, prefixes and scopes are ASCII without control characters, so every value
        // is a valid header value; an impossible failure leaves that header empty.
        identity.header_values = identity
            .headers()
            .map(|(_, v)| HeaderValue::from_str(v).unwrap_or_else(|_| HeaderValue::from_static("")));
        identity
    }

    /// The header values, paired with [`IDENTITY_HEADERS`].
    pub fn headers(&self) -> [(&'static str, &str); 8] {
        let [org, principal, kind, role, scopes, key_id, prefix, env] = IDENTITY_HEADERS;
        [
            (org, self.org_id.as_str()),
            (principal, self.principal.as_str()),
            (kind, self.principal_type),
            (role, self.role),
            (scopes, self.scopes.as_str()),
            (key_id, self.key_id.as_str()),
            (prefix, self.key_prefix),
            (env, self.environment),
        ]
    }

    /// The fields later Envoy filters read from the dynamic metadata.
    pub fn metadata(&self) -> [(&'static str, &str); 6] {
        [
            ("org_id", self.org_id.as_str()),
            ("principal", self.principal.as_str()),
            ("principal_type", self.principal_type),
            ("role", self.role),
            ("key_id", self.key_id.as_str()),
            ("environment", self.environment),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_whole_namespace_is_reserved() {
        assert!(is_reserved("X-Gatekey-Org"));
        assert!(is_reserved("x-gatekey-anything"));
        assert!(is_reserved("X_Gatekey_Key_Id"));
        assert!(is_reserved("x.gatekey.org"));
        assert!(!is_reserved("x-gatekey"));
        assert!(!is_reserved("x-gatekeeper"));
        assert!(!is_reserved("authorization"));
    }
}
