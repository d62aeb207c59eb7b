//! TLS for the listeners: the server configs built from the PEM files, swapped atomically
//! when the files change (or on SIGHUP), and the accept loop that shakes hands.
//!
//! Each listener reads its current config once per new connection (an `ArcSwap` load), so a
//! reload applies to new handshakes while open connections keep the config they began with.

mod acceptor;
pub mod material;

pub use acceptor::TlsListener;

use crate::config::tls::{ListenerKind, TlsFiles};
use arc_swap::ArcSwap;
use material::{FileContents, ServerConfigs};
use rustls::ServerConfig;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::watch;

/// The live TLS configuration of every listener.
#[derive(Clone)]
pub struct ServerTls {
    inner: Arc<Inner>,
}

struct Inner {
    files: TlsFiles,
    reload_every: Duration,
    grpc: Arc<ArcSwap<ServerConfig>>,
    http: Arc<ArcSwap<ServerConfig>>,
    gateway: Arc<ArcSwap<ServerConfig>>,
    /// The files' digest at the last attempt, good or bad, so a bad file is reported once.
    seen: Mutex<[u8; 32]>,
}

impl ServerTls {
    /// Reads and checks the files; a start-up error names the file and the problem.
    pub fn load(files: TlsFiles, reload_every: Duration) -> anyhow::Result<Self> {
        let contents = FileContents::read(&files)?;
        let configs = material::build(&files, &contents)?;
        tracing::info!(
            cert = %files.cert.display(),
            sha256 = contents.leaf_sha256(&files).unwrap_or_default(),
            client_certificates = format!(
                "grpc: {:?}, http: {:?}, gateway: {:?}",
                files.grpc, files.http, files.gateway
            ),
            "TLS on every listener"
        );
        Ok(Self {
            inner: Arc::new(Inner {
                reload_every,
                grpc: Arc::new(ArcSwap::new(configs.grpc)),
                http: Arc::new(ArcSwap::new(configs.http)),
                gateway: Arc::new(ArcSwap::new(configs.gateway)),
                seen: Mutex::new(contents.fingerprint()),
                files,
            }),
        })
    }

    /// The config `listener` hands to each new handshake.
    pub fn config(&self, listener: ListenerKind) -> Arc<ArcSwap<ServerConfig>> {
        match listener {
            ListenerKind::Grpc => self.inner.grpc.clone(),
            ListenerKind::Http => self.inner.http.clone(),
            ListenerKind::Gateway => self.inner.gateway.clone(),
        }
    }

    /// Re-reads the files; when they changed (or `force`), builds new configs and swaps them
    /// in. A file that does not load leaves the configs in force and is logged once.
    pub async fn reload(&self, force: bool) {
        let this = self.clone();
        let outcome = tokio::task::spawn_blocking(move || this.reload_blocking(force)).await;
        if let Err(e) = outcome {
            tracing::error!(error = %e, "TLS reload task failed");
        }
    }

    fn reload_blocking(&self, force: bool) {
        let inner = &self.inner;
        let contents = match FileContents::read(&inner.files) {
            Ok(contents) => contents,
            Err(e) => {
                // A file being replaced can be missing for a moment; the next poll retries.
                tracing::error!(
                    error = format!("{e:#}"),
                    "TLS files not reloaded; the previous certificate stays in use"
                );
                return;
            }
        };
        let fingerprint = contents.fingerprint();
        {
            let Ok(mut seen) = inner.seen.lock() else {
                return;
            };
            if *seen == fingerprint && !force {
                return;
            }
            *seen = fingerprint;
        }
        match material::build(&inner.files, &contents) {
            Ok(ServerConfigs { grpc, http, gateway }) => {
                inner.grpc.store(grpc);
                inner.http.store(http);
                inner.gateway.store(gateway);
                tracing::info!(
                    cert = %inner.files.cert.display(),
                    sha256 = contents.leaf_sha256(&inner.files).unwrap_or_default(),
                    "TLS certificate reloaded; new connections use it"
                );
            }
            Err(e) => tracing::error!(
                error = format!("{e:#}"),
                "TLS files not reloaded; the previous certificate stays in use"
            ),
        }
    }

    /// Polls the files every `tls_reload_secs` and reloads on SIGHUP, until `stop`.
    pub async fn watch(self, mut stop: watch::Receiver<bool>) {
        let mut tick = tokio::time::interval(self.inner.reload_every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tick.tick().await;
        let mut hangup = hangup();
        loop {
            tokio::select! {
                _ = stop.changed() => return,
                _ = tick.tick() => self.reload(false).await,
                () = next_hangup(&mut hangup) => {
                    tracing::info!("SIGHUP: reloading the TLS files");
                    self.reload(true).await;
                }
            }
        }
    }
}

#[cfg(unix)]
type Hangup = Option<tokio::signal::unix::Signal>;
#[cfg(not(unix))]
type Hangup = ();

#[cfg(unix)]
fn hangup() -> Hangup {
    // Registered only with TLS on: from here on SIGHUP no longer ends the process.
    match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()) {
        Ok(signal) => Some(signal),
        Err(e) => {
            tracing::warn!(error = %e, "cannot listen for SIGHUP; the TLS files are still polled");
            None
        }
    }
}

#[cfg(not(unix))]
fn hangup() -> Hangup {}

#[cfg(unix)]
async fn next_hangup(signal: &mut Hangup) {
    if let Some(s) = signal
        && s.recv().await.is_some()
    {
        return;
    }
    std::future::pending().await
}

#[cfg(not(unix))]
async fn next_hangup(_: &mut Hangup) {
    std::future::pending().await
}
