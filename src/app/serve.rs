//! Serving a bound listener in the clear or over TLS: the gRPC server through tonic, the
//! HTTP and gateway routers through axum. With TLS, handshakes run off the accept loop (see
//! `crate::tls::TlsListener`); either way accepted sockets get TCP_NODELAY.

use crate::config::tls::ListenerKind;
use crate::tls::{ServerTls, TlsListener};
use axum::serve::{IncomingStream, ListenerExt as _};
use std::future::Future;
use std::net::SocketAddr;
use std::task::{Context, Poll};
use tokio::net::TcpListener;
use tonic::codegen::Service;
use tonic::transport::server::{Router, TcpIncoming};

/// Serves `router` (the gRPC services) on `tcp` until `stop`.
pub(super) async fn grpc(
    router: Router,
    tcp: TcpListener,
    tls: Option<&ServerTls>,
    stop: impl Future<Output = ()> + Send,
) -> Result<(), tonic::transport::Error> {
    match tls {
        Some(tls) => {
            let incoming = TlsListener::new(tcp, tls.config(ListenerKind::Grpc), "grpc").into_incoming();
            router.serve_with_incoming_shutdown(incoming, stop).await
        }
        // Our own listener (for port 0) bypasses tonic's nodelay default; without it every
        // response waits for the client's delayed ACK (40 ms) and Verify crawls.
        None => {
            router
                .serve_with_incoming_shutdown(TcpIncoming::from(tcp).with_nodelay(Some(true)), stop)
                .await
        }
    }
}

/// Serves `router` on `tcp` (HTTP/1.1 and HTTP/2) until `stop`; handlers see the peer's
/// address as `ConnectInfo<SocketAddr>`.
pub(super) async fn http(
    router: axum::Router,
    tcp: TcpListener,
    tls: Option<&ServerTls>,
    listener: ListenerKind,
    stop: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let app = router.into_make_service_with_connect_info::<SocketAddr>();
    match tls {
        Some(tls) => {
            let tls_listener = TlsListener::new(tcp, tls.config(listener), listener.name());
            axum::serve(tls_listener, PeerAddrOf(app))
                .with_graceful_shutdown(stop)
                .await
        }
        None => axum::serve(tcp.tap_io(nodelay), app).with_graceful_shutdown(stop).await,
    }
}

/// axum hands `ConnectInfo<SocketAddr>` over from its own listeners only; this does the same
/// for [`TlsListener`], so handlers see the peer the same way with TLS on or off.
#[derive(Clone)]
struct PeerAddrOf<M>(M);

impl<'a, M: Service<SocketAddr>> Service<IncomingStream<'a, TlsListener>> for PeerAddrOf<M> {
    type Response = M::Response;
    type Error = M::Error;
    type Future = M::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.0.poll_ready(cx)
    }

    fn call(&mut self, stream: IncomingStream<'a, TlsListener>) -> Self::Future {
        self.0.call(*stream.remote_addr())
    }
}

/// Without it every small response waits for the client's delayed ACK.
fn nodelay(tcp: &mut tokio::net::TcpStream) {
    let _ = tcp.set_nodelay(true);
}

/// Warns once per listener that serves in the clear on an address other machines reach.
pub(super) fn warn_if_plaintext(listeners: &[(&str, SocketAddr)], tls: bool) {
    for (name, addr) in listeners {
        if plaintext_exposed(*addr, tls) {
            tracing::warn!(
                listener = name,
                %addr,
                "serving without TLS on a non-loopback address; set tls_cert and tls_key (or terminate TLS in front)"
            );
        }
    }
}

/// Whether a listener on `addr` would carry credentials in the clear beyond this machine.
fn plaintext_exposed(addr: SocketAddr, tls: bool) -> bool {
    !tls && !addr.ip().is_loopback()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plaintext_listeners_off_loopback_are_warned_about() {
        let addr = |s: &str| {
            s.parse::<SocketAddr>()
                .unwrap_or_else(|_| SocketAddr::from(([0; 4], 0)))
        };
        assert!(plaintext_exposed(addr("0.0.0.0:50051"), false));
        assert!(plaintext_exposed(addr("[::]:50051"), false));
        assert!(plaintext_exposed(addr("10.1.2.3:8080"), false));
        assert!(!plaintext_exposed(addr("127.0.0.1:50051"), false));
        assert!(!plaintext_exposed(addr("127.9.9.9:50051"), false));
        assert!(!plaintext_exposed(addr("[::1]:50051"), false));
        assert!(!plaintext_exposed(addr("0.0.0.0:50051"), true));
    }
}
