//! Verified API keys in memory, by keyed hash, with an index by key id for invalidation.
//!
//! A hit costs the HMAC the caller already computed plus one lookup. Unknown well-formed keys
//! are remembered briefly too, so a client hammering with a made-up key cannot turn every
//! call into a store query.

use crate::domain::api_key::{ApiKey, KeyStatus, KeyTimes, key_status};
use crate::domain::ids::{KeyId, OrgId, ServiceAccountId};
use crate::domain::ip::IpAllowlist;
use crate::domain::key_format::{Environment, KeyKind, START_LEN, prefix_of};
use crate::domain::rate_limit::RateLimitPolicy;
use crate::domain::role::Role;
use crate::domain::scope::Scopes;
use crate::domain::time::UnixMs;
use moka::notification::RemovalCause;
use moka::sync::Cache;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

/// What Verify reads of a key, and nothing else: a cache of 100k keys must stay small
/// (metadata as a boxed slice, not a map whose first node alone is ~560 bytes).
#[derive(Debug)]
pub struct VerifiedKey {
    pub id: KeyId,
    pub org_id: OrgId,
    pub service_account_id: ServiceAccountId,
    pub kind: KeyKind,
    pub environment: Environment,
    pub role: Role,
    /// The first random characters (ASCII), for the display prefix.
    start: [u8; START_LEN],
    pub scopes: Scopes,
    pub ip_allowlist: IpAllowlist,
    pub expires_at: Option<UnixMs>,
    pub revoked_at: Option<UnixMs>,
    pub disabled_at: Option<UnixMs>,
    pub rate_limit: Option<RateLimitPolicy>,
    pub metadata: Box<[(Box<str>, Box<str>)]>,
}

impl VerifiedKey {
    fn from_key(k: ApiKey) -> Self {
        let mut start = [b'?'; START_LEN];
        for (slot, b) in start.iter_mut().zip(k.start.bytes()) {
            *slot = b;
        }
        Self {
            id: k.id,
            org_id: k.org_id,
            service_account_id: k.service_account_id,
            kind: k.kind,
            environment: k.environment,
            role: k.role,
            start,
            metadata: k
                .metadata
                .as_map()
                .iter()
                .map(|(a, b)| (a.as_str().into(), b.as_str().into()))
                .collect(),
            scopes: k.scopes,
            ip_allowlist: k.ip_allowlist,
            expires_at: k.expires_at,
            revoked_at: k.revoked_at,
            disabled_at: k.disabled_at,
            rate_limit: k.rate_limit,
        }
    }

    /// The same rule as [`ApiKey::status`], so the cache path and the store path agree.
    pub fn status(&self, now: UnixMs) -> KeyStatus {
        key_status(
            KeyTimes {
                revoked_at: self.revoked_at,
                expires_at: self.expires_at,
                disabled_at: self.disabled_at,
            },
            now,
        )
    }

    /// `sk_live_AbCd`, as [`ApiKey::display_prefix`].
    pub fn display_prefix(&self) -> String {
        let mut s = String::with_capacity(12);
        s.push_str(prefix_of(self.kind, self.environment));
        s.extend(self.start.iter().map(|&b| char::from(b)));
        s
    }
}

/// A key as Verify needs it, plus its in-memory usage mark.
#[derive(Debug)]
pub struct CachedKey {
    pub key: VerifiedKey,
    /// Latest allowed use in this replica, flushed to the store in batches.
    last_used: AtomicI64,
    /// Set when `last_used` changed since the last flush.
    dirty: AtomicBool,
    /// The principal as a transport writes it (gRPC: the encoded `Principal` message), made
    /// on the first answer that names this key. Everything in it is fixed for the entry's
    /// life, and an invalidation replaces the entry, so it is never out of date.
    pub encoded_principal: OnceLock<Box<[u8]>>,
}

impl CachedKey {
    pub fn new(key: ApiKey) -> Self {
        Self {
            key: VerifiedKey::from_key(key),
            last_used: AtomicI64::new(0),
            dirty: AtomicBool::new(false),
            encoded_principal: OnceLock::new(),
        }
    }

    /// Records a use at `now`; true when the key was clean, so the caller queues it for flushing.
    pub fn mark_used(&self, now: UnixMs) -> bool {
        // Reads first: on a busy key most calls land in a millisecond already recorded and on
        // an entry already queued, so they write nothing to the shared cache line.
        if self.last_used.load(Ordering::Relaxed) < now.0 {
            self.last_used.fetch_max(now.0, Ordering::Relaxed);
        }
        !self.dirty.load(Ordering::Acquire) && !self.dirty.swap(true, Ordering::AcqRel)
    }

    /// Takes the pending use for flushing and marks the key clean.
    pub fn take_use(&self) -> (KeyId, UnixMs) {
        self.dirty.store(false, Ordering::Release);
        (self.key.id, UnixMs(self.last_used.load(Ordering::Relaxed)))
    }

    /// Queues the key again after a failed flush.
    pub fn remark(&self) -> bool {
        !self.dirty.swap(true, Ordering::AcqRel)
    }
}

/// What a lookup found.
pub enum Lookup {
    Known(Arc<CachedKey>),
    /// Recently looked up and not in the store.
    Unknown,
    Miss,
}

/// Positive and negative key caches.
pub struct KeyCache {
    known: Cache<[u8; 32], Arc<CachedKey>>,
    unknown: Cache<[u8; 32], ()>,
}

/// Sizes and lifetimes of the caches.
#[derive(Debug, Clone, Copy)]
pub struct CacheSettings {
    pub max_keys: u64,
    /// Bounds how stale an entry can be if a change were ever missed.
    pub key_ttl: Duration,
    pub max_unknown: u64,
    pub unknown_ttl: Duration,
}

impl Default for CacheSettings {
    fn default() -> Self {
        Self {
            max_keys: 200_000,
            key_ttl: Duration::from_secs(300),
            max_unknown: 100_000,
            unknown_ttl: Duration::from_secs(5),
        }
    }
}

/// Counts keys the cache dropped on its own (invalidations and replacements are not
/// evictions). Runs on the evicting thread, only when an entry goes.
fn eviction_counter() -> impl Fn(Arc<[u8; 32]>, Arc<CachedKey>, RemovalCause) + Send + Sync + 'static {
    let size = metrics::counter!("gatekey_verify_cache_evictions_total", "cause" => "size");
    let expired = metrics::counter!("gatekey_verify_cache_evictions_total", "cause" => "expired");
    move |_, _, cause| match cause {
        RemovalCause::Size => size.increment(1),
        RemovalCause::Expired => expired.increment(1),
        RemovalCause::Explicit | RemovalCause::Replaced => {}
    }
}

impl KeyCache {
    pub fn new(s: CacheSettings) -> Self {
        Self {
            // Invalidation by key id is a predicate, not an id-to-hash index: revocations are
            // rare, a registered predicate hides matching entries from every later `get`
            // (moka guarantees it), and an index would cost a second entry per key.
            known: Cache::builder()
                .max_capacity(s.max_keys)
                .time_to_live(s.key_ttl)
                .support_invalidation_closures()
                .eviction_listener(eviction_counter())
                .build(),
            unknown: Cache::builder()
                .max_capacity(s.max_unknown)
                .time_to_live(s.unknown_ttl)
                .build(),
        }
    }

    pub fn get(&self, hash: &[u8; 32]) -> Lookup {
        if let Some(k) = self.known.get(hash) {
            return Lookup::Known(k);
        }
        if self.unknown.contains_key(hash) {
            return Lookup::Unknown;
        }
        Lookup::Miss
    }

    pub fn insert(&self, hash: [u8; 32], key: Arc<CachedKey>) {
        self.known.insert(hash, key);
    }

    pub fn insert_unknown(&self, hash: [u8; 32]) {
        self.unknown.insert(hash, ());
    }

    /// Drops whatever is cached for `hash`, known or unknown.
    pub fn remove(&self, hash: &[u8; 32]) {
        self.known.invalidate(hash);
        self.unknown.invalidate(hash);
    }

    /// Drops a key so the next call reads it from the store.
    pub fn forget(&self, id: KeyId) {
        if self.known.invalidate_entries_if(move |_, k| k.key.id == id).is_err() {
            // Only if predicates were disabled at build time; never leave the key cached.
            self.known.invalidate_all();
        }
    }

    /// Drops every key (after a change the feed may have missed).
    pub fn forget_all(&self) {
        self.known.invalidate_all();
    }

    /// Keys held, after pending evictions (for the memory benchmark).
    pub fn len(&self) -> u64 {
        self.known.run_pending_tasks();
        self.known.entry_count()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}
