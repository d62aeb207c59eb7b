//! The floor: a tonic server with the same proto whose Verify does no work and returns a
//! canned allowed response shaped like gatekey's for a cached API key (principal, scopes,
//! metadata, rate-limit verdict and headers), so that encoding costs the same. Whatever
//! gatekey costs above this is gatekey's own.

use crate::proto::v1 as pb;
use crate::proto::v1::auth_service_server::{AuthService, AuthServiceServer};
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
            key_prefix: "sk_live_AbCd".to_owned(),
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
}

/// Serves the floor on `addr` (loopback only) until `shutdown` resolves. Logs
/// `grpc=ADDR` on stderr once bound, as gatekey does, so the parent finds the port.
///
/// Accepted connections get `TCP_NODELAY`, as `Server::serve` gives them by default (an
/// incoming stream of our own bypasses that default). Without it, small HTTP/2 writes wait
/// for the client's delayed ACK and a call takes ~40 ms.
pub async fn serve(addr: SocketAddr, shutdown: impl Future<Output = ()>) -> anyhow::Result<()> {
    anyhow::ensure!(addr.ip().is_loopback(), "the floor serves on loopback addresses only");
    let listener = TcpListener::bind(addr).await?;
    eprintln!("gatekey-bench floor serving grpc={}", listener.local_addr()?);
    let incoming = TcpIncoming::from(listener).with_nodelay(Some(true));
    Server::builder()
        .add_service(AuthServiceServer::new(Floor::default()))
        .serve_with_incoming_shutdown(incoming, shutdown)
        .await?;
    Ok(())
}
