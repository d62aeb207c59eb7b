//! The TLS accept loop: TCP connections are accepted at once and their handshakes run as
//! tasks of their own, so a slow or silent client never holds up the next one.

use crate::verify::flood::network;
use arc_swap::ArcSwap;
use rustls::ServerConfig;
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
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
/// Handshakes in progress at once from one client network (an IPv4 address or an IPv6 /64);
/// past it its new connections are closed at once, so one host opening idle connections
/// cannot take every slot above from everyone else.
const MAX_HANDSHAKES_PER_CLIENT: usize = 64;

/// A TCP listener whose connections come out with their TLS handshake done.
pub struct TlsListener {
    tcp: TcpListener,
    config: Arc<ArcSwap<ServerConfig>>,
    handshakes: JoinSet<(SocketAddr, Option<TlsStream<TcpStream>>)>,
    /// Handshakes in progress per client network; only the accept loop touches it.
    per_client: HashMap<IpAddr, usize>,
    listener: &'static str,
}

impl TlsListener {
    /// Serves TLS on `tcp` with whatever config `config` holds at each handshake.
    pub fn new(tcp: TcpListener, config: Arc<ArcSwap<ServerConfig>>, listener: &'static str) -> Self {
        Self {
            tcp,
            config,
            handshakes: JoinSet::new(),
            per_client: HashMap::new(),
            listener,
        }
    }

    /// The next connection whose handshake succeeded. Failed and timed-out handshakes are
    /// logged at debug and dropped: a bad client must not stop the listener.
    pub async fn accept_tls(&mut self) -> (TlsStream<TcpStream>, SocketAddr) {
        loop {
            tokio::select! {
                (tcp, peer) = axum::serve::Listener::accept(&mut self.tcp), if self.handshakes.len() < MAX_HANDSHAKES => {
                    let in_progress = self.per_client.entry(network(peer.ip())).or_default();
                    if *in_progress >= MAX_HANDSHAKES_PER_CLIENT {
                        tracing::debug!(listener = self.listener, %peer, "too many TLS handshakes in progress from this client; closed");
                        continue;
                    }
                    *in_progress += 1;
                    // Without it every small response waits for the client's delayed ACK.
                    let _ = tcp.set_nodelay(true);
                    let acceptor = TlsAcceptor::from(self.config.load_full());
                    let listener = self.listener;
                    self.handshakes.spawn(async move {
                        match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
                            Ok(Ok(tls)) => (peer, Some(tls)),
                            Ok(Err(e)) => {
                                tracing::debug!(listener, %peer, error = %e, "TLS handshake failed");
                                (peer, None)
                            }
                            Err(_) => {
                                tracing::debug!(listener, %peer, "TLS handshake timed out");
                                (peer, None)
                            }
                        }
                    });
                }
                Some(done) = self.handshakes.join_next(), if !self.handshakes.is_empty() => {
                    // A handshake task only ends by returning (it never panics, and the set
                    // is never aborted while the listener lives).
                    if let Ok((peer, connection)) = done {
                        self.finished(peer.ip());
                        if let Some(tls) = connection {
                            return (tls, peer);
                        }
                    }
                }
            }
        }
    }

    /// One handshake of `ip`'s network is over.
    fn finished(&mut self, ip: IpAddr) {
        let key = network(ip);
        if let Some(n) = self.per_client.get_mut(&key) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                self.per_client.remove(&key);
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
