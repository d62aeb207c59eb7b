//! `AuthService.Verify`: validate the request, ask the engine, convert the decision.

use super::convert::{role_to, timestamp_to};
use super::reply::{PrincipalField, RateLimitField, VerifyReply};
use crate::domain::FieldViolation;
use crate::domain::time::UnixMs;
use crate::domain::verify::{RequiredScopes, VerifyReason};
use crate::proto::v1 as pb;
use crate::service::ServiceError;
use crate::telemetry::latency::{self, Outcome, Transport};
use crate::verify::{Decision, Principal, Verifier, VerifyInput};
use std::net::IpAddr;
use std::time::Instant;

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

/// Runs one Verify call on `verifier`, timed into the latency histogram.
pub async fn verify(verifier: &Verifier, r: &pb::VerifyRequest) -> Result<VerifyReply, ServiceError> {
    let started = Instant::now();
    let (outcome, result) = match input(r) {
        Err(e) => (Outcome::InvalidArgument, Err(e)),
        Ok(input) => match verifier.verify(&input).await {
            Ok(decision) => (Outcome::Reason(decision.reason), Ok(response(&decision))),
            Err(e) => (Outcome::Unavailable, Err(e.into())),
        },
    };
    latency::observe(Transport::GrpcVerify, outcome, started.elapsed());
    crate::telemetry::otel::record_outcome(outcome);
    result
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
        VerifyReason::Disabled => pb::VerifyReason::Disabled,
    }
}

/// The wire form of a decision (see `reply`: written, not built).
pub fn response(d: &Decision) -> VerifyReply {
    VerifyReply {
        allowed: d.allowed(),
        reason: reason_to(d.reason) as i32,
        http_status: d.reason.http_status(),
        principal: d.principal.as_ref().map(|p| match p {
            Principal::Key(cached) => PrincipalField::Key(cached.clone()),
            Principal::User { token, scopes } => PrincipalField::Message(Box::new(pb::Principal {
                r#type: pb::PrincipalType::User as i32,
                id: token.user.to_string(),
                org_id: token.org.to_string(),
                role: role_to(token.role) as i32,
                scopes: scopes.of(token.role).to_strings(),
                expires_at: Some(timestamp_to(UnixMs(token.expires_at_ms))),
                ..Default::default()
            })),
        }),
        rate_limit: d.rate_limit.map(RateLimitField::new),
    }
}
