//! How long callers wait for the stores, and how gatekey reaches them at start: the settings
//! behind "fail fast" (a gateway gets `UNAVAILABLE` in milliseconds, never a hung call) and
//! behind a replica that starts before its database without crash-looping.

use super::Config;
use std::path::PathBuf;
use std::time::Duration;

pub(super) mod defaults {
    pub fn store_timeout_ms() -> u64 {
        150
    }
    pub fn admin_store_timeout_ms() -> u64 {
        5000
    }
    pub fn store_acquire_timeout_ms() -> u64 {
        5000
    }
    pub fn store_connect_timeout_secs() -> u64 {
        30
    }
}

/// The store timeouts in force, validated.
#[derive(Debug, Clone, Copy)]
pub struct StoreTimeouts {
    /// Verify, ext_authz, the rate-limit service and forward-auth: the longest a call waits
    /// for a store read on a cache miss.
    pub verify: Duration,
    /// Every store call of an admin or auth use case.
    pub admin: Duration,
    /// The longest the pool waits for a connection (connecting included).
    pub acquire: Duration,
    /// How long start-up keeps trying to reach the store (0: one attempt).
    pub connect: Duration,
}

/// Where the Redis CA comes from, when `rediss://` should not trust the bundled roots.
#[derive(Debug, Clone, Default)]
pub struct RedisTls {
    pub ca_cert: Option<PathBuf>,
}

impl Config {
    /// The store timeouts, each positive (the start-up budget may be 0: try once).
    pub fn store_timeouts(&self) -> anyhow::Result<StoreTimeouts> {
        for (name, value) in [
            ("store_timeout_ms", self.store_timeout_ms),
            ("admin_store_timeout_ms", self.admin_store_timeout_ms),
            ("store_acquire_timeout_ms", self.store_acquire_timeout_ms),
        ] {
            anyhow::ensure!(value > 0, "{name} must be positive");
        }
        Ok(StoreTimeouts {
            verify: Duration::from_millis(self.store_timeout_ms),
            admin: Duration::from_millis(self.admin_store_timeout_ms),
            acquire: Duration::from_millis(self.store_acquire_timeout_ms),
            connect: Duration::from_secs(self.store_connect_timeout_secs),
        })
    }

    /// The Redis TLS settings; a configured CA file must exist.
    pub fn redis_tls(&self) -> anyhow::Result<RedisTls> {
        if let Some(path) = &self.redis_ca_cert {
            anyhow::ensure!(path.is_file(), "redis_ca_cert {} is not a file", path.display());
        }
        Ok(RedisTls {
            ca_cert: self.redis_ca_cert.clone(),
        })
    }
}
