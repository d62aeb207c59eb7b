//! The HTTP side: liveness, readiness (which touches the store), JWKS, metrics,
//! forward-auth and the web console.

pub mod api;
pub mod console;
pub mod forward_auth;

use crate::gateway::Gateway;
use crate::service::Core;
use crate::service::readiness::Readiness;
use axum::extract::{FromRef, State};
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use std::sync::Arc;

/// What the HTTP handlers share.
#[derive(Clone)]
pub struct HttpState {
    pub core: Arc<Core>,
    pub gateway: Arc<Gateway>,
    /// Whether the HTTP listener serves TLS (the console's cookies are then `Secure`).
    pub tls: bool,
}

impl FromRef<HttpState> for Arc<Core> {
    fn from_ref(state: &HttpState) -> Self {
        state.core.clone()
    }
}

/// Routes served on `--http-addr`, the JSON admin API among them (never on the gateway
/// listener).
pub fn router(state: HttpState) -> Router {
    let api = api::router(api::ApiState::new(state.core.clone(), state.tls));
    Router::new()
        .route("/.well-known/jwks.json", get(jwks))
        .route("/metrics", get(metrics))
        .merge(gateway_routes())
        .merge(console::routes())
        .with_state(state)
        .merge(api)
}

/// Routes served on `--gateway-addr` too: forward-auth and the health probes.
pub fn gateway_routes() -> Router<HttpState> {
    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(ready))
        .merge(forward_auth::routes())
}

/// Ready unless the store is unreachable and the cached allows are stale (see
/// `service::readiness`), as gRPC health says, so a load balancer stops sending to a replica
/// that can answer nothing.
async fn ready(State(core): State<Arc<Core>>) -> impl IntoResponse {
    match core.readiness().await {
        Readiness::Ready => (StatusCode::OK, Json(serde_json::json!({ "ready": true }))),
        Readiness::NotReady(message) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(serde_json::json!({ "ready": false, "reason": "STORE_UNAVAILABLE", "message": message })),
        ),
    }
}

/// Public keys of every published signing key. Verifiers may cache it for five minutes:
/// new keys are published well before they sign.
async fn jwks(State(core): State<Arc<Core>>) -> impl IntoResponse {
    ([(header::CACHE_CONTROL, "public, max-age=300")], Json(core.jwt.jwks()))
}

/// Prometheus text format; see the README's "Metrics and tracing".
async fn metrics(State(core): State<Arc<Core>>) -> impl IntoResponse {
    match crate::telemetry::metrics::render(&core.verifier) {
        Some(page) => (StatusCode::OK, page),
        None => (
            StatusCode::SERVICE_UNAVAILABLE,
            "another metrics recorder is installed".to_owned(),
        ),
    }
}
