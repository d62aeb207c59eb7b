//! The listeners besides the main gRPC server: binding with a clear error, and the gateway
//! listener, which serves the gateway protocols and nothing of the admin surface.

use crate::config::tls::ListenerKind;
use crate::gateway::Gateway;
use crate::grpc::MAX_MESSAGE_BYTES;
use crate::grpc::auth::AuthApi;
use crate::grpc::ext_authz::ExtAuthzApi;
use crate::grpc::rate_limit_service::RateLimitApi;
use crate::http::HttpState;
use crate::proto::reply::auth_service_server::AuthServiceServer;
use crate::tls::ServerTls;
use envoy_types::ext_authz::v3::pb::AuthorizationServer;
use envoy_types::pb::envoy::service::ratelimit::v3::rate_limit_service_server::RateLimitServiceServer;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::net::TcpListener;

/// gRPC methods the gateway listener serves; everything else there is not found.
const GATEWAY_METHODS: [&str; 5] = [
    "/gatekey.v1.AuthService/Verify",
    "/envoy.service.auth.v3.Authorization/Check",
    "/envoy.service.ratelimit.v3.RateLimitService/ShouldRateLimit",
    "/grpc.health.v1.Health/Check",
    "/grpc.health.v1.Health/Watch",
];

/// Envoy's ext_authz service on `gateway`.
pub(super) fn ext_authz(gateway: &Arc<Gateway>) -> AuthorizationServer<ExtAuthzApi> {
    AuthorizationServer::new(ExtAuthzApi::new(gateway.clone())).max_decoding_message_size(MAX_MESSAGE_BYTES)
}

/// Envoy's rate-limit service on `gateway`.
pub(super) fn rate_limit(gateway: &Arc<Gateway>) -> RateLimitServiceServer<RateLimitApi> {
    RateLimitServiceServer::new(RateLimitApi::new(gateway.clone())).max_decoding_message_size(MAX_MESSAGE_BYTES)
}

/// Binds `addr`, naming the listener when the address is taken.
pub(super) async fn bind(name: &str, addr: SocketAddr) -> anyhow::Result<TcpListener> {
    TcpListener::bind(addr)
        .await
        .map_err(|e| anyhow::anyhow!("cannot listen on {addr} ({name} listener): {e}"))
}

/// The gateway listener: the gateway-facing gRPC methods and forward-auth on one port (HTTP/1
/// and HTTP/2, cleartext or TLS), nothing of the admin surface. Resolves at once when not configured.
pub(super) async fn serve_gateway(
    listener: Option<TcpListener>,
    tls: Option<&ServerTls>,
    state: HttpState,
    health: tonic_health::pb::health_server::HealthServer<impl tonic_health::pb::health_server::Health>,
    stop: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let Some(listener) = listener else {
        return Ok(());
    };
    let grpc = tonic::service::Routes::new(health)
        .add_service(
            AuthServiceServer::new(AuthApi::new(state.core.clone())).max_decoding_message_size(MAX_MESSAGE_BYTES),
        )
        .add_service(ext_authz(&state.gateway))
        .add_service(rate_limit(&state.gateway));
    let mut router = crate::http::gateway_routes().with_state(state);
    for method in GATEWAY_METHODS {
        router = router.route_service(method, grpc.clone());
    }
    super::serve::http(router, listener, tls, ListenerKind::Gateway, stop).await
}
