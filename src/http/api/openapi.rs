//! The OpenAPI 3.1 document, generated from the handlers' annotations and the DTOs' types,
//! so it cannot drift from what is served.

use super::errors::ErrorBody;
use super::{admin, auth, keys, limits, session};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{IntoResponses, Modify, OpenApi};

/// Every error status a `/v1` route can answer, each with the JSON error body.
#[derive(IntoResponses)]
#[allow(dead_code, reason = "only its OpenAPI description is used")]
pub enum ErrorResponses {
    #[response(status = 400, description = "invalid argument or failed precondition")]
    BadRequest(ErrorBody),
    #[response(status = 401, description = "missing, invalid or expired credential")]
    Unauthorized(ErrorBody),
    #[response(status = 403, description = "permission denied or CSRF token invalid")]
    Forbidden(ErrorBody),
    #[response(status = 404, description = "not found (a foreign org's resource too)")]
    NotFound(ErrorBody),
    #[response(status = 405, description = "method not allowed")]
    MethodNotAllowed(ErrorBody),
    #[response(status = 409, description = "already exists")]
    Conflict(ErrorBody),
    #[response(status = 413, description = "request body over 64 KiB")]
    PayloadTooLarge(ErrorBody),
    #[response(status = 429, description = "throttled; see Retry-After")]
    TooManyRequests(ErrorBody),
    #[response(status = 500, description = "internal error")]
    Internal(ErrorBody),
    #[response(status = 501, description = "not implemented by this server")]
    NotImplemented(ErrorBody),
    #[response(status = 503, description = "store unavailable; retry")]
    Unavailable(ErrorBody),
    #[response(status = 504, description = "deadline exceeded")]
    Timeout(ErrorBody),
}

struct BearerScheme;

impl Modify for BearerScheme {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        let components = doc.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some("an access token (JWT) or an API key"))
                    .build(),
            ),
        );
    }
}

/// The document served at `/v1/openapi.json`.
#[derive(OpenApi)]
#[openapi(
    info(title = "gatekey admin API", description = "The gatekey.v1 gRPC services over HTTP/JSON."),
    modifiers(&BearerScheme),
    paths(
        auth::login, auth::refresh, auth::logout, auth::change_password, auth::verify,
        admin::list_service_accounts, admin::create_service_account, admin::delete_service_account,
        keys::list_of_account, keys::issue, keys::issue_pair, keys::list, keys::get, keys::delete,
        keys::rotate, keys::revoke, keys::disable, keys::enable,
        limits::get_org, limits::set_org, limits::get_key, limits::set_key, limits::clear_key,
        limits::list_roles, limits::set_role_scopes,
        admin::list_users, admin::create_user, admin::set_user_role, admin::remove_user,
        admin::audit_events,
        session::login, session::current, session::refresh, session::logout,
    )
)]
pub struct ApiDoc;
