//! One call in each protocol the bench speaks, and the outcome it is counted under: Verify
//! and ext_authz `Check` over shared HTTP/2 channels, forward-auth as HTTP/1.1 `GET`s on a
//! keep-alive connection of the caller's own (HTTP/1.1 carries one call at a time).

use crate::load::CALL_TIMEOUT;
use anyhow::Context;
use envoy_types::ext_authz::v3::pb::CheckRequest;
use envoy_types::pb::envoy::service::auth::v3::authorization_client::AuthorizationClient;
use gatekey::proto::v1 as pb;
use gatekey::proto::v1::auth_service_client::AuthServiceClient;
use hyper::body::Body;
use hyper::client::conn::http1::{self, SendRequest};
use hyper_util::rt::TokioIo;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use tonic::transport::Channel;

/// What the callers send, round-robin.
#[derive(Clone)]
pub enum Workload {
    Verify(Arc<[pb::VerifyRequest]>),
    Check(Arc<[CheckRequest]>),
    /// Request headers of `GET /v1/forward-auth`.
    ForwardAuth(Arc<[Vec<(&'static str, String)>]>),
}

/// The forward-auth path on gatekey's HTTP listener (and the floor's).
const FORWARD_AUTH_PATH: &str = "/v1/forward-auth";

impl Workload {
    pub fn len(&self) -> usize {
        match self {
            Workload::Verify(r) => r.len(),
            Workload::Check(r) => r.len(),
            Workload::ForwardAuth(r) => r.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether the calls go to the server's HTTP listener rather than its gRPC one.
    pub fn is_http(&self) -> bool {
        matches!(self, Workload::ForwardAuth(_))
    }
}

/// One caller's client.
pub enum Caller {
    Verify(AuthServiceClient<Channel>),
    Check(AuthorizationClient<Channel>),
    Http(SendRequest<String>),
}

/// What one call got: the outcome it is counted under and the encoded answer's size.
pub struct Answer {
    pub outcome: &'static str,
    pub bytes: usize,
}

impl Caller {
    /// A gRPC caller for `workload` on `channel`.
    pub fn grpc(workload: &Workload, channel: Channel) -> anyhow::Result<Self> {
        Ok(match workload {
            Workload::Verify(_) => Caller::Verify(AuthServiceClient::new(channel)),
            Workload::Check(_) => Caller::Check(AuthorizationClient::new(channel)),
            Workload::ForwardAuth(_) => anyhow::bail!("forward-auth is not a gRPC workload"),
        })
    }

    /// An HTTP/1.1 caller on a connection of its own to `addr`.
    pub async fn http(addr: SocketAddr) -> anyhow::Result<Self> {
        anyhow::ensure!(
            addr.ip().is_loopback(),
            "refusing to load {addr}: not a loopback address"
        );
        let tcp = tokio::time::timeout(CALL_TIMEOUT, tokio::net::TcpStream::connect(addr))
            .await
            .with_context(|| format!("connecting to {addr} timed out"))?
            .with_context(|| format!("connecting to {addr}"))?;
        // As the gRPC channels: without it each request waits for a delayed ACK.
        tcp.set_nodelay(true)?;
        let (sender, connection) = http1::handshake(TokioIo::new(tcp)).await?;
        tokio::spawn(async move {
            // The connection ends when the caller is dropped; an error then is expected.
            let _ = connection.await;
        });
        Ok(Caller::Http(sender))
    }

    /// Sends request `i` of `workload`. A failed call is an outcome, not an error.
    pub async fn call(&mut self, workload: &Workload, i: usize) -> Answer {
        match (self, workload) {
            (Caller::Verify(client), Workload::Verify(requests)) => match client.verify(requests[i].clone()).await {
                Ok(response) => {
                    let response = response.into_inner();
                    Answer {
                        outcome: pb::VerifyReason::try_from(response.reason)
                            .map(|r| r.as_str_name())
                            .unwrap_or("VERIFY_REASON_UNKNOWN"),
                        bytes: prost::Message::encoded_len(&response),
                    }
                }
                Err(status) => failed(status_name(status.code())),
            },
            (Caller::Check(client), Workload::Check(requests)) => match client.check(requests[i].clone()).await {
                Ok(response) => {
                    let response = response.into_inner();
                    let code = response.status.as_ref().map_or(0, |s| s.code);
                    Answer {
                        outcome: check_name(code),
                        bytes: prost::Message::encoded_len(&response),
                    }
                }
                Err(status) => failed(status_name(status.code())),
            },
            (Caller::Http(sender), Workload::ForwardAuth(requests)) => {
                match tokio::time::timeout(CALL_TIMEOUT, forward_auth(sender, &requests[i])).await {
                    Ok(Ok(answer)) => answer,
                    Ok(Err(_)) => failed("http:error"),
                    Err(_) => failed("http:timeout"),
                }
            }
            _ => failed("bench:caller-does-not-speak-the-workload"),
        }
    }
}

fn failed(outcome: &'static str) -> Answer {
    Answer { outcome, bytes: 0 }
}

/// One forward-auth `GET`, its body read to the end so the connection can carry the next.
/// The size counted is the response header block as sent (`name: value\r\n` each).
async fn forward_auth(sender: &mut SendRequest<String>, headers: &[(&'static str, String)]) -> anyhow::Result<Answer> {
    sender.ready().await?;
    let mut request = hyper::Request::get(FORWARD_AUTH_PATH);
    for (name, value) in headers {
        request = request.header(*name, value);
    }
    let response = sender.send_request(request.body(String::new())?).await?;
    let bytes = response
        .headers()
        .iter()
        .map(|(k, v)| k.as_str().len() + v.len() + 4)
        .sum();
    let outcome = http_name(response.status().as_u16());
    let mut body = response.into_body();
    while let Some(frame) = std::future::poll_fn(|cx| Pin::new(&mut body).poll_frame(cx)).await {
        frame?;
    }
    Ok(Answer { outcome, bytes })
}

fn http_name(status: u16) -> &'static str {
    match status {
        200 => "http:200",
        401 => "http:401",
        403 => "http:403",
        429 => "http:429",
        500..=599 => "http:5xx",
        _ => "http:other",
    }
}

/// An ext_authz answer by the gRPC code in its `status`: `OK` allows, anything else denies.
fn check_name(code: i32) -> &'static str {
    match tonic::Code::from(code) {
        tonic::Code::Ok => "check:OK",
        tonic::Code::Unauthenticated => "check:UNAUTHENTICATED",
        tonic::Code::PermissionDenied => "check:PERMISSION_DENIED",
        tonic::Code::ResourceExhausted => "check:RESOURCE_EXHAUSTED",
        _ => "check:OTHER",
    }
}

/// A call that failed at the transport, by gRPC code.
fn status_name(code: tonic::Code) -> &'static str {
    use tonic::Code::*;
    match code {
        Ok => "grpc:OK",
        Cancelled => "grpc:CANCELLED",
        Unknown => "grpc:UNKNOWN",
        InvalidArgument => "grpc:INVALID_ARGUMENT",
        DeadlineExceeded => "grpc:DEADLINE_EXCEEDED",
        NotFound => "grpc:NOT_FOUND",
        AlreadyExists => "grpc:ALREADY_EXISTS",
        PermissionDenied => "grpc:PERMISSION_DENIED",
        ResourceExhausted => "grpc:RESOURCE_EXHAUSTED",
        FailedPrecondition => "grpc:FAILED_PRECONDITION",
        Aborted => "grpc:ABORTED",
        OutOfRange => "grpc:OUT_OF_RANGE",
        Unimplemented => "grpc:UNIMPLEMENTED",
        Internal => "grpc:INTERNAL",
        Unavailable => "grpc:UNAVAILABLE",
        DataLoss => "grpc:DATA_LOSS",
        Unauthenticated => "grpc:UNAUTHENTICATED",
    }
}
