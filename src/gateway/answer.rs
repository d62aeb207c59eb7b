//! A decision turned into what every gateway protocol says: a status, headers for the
//! upstream and for the client, and a JSON body on a deny.

use super::identity::Identity;
use crate::domain::verify::{RequiredScopes, VerifyReason};
use crate::ratelimit;
use crate::verify::{Decision, Principal};
use serde_json::{Map, Value, json};
use std::net::IpAddr;
use std::sync::Arc;

/// Header telling the proxy (and its logs) why a request was denied.
pub const REASON_HEADER: &str = "x-gatekey-reason";

/// The answer to one gateway request.
#[derive(Debug, Clone)]
pub struct Answer {
    pub status: u16,
    /// `None` when no decision could be made (the store is needed and unreachable).
    pub reason: Option<VerifyReason>,
    /// On allow: who is calling, for the upstream (set by [`super::Gateway::check`]).
    pub identity: Option<Arc<Identity>>,
    /// Headers for the client: rate-limit fields, `Retry-After`, `WWW-Authenticate`, reason.
    pub client_headers: Vec<(&'static str, String)>,
    /// On deny: `{"error": {"code", "message", "details"}}`.
    pub body: Option<String>,
}

impl Answer {
    pub fn allowed(&self) -> bool {
        self.status == 200
    }

    /// No decision: the engine could not answer.
    pub fn is_unavailable(&self) -> bool {
        self.reason.is_none() && self.status == 503
    }

    /// The answer to `decision`; `presented` says whether the request carried a credential
    /// (RFC 6750: a bare challenge when it did not).
    pub fn of(decision: &Decision, presented: bool, required: &RequiredScopes, client_ip: Option<IpAddr>) -> Self {
        let reason = decision.reason;
        let mut client_headers = Vec::new();
        if let Some(rl) = &decision.rate_limit {
            client_headers.push(("ratelimit-policy", ratelimit::policy_header(rl.bucket, &rl.policy)));
            client_headers.push(("ratelimit", ratelimit::header(rl.bucket, &rl.verdict)));
        }
        if reason == VerifyReason::Ok {
            return Self {
                status: 200,
                reason: Some(reason),
                identity: None,
                client_headers,
                body: None,
            };
        }
        let mut details = Map::new();
        match reason {
            VerifyReason::MissingCredential => {
                client_headers.push(("www-authenticate", "Bearer".to_owned()));
            }
            VerifyReason::InvalidCredential
            | VerifyReason::Expired
            | VerifyReason::Revoked
            | VerifyReason::SessionRevoked
            | VerifyReason::Disabled => {
                let challenge = if presented {
                    "Bearer error=\"invalid_token\""
                } else {
                    "Bearer"
                };
                client_headers.push(("www-authenticate", challenge.to_owned()));
                if let Some(at) = decision
                    .expired_at
                    .and_then(|t| chrono::DateTime::from_timestamp_millis(t.0))
                {
                    details.insert(
                        "expired_at".into(),
                        json!(at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)),
                    );
                }
            }
            VerifyReason::IpNotAllowed => {
                let ip = client_ip.map(|ip| ip.to_string()).unwrap_or_default();
                details.insert("client_ip".into(), json!(ip));
            }
            VerifyReason::InsufficientScope => {
                let missing = missing_scopes(decision, required);
                client_headers.push((
                    "www-authenticate",
                    format!("Bearer error=\"insufficient_scope\", scope=\"{}\"", missing.join(" ")),
                ));
                details.insert("missing_scopes".into(), json!(missing));
            }
            VerifyReason::RateLimited => {
                let retry = decision
                    .rate_limit
                    .as_ref()
                    .map_or(1, |rl| ratelimit::ceil_secs(rl.verdict.retry_after).max(1));
                client_headers.push(("retry-after", retry.to_string()));
                details.insert("retry_after_seconds".into(), json!(retry));
            }
            VerifyReason::Ok => {}
        }
        client_headers.push((REASON_HEADER, code(reason).to_owned()));
        Self {
            status: status(reason),
            reason: Some(reason),
            identity: None,
            client_headers,
            body: Some(error_body(code(reason), message(reason), details)),
        }
    }

    /// No answer could be given: the gateway applies its own failure policy.
    pub fn unavailable() -> Self {
        Self {
            status: 503,
            reason: None,
            identity: None,
            client_headers: vec![
                ("retry-after", "1".to_owned()),
                (REASON_HEADER, "UNAVAILABLE".to_owned()),
            ],
            body: Some(error_body(
                "UNAVAILABLE",
                "the authorization service cannot answer right now; retry shortly",
                Map::new(),
            )),
        }
    }

    /// The gateway's per-route settings are malformed: a configuration error, refused.
    pub fn misconfigured(field: &str, description: &str) -> Self {
        let mut details = Map::new();
        details.insert("field".into(), json!(field));
        details.insert("description".into(), json!(description));
        Self {
            status: 500,
            reason: None,
            identity: None,
            client_headers: vec![(REASON_HEADER, "GATEWAY_MISCONFIGURED".to_owned())],
            body: Some(error_body(
                "GATEWAY_MISCONFIGURED",
                "the gateway's per-route authorization settings are invalid",
                details,
            )),
        }
    }
}

/// 401 for credential problems, 403 for IP and scope, 429 for the rate limit.
fn status(reason: VerifyReason) -> u16 {
    u16::try_from(reason.http_status()).unwrap_or(500)
}

/// The `VerifyReason` name, as in the proto.
pub fn code(reason: VerifyReason) -> &'static str {
    match reason {
        VerifyReason::Ok => "OK",
        VerifyReason::MissingCredential => "MISSING_CREDENTIAL",
        VerifyReason::InvalidCredential => "INVALID_CREDENTIAL",
        VerifyReason::Expired => "EXPIRED",
        VerifyReason::Revoked => "REVOKED",
        VerifyReason::SessionRevoked => "SESSION_REVOKED",
        VerifyReason::Disabled => "DISABLED",
        VerifyReason::IpNotAllowed => "IP_NOT_ALLOWED",
        VerifyReason::InsufficientScope => "INSUFFICIENT_SCOPE",
        VerifyReason::RateLimited => "RATE_LIMITED",
    }
}

fn message(reason: VerifyReason) -> &'static str {
    match reason {
        VerifyReason::Ok => "allowed",
        VerifyReason::MissingCredential => {
            "no credential: send `Authorization: Bearer <key or token>` or `X-API-Key: <key>`"
        }
        VerifyReason::InvalidCredential => "the credential is not valid",
        VerifyReason::Expired => "the credential has expired",
        VerifyReason::Revoked => "the credential has been revoked",
        VerifyReason::SessionRevoked => "the session of this token has ended; log in again",
        VerifyReason::Disabled => "the credential is disabled; an admin can enable it again",
        VerifyReason::IpNotAllowed => "this credential may not be used from this address",
        VerifyReason::InsufficientScope => "the credential lacks a scope this route requires",
        VerifyReason::RateLimited => "rate limit exceeded; retry after the given time",
    }
}

fn missing_scopes(decision: &Decision, required: &RequiredScopes) -> Vec<String> {
    let missing: Vec<String> = match &decision.principal {
        Some(Principal::Key(k)) => required
            .missing(&k.key.scopes, Some(k.key.kind))
            .map(|s| s.as_str().to_owned())
            .collect(),
        Some(Principal::User { token, scopes }) => required
            .missing(scopes.of(token.role), None)
            .map(|s| s.as_str().to_owned())
            .collect(),
        None => Vec::new(),
    };
    missing
}

/// The error body our reference vendors use; ASCII only, so it also fits in a header.
pub fn error_body(code: &str, message: &str, details: Map<String, Value>) -> String {
    let body = json!({ "error": { "code": code, "message": message, "details": details } });
    body.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_disabled_key_is_a_401_with_the_invalid_token_challenge_and_its_own_code() {
        let answer = Answer::of(
            &Decision::deny(VerifyReason::Disabled),
            true,
            &RequiredScopes::default(),
            None,
        );
        assert_eq!(answer.status, 401);
        let header = |name: &str| {
            answer
                .client_headers
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| v.as_str())
        };
        assert_eq!(header(REASON_HEADER), Some("DISABLED"));
        assert_eq!(header("www-authenticate"), Some("Bearer error=\"invalid_token\""));
        let body: Value = serde_json::from_str(answer.body.as_deref().unwrap_or_default()).unwrap_or_default();
        assert_eq!(body["error"]["code"], "DISABLED");
    }
}
