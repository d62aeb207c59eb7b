//! The state every use case shares.

use crate::domain::time::SharedClock;
use crate::sessions::jwt::JwtKeys;
use crate::sessions::password::PasswordHasher;
use crate::sessions::throttle::LoginThrottle;
use crate::store::SharedStore;
use crate::verify::Verifier;
use secrecy::SecretString;
use std::sync::Arc;
use std::time::Duration;

/// Lifetimes of session credentials.
#[derive(Debug, Clone, Copy)]
pub struct SessionTtls {
    pub access: Duration,
    pub refresh: Duration,
    pub remember_me: Duration,
}

/// Store, clock, keys and settings, built once by `app.rs`.
pub struct Core {
    pub store: SharedStore,
    pub clock: SharedClock,
    pub jwt: Arc<JwtKeys>,
    /// The Verify engine; use cases that change keys or sessions invalidate it directly, so
    /// this replica denies on the very next call (others learn through the change feed).
    pub verifier: Arc<Verifier>,
    pub passwords: PasswordHasher,
    pub throttle: LoginThrottle,
    pub key_pepper: SecretString,
    pub key_pepper_version: i32,
    pub ttls: SessionTtls,
}
