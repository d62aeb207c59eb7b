//! Login, refresh, logout, password change and Verify: AuthService over JSON.

use super::ApiState;
use super::dto::{Environment, PrincipalType, RequiredScopeName, Role, VerifyReason, text, time_to};
use super::errors::ApiError;
use super::extract::{Call, JsonBody, PublicCall};
use super::openapi::ErrorResponses;
use crate::proto::reply::auth_service_server::AuthService as _;
use crate::proto::v1 as pb;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use prost::Message as _;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use utoipa::ToSchema;

/// Email and password.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, default)]
pub struct LoginBody {
    #[schema(required = true, format = Email)]
    pub email: String,
    #[schema(required = true)]
    pub password: String,
    pub remember_me: bool,
}

/// An access token and the refresh token that renews it.
#[derive(Debug, Serialize, ToSchema)]
pub struct Tokens {
    pub access_token: String,
    pub refresh_token: String,
    #[schema(format = DateTime)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub access_token_expires_at: Option<String>,
    #[schema(format = DateTime)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh_token_expires_at: Option<String>,
    pub token_type: String,
}

impl From<pb::TokenResponse> for Tokens {
    fn from(t: pb::TokenResponse) -> Self {
        Self {
            access_token_expires_at: time_to(t.access_token_expires_at.as_ref()),
            refresh_token_expires_at: time_to(t.refresh_token_expires_at.as_ref()),
            access_token: t.access_token,
            refresh_token: t.refresh_token,
            token_type: t.token_type,
        }
    }
}

/// A refresh token to rotate or revoke.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, default)]
pub struct RefreshBody {
    #[schema(required = true, min_length = 1)]
    pub refresh_token: String,
}

/// The caller's current and new password.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, default)]
pub struct PasswordBody {
    #[schema(required = true)]
    pub current_password: String,
    /// At least 8 characters, at most 1024 bytes.
    #[schema(required = true, min_length = 8, max_length = 1024)]
    pub new_password: String,
}

/// How many other sessions the change ended.
#[derive(Debug, Serialize, ToSchema)]
pub struct PasswordChanged {
    pub ended_sessions: u32,
}

/// A credential to check.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, default)]
pub struct VerifyBody {
    pub credential: String,
    #[schema(value_type = Vec<RequiredScopeName>, max_items = 32)]
    pub required_scopes: Vec<String>,
    pub client_ip: String,
    #[schema(maximum = 1_000_000)]
    pub cost: u32,
}

/// The decision (a deny is a 200 with `allowed: false`).
#[derive(Debug, Serialize, ToSchema)]
pub struct VerifyDecision {
    pub allowed: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<VerifyReason>,
    pub http_status: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub principal: Option<VerifiedPrincipal>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rate_limit: Option<RateLimitVerdict>,
}

/// Who an allowed credential speaks for.
#[derive(Debug, Serialize, ToSchema)]
pub struct VerifiedPrincipal {
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    pub kind: Option<PrincipalType>,
    pub id: String,
    pub org_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub role: Option<Role>,
    pub scopes: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_prefix: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_start: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub environment: Option<Environment>,
    #[schema(format = DateTime)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<String>,
    pub metadata: HashMap<String, String>,
}

/// The rate limiter's verdict, with the IETF `RateLimit-Policy` / `RateLimit` header values.
#[derive(Debug, Serialize, ToSchema)]
pub struct RateLimitVerdict {
    pub limited: bool,
    pub policy: String,
    pub limit: u32,
    pub window_secs: u64,
    pub remaining: u32,
    pub reset_after_secs: u64,
    pub retry_after_secs: u64,
    pub policy_header: String,
    pub header: String,
}

/// Whole seconds, rounded up so a client that waits them is never early.
fn secs_up(d: Option<&prost_types::Duration>) -> u64 {
    d.map_or(0, |d| u64::try_from(d.seconds).unwrap_or(0) + u64::from(d.nanos > 0))
}

impl From<pb::VerifyResponse> for VerifyDecision {
    fn from(r: pb::VerifyResponse) -> Self {
        Self {
            allowed: r.allowed,
            reason: VerifyReason::from_proto(r.reason),
            http_status: r.http_status,
            principal: r.principal.map(|p| VerifiedPrincipal {
                kind: PrincipalType::from_proto(p.r#type),
                role: Role::from_proto(p.role),
                key_id: text(&p.key_id),
                key_prefix: text(&p.key_prefix),
                key_start: text(&p.key_start),
                environment: Environment::from_proto(p.environment),
                expires_at: time_to(p.expires_at.as_ref()),
                id: p.id,
                org_id: p.org_id,
                scopes: p.scopes,
                metadata: p.metadata,
            }),
            rate_limit: r.rate_limit.map(|v| RateLimitVerdict {
                window_secs: secs_up(v.window.as_ref()),
                reset_after_secs: secs_up(v.reset_after.as_ref()),
                retry_after_secs: secs_up(v.retry_after.as_ref()),
                limited: v.limited,
                policy: v.policy,
                limit: v.limit,
                remaining: v.remaining,
                policy_header: v.policy_header,
                header: v.header,
            }),
        }
    }
}

#[utoipa::path(post, path = "/v1/auth/login", tag = "auth", request_body = LoginBody,
    responses((status = 200, body = Tokens), ErrorResponses))]
pub async fn login(
    State(s): State<ApiState>,
    PublicCall(call): PublicCall,
    JsonBody(b): JsonBody<LoginBody>,
) -> Result<Json<Tokens>, ApiError> {
    let r = s
        .auth
        .login(call.request(pb::LoginRequest {
            email: b.email,
            password: b.password,
            remember_me: b.remember_me,
            user_agent: String::new(),
        }))
        .await?
        .into_inner();
    Ok(Json(Tokens::from(r)))
}

#[utoipa::path(post, path = "/v1/auth/refresh", tag = "auth", request_body = RefreshBody,
    responses((status = 200, body = Tokens), ErrorResponses))]
pub async fn refresh(
    State(s): State<ApiState>,
    PublicCall(call): PublicCall,
    JsonBody(b): JsonBody<RefreshBody>,
) -> Result<Json<Tokens>, ApiError> {
    let r = s
        .auth
        .refresh(call.request(pb::RefreshRequest {
            refresh_token: b.refresh_token,
            user_agent: String::new(),
        }))
        .await?
        .into_inner();
    Ok(Json(Tokens::from(r)))
}

#[utoipa::path(post, path = "/v1/auth/logout", tag = "auth", request_body = RefreshBody,
    responses((status = 204, description = "logged out"), ErrorResponses))]
pub async fn logout(
    State(s): State<ApiState>,
    PublicCall(call): PublicCall,
    JsonBody(b): JsonBody<RefreshBody>,
) -> Result<StatusCode, ApiError> {
    s.auth
        .logout(call.request(pb::LogoutRequest {
            refresh_token: b.refresh_token,
        }))
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(post, path = "/v1/auth/password", tag = "auth", request_body = PasswordBody,
    responses((status = 200, body = PasswordChanged), ErrorResponses), security(("bearer" = [])))]
pub async fn change_password(
    State(s): State<ApiState>,
    call: Call,
    JsonBody(b): JsonBody<PasswordBody>,
) -> Result<Json<PasswordChanged>, ApiError> {
    let r = s
        .auth
        .change_password(call.request(pb::ChangePasswordRequest {
            current_password: b.current_password,
            new_password: b.new_password,
        }))
        .await?
        .into_inner();
    Ok(Json(PasswordChanged {
        ended_sessions: r.ended_sessions,
    }))
}

/// The server writes Verify's answer as bytes (`grpc::reply`); decoding them gives exactly
/// what a gRPC client reads.
#[utoipa::path(post, path = "/v1/verify", tag = "verify", request_body = Option<VerifyBody>,
    responses((status = 200, body = VerifyDecision), ErrorResponses))]
pub async fn verify(
    State(s): State<ApiState>,
    PublicCall(call): PublicCall,
    JsonBody(b): JsonBody<VerifyBody>,
) -> Result<Json<VerifyDecision>, ApiError> {
    let reply = s
        .auth
        .verify(call.request(pb::VerifyRequest {
            credential: b.credential,
            required_scopes: b.required_scopes,
            client_ip: b.client_ip,
            cost: b.cost,
        }))
        .await?
        .into_inner();
    let decoded = pb::VerifyResponse::decode(reply.encode_to_vec().as_slice())
        .map_err(|_| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "INTERNAL", "internal error"))?;
    Ok(Json(VerifyDecision::from(decoded)))
}
