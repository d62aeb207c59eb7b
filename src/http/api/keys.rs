//! `/v1/keys` and the key routes under a service account: KeyService over JSON.

use super::ApiState;
use super::dto::{ApiKey, Environment, Instant, KeyKind, RateLimitPolicy, ScopeName, key_of, secs_to_duration};
use super::errors::ApiError;
use super::extract::{Call, JsonBody, JsonQuery, PathId};
use super::openapi::ErrorResponses;
use crate::proto::v1 as pb;
use crate::proto::v1::key_service_server::KeyService as _;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use utoipa::{IntoParams, ToSchema};

/// A new key.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, default)]
pub struct IssueKeyBody {
    #[schema(required = true, min_length = 1)]
    pub name: String,
    pub kind: Option<KeyKind>,
    pub environment: Option<Environment>,
    #[schema(value_type = Vec<ScopeName>, max_items = 64)]
    pub scopes: Vec<String>,
    pub ip_allowlist: Vec<String>,
    pub expires_at: Option<Instant>,
    pub rate_limit: Option<RateLimitPolicy>,
    pub metadata: HashMap<String, String>,
}

/// The key and its secret, shown this once.
#[derive(Debug, Serialize, ToSchema)]
pub struct IssuedKey {
    pub key: ApiKey,
    pub secret: String,
}

/// A new pair of keys (publishable and secret).
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, default)]
pub struct IssueKeyPairBody {
    #[schema(required = true, min_length = 1)]
    pub name: String,
    pub environment: Option<Environment>,
    #[schema(value_type = Vec<ScopeName>, max_items = 64)]
    pub scopes: Vec<String>,
    #[schema(value_type = Vec<ScopeName>, max_items = 64)]
    pub publishable_scopes: Vec<String>,
    pub ip_allowlist: Vec<String>,
    pub expires_at: Option<Instant>,
    pub rate_limit: Option<RateLimitPolicy>,
    pub metadata: HashMap<String, String>,
}

/// Both keys of a pair with their secrets, shown this once.
#[derive(Debug, Serialize, ToSchema)]
pub struct IssuedKeyPair {
    pub pair_id: String,
    pub publishable_key: ApiKey,
    pub publishable_secret: String,
    pub secret_key: ApiKey,
    pub secret: String,
}

/// A page of keys.
#[derive(Debug, Serialize, ToSchema)]
pub struct KeyList {
    pub keys: Vec<ApiKey>,
    pub next_page_token: String,
}

/// One key.
#[derive(Debug, Serialize, ToSchema)]
pub struct KeyBody {
    pub key: ApiKey,
}

/// How long the old key of a rotation stays valid.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, default)]
pub struct RotateBody {
    /// 0 (the default) revokes the old key at once; at most 30 days.
    #[schema(maximum = 2_592_000)]
    pub grace_period_secs: Option<u32>,
}

/// The new key with its secret and the old key (and the pair's, for a pair).
#[derive(Debug, Serialize, ToSchema)]
pub struct Rotated {
    pub new_key: ApiKey,
    pub secret: String,
    pub old_key: ApiKey,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub paired_new_key: Option<ApiKey>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub paired_secret: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub paired_old_key: Option<ApiKey>,
}

/// An empty body: `{}` or nothing.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Empty {}

/// Filter and page of `GET /v1/keys`.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields, default)]
#[into_params(parameter_in = Query)]
pub struct KeysQuery {
    pub service_account_id: String,
    #[param(maximum = 1000)]
    pub page_size: u32,
    pub page_token: String,
}

/// Page of a service account's keys.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields, default)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    #[param(maximum = 1000)]
    pub page_size: u32,
    pub page_token: String,
}

#[utoipa::path(post, path = "/v1/service-accounts/{id}/keys", tag = "keys", request_body = IssueKeyBody,
    params(("id" = String, Path, description = "service account id")),
    responses((status = 201, body = IssuedKey), ErrorResponses), security(("bearer" = [])))]
pub async fn issue(
    State(s): State<ApiState>,
    call: Call,
    PathId(id): PathId,
    JsonBody(b): JsonBody<IssueKeyBody>,
) -> Result<(StatusCode, Json<IssuedKey>), ApiError> {
    let r = s
        .keys
        .issue_key(call.request(pb::IssueKeyRequest {
            service_account_id: id,
            name: b.name,
            kind: b.kind.map_or(0, KeyKind::to_proto),
            environment: b.environment.map_or(0, Environment::to_proto),
            scopes: b.scopes,
            ip_allowlist: b.ip_allowlist,
            expires_at: b.expires_at.map(|t| t.0),
            rate_limit: b.rate_limit.as_ref().map(RateLimitPolicy::to_proto),
            metadata: b.metadata,
        }))
        .await?
        .into_inner();
    let issued = IssuedKey {
        key: key_of(r.key),
        secret: r.secret,
    };
    Ok((StatusCode::CREATED, Json(issued)))
}

#[utoipa::path(post, path = "/v1/service-accounts/{id}/key-pairs", tag = "keys", request_body = IssueKeyPairBody,
    params(("id" = String, Path, description = "service account id")),
    responses((status = 201, body = IssuedKeyPair), ErrorResponses), security(("bearer" = [])))]
pub async fn issue_pair(
    State(s): State<ApiState>,
    call: Call,
    PathId(id): PathId,
    JsonBody(b): JsonBody<IssueKeyPairBody>,
) -> Result<(StatusCode, Json<IssuedKeyPair>), ApiError> {
    let r = s
        .keys
        .issue_key_pair(call.request(pb::IssueKeyPairRequest {
            service_account_id: id,
            name: b.name,
            environment: b.environment.map_or(0, Environment::to_proto),
            scopes: b.scopes,
            publishable_scopes: b.publishable_scopes,
            ip_allowlist: b.ip_allowlist,
            expires_at: b.expires_at.map(|t| t.0),
            rate_limit: b.rate_limit.as_ref().map(RateLimitPolicy::to_proto),
            metadata: b.metadata,
        }))
        .await?
        .into_inner();
    let pair = IssuedKeyPair {
        pair_id: r.pair_id,
        publishable_key: key_of(r.publishable_key),
        publishable_secret: r.publishable_secret,
        secret_key: key_of(r.secret_key),
        secret: r.secret,
    };
    Ok((StatusCode::CREATED, Json(pair)))
}

#[utoipa::path(get, path = "/v1/service-accounts/{id}/keys", tag = "keys", params(("id" = String, Path, format = Uuid), PageQuery),
    responses((status = 200, body = KeyList), ErrorResponses), security(("bearer" = [])))]
pub async fn list_of_account(
    State(s): State<ApiState>,
    call: Call,
    PathId(id): PathId,
    JsonQuery(q): JsonQuery<PageQuery>,
) -> Result<Json<KeyList>, ApiError> {
    list_keys(&s, &call, id, q.page_size, q.page_token).await
}

#[utoipa::path(get, path = "/v1/keys", tag = "keys", params(KeysQuery),
    responses((status = 200, body = KeyList), ErrorResponses), security(("bearer" = [])))]
pub async fn list(
    State(s): State<ApiState>,
    call: Call,
    JsonQuery(q): JsonQuery<KeysQuery>,
) -> Result<Json<KeyList>, ApiError> {
    list_keys(&s, &call, q.service_account_id, q.page_size, q.page_token).await
}

async fn list_keys(
    s: &ApiState,
    call: &Call,
    service_account_id: String,
    page_size: u32,
    page_token: String,
) -> Result<Json<KeyList>, ApiError> {
    let r = s
        .keys
        .list_keys(call.request(pb::ListKeysRequest {
            service_account_id,
            page_size,
            page_token,
        }))
        .await?
        .into_inner();
    Ok(Json(KeyList {
        keys: r.keys.into_iter().map(ApiKey::from).collect(),
        next_page_token: r.next_page_token,
    }))
}

#[utoipa::path(get, path = "/v1/keys/{id}", tag = "keys", params(("id" = String, Path, format = Uuid)),
    responses((status = 200, body = KeyBody), ErrorResponses), security(("bearer" = [])))]
pub async fn get(State(s): State<ApiState>, call: Call, PathId(key_id): PathId) -> Result<Json<KeyBody>, ApiError> {
    let r = s
        .keys
        .get_key(call.request(pb::GetKeyRequest { key_id }))
        .await?
        .into_inner();
    Ok(Json(KeyBody { key: key_of(r.key) }))
}

#[utoipa::path(delete, path = "/v1/keys/{id}", tag = "keys", params(("id" = String, Path, format = Uuid)),
    responses((status = 204, description = "deleted"), ErrorResponses), security(("bearer" = [])))]
pub async fn delete(State(s): State<ApiState>, call: Call, PathId(key_id): PathId) -> Result<StatusCode, ApiError> {
    s.keys.delete_key(call.request(pb::DeleteKeyRequest { key_id })).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(post, path = "/v1/keys/{id}/rotate", tag = "keys", params(("id" = String, Path, format = Uuid)), request_body = Option<RotateBody>,
    responses((status = 200, body = Rotated), ErrorResponses), security(("bearer" = [])))]
pub async fn rotate(
    State(s): State<ApiState>,
    call: Call,
    PathId(key_id): PathId,
    JsonBody(b): JsonBody<RotateBody>,
) -> Result<Json<Rotated>, ApiError> {
    let r = s
        .keys
        .rotate_key(call.request(pb::RotateKeyRequest {
            key_id,
            grace_period: b.grace_period_secs.map(secs_to_duration),
        }))
        .await?
        .into_inner();
    Ok(Json(Rotated {
        new_key: key_of(r.new_key),
        secret: r.secret,
        old_key: key_of(r.old_key),
        paired_new_key: r.paired_new_key.map(ApiKey::from),
        paired_secret: super::dto::text(&r.paired_secret),
        paired_old_key: r.paired_old_key.map(ApiKey::from),
    }))
}

#[utoipa::path(post, path = "/v1/keys/{id}/revoke", tag = "keys", params(("id" = String, Path, format = Uuid)), request_body = Option<Empty>,
    responses((status = 200, body = KeyBody), ErrorResponses), security(("bearer" = [])))]
pub async fn revoke(
    State(s): State<ApiState>,
    call: Call,
    PathId(key_id): PathId,
    JsonBody(Empty {}): JsonBody<Empty>,
) -> Result<Json<KeyBody>, ApiError> {
    let r = s
        .keys
        .revoke_key(call.request(pb::RevokeKeyRequest { key_id }))
        .await?
        .into_inner();
    Ok(Json(KeyBody { key: key_of(r.key) }))
}

#[utoipa::path(post, path = "/v1/keys/{id}/disable", tag = "keys", params(("id" = String, Path, format = Uuid)), request_body = Option<Empty>,
    responses((status = 200, body = KeyBody), ErrorResponses), security(("bearer" = [])))]
pub async fn disable(
    State(s): State<ApiState>,
    call: Call,
    PathId(key_id): PathId,
    JsonBody(Empty {}): JsonBody<Empty>,
) -> Result<Json<KeyBody>, ApiError> {
    let r = s
        .keys
        .disable_key(call.request(pb::DisableKeyRequest { key_id }))
        .await?
        .into_inner();
    Ok(Json(KeyBody { key: key_of(r.key) }))
}

#[utoipa::path(post, path = "/v1/keys/{id}/enable", tag = "keys", params(("id" = String, Path, format = Uuid)), request_body = Option<Empty>,
    responses((status = 200, body = KeyBody), ErrorResponses), security(("bearer" = [])))]
pub async fn enable(
    State(s): State<ApiState>,
    call: Call,
    PathId(key_id): PathId,
    JsonBody(Empty {}): JsonBody<Empty>,
) -> Result<Json<KeyBody>, ApiError> {
    let r = s
        .keys
        .enable_key(call.request(pb::EnableKeyRequest { key_id }))
        .await?
        .into_inner();
    Ok(Json(KeyBody { key: key_of(r.key) }))
}
