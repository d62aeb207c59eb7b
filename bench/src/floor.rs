//! The floor: a tonic server with the same proto whose Verify does no work and returns a
//! canned allowed response shaped like gatekey's for a cached API key (principal, scopes,
//! metadata, rate-limit verdict and headers), so that encoding costs the same. Whatever
//! gatekey costs above this is gatekey's own. It answers the gateway protocols the same
//! way: ext_authz `Check` on the gRPC port, forward-auth on an HTTP port (axum, as gatekey).
//!
//! The bare floor (`--bare`) answers Verify with an empty message instead: a tonic no-op
//! unary call, the lowest any gRPC service can go, which the `h2load` mode compares against.

use crate::gateway::{canned_check_response, canned_forward_auth_headers};
use axum::Router;
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::routing::any;
use axum::serve::ListenerExt;
use envoy_types::ext_authz::v3::pb::{Authorization, AuthorizationServer, CheckRequest, CheckResponse};
use gatekey::proto::v1 as pb;
use gatekey::proto::v1::auth_service_server::{AuthService, AuthServiceServer};
use std::collections::HashMap;
use std::future::Future;
use std::net::SocketAddr;
use tokio::net::TcpListener;
use tonic::transport::Server;
use tonic::transport::server::TcpIncoming;
use tonic::{Request, Response, Status};

/// The canned answer: what gatekey returns for an allowed secret live key of an operator
/// service account with two scopes and one metadata entry, under a 10M/s org limit.
pub fn canned_response() -> pb::VerifyResponse {
    let duration = |seconds: i64, nanos: i32| Some(prost_types::Duration { seconds, nanos });
    pb::VerifyResponse {
        allowed: true,
        reason: pb::VerifyReason::Ok as i32,
        http_status: 200,
        principal: Some(pb::Principal {
            r#type: pb::PrincipalType::ServiceAccount as i32,
            id: "019a4f3c-6f1e-7c3a-9d2b-5b8e0c1d2e3f".to_owned(),
            org_id: "019a4f3c-6e90-7b11-8f0a-1a2b3c4d5e6f".to_owned(),
            role: pb::Role::Operator as i32,
            scopes: vec!["cameras.read".to_owned(), "leads.write".to_owned()],
            key_id: "019a4f3c-7001-7d4e-a1b2-c3d4e5f60718".to_owned(),
            key_prefix: "sk_live_".to_owned(),
            key_start: "sk_live_AbCd".to_owned(),
            environment: pb::Environment::Live as i32,
            expires_at: None,
            metadata: HashMap::from([("team".to_owned(), "bench".to_owned())]),
        }),
        rate_limit: Some(pb::RateLimitVerdict {
            limited: false,
            policy: "org".to_owned(),
            limit: 10_000_000,
            window: duration(1, 0),
            remaining: 9_999_999,
            reset_after: duration(0, 100),
            retry_after: duration(0, 0),
            policy_header: "\"org\";q=10000000;w=1".to_owned(),
            header: "\"org\";r=9999999;t=1".to_owned(),
        }),
    }
}

/// AuthService with nothing behind it.
pub struct Floor {
    response: pb::VerifyResponse,
}

impl Floor {
    /// Answers Verify with an empty `VerifyResponse` (zero bytes encoded).
    pub fn bare() -> Self {
        Self {
            response: pb::VerifyResponse::default(),
        }
    }
}

impl Default for Floor {
    fn default() -> Self {
        Self {
            response: canned_response(),
        }
    }
}

#[tonic::async_trait]
impl AuthService for Floor {
    async fn login(&self, _: Request<pb::LoginRequest>) -> Result<Response<pb::TokenResponse>, Status> {
        Err(Status::unimplemented("the floor only answers Verify"))
    }

    async fn refresh(&self, _: Request<pb::RefreshRequest>) -> Result<Response<pb::TokenResponse>, Status> {
        Err(Status::unimplemented("the floor only answers Verify"))
    }

    async fn logout(&self, _: Request<pb::LogoutRequest>) -> Result<Response<pb::LogoutResponse>, Status> {
        Err(Status::unimplemented("the floor only answers Verify"))
    }

    async fn verify(&self, _: Request<pb::VerifyRequest>) -> Result<Response<pb::VerifyResponse>, Status> {
        Ok(Response::new(self.response.clone()))
    }

    async fn change_password(
        &self,
        _: Request<pb::ChangePasswordRequest>,
    ) -> Result<Response<pb::ChangePasswordResponse>, Status> {
        Err(Status::unimplemented("the floor only answers Verify"))
    }
}

/// ext_authz with nothing behind it.
pub struct CheckFloor {
    response: CheckResponse,
}

impl Default for CheckFloor {
    fn default() -> Self {
        Self {
            response: canned_check_response(),
        }
    }
}

#[tonic::async_trait]
impl Authorization for CheckFloor {
    async fn check(&self, _: Request<CheckRequest>) -> Result<Response<CheckResponse>, Status> {
        Ok(Response::new(self.response.clone()))
    }
}

/// Forward-auth with nothing behind it, on both of gatekey's paths (the nginx variant
/// differs from the standard one only on a deny, which the floor never gives).
fn http_floor() -> Router {
    let mut headers = HeaderMap::new();
    for (name, value) in canned_forward_auth_headers() {
        headers.insert(HeaderName::from_static(name), HeaderValue::from_static(value));
    }
    let answer = move || {
        let headers = headers.clone();
        // An empty body and no content type, as gatekey's allow.
        async move { (StatusCode::OK, headers) }
    };
    Router::new()
        .route("/v1/forward-auth", any(answer.clone()))
        .route("/v1/forward-auth/nginx", any(answer))
}

/// Serves the floor on `grpc` and `http` (loopback only) until `shutdown` resolves. Logs
/// `grpc=ADDR http=ADDR` on stderr once bound, as gatekey does, so the parent finds the ports.
///
/// Accepted connections get `TCP_NODELAY`, as gatekey's do. Without it, small writes wait
/// for the client's delayed ACK and a call takes ~40 ms.
pub async fn serve(
    grpc: SocketAddr,
    http: SocketAddr,
    bare: bool,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    anyhow::ensure!(
        grpc.ip().is_loopback() && http.ip().is_loopback(),
        "the floor serves on loopback addresses only"
    );
    let grpc_listener = TcpListener::bind(grpc).await?;
    let http_listener = TcpListener::bind(http).await?;
    eprintln!(
        "gatekey-bench {}floor serving grpc={} http={}",
        if bare { "bare " } else { "" },
        grpc_listener.local_addr()?,
        http_listener.local_addr()?
    );
    // Both servers stop on the one shutdown signal.
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let stopped = move || {
        let mut rx = stop_rx.clone();
        async move {
            let _ = rx.wait_for(|stop| *stop).await;
        }
    };
    let incoming = TcpIncoming::from(grpc_listener).with_nodelay(Some(true));
    let grpc_server = Server::builder()
        .add_service(AuthServiceServer::new(match bare {
            true => Floor::bare(),
            false => Floor::default(),
        }))
        .add_service(AuthorizationServer::new(CheckFloor::default()))
        .serve_with_incoming_shutdown(incoming, stopped());
    let http_server = axum::serve(
        http_listener.tap_io(|tcp| {
            let _ = tcp.set_nodelay(true);
        }),
        http_floor(),
    )
    .with_graceful_shutdown(stopped());
    tokio::spawn(async move {
        shutdown.await;
        let _ = stop_tx.send(true);
    });
    let (grpc_result, http_result) = tokio::join!(grpc_server, http_server);
    grpc_result?;
    http_result?;
    Ok(())
}
