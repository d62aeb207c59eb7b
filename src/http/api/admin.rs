//! Service accounts, users, rate limits, role scopes and the audit log: AdminService over JSON.

use super::ApiState;
use super::dto::{AuditEvent, RateLimitPolicy, RateLimitSource, Role, ScopeName, ServiceAccount, User};
use super::errors::ApiError;
use super::extract::{Call, JsonBody, JsonQuery, PathId};
use super::keys::PageQuery;
use super::openapi::ErrorResponses;
use crate::proto::v1 as pb;
use crate::proto::v1::admin_service_server::AdminService as _;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

/// A new service account.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, default)]
pub struct CreateServiceAccountBody {
    #[schema(required = true, min_length = 1)]
    pub name: String,
    #[schema(required = true, value_type = Role)]
    pub role: Option<Role>,
}

/// One service account.
#[derive(Debug, Serialize, ToSchema)]
pub struct ServiceAccountBody {
    pub service_account: ServiceAccount,
}

/// A page of service accounts.
#[derive(Debug, Serialize, ToSchema)]
pub struct ServiceAccountList {
    pub service_accounts: Vec<ServiceAccount>,
    pub next_page_token: String,
}

/// What deleting a service account revoked.
#[derive(Debug, Serialize, ToSchema)]
pub struct DeletedServiceAccount {
    pub revoked_keys: u32,
}

/// A new member.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, default)]
pub struct CreateUserBody {
    /// An address like name@example.com (checked loosely: one `@`, text on both sides).
    #[schema(required = true)]
    pub email: String,
    /// At least 8 characters, at most 1024 bytes.
    #[schema(required = true, min_length = 8, max_length = 1024)]
    pub password: String,
    #[schema(required = true, value_type = Role)]
    pub role: Option<Role>,
}

/// A member's new role.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, default)]
pub struct RoleBody {
    #[schema(required = true, value_type = Role)]
    pub role: Option<Role>,
}

/// One member.
#[derive(Debug, Serialize, ToSchema)]
pub struct UserBody {
    pub user: User,
}

/// A page of members.
#[derive(Debug, Serialize, ToSchema)]
pub struct UserList {
    pub users: Vec<User>,
    pub next_page_token: String,
}

/// Filter and page of the audit log.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields, default)]
#[into_params(parameter_in = Query)]
pub struct AuditQuery {
    /// Only events of this action (`service_account.key_issued`).
    #[param(pattern = r"^[a-z._]{0,64}$")]
    pub action: String,
    /// Only events by this actor: a user id or a key id.
    pub actor: String,
    /// Only events on this target id.
    pub target: String,
    #[param(maximum = 1000)]
    pub page_size: u32,
    pub page_token: String,
}

/// A page of audit events, newest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct AuditEventList {
    pub events: Vec<AuditEvent>,
    pub next_page_token: String,
}

/// A rate limit to set; none clears it.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, default)]
pub struct PolicyBody {
    pub policy: Option<RateLimitPolicy>,
}

/// The rate limit in force after a change.
#[derive(Debug, Serialize, ToSchema)]
pub struct PolicyInForce {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub policy: Option<RateLimitPolicy>,
}

/// The rate limit in force and where it comes from.
#[derive(Debug, Serialize, ToSchema)]
pub struct RateLimitBody {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub policy: Option<RateLimitPolicy>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source: Option<RateLimitSource>,
}

/// The scopes a role's users hold.
#[derive(Debug, Serialize, ToSchema)]
pub struct RoleScopes {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub role: Option<Role>,
    pub scopes: Vec<String>,
}

/// Every role's scopes.
#[derive(Debug, Serialize, ToSchema)]
pub struct RoleScopesList {
    pub roles: Vec<RoleScopes>,
}

/// A role's new scopes.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, default)]
pub struct ScopesBody {
    #[schema(value_type = Vec<ScopeName>, max_items = 64)]
    pub scopes: Vec<String>,
}

#[utoipa::path(get, path = "/v1/service-accounts", tag = "service accounts", params(PageQuery),
    responses((status = 200, body = ServiceAccountList), ErrorResponses), security(("bearer" = [])))]
pub async fn list_service_accounts(
    State(s): State<ApiState>,
    call: Call,
    JsonQuery(q): JsonQuery<PageQuery>,
) -> Result<Json<ServiceAccountList>, ApiError> {
    let r = s
        .admin
        .list_service_accounts(call.request(pb::ListServiceAccountsRequest {
            page_size: q.page_size,
            page_token: q.page_token,
        }))
        .await?
        .into_inner();
    Ok(Json(ServiceAccountList {
        service_accounts: r.service_accounts.into_iter().map(ServiceAccount::from).collect(),
        next_page_token: r.next_page_token,
    }))
}

#[utoipa::path(post, path = "/v1/service-accounts", tag = "service accounts", request_body = CreateServiceAccountBody,
    responses((status = 201, body = ServiceAccountBody), ErrorResponses), security(("bearer" = [])))]
pub async fn create_service_account(
    State(s): State<ApiState>,
    call: Call,
    JsonBody(b): JsonBody<CreateServiceAccountBody>,
) -> Result<(StatusCode, Json<ServiceAccountBody>), ApiError> {
    let r = s
        .admin
        .create_service_account(call.request(pb::CreateServiceAccountRequest {
            name: b.name,
            role: b.role.map_or(0, Role::to_proto),
        }))
        .await?
        .into_inner();
    let body = ServiceAccountBody {
        service_account: ServiceAccount::from(r.service_account.unwrap_or_default()),
    };
    Ok((StatusCode::CREATED, Json(body)))
}

#[utoipa::path(delete, path = "/v1/service-accounts/{id}", tag = "service accounts", params(("id" = String, Path, format = Uuid)),
    responses((status = 200, body = DeletedServiceAccount), ErrorResponses), security(("bearer" = [])))]
pub async fn delete_service_account(
    State(s): State<ApiState>,
    call: Call,
    PathId(service_account_id): PathId,
) -> Result<Json<DeletedServiceAccount>, ApiError> {
    let r = s
        .admin
        .delete_service_account(call.request(pb::DeleteServiceAccountRequest { service_account_id }))
        .await?
        .into_inner();
    Ok(Json(DeletedServiceAccount {
        revoked_keys: r.revoked_keys,
    }))
}

#[utoipa::path(get, path = "/v1/users", tag = "users", params(PageQuery),
    responses((status = 200, body = UserList), ErrorResponses), security(("bearer" = [])))]
pub async fn list_users(
    State(s): State<ApiState>,
    call: Call,
    JsonQuery(q): JsonQuery<PageQuery>,
) -> Result<Json<UserList>, ApiError> {
    let r = s
        .admin
        .list_users(call.request(pb::ListUsersRequest {
            page_size: q.page_size,
            page_token: q.page_token,
        }))
        .await?
        .into_inner();
    Ok(Json(UserList {
        users: r.users.into_iter().map(User::from).collect(),
        next_page_token: r.next_page_token,
    }))
}

#[utoipa::path(post, path = "/v1/users", tag = "users", request_body = CreateUserBody,
    responses((status = 201, body = UserBody), ErrorResponses), security(("bearer" = [])))]
pub async fn create_user(
    State(s): State<ApiState>,
    call: Call,
    JsonBody(b): JsonBody<CreateUserBody>,
) -> Result<(StatusCode, Json<UserBody>), ApiError> {
    let r = s
        .admin
        .create_user(call.request(pb::CreateUserRequest {
            email: b.email,
            password: b.password,
            role: b.role.map_or(0, Role::to_proto),
        }))
        .await?
        .into_inner();
    let user = User::from(r.user.unwrap_or_default());
    Ok((StatusCode::CREATED, Json(UserBody { user })))
}

#[utoipa::path(put, path = "/v1/users/{id}/role", tag = "users", params(("id" = String, Path, format = Uuid)), request_body = RoleBody,
    responses((status = 200, body = UserBody), ErrorResponses), security(("bearer" = [])))]
pub async fn set_user_role(
    State(s): State<ApiState>,
    call: Call,
    PathId(user_id): PathId,
    JsonBody(b): JsonBody<RoleBody>,
) -> Result<Json<UserBody>, ApiError> {
    let r = s
        .admin
        .set_user_role(call.request(pb::SetUserRoleRequest {
            user_id,
            role: b.role.map_or(0, Role::to_proto),
        }))
        .await?
        .into_inner();
    Ok(Json(UserBody {
        user: User::from(r.user.unwrap_or_default()),
    }))
}

#[utoipa::path(delete, path = "/v1/users/{id}", tag = "users", params(("id" = String, Path, format = Uuid)),
    responses((status = 204, description = "removed"), ErrorResponses), security(("bearer" = [])))]
pub async fn remove_user(
    State(s): State<ApiState>,
    call: Call,
    PathId(user_id): PathId,
) -> Result<StatusCode, ApiError> {
    s.admin
        .remove_user(call.request(pb::RemoveUserRequest { user_id }))
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(get, path = "/v1/audit-events", tag = "audit", params(AuditQuery),
    responses((status = 200, body = AuditEventList), ErrorResponses), security(("bearer" = [])))]
pub async fn audit_events(
    State(s): State<ApiState>,
    call: Call,
    JsonQuery(q): JsonQuery<AuditQuery>,
) -> Result<Json<AuditEventList>, ApiError> {
    let r = s
        .admin
        .list_audit_events(call.request(pb::ListAuditEventsRequest {
            page_size: q.page_size,
            page_token: q.page_token,
            action: q.action,
            actor: q.actor,
            target: q.target,
        }))
        .await?
        .into_inner();
    Ok(Json(AuditEventList {
        events: r.events.into_iter().map(AuditEvent::from).collect(),
        next_page_token: r.next_page_token,
    }))
}
