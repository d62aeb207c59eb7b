//! Accounting around the admin surface (AdminService, KeyService): every call counted by
//! method and gRPC code, the code and caller recorded on the call's span, and refusals
//! (unauthenticated, permission denied) logged with who was refused.
//!
//! A wrapper service rather than code in each handler, so no handler can forget it; the
//! Verify path never passes through it.

use super::metrics::{admin_methods, code_label};
use std::future::Future;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};
use tonic::codegen::Service;
use tonic::server::NamedService;
use tonic::transport::server::{TcpConnectInfo, TlsConnectInfo};

/// gRPC codes that mean the caller was refused rather than the call failing.
const UNAUTHENTICATED: i32 = 16;
const PERMISSION_DENIED: i32 = 7;

/// Who made an admin call (`user:<id>` or `key:<id>`), filled in once the credential is
/// authenticated (`grpc::request::caller`). Never the credential itself.
#[derive(Debug, Clone, Default)]
pub struct ActorSlot(Arc<OnceLock<String>>);

impl ActorSlot {
    pub fn set(&self, actor: String) {
        let _ = self.0.set(actor);
    }

    /// The actor, or `anonymous` before (or without) authentication.
    pub fn get(&self) -> &str {
        self.0.get().map_or("anonymous", String::as_str)
    }
}

/// `inner` with its calls counted, traced and refusals logged.
pub fn observe<S>(inner: S) -> Observed<S> {
    Observed { inner }
}

/// See [`observe`].
#[derive(Debug, Clone)]
pub struct Observed<S> {
    inner: S,
}

impl<S: NamedService> NamedService for Observed<S> {
    const NAME: &'static str = S::NAME;
}

/// The method as a bounded label: a path that names no admin method (a client can send any
/// path) is `unknown`.
pub(super) fn method_of(path: &str) -> &'static str {
    let path = path.trim_start_matches('/');
    admin_methods()
        .iter()
        .find(|m| m.as_str() == path)
        .map_or("unknown", String::as_str)
}

impl<S, B, RB> Service<http::Request<B>> for Observed<S>
where
    S: Service<http::Request<B>, Response = http::Response<RB>>,
    S::Future: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: http::Request<B>) -> Self::Future {
        let method = method_of(req.uri().path());
        // Over TLS tonic files the peer under `TlsConnectInfo`, as `Request::remote_addr` reads it.
        let extensions = req.extensions();
        let client_ip: Option<IpAddr> = extensions
            .get::<TcpConnectInfo>()
            .and_then(TcpConnectInfo::remote_addr)
            .or_else(|| {
                extensions
                    .get::<TlsConnectInfo<TcpConnectInfo>>()
                    .and_then(|tls| tls.get_ref().remote_addr())
            })
            .map(|a| a.ip());
        let actor = ActorSlot::default();
        req.extensions_mut().insert(actor.clone());
        let call = self.inner.call(req);
        Box::pin(async move {
            let result = call.await;
            if let Ok(response) = &result {
                // Errors of unary calls come trailers-only, so the code is in the headers; an
                // answer without one is a success whose status follows in the trailers.
                let code = response
                    .headers()
                    .get("grpc-status")
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.parse::<i32>().ok())
                    .unwrap_or(0);
                finish(method, code, &actor, client_ip);
            }
            result
        })
    }
}

fn finish(method: &'static str, code: i32, actor: &ActorSlot, client_ip: Option<IpAddr>) {
    let code_name = code_label(code);
    metrics::counter!("gatekey_admin_calls_total", "method" => method, "code" => code_name).increment(1);
    let span = tracing::Span::current();
    span.record("rpc.grpc.status_code", code);
    span.record("outcome", code_name);
    span.record("actor", actor.get());
    let client_ip = client_ip.map(|ip| ip.to_string()).unwrap_or_default();
    if code == UNAUTHENTICATED || code == PERMISSION_DENIED {
        tracing::warn!(
            method,
            code = code_name,
            actor = actor.get(),
            client_ip,
            "admin call refused"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_path_that_names_no_admin_method_is_unknown() {
        assert_eq!(
            method_of("/gatekey.v1.KeyService/ListKeys"),
            "gatekey.v1.KeyService/ListKeys"
        );
        assert_eq!(method_of("/gatekey.v1.KeyService/MadeUp"), "unknown");
        assert_eq!(method_of("/gatekey.v1.AuthService/Verify"), "unknown");
    }
}
