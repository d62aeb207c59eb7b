//! Rate limits and role scopes: the AdminService calls that shape what keys may do.

use super::ApiState;
use super::admin::{PolicyBody, PolicyInForce, RateLimitBody, RoleScopes, RoleScopesList, ScopesBody};
use super::dto::{RateLimitPolicy, RateLimitSource, Role};
use super::errors::ApiError;
use super::extract::{Call, JsonBody, PathId};
use super::openapi::ErrorResponses;
use crate::proto::v1 as pb;
use crate::proto::v1::admin_service_server::AdminService as _;
use axum::Json;
use axum::extract::State;

async fn get_limit(s: &ApiState, call: &Call, key_id: String) -> Result<Json<RateLimitBody>, ApiError> {
    let r = s
        .admin
        .get_rate_limit(call.request(pb::GetRateLimitRequest { key_id }))
        .await?
        .into_inner();
    Ok(Json(RateLimitBody {
        policy: r.policy.as_ref().map(RateLimitPolicy::from_proto),
        source: RateLimitSource::from_proto(r.source),
    }))
}

async fn set_limit(
    s: &ApiState,
    call: &Call,
    key_id: String,
    policy: Option<RateLimitPolicy>,
) -> Result<Json<PolicyInForce>, ApiError> {
    let r = s
        .admin
        .set_rate_limit(call.request(pb::SetRateLimitRequest {
            key_id,
            policy: policy.as_ref().map(RateLimitPolicy::to_proto),
        }))
        .await?
        .into_inner();
    Ok(Json(PolicyInForce {
        policy: r.policy.as_ref().map(RateLimitPolicy::from_proto),
    }))
}

#[utoipa::path(get, path = "/v1/rate-limits/org", tag = "rate limits",
    responses((status = 200, body = RateLimitBody), ErrorResponses), security(("bearer" = [])))]
pub async fn get_org(State(s): State<ApiState>, call: Call) -> Result<Json<RateLimitBody>, ApiError> {
    get_limit(&s, &call, String::new()).await
}

#[utoipa::path(put, path = "/v1/rate-limits/org", tag = "rate limits", request_body = Option<PolicyBody>,
    responses((status = 200, body = PolicyInForce), ErrorResponses), security(("bearer" = [])))]
pub async fn set_org(
    State(s): State<ApiState>,
    call: Call,
    JsonBody(b): JsonBody<PolicyBody>,
) -> Result<Json<PolicyInForce>, ApiError> {
    set_limit(&s, &call, String::new(), b.policy).await
}

#[utoipa::path(get, path = "/v1/rate-limits/keys/{id}", tag = "rate limits", params(("id" = String, Path, format = Uuid)),
    responses((status = 200, body = RateLimitBody), ErrorResponses), security(("bearer" = [])))]
pub async fn get_key(
    State(s): State<ApiState>,
    call: Call,
    PathId(id): PathId,
) -> Result<Json<RateLimitBody>, ApiError> {
    get_limit(&s, &call, id).await
}

#[utoipa::path(put, path = "/v1/rate-limits/keys/{id}", tag = "rate limits", params(("id" = String, Path, format = Uuid)),
    request_body = Option<PolicyBody>, responses((status = 200, body = PolicyInForce), ErrorResponses), security(("bearer" = [])))]
pub async fn set_key(
    State(s): State<ApiState>,
    call: Call,
    PathId(id): PathId,
    JsonBody(b): JsonBody<PolicyBody>,
) -> Result<Json<PolicyInForce>, ApiError> {
    set_limit(&s, &call, id, b.policy).await
}

#[utoipa::path(delete, path = "/v1/rate-limits/keys/{id}", tag = "rate limits", params(("id" = String, Path, format = Uuid)),
    responses((status = 200, body = PolicyInForce), ErrorResponses), security(("bearer" = [])))]
pub async fn clear_key(
    State(s): State<ApiState>,
    call: Call,
    PathId(id): PathId,
) -> Result<Json<PolicyInForce>, ApiError> {
    set_limit(&s, &call, id, None).await
}

#[utoipa::path(get, path = "/v1/roles", tag = "roles",
    responses((status = 200, body = RoleScopesList), ErrorResponses), security(("bearer" = [])))]
pub async fn list_roles(State(s): State<ApiState>, call: Call) -> Result<Json<RoleScopesList>, ApiError> {
    let r = s
        .admin
        .list_role_scopes(call.request(pb::ListRoleScopesRequest {}))
        .await?
        .into_inner();
    Ok(Json(RoleScopesList {
        roles: r
            .roles
            .into_iter()
            .map(|r| RoleScopes {
                role: Role::from_proto(r.role),
                scopes: r.scopes,
            })
            .collect(),
    }))
}

#[utoipa::path(put, path = "/v1/roles/{role}/scopes", tag = "roles", params(("role" = Role, Path)), request_body = Option<ScopesBody>,
    responses((status = 200, body = RoleScopes), ErrorResponses), security(("bearer" = [])))]
pub async fn set_role_scopes(
    State(s): State<ApiState>,
    call: Call,
    PathId(role): PathId,
    JsonBody(b): JsonBody<ScopesBody>,
) -> Result<Json<RoleScopes>, ApiError> {
    let role = serde_json::from_value::<Role>(serde_json::Value::String(role))
        .map_err(|_| ApiError::invalid_field("role", "must be one of member, operator, admin, owner"))?;
    let r = s
        .admin
        .set_role_scopes(call.request(pb::SetRoleScopesRequest {
            role: role.to_proto(),
            scopes: b.scopes,
        }))
        .await?
        .into_inner();
    Ok(Json(RoleScopes {
        role: Role::from_proto(r.role),
        scopes: r.scopes,
    }))
}
