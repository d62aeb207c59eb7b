//! The JSON admin routes' side of the admin-call accounting (`telemetry::admin` does it for
//! gRPC): a call that carries no credential at all is refused before anything of it is read
//! (401 MISSING_CREDENTIAL, as the service would answer it, so an anonymous caller learns
//! nothing of the validation rules), and every refusal (401, 403) is logged with the route,
//! who was refused and from where. Never the credential itself.

use super::errors::ApiError;
use super::session::{SESSION_COOKIE, cookie};
use crate::service::{AuthFailure, ServiceError};
use crate::telemetry::admin::ActorSlot;
use axum::extract::{ConnectInfo, MatchedPath, Request};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::net::SocketAddr;

/// Middleware of the routes that need a caller (every `/v1` route but login, refresh, logout,
/// Verify and the OpenAPI document).
pub async fn admin_call(mut req: Request, next: Next) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or("unknown", MatchedPath::as_str)
        .to_owned();
    let method = req.method().clone();
    let client_ip = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip().to_string())
        .unwrap_or_default();
    let actor = ActorSlot::default();
    let response = if has_credential(req.headers()) {
        req.extensions_mut().insert(actor.clone());
        next.run(req).await
    } else {
        ApiError::from(tonic::Status::from(ServiceError::Unauthenticated(
            AuthFailure::MissingCredential,
        )))
        .into_response()
    };
    if matches!(response.status(), StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN) {
        tracing::warn!(
            route = %format_args!("{method} {route}"),
            status = response.status().as_u16(),
            actor = actor.get(),
            client_ip,
            "admin call refused"
        );
    }
    response
}

/// An `Authorization` header (whatever it holds: the service judges it) or the console's
/// session cookie.
fn has_credential(headers: &HeaderMap) -> bool {
    headers.contains_key(header::AUTHORIZATION) || cookie(headers, SESSION_COOKIE).is_some()
}
