//! What Verify takes and answers, and how it is tuned.

use super::cache::{CacheSettings, CachedKey};
use super::flood::FloodSettings;
use super::tokens::{CachedToken, RoleScopes};
use crate::domain::rate_limit::RateLimitPolicy;
use crate::domain::time::UnixMs;
use crate::domain::verify::{RequiredScopes, VerifyReason};
use crate::ratelimit::{Bucket, Verdict};
use crate::sessions::jwt::LEEWAY_SECS;
use crate::store::StoreError;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

/// Longest credential looked at; longer ones are invalid without further work.
pub const MAX_CREDENTIAL_LEN: usize = 8192;

/// Tuning of the hot path.
#[derive(Debug, Clone, Copy)]
pub struct VerifySettings {
    /// How often the change feed is polled when no notification arrives.
    pub poll_every: Duration,
    /// How long a hole in the feed's sequence is waited for before it is skipped.
    pub gap_timeout: Duration,
    /// Cached allows stop (UNAVAILABLE) when the feed has not been read for this long.
    pub stale_after: Duration,
    /// How often `last_used_at` is flushed.
    pub flush_every: Duration,
    pub cache: CacheSettings,
    pub max_tokens: u64,
    /// Access-token lifetime, which bounds how long token and session entries are kept.
    pub token_lifetime: Duration,
    /// Budgets for failed credentials per client and for lookups of unknown keys.
    pub flood: FloodSettings,
    /// The longest a call waits for a store read on a cache miss before `UNAVAILABLE`.
    pub store_timeout: Duration,
    /// The longest a shared key lookup runs on after its callers stopped waiting.
    pub lookup_timeout: Duration,
}

impl Default for VerifySettings {
    fn default() -> Self {
        Self {
            poll_every: Duration::from_secs(1),
            gap_timeout: Duration::from_secs(10),
            stale_after: Duration::from_secs(30),
            flush_every: Duration::from_secs(1),
            cache: CacheSettings::default(),
            max_tokens: 200_000,
            token_lifetime: Duration::from_secs(3600 + LEEWAY_SECS),
            flood: FloodSettings::default(),
            store_timeout: Duration::from_millis(150),
            lookup_timeout: Duration::from_secs(5),
        }
    }
}

/// A validated Verify request. Its `Debug` never shows the credential.
pub struct VerifyInput<'a> {
    pub credential: &'a str,
    pub required: RequiredScopes,
    pub client_ip: Option<IpAddr>,
    /// Rate-limit units, at least 1.
    pub cost: u32,
}

impl std::fmt::Debug for VerifyInput<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VerifyInput")
            .field("credential", &"<redacted>")
            .field("required", &self.required)
            .field("client_ip", &self.client_ip)
            .field("cost", &self.cost)
            .finish()
    }
}

/// Who the credential belongs to.
#[derive(Debug, Clone)]
pub enum Principal {
    Key(Arc<CachedKey>),
    User {
        token: Arc<CachedToken>,
        scopes: Arc<RoleScopes>,
    },
}

/// The bucket, policy and verdict of the rate-limit check.
#[derive(Debug, Clone, Copy)]
pub struct RateLimitOutcome {
    pub bucket: Bucket,
    pub policy: RateLimitPolicy,
    pub verdict: Verdict,
}

/// The answer to one Verify call.
#[derive(Debug, Clone)]
pub struct Decision {
    pub reason: VerifyReason,
    pub principal: Option<Principal>,
    pub rate_limit: Option<RateLimitOutcome>,
    /// When the credential expired, on an `Expired` denial where it is known.
    pub expired_at: Option<UnixMs>,
}

impl Decision {
    pub fn allowed(&self) -> bool {
        self.reason == VerifyReason::Ok
    }

    pub fn deny(reason: VerifyReason) -> Self {
        Self {
            reason,
            principal: None,
            rate_limit: None,
            expired_at: None,
        }
    }

    /// `RATE_LIMITED` by `outcome`, with no principal: nothing about the credential is known.
    pub fn throttled(outcome: RateLimitOutcome) -> Self {
        Self {
            rate_limit: Some(outcome),
            ..Self::deny(VerifyReason::RateLimited)
        }
    }
}

/// Verify could not answer: the store is needed and unreachable, or too long unseen.
#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    /// Shared: one failed lookup answers every call that joined it.
    #[error("store unavailable")]
    Unavailable(#[source] Arc<StoreError>),
    #[error("change feed not read for too long")]
    Stale,
}
