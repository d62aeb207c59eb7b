//! `envoy.service.ratelimit.v3.RateLimitService/ShouldRateLimit`: Envoy's global rate-limit
//! protocol on gatekey's GCRA limiter (in process or Redis), so no separate service is needed.

use crate::domain::FieldViolation;
use crate::domain::verify::VerifyReason;
use crate::gateway::config::MAX_COST;
use crate::gateway::descriptors::{MAX_DESCRIPTORS, MAX_ENTRIES};
use crate::gateway::{DescriptorRequest, Gateway};
use crate::ratelimit;
use crate::service::ServiceError;
use crate::telemetry::latency::{self, Outcome, Transport};
use crate::verify::RateLimitOutcome;
use envoy_types::pb::envoy::config::core::v3::HeaderValue;
use envoy_types::pb::envoy::service::ratelimit::v3::rate_limit_response::{
    Code, DescriptorStatus, RateLimit, rate_limit::Unit,
};
use envoy_types::pb::envoy::service::ratelimit::v3::rate_limit_service_server::RateLimitService;
use envoy_types::pb::envoy::service::ratelimit::v3::{RateLimitRequest, RateLimitResponse};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tonic::{Request, Response, Status};

/// The rate-limit service.
pub struct RateLimitApi {
    gateway: Arc<Gateway>,
}

impl RateLimitApi {
    pub fn new(gateway: Arc<Gateway>) -> Self {
        Self { gateway }
    }
}

#[tonic::async_trait]
impl RateLimitService for RateLimitApi {
    async fn should_rate_limit(
        &self,
        request: Request<RateLimitRequest>,
    ) -> Result<Response<RateLimitResponse>, Status> {
        let started = Instant::now();
        let r = request.into_inner();
        if r.descriptors.len() > MAX_DESCRIPTORS || r.descriptors.iter().any(|d| d.entries.len() > MAX_ENTRIES) {
            latency::observe(Transport::RateLimit, Outcome::InvalidArgument, started.elapsed());
            return Err(Status::from(ServiceError::from(FieldViolation::new(
                "descriptors",
                format!("at most {MAX_DESCRIPTORS} descriptors of at most {MAX_ENTRIES} entries"),
            ))));
        }
        // `hits_addend` 0 means 1; a descriptor's own addend beats the request's.
        let default_cost = r.hits_addend.max(1);
        let descriptors: Vec<DescriptorRequest<'_>> = r
            .descriptors
            .iter()
            .map(|d| DescriptorRequest {
                entries: d.entries.iter().map(|e| (e.key.as_str(), e.value.as_str())).collect(),
                cost: d
                    .hits_addend
                    .map_or(default_cost, |n| u32::try_from(n.value).unwrap_or(u32::MAX))
                    .clamp(1, MAX_COST),
            })
            .collect();
        let outcomes = match self.gateway.rate_limit(&r.domain, &descriptors).await {
            Ok(outcomes) => outcomes,
            Err(e) => {
                latency::observe(Transport::RateLimit, Outcome::Unavailable, started.elapsed());
                return Err(Status::from(ServiceError::from(e)));
            }
        };
        let response = response(&outcomes);
        let outcome = if response.overall_code == Code::OverLimit as i32 {
            VerifyReason::RateLimited
        } else {
            VerifyReason::Ok
        };
        latency::observe(Transport::RateLimit, Outcome::Reason(outcome), started.elapsed());
        Ok(Response::new(response))
    }
}

fn response(outcomes: &[Option<RateLimitOutcome>]) -> RateLimitResponse {
    let statuses: Vec<DescriptorStatus> = outcomes.iter().map(status).collect();
    let over = statuses.iter().any(|s| s.code == Code::OverLimit as i32);
    // The RateLimit fields describe the tightest limited descriptor: the one with the fewest
    // units left (an over-limit one, if any).
    let tightest = outcomes
        .iter()
        .flatten()
        .min_by_key(|o| (o.verdict.allowed, o.verdict.remaining));
    let mut headers = Vec::new();
    if let Some(o) = tightest {
        headers.push(header(
            "RateLimit-Policy",
            ratelimit::policy_header(o.bucket, &o.policy),
        ));
        headers.push(header("RateLimit", ratelimit::header(o.bucket, &o.verdict)));
        if !o.verdict.allowed {
            headers.push(header(
                "Retry-After",
                ratelimit::ceil_secs(o.verdict.retry_after).max(1).to_string(),
            ));
        }
    }
    RateLimitResponse {
        overall_code: if over { Code::OverLimit } else { Code::Ok } as i32,
        statuses,
        response_headers_to_add: headers,
        ..Default::default()
    }
}

fn status(outcome: &Option<RateLimitOutcome>) -> DescriptorStatus {
    let Some(o) = outcome else {
        return DescriptorStatus {
            code: Code::Ok as i32,
            ..Default::default()
        };
    };
    let (requests_per_unit, unit) = per_unit(o.policy.limit, o.policy.window);
    DescriptorStatus {
        code: if o.verdict.allowed { Code::Ok } else { Code::OverLimit } as i32,
        current_limit: Some(RateLimit {
            name: o.bucket.policy_name().to_owned(),
            requests_per_unit,
            unit: unit as i32,
        }),
        limit_remaining: o.verdict.remaining,
        duration_until_reset: Some(envoy_types::pb::google::protobuf::Duration {
            seconds: i64::try_from(o.verdict.reset_after.as_secs()).unwrap_or(i64::MAX),
            nanos: i32::try_from(o.verdict.reset_after.subsec_nanos()).unwrap_or(0),
        }),
        ..Default::default()
    }
}

/// The protocol states a limit per whole unit; a window that is not one unit is stated per
/// the largest unit it divides, rounded down (the limiter itself is exact).
fn per_unit(limit: u32, window: Duration) -> (u32, Unit) {
    let secs = window.as_secs().max(1);
    // At least 1: a limit is never stated as zero requests.
    let scaled = |unit_secs: u64| u32::try_from(u64::from(limit) * unit_secs / secs).map_or(u32::MAX, |n| n.max(1));
    match secs {
        1 => (limit, Unit::Second),
        60 => (limit, Unit::Minute),
        3600 => (limit, Unit::Hour),
        86_400 => (limit, Unit::Day),
        s if s < 60 => (scaled(1), Unit::Second),
        s if s < 3600 => (scaled(60), Unit::Minute),
        _ => (scaled(3600), Unit::Hour),
    }
}

fn header(key: &str, value: String) -> HeaderValue {
    HeaderValue {
        key: key.to_owned(),
        value,
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_are_stated_per_unit() {
        assert_eq!(per_unit(10, Duration::from_secs(60)), (10, Unit::Minute));
        assert_eq!(per_unit(10, Duration::from_secs(1)), (10, Unit::Second));
        assert_eq!(per_unit(100, Duration::from_secs(10)), (10, Unit::Second));
        assert_eq!(per_unit(30, Duration::from_secs(120)), (15, Unit::Minute));
    }
}
