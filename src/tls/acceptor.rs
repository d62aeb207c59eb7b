//! The TLS accept loop: TCP connections are accepted at once and their handshakes run as
//! tasks of their own, so a slow or silent client never holds up the next one.

use arc_swap::ArcSwap;
use rustls::ServerConfig;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;

/// A client that has not finished its handshake by then is dropped.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// Handshakes in progress at once; past it, accepting waits for one to finish.
const MAX_HANDSHAKES: usize = 4096;

/// A TCP listener whose connections come out with their TLS handshake done.
pub struct TlsListener {
    tcp: TcpListener,
    config: Arc<ArcSwap<ServerConfig>>,
    handshakes: JoinSet<Option<(TlsStream<TcpStream>, SocketAddr)>>,
    listener: &'static str,
}

impl TlsListener {
    /// Serves TLS on `tcp` with whatever config `config` holds at each handshake.
    pub fn new(tcp: TcpListener, config: Arc<ArcSwap<ServerConfig>>, listener: &'static str) -> Self {
        Self {
            tcp,
            config,
            handshakes: JoinSet::new(),
            listener,
        }
    }

    /// The next connection whose handshake succeeded. Failed and timed-out handshakes are
    /// logged at debug and dropped: a bad client must not stop the listener.
    pub async fn accept_tls(&mut self) -> (TlsStream<TcpStream>, SocketAddr) {
        loop {
            tokio::select! {
                (tcp, peer) = axum::serve::Listener::accept(&mut self.tcp), if self.handshakes.len() < MAX_HANDSHAKES => {
                    // Without it every small response waits for the client's delayed ACK.
                    let _ = tcp.set_nodelay(true);
                    let acceptor = TlsAcceptor::from(self.config.load_full());
                    let listener = self.listener;
                    self.handshakes.spawn(async move {
                        match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
                            Ok(Ok(tls)) => Some((tls, peer)),
                            Ok(Err(e)) => {
                                tracing::debug!(listener, %peer, error = %e, "TLS handshake failed");
                                None
                            }
                            Err(_) => {
                                tracing::debug!(listener, %peer, "TLS handshake timed out");
                                None
                            }
                        }
                    });
                }
                Some(done) = self.handshakes.join_next(), if !self.handshakes.is_empty() => {
                    if let Ok(Some(connection)) = done {
                        return connection;
                    }
                }
            }
        }
    }

    /// The connections as a stream, for tonic's `serve_with_incoming_shutdown`.
    pub fn into_incoming(
        self,
    ) -> impl futures_util::Stream<Item = Result<TlsStream<TcpStream>, std::io::Error>> + Send + 'static {
        futures_util::stream::unfold(self, |mut listener| async move {
            let (tls, _) = listener.accept_tls().await;
            Some((Ok(tls), listener))
        })
    }
}

impl axum::serve::Listener for TlsListener {
    type Io = TlsStream<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        self.accept_tls().await
    }

    fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.tcp.local_addr()
    }
}
