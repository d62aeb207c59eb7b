//! Layered configuration: defaults < `--config` file < `GATEKEY_*` env < flags.
//!
//! Secrets (the key pepper and the JWT signing secret) come only from the file or the
//! environment, never from flags (which show up in `ps`), and are held as `SecretString`.

use crate::domain::rate_limit::RateLimitPolicy;
use crate::gateway::GatewaySettings;
use crate::gateway::config::{RouteConfig, RouteTable, TrustedProxies};
use crate::gateway::descriptors::{DescriptorConfig, DescriptorRules};
use crate::verify::FloodSettings;
use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The embedded default store.
pub const DEFAULT_DATABASE_URL: &str = "sqlite://gatekey.db";
/// Shortest accepted pepper or signing secret.
pub const MIN_SECRET_LEN: usize = 32;

/// Everything `gatekey serve` needs. Unknown fields in the file are rejected.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default = "defaults::grpc_addr")]
    pub grpc_addr: SocketAddr,
    #[serde(default = "defaults::http_addr")]
    pub http_addr: SocketAddr,
    #[serde(default)]
    pub database_url: Option<String>,
    /// Apply pending migrations at start.
    #[serde(default = "defaults::yes")]
    pub migrate: bool,
    /// HMAC key of the stored API-key hashes. Required on PostgreSQL.
    #[serde(default)]
    pub key_pepper: Option<SecretString>,
    /// Recorded on every key row, so a pepper can be rotated later.
    #[serde(default = "defaults::pepper_version")]
    pub key_pepper_version: i32,
    /// Seed material of the JWT signing keys. Required on PostgreSQL.
    #[serde(default)]
    pub signing_secret: Option<SecretString>,
    #[serde(default = "defaults::issuer")]
    pub jwt_issuer: String,
    #[serde(default = "defaults::issuer")]
    pub jwt_audience: String,
    #[serde(default = "defaults::access_ttl")]
    pub access_token_ttl_secs: u64,
    #[serde(default = "defaults::refresh_ttl")]
    pub refresh_token_ttl_secs: u64,
    #[serde(default = "defaults::remember_ttl")]
    pub remember_me_ttl_secs: u64,
    #[serde(default = "defaults::rotation")]
    pub signing_key_rotation_secs: u64,
    #[serde(default = "defaults::login_failures")]
    pub login_max_failures: u32,
    #[serde(default = "defaults::login_window")]
    pub login_failure_window_secs: u64,
    /// OTLP/gRPC collector for traces; unset: no export (see `config/telemetry.rs`).
    #[serde(default)]
    pub otlp_endpoint: Option<String>,
    /// Share of gateway-facing calls traced when export is on.
    #[serde(default = "telemetry::default_sample_ratio")]
    pub trace_sample_ratio: f64,
    /// `text` or `json`.
    #[serde(default = "defaults::log_format")]
    pub log_format: String,
    /// A `tracing` filter such as `info` or `gatekey=debug`.
    #[serde(default = "defaults::log_level")]
    pub log_level: String,
    /// Redis for the shared rate-limit state; unset means in-process buckets.
    #[serde(default)]
    pub redis_url: Option<String>,
    /// When Redis fails: `deny`, `allow`, or `local` (fall back to in-process buckets).
    #[serde(default = "defaults::redis_failure_mode")]
    pub redis_failure_mode: String,
    #[serde(default = "defaults::redis_timeout_ms")]
    pub redis_timeout_ms: u64,
    /// Cached allows fail with UNAVAILABLE once the change feed is this long unread.
    #[serde(default = "defaults::verify_stale_secs")]
    pub verify_stale_secs: u64,
    /// Change-feed polling interval (a safety net under NOTIFY; at most 1000).
    #[serde(default = "defaults::change_poll_ms")]
    pub change_poll_ms: u64,
    /// Most API keys held in the Verify cache.
    #[serde(default = "defaults::key_cache_max")]
    pub key_cache_max: u64,
    /// Limit the invalid credentials one client network (IPv4 address, IPv6 /64) may present
    /// to Verify; past the budget it gets RATE_LIMITED without a store lookup.
    #[serde(default = "defaults::yes")]
    pub verify_ip_failure_limit: bool,
    /// Invalid credentials a client network may present at once...
    #[serde(default = "defaults::ip_failure_burst")]
    pub verify_ip_failure_burst: u32,
    /// ...and then per minute.
    #[serde(default = "defaults::ip_failures_per_min")]
    pub verify_ip_failures_per_min: u32,
    /// Most client networks tracked; beyond them the lookup cap below is the bound.
    #[serde(default = "defaults::ip_failure_max_clients")]
    pub verify_ip_failure_max_clients: u64,
    /// Store lookups per second (and at once) for API keys that turn out unknown; over it,
    /// keys not in memory get RATE_LIMITED without a lookup. 0: no cap.
    #[serde(default = "defaults::unknown_key_lookups_per_sec")]
    pub verify_unknown_key_lookups_per_sec: u32,
    /// How long shutdown waits for in-flight calls.
    #[serde(default = "defaults::shutdown_grace")]
    pub shutdown_grace_secs: u64,
    /// A listener for the gateway-facing protocols only (Verify, Check, ShouldRateLimit,
    /// forward-auth, health), so admin calls can stay off the gateway network. Unset: those
    /// are served on the gRPC and HTTP listeners.
    #[serde(default)]
    pub gateway_addr: Option<SocketAddr>,
    /// Proxies whose `X-Forwarded-For` / `X-Real-IP` forward-auth believes (CIDRs).
    #[serde(default = "crate::gateway::config::default_trusted_proxies")]
    pub trusted_proxies: Vec<String>,
    /// Remove the credential before the upstream sees it (Envoy; forward-auth proxies do it
    /// in their own configuration).
    #[serde(default)]
    pub hide_credentials: bool,
    /// A query parameter that may carry the credential; unset (the default) accepts none.
    #[serde(default)]
    pub query_credential: Option<String>,
    /// Scopes and cost per route, for gateways that send no per-route settings.
    #[serde(default)]
    pub routes: Vec<RouteConfig>,
    /// Envoy rate-limit-service rules: descriptor to bucket and policy.
    #[serde(default)]
    pub rate_limit_descriptors: Vec<DescriptorConfig>,
    // Store timeouts and start-up (see `config/stores.rs`).
    /// Verify and the gateway protocols wait this long for a store read, then `UNAVAILABLE`.
    #[serde(default = "stores::defaults::store_timeout_ms")]
    pub store_timeout_ms: u64,
    /// Admin and auth calls wait this long for each store call, then `UNAVAILABLE`.
    #[serde(default = "stores::defaults::admin_store_timeout_ms")]
    pub admin_store_timeout_ms: u64,
    /// The pool's wait for a connection.
    #[serde(default = "stores::defaults::store_acquire_timeout_ms")]
    pub store_acquire_timeout_ms: u64,
    /// How long start-up retries an unreachable store before giving up.
    #[serde(default = "stores::defaults::store_connect_timeout_secs")]
    pub store_connect_timeout_secs: u64,
    /// A PEM CA bundle for `rediss://` instead of the bundled public roots.
    #[serde(default)]
    pub redis_ca_cert: Option<PathBuf>,
    /// Certificates and client authentication of the listeners (`tls_*`).
    #[serde(flatten)]
    pub tls: tls::TlsSettings,
}

mod defaults {
    use std::net::SocketAddr;
    pub fn grpc_addr() -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], 50051))
    }
    pub fn http_addr() -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], 8080))
    }
    pub fn yes() -> bool {
        true
    }
    pub fn pepper_version() -> i32 {
        1
    }
    pub fn issuer() -> String {
        "gatekey".into()
    }
    pub fn access_ttl() -> u64 {
        3600
    }
    pub fn refresh_ttl() -> u64 {
        7 * 86_400
    }
    pub fn remember_ttl() -> u64 {
        30 * 86_400
    }
    pub fn rotation() -> u64 {
        30 * 86_400
    }
    pub fn login_failures() -> u32 {
        5
    }
    pub fn login_window() -> u64 {
        900
    }
    pub fn log_format() -> String {
        "text".into()
    }
    pub fn log_level() -> String {
        "info".into()
    }
    pub fn shutdown_grace() -> u64 {
        30
    }
    pub fn redis_failure_mode() -> String {
        "local".into()
    }
    pub fn redis_timeout_ms() -> u64 {
        50
    }
    pub fn verify_stale_secs() -> u64 {
        30
    }
    pub fn change_poll_ms() -> u64 {
        1000
    }
    pub fn key_cache_max() -> u64 {
        200_000
    }
    pub fn ip_failure_burst() -> u32 {
        20
    }
    pub fn ip_failures_per_min() -> u32 {
        60
    }
    pub fn ip_failure_max_clients() -> u64 {
        100_000
    }
    pub fn unknown_key_lookups_per_sec() -> u32 {
        1000
    }
}

/// Keys read from `GATEKEY_*`; other `GATEKEY_` variables (CLI ones) are not config.
const ENV_KEYS: &[&str] = &[
    "grpc_addr",
    "http_addr",
    "database_url",
    "migrate",
    "key_pepper",
    "key_pepper_version",
    "signing_secret",
    "jwt_issuer",
    "jwt_audience",
    "access_token_ttl_secs",
    "refresh_token_ttl_secs",
    "remember_me_ttl_secs",
    "signing_key_rotation_secs",
    "login_max_failures",
    "login_failure_window_secs",
    "log_format",
    "log_level",
    "otlp_endpoint",
    "trace_sample_ratio",
    "shutdown_grace_secs",
    "redis_url",
    "redis_failure_mode",
    "redis_timeout_ms",
    "verify_stale_secs",
    "change_poll_ms",
    "key_cache_max",
    "verify_ip_failure_limit",
    "verify_ip_failure_burst",
    "verify_ip_failures_per_min",
    "verify_ip_failure_max_clients",
    "verify_unknown_key_lookups_per_sec",
    "gateway_addr",
    "trusted_proxies",
    "hide_credentials",
    "query_credential",
    "store_timeout_ms",
    "admin_store_timeout_ms",
    "store_acquire_timeout_ms",
    "store_connect_timeout_secs",
    "redis_ca_cert",
    "tls_cert",
    "tls_key",
    "tls_client_ca",
    "tls_client_auth_grpc",
    "tls_client_auth_http",
    "tls_client_auth_gateway",
    "tls_reload_secs",
];

/// Values given as flags; `None` leaves the lower layers in charge.
#[derive(Debug, Default, Clone, serde::Serialize)]
pub struct FlagOverrides {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub grpc_addr: Option<SocketAddr>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub http_addr: Option<SocketAddr>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub database_url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub migrate: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub log_format: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub redis_url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gateway_addr: Option<SocketAddr>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub store_timeout_ms: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls_cert: Option<PathBuf>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls_key: Option<PathBuf>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls_client_ca: Option<PathBuf>,
}

impl Config {
    /// Reads the layers in precedence order: flags > env > file > defaults.
    pub fn load(file: Option<&Path>, flags: &FlagOverrides) -> anyhow::Result<Self> {
        let mut figment = Figment::new();
        if let Some(path) = file {
            anyhow::ensure!(path.exists(), "config file {} does not exist", path.display());
            figment = figment.merge(Toml::file(path));
        }
        Self::from_figment(
            figment
                .merge(Env::raw().only(&["DATABASE_URL"]).map(|_| "database_url".into()))
                .merge(Env::prefixed("GATEKEY_").only(ENV_KEYS))
                .merge(Serialized::defaults(flags)),
        )
    }

    /// Extracts and validates a config from any set of layers (tests build theirs in code).
    pub fn from_figment(figment: Figment) -> anyhow::Result<Self> {
        let config: Config = figment
            .extract()
            .map_err(|e| anyhow::anyhow!("invalid configuration: {}", redacted(e)))?;
        config.validate()?;
        Ok(config)
    }

    fn validate(&self) -> anyhow::Result<()> {
        for (name, secret) in [
            ("key_pepper", &self.key_pepper),
            ("signing_secret", &self.signing_secret),
        ] {
            if let Some(s) = secret {
                anyhow::ensure!(
                    s.expose_secret().len() >= MIN_SECRET_LEN,
                    "{name} must be at least {MIN_SECRET_LEN} characters"
                );
            }
        }
        anyhow::ensure!(
            matches!(self.log_format.as_str(), "text" | "json"),
            "log_format must be `text` or `json`"
        );
        anyhow::ensure!(self.access_token_ttl_secs > 0, "access_token_ttl_secs must be positive");
        anyhow::ensure!(
            matches!(self.redis_failure_mode.as_str(), "deny" | "allow" | "local"),
            "redis_failure_mode must be `deny`, `allow` or `local`"
        );
        anyhow::ensure!(
            (10..=1000).contains(&self.change_poll_ms),
            "change_poll_ms must be between 10 and 1000"
        );
        self.gateway_settings()?;
        self.flood_settings()?;
        self.store_timeouts()?;
        self.redis_tls()?;
        self.tls.files()?;
        Ok(())
    }

    /// The Verify flood guards, validated.
    pub fn flood_settings(&self) -> anyhow::Result<FloodSettings> {
        let invalid = |v: crate::domain::FieldViolation| anyhow::anyhow!("{}: {}", v.field, v.description);
        let client_failures = if self.verify_ip_failure_limit {
            anyhow::ensure!(
                self.verify_ip_failure_max_clients > 0,
                "verify_ip_failure_max_clients must be positive (or set verify_ip_failure_limit = false)"
            );
            let policy = RateLimitPolicy::new(
                "verify_ip_failures",
                self.verify_ip_failures_per_min,
                Duration::from_secs(60),
                self.verify_ip_failure_burst,
            );
            Some(policy.map_err(invalid)?)
        } else {
            None
        };
        let key_lookups = match self.verify_unknown_key_lookups_per_sec {
            0 => None,
            n => Some(
                RateLimitPolicy::new("verify_unknown_key_lookups", n, Duration::from_secs(1), n).map_err(invalid)?,
            ),
        };
        Ok(FloodSettings {
            client_failures,
            max_clients: self.verify_ip_failure_max_clients,
            key_lookups,
        })
    }

    /// The gateway adapters' settings and rate-limit-service rules, validated.
    pub fn gateway_settings(&self) -> anyhow::Result<(GatewaySettings, DescriptorRules)> {
        let invalid = |v: crate::domain::FieldViolation| anyhow::anyhow!("{}: {}", v.field, v.description);
        if let Some(name) = &self.query_credential {
            anyhow::ensure!(
                !name.is_empty()
                    && name
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-'),
                "query_credential must be a query parameter name ([A-Za-z0-9_-])"
            );
        }
        let settings = GatewaySettings {
            routes: RouteTable::parse(&self.routes).map_err(invalid)?,
            trusted_proxies: TrustedProxies::parse(&self.trusted_proxies).map_err(invalid)?,
            hide_credentials: self.hide_credentials,
            query_credential: self.query_credential.clone(),
        };
        let rules = DescriptorRules::parse(&self.rate_limit_descriptors).map_err(invalid)?;
        Ok((settings, rules))
    }

    pub fn database_url(&self) -> &str {
        self.database_url.as_deref().unwrap_or(DEFAULT_DATABASE_URL)
    }

    pub fn access_token_ttl(&self) -> Duration {
        Duration::from_secs(self.access_token_ttl_secs)
    }

    /// The pepper and signing secret, generating development ones beside an SQLite file when
    /// none are configured. PostgreSQL means several replicas, which must share the secrets,
    /// so there they must be configured.
    pub fn secrets(&self) -> anyhow::Result<Secrets> {
        if let (Some(pepper), Some(signing)) = (&self.key_pepper, &self.signing_secret) {
            return Ok(Secrets {
                key_pepper: pepper.clone(),
                signing_secret: signing.clone(),
            });
        }
        let url = self.database_url();
        let Some(path) = url.strip_prefix("sqlite://").or_else(|| url.strip_prefix("sqlite:")) else {
            anyhow::bail!(
                "GATEKEY_KEY_PEPPER and GATEKEY_SIGNING_SECRET (or key_pepper and signing_secret in the \
                 config file) are required with PostgreSQL"
            );
        };
        let file = dev_secrets_path(path);
        let dev = DevSecrets::load_or_create(&file)?;
        Ok(Secrets {
            key_pepper: self.key_pepper.clone().unwrap_or(dev.key_pepper),
            signing_secret: self.signing_secret.clone().unwrap_or(dev.signing_secret),
        })
    }
}

/// Fields whose values must never appear in an error.
const SECRET_FIELDS: &[&str] = &["key_pepper", "signing_secret"];

/// figment's messages quote the offending value; for a secret field, name the field only.
fn redacted(errors: figment::Error) -> String {
    errors
        .into_iter()
        .map(|e| {
            if e.path.iter().any(|p| SECRET_FIELDS.contains(&p.as_str())) {
                format!(
                    "{}: must be a string of at least {MIN_SECRET_LEN} characters",
                    e.path.join(".")
                )
            } else {
                e.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// The secrets in force.
pub struct Secrets {
    pub key_pepper: SecretString,
    pub signing_secret: SecretString,
}

fn dev_secrets_path(db_path: &str) -> PathBuf {
    let db = db_path.split('?').next().unwrap_or(db_path);
    PathBuf::from(format!("{db}.secrets.toml"))
}

#[derive(Deserialize)]
struct DevSecrets {
    key_pepper: SecretString,
    signing_secret: SecretString,
}

impl DevSecrets {
    /// Reads the file, or writes a new one readable by the owner only.
    fn load_or_create(path: &Path) -> anyhow::Result<Self> {
        if path.exists() {
            let text = std::fs::read_to_string(path)?;
            return toml_secrets(&text).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()));
        }
        use std::io::Write;
        use std::os::unix::fs::OpenOptionsExt;
        let pepper = crate::sessions::refresh::random_token("");
        let signing = crate::sessions::refresh::random_token("");
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(path)?;
        writeln!(
            file,
            "# Development secrets generated by gatekey. Losing this file invalidates every issued key.\n\
             key_pepper = \"{pepper}\"\nsigning_secret = \"{signing}\""
        )?;
        tracing::warn!(
            path = %path.display(),
            "generated development secrets; configure GATEKEY_KEY_PEPPER and GATEKEY_SIGNING_SECRET in production"
        );
        Ok(Self {
            key_pepper: pepper.into(),
            signing_secret: signing.into(),
        })
    }
}

fn toml_secrets(text: &str) -> anyhow::Result<DevSecrets> {
    Ok(Figment::from(Toml::string(text)).extract()?)
}

mod stores;
mod telemetry;
pub use stores::{RedisTls, StoreTimeouts};
pub mod tls;

#[cfg(test)]
mod tests;
