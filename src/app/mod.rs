//! Builds the application from its configuration, binds the listeners (port 0 allowed, the
//! bound ports are reported), serves gRPC and HTTP, and shuts down gracefully.

mod health;
mod listeners;
mod serve;

use crate::config::Config;
use crate::config::tls::ListenerKind;
use crate::domain::key_format::KeyHasher;
use crate::domain::time::{SharedClock, SystemClock};
use crate::gateway::Gateway;
use crate::grpc::MAX_MESSAGE_BYTES;
use crate::grpc::admin::AdminApi;
use crate::grpc::auth::AuthApi;
use crate::grpc::keys::KeyApi;
use crate::http::HttpState;
use crate::proto::reply::auth_service_server::AuthServiceServer;
use crate::proto::v1::admin_service_server::AdminServiceServer;
use crate::proto::v1::key_service_server::KeyServiceServer;
use crate::ratelimit::{Limiter, LocalLimiter, RedisFailureMode, RedisLimiter};
use crate::service::{Core, SessionTtls};
use crate::sessions::jwt::{JwtKeys, JwtSettings, LEEWAY_SECS};
use crate::sessions::password::PasswordHasher;
use crate::sessions::throttle::LoginThrottle;
use crate::store::{self, ConnectSettings, DeadlineStore, SharedStore};
use crate::telemetry::admin::observe;
use crate::tls::ServerTls;
use crate::verify::cache::CacheSettings;
use crate::verify::{Verifier, VerifySettings};
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tonic::transport::Server;

/// How often replicas reload signing keys (new keys are published `PUBLISH_DELAY` before use).
const KEY_SYNC_EVERY: Duration = Duration::from_secs(60);
const PUBLISH_DELAY: Duration = Duration::from_secs(300);

/// A built, bound, not yet serving gatekey.
pub struct Application {
    core: Arc<Core>,
    gateway: Arc<Gateway>,
    grpc: TcpListener,
    http: TcpListener,
    gateway_listener: Option<TcpListener>,
    tls: Option<ServerTls>,
    shutdown_grace: Duration,
}

impl Application {
    /// Builds on the system clock.
    pub async fn build(config: &Config) -> anyhow::Result<Self> {
        Self::build_with_clock(config, Arc::new(SystemClock)).await
    }

    /// Builds on `clock`; tests inject a manual clock to probe expiry edges.
    pub async fn build_with_clock(config: &Config, clock: SharedClock) -> anyhow::Result<Self> {
        let store = open_store(config).await?;
        Self::build_with(config, clock, store).await
    }

    /// Builds on an already opened store; tests wrap the store to count or fail its calls.
    pub async fn build_with(config: &Config, clock: SharedClock, store: SharedStore) -> anyhow::Result<Self> {
        let secrets = config.secrets()?;
        let timeouts = config.store_timeouts()?;
        // Installed before anything registers a counter, so every metric is recorded.
        crate::telemetry::metrics_handle();
        if config.migrate {
            store.migrate().await?;
        }
        let jwt = Arc::new(
            JwtKeys::load(
                secrets.signing_secret,
                JwtSettings {
                    issuer: config.jwt_issuer.clone(),
                    audience: config.jwt_audience.clone(),
                    rotation: Duration::from_secs(config.signing_key_rotation_secs),
                    publish_delay: PUBLISH_DELAY,
                },
                store.clone(),
                clock.clone(),
            )
            .await?,
        );
        let verifier = Verifier::new(
            store.clone(),
            clock.clone(),
            jwt.clone(),
            KeyHasher::new(&secrets.key_pepper).ok_or_else(|| anyhow::anyhow!("the key pepper cannot key an HMAC"))?,
            limiter(config).await?,
            VerifySettings {
                stale_after: Duration::from_secs(config.verify_stale_secs),
                poll_every: Duration::from_millis(config.change_poll_ms),
                cache: CacheSettings {
                    max_keys: config.key_cache_max,
                    ..CacheSettings::default()
                },
                token_lifetime: config.access_token_ttl() + Duration::from_secs(LEEWAY_SECS),
                flood: config.flood_settings()?,
                store_timeout: timeouts.verify,
                lookup_timeout: timeouts.admin,
                ..VerifySettings::default()
            },
        );
        let core = Arc::new(Core {
            verifier,
            store: Arc::new(DeadlineStore::new(store, timeouts.admin)),
            clock,
            jwt,
            passwords: PasswordHasher::new().await?,
            throttle: LoginThrottle::new(
                config.login_max_failures,
                Duration::from_secs(config.login_failure_window_secs),
            ),
            key_pepper: secrets.key_pepper,
            key_pepper_version: config.key_pepper_version,
            ttls: SessionTtls {
                access: config.access_token_ttl(),
                refresh: Duration::from_secs(config.refresh_token_ttl_secs),
                remember_me: Duration::from_secs(config.remember_me_ttl_secs),
            },
        });
        let tls = match config.tls.files()? {
            Some(files) => Some(ServerTls::load(files, Duration::from_secs(config.tls.tls_reload_secs))?),
            None => None,
        };
        let (settings, descriptors) = config.gateway_settings()?;
        let gateway = Arc::new(Gateway::new(core.verifier.clone(), settings, descriptors));
        let grpc = listeners::bind("gRPC", config.grpc_addr).await?;
        let http = listeners::bind("HTTP", config.http_addr).await?;
        let gateway_listener = match config.gateway_addr {
            Some(addr) => Some(listeners::bind("gateway", addr).await?),
            None => None,
        };
        Ok(Self {
            core,
            gateway,
            grpc,
            http,
            gateway_listener,
            tls,
            shutdown_grace: Duration::from_secs(config.shutdown_grace_secs),
        })
    }

    pub fn grpc_addr(&self) -> anyhow::Result<SocketAddr> {
        Ok(self.grpc.local_addr()?)
    }

    pub fn http_addr(&self) -> anyhow::Result<SocketAddr> {
        Ok(self.http.local_addr()?)
    }

    /// The gateway listener's address, when one is configured.
    pub fn gateway_addr(&self) -> anyhow::Result<Option<SocketAddr>> {
        Ok(self
            .gateway_listener
            .as_ref()
            .map(TcpListener::local_addr)
            .transpose()?)
    }

    pub fn core(&self) -> Arc<Core> {
        self.core.clone()
    }

    /// Serves until `shutdown` resolves, then stops accepting, lets in-flight calls finish
    /// (up to the grace period) and closes the store.
    pub async fn run_until(self, shutdown: impl Future<Output = ()> + Send + 'static) -> anyhow::Result<()> {
        let (stop_tx, stop_rx) = watch::channel(false);
        let stop_rx_grace = stop_rx.clone();
        let (health, health_service) = tonic_health::server::health_reporter();
        let health_for_gateway = health_service.clone();
        let (reflection, reflection_v1alpha) = health::reflection()?;
        let core = self.core.clone();
        tracing::info!(
            grpc = %self.grpc_addr()?,
            http = %self.http_addr()?,
            gateway = ?self.gateway_addr()?,
            "gatekey serving"
        );
        let mut addrs = vec![("grpc", self.grpc_addr()?), ("http", self.http_addr()?)];
        addrs.extend(self.gateway_addr()?.map(|a| ("gateway", a)));
        serve::warn_if_plaintext(&addrs, self.tls.is_some());
        let tls_watch = self.tls.clone().map(|tls| tokio::spawn(tls.watch(stop_rx.clone())));

        let background = tokio::spawn(background_tasks(core.clone(), stop_rx.clone()));
        tokio::spawn(health::follow_readiness(core.clone(), health, stop_rx.clone()));
        let verifier_tasks = core.verifier.start(stop_rx.clone());
        let gateway_protocols_here = self.gateway_listener.is_none();
        let grpc = Server::builder()
            // A stuck client or call must not hold a connection or a task forever.
            .timeout(Duration::from_secs(30))
            .concurrency_limit_per_connection(1024)
            .http2_keepalive_interval(Some(Duration::from_secs(30)))
            .http2_keepalive_timeout(Some(Duration::from_secs(10)))
            .trace_fn(crate::telemetry::otel::grpc_span)
            .add_service(health_service)
            .add_service(reflection)
            .add_service(reflection_v1alpha)
            .add_service(
                AuthServiceServer::new(AuthApi::new(core.clone())).max_decoding_message_size(MAX_MESSAGE_BYTES),
            )
            .add_service(observe(
                KeyServiceServer::new(KeyApi::new(core.clone())).max_decoding_message_size(MAX_MESSAGE_BYTES),
            ))
            .add_service(observe(
                AdminServiceServer::new(AdminApi::new(core.clone())).max_decoding_message_size(MAX_MESSAGE_BYTES),
            ))
            // With a gateway listener, the gateway protocols live there only, behind its own
            // client-certificate rule (required by default with a client CA): the admin
            // listener's optional certificates must not open ShouldRateLimit, which can spend
            // any org's budget, or Check to every host that reaches the admin port.
            .add_optional_service(gateway_protocols_here.then(|| listeners::ext_authz(&self.gateway)))
            .add_optional_service(gateway_protocols_here.then(|| listeners::rate_limit(&self.gateway)));
        let grpc = serve::grpc(grpc, self.grpc, self.tls.as_ref(), stopped(stop_rx.clone()));
        let state = HttpState {
            core: core.clone(),
            gateway: self.gateway.clone(),
            tls: self.tls.is_some(),
        };
        let http = serve::http(
            crate::http::router(state.clone()),
            self.http,
            self.tls.as_ref(),
            ListenerKind::Http,
            stopped(stop_rx.clone()),
        );
        let gateway = listeners::serve_gateway(
            self.gateway_listener,
            self.tls.as_ref(),
            state,
            health_for_gateway,
            stopped(stop_rx),
        );

        let grace = self.shutdown_grace;
        tokio::spawn(async move {
            shutdown.await;
            tracing::info!("shutting down: draining in-flight calls");
            let _ = stop_tx.send(true);
        });
        let servers = async { tokio::join!(grpc, http, gateway) };
        // Once stopping, in-flight calls get `grace` to finish; after that we close anyway.
        let deadline = async {
            stopped(stop_rx_grace).await;
            tokio::time::sleep(grace).await;
        };
        let outcome = tokio::select! {
            results = servers => Some(results),
            () = deadline => None,
        };
        background.abort();
        if let Some(task) = tls_watch {
            task.abort();
        }
        // Nothing accepted is lost: the last uses are written before the store closes.
        verifier_tasks.shutdown().await;
        core.store.close().await;
        match outcome {
            Some((grpc_result, http_result, gateway_result)) => {
                grpc_result?;
                http_result?;
                gateway_result?;
            }
            None => tracing::warn!("grace period over; stopped with calls still in flight"),
        }
        tracing::info!("gatekey stopped");
        Ok(())
    }
}

async fn stopped(mut rx: watch::Receiver<bool>) {
    let _ = rx.wait_for(|stop| *stop).await;
}

/// Reloads signing keys.
async fn background_tasks(core: Arc<Core>, mut stop: watch::Receiver<bool>) {
    let mut key_sync = tokio::time::interval(KEY_SYNC_EVERY);
    loop {
        tokio::select! {
            _ = stop.changed() => return,
            _ = key_sync.tick() => {
                if let Err(e) = core.jwt.sync().await {
                    tracing::warn!(error = format!("{e:#}"), "signing key sync failed");
                }
            }
        }
    }
}

/// Resolves on SIGTERM or SIGINT.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
}

/// The configured rate-limit backend.
async fn limiter(config: &Config) -> anyhow::Result<Limiter> {
    let Some(url) = &config.redis_url else {
        return Ok(Limiter::Local(LocalLimiter::default()));
    };
    let mode: RedisFailureMode = config
        .redis_failure_mode
        .parse()
        .map_err(|_| anyhow::anyhow!("redis_failure_mode must be `deny`, `allow` or `local`"))?;
    let timeout = Duration::from_millis(config.redis_timeout_ms);
    let client = crate::ratelimit::redis_client(url, &config.redis_tls()?)?;
    Ok(Limiter::Redis(
        RedisLimiter::with_client(client, mode, LocalLimiter::default(), timeout).await?,
    ))
}

/// Opens the configured store (for `serve` and the one-shot commands `migrate`, `bootstrap`),
/// waiting up to `store_connect_timeout_secs` for a server that is not up yet.
pub async fn open_store(config: &Config) -> anyhow::Result<SharedStore> {
    let timeouts = config.store_timeouts()?;
    let settings = ConnectSettings {
        acquire_timeout: timeouts.acquire,
        retry_for: timeouts.connect,
    };
    store::connect_with(config.database_url(), &settings).await
}
