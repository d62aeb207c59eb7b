//! The admin API over HTTP/JSON under `/v1` (contract: README "JSON API"), and the web
//! console's cookie session under `/console/session`. Each handler converts JSON to the
//! gatekey.v1 request, calls the very service impl the gRPC server runs, and converts back:
//! validation, permissions and errors are the gRPC ones.

pub mod admin;
pub mod auth;
pub mod dto;
pub mod errors;
pub mod extract;
pub mod keys;
pub mod limits;
pub mod openapi;
pub mod refusals;
pub mod session;

use crate::grpc::admin::AdminApi;
use crate::grpc::auth::AuthApi;
use crate::grpc::keys::KeyApi;
use crate::service::Core;
use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get, post, put};
use errors::ApiError;
use std::sync::Arc;
use utoipa::OpenApi as _;

/// What the API handlers share: the service impls, built once.
#[derive(Clone)]
pub struct ApiState {
    pub core: Arc<Core>,
    pub admin: Arc<AdminApi>,
    pub keys: Arc<KeyApi>,
    pub auth: Arc<AuthApi>,
    pub csrf: Arc<session::Csrf>,
    /// Cookies get `Secure` when the listener serves TLS.
    pub secure_cookies: bool,
}

impl ApiState {
    pub fn new(core: Arc<Core>, secure_cookies: bool) -> Self {
        Self {
            admin: Arc::new(AdminApi::new(core.clone())),
            keys: Arc::new(KeyApi::new(core.clone())),
            auth: Arc::new(AuthApi::new(core.clone())),
            csrf: Arc::new(session::Csrf::derived_from(&core.key_pepper)),
            secure_cookies,
            core,
        }
    }
}

/// `/v1/...` and `/console/session...`, every answer JSON and `Cache-Control: no-store`.
pub fn router(state: ApiState) -> Router {
    // The routes a caller may use without a credential: they take one in the body (login,
    // refresh, logout, Verify) or describe the API.
    let open = Router::new()
        .route("/v1/openapi.json", get(openapi_json))
        .route("/v1/auth/login", post(auth::login))
        .route("/v1/auth/refresh", post(auth::refresh))
        .route("/v1/auth/logout", post(auth::logout))
        .route("/v1/verify", post(auth::verify))
        .route(
            "/console/session",
            post(session::login).get(session::current).delete(session::logout),
        )
        .route("/console/session/refresh", post(session::refresh));
    let admin = Router::new()
        .route("/v1/auth/password", post(auth::change_password))
        .route(
            "/v1/service-accounts",
            get(admin::list_service_accounts).post(admin::create_service_account),
        )
        .route(
            "/v1/service-accounts/{id}",
            axum::routing::delete(admin::delete_service_account),
        )
        .route(
            "/v1/service-accounts/{id}/keys",
            get(keys::list_of_account).post(keys::issue),
        )
        .route("/v1/service-accounts/{id}/key-pairs", post(keys::issue_pair))
        .route("/v1/keys", get(keys::list))
        .route("/v1/keys/{id}", get(keys::get).delete(keys::delete))
        .route("/v1/keys/{id}/rotate", post(keys::rotate))
        .route("/v1/keys/{id}/revoke", post(keys::revoke))
        .route("/v1/keys/{id}/disable", post(keys::disable))
        .route("/v1/keys/{id}/enable", post(keys::enable))
        .route("/v1/rate-limits/org", get(limits::get_org).put(limits::set_org))
        .route(
            "/v1/rate-limits/keys/{id}",
            get(limits::get_key).put(limits::set_key).delete(limits::clear_key),
        )
        .route("/v1/roles", get(limits::list_roles))
        .route("/v1/roles/{role}/scopes", put(limits::set_role_scopes))
        .route("/v1/users", get(admin::list_users).post(admin::create_user))
        .route("/v1/users/{id}/role", put(admin::set_user_role))
        .route("/v1/users/{id}", axum::routing::delete(admin::remove_user))
        .route("/v1/audit-events", get(admin::audit_events))
        .route_layer(axum::middleware::from_fn(refusals::admin_call));
    open.merge(admin)
        .method_not_allowed_fallback(method_not_allowed)
        // Any other path under /v1 (forward-auth's own routes are more specific and win).
        .route("/v1", any(not_found))
        .route("/v1/", any(not_found))
        .route("/v1/{*rest}", any(not_found))
        .layer(DefaultBodyLimit::max(extract::MAX_BODY_BYTES))
        .layer(axum::middleware::map_response(no_store))
        .with_state(state)
}

async fn openapi_json() -> Response {
    match openapi::ApiDoc::openapi().to_json() {
        Ok(doc) => ([(header::CONTENT_TYPE, "application/json")], doc).into_response(),
        Err(_) => ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "INTERNAL", "internal error").into_response(),
    }
}

async fn not_found() -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "NOT_FOUND", "no such route")
}

async fn method_not_allowed() -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "METHOD_NOT_ALLOWED",
        "this route does not answer that method",
    )
}

/// Answers carry tokens, secrets and personal data: no cache may keep them.
async fn no_store(mut response: Response) -> Response {
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}
