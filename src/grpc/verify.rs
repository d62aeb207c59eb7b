//! `AuthService.Verify`: validate the request, ask the engine, convert the decision.

use super::convert::{duration_to, role_to, timestamp_to};
use crate::domain::FieldViolation;
use crate::domain::key_format::{Environment, prefix_of};
use crate::domain::time::UnixMs;
use crate::domain::verify::{RequiredScopes, VerifyReason};
use crate::proto::v1 as pb;
use crate::ratelimit;
use crate::service::ServiceError;
use crate::verify::{Decision, Principal, RateLimitOutcome, Verifier, VerifyInput};
use std::net::IpAddr;

pub use crate::gateway::config::MAX_COST;

/// Checks the request's shape. The credential itself is never an error: a garbled one is a deny.
pub fn input(r: &pb::VerifyRequest) -> Result<VerifyInput<'_>, ServiceError> {
    let mut v = super::convert::Violations::default();
    let required = v.check(RequiredScopes::parse("required_scopes", &r.required_scopes));
    let client_ip = v.check(if r.client_ip.is_empty() {
        Ok(None)
    } else {
        r.client_ip
            .trim()
            .parse::<IpAddr>()
            .map(Some)
            .map_err(|_| FieldViolation::new("client_ip", "must be an IPv4 or IPv6 address"))
    });
    let cost = v.check(if r.cost > MAX_COST {
        Err(FieldViolation::new("cost", format!("must be at most {MAX_COST}")))
    } else {
        Ok(r.cost.max(1))
    });
    let fields = required.zip(client_ip).zip(cost);
    let ((required, client_ip), cost) = v.finish(fields)?;
    Ok(VerifyInput {
        credential: &r.credential,
        required,
        client_ip,
        cost,
    })
}

/// Runs one Verify call on `verifier`.
pub async fn verify(verifier: &Verifier, r: &pb::VerifyRequest) -> Result<pb::VerifyResponse, ServiceError> {
    let input = input(r)?;
    let decision = verifier.verify(&input).await?;
    Ok(response(&decision))
}

fn reason_to(r: VerifyReason) -> pb::VerifyReason {
    match r {
        VerifyReason::Ok => pb::VerifyReason::Ok,
        VerifyReason::MissingCredential => pb::VerifyReason::MissingCredential,
        VerifyReason::InvalidCredential => pb::VerifyReason::InvalidCredential,
        VerifyReason::Expired => pb::VerifyReason::Expired,
        VerifyReason::Revoked => pb::VerifyReason::Revoked,
        VerifyReason::IpNotAllowed => pb::VerifyReason::IpNotAllowed,
        VerifyReason::InsufficientScope => pb::VerifyReason::InsufficientScope,
        VerifyReason::RateLimited => pb::VerifyReason::RateLimited,
        VerifyReason::SessionRevoked => pb::VerifyReason::SessionRevoked,
    }
}

/// The wire form of a decision.
pub fn response(d: &Decision) -> pb::VerifyResponse {
    pb::VerifyResponse {
        allowed: d.allowed(),
        reason: reason_to(d.reason) as i32,
        http_status: d.reason.http_status(),
        principal: d.principal.as_ref().map(principal_to),
        rate_limit: d.rate_limit.as_ref().map(rate_limit_to),
    }
}

fn principal_to(p: &Principal) -> pb::Principal {
    match p {
        Principal::Key(cached) => {
            let k = &cached.key;
            pb::Principal {
                r#type: pb::PrincipalType::ServiceAccount as i32,
                id: k.service_account_id.to_string(),
                org_id: k.org_id.to_string(),
                role: role_to(k.role) as i32,
                scopes: k.scopes.to_strings(),
                key_id: k.id.to_string(),
                key_prefix: prefix_of(k.kind, k.environment).to_owned(),
                key_start: k.display_prefix(),
                environment: match k.environment {
                    Environment::Live => pb::Environment::Live,
                    Environment::Test => pb::Environment::Test,
                } as i32,
                expires_at: k.expires_at.map(timestamp_to),
                metadata: k.metadata.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect(),
            }
        }
        Principal::User { token, scopes } => pb::Principal {
            r#type: pb::PrincipalType::User as i32,
            id: token.user.to_string(),
            org_id: token.org.to_string(),
            role: role_to(token.role) as i32,
            scopes: scopes.of(token.role).to_strings(),
            expires_at: Some(timestamp_to(UnixMs(token.expires_at_ms))),
            ..Default::default()
        },
    }
}

fn rate_limit_to(o: &RateLimitOutcome) -> pb::RateLimitVerdict {
    pb::RateLimitVerdict {
        limited: !o.verdict.allowed,
        policy: o.bucket.policy_name().to_owned(),
        limit: o.policy.limit,
        window: Some(duration_to(o.policy.window)),
        remaining: o.verdict.remaining,
        reset_after: Some(duration_to(o.verdict.reset_after)),
        retry_after: Some(duration_to(o.verdict.retry_after)),
        policy_header: ratelimit::policy_header(o.bucket, &o.policy),
        header: ratelimit::header(o.bucket, &o.verdict),
    }
}
