//! Verified API keys in memory, by keyed hash, with an index by key id for invalidation.
//!
//! A hit costs the HMAC the caller already computed plus one lookup. Unknown well-formed keys
//! are remembered briefly too, so a client hammering with a made-up key cannot turn every
//! call into a store query.

use crate::domain::api_key::ApiKey;
use crate::domain::ids::KeyId;
use crate::domain::time::UnixMs;
use moka::sync::Cache;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::time::Duration;

/// A key as Verify needs it, plus its in-memory usage mark.
#[derive(Debug)]
pub struct CachedKey {
    pub key: ApiKey,
    /// Latest allowed use in this replica, flushed to the store in batches.
    last_used: AtomicI64,
    /// Set when `last_used` changed since the last flush.
    dirty: AtomicBool,
}

impl CachedKey {
    pub fn new(key: ApiKey) -> Self {
        Self {
            key,
            last_used: AtomicI64::new(0),
            dirty: AtomicBool::new(false),
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
    hash_of: Cache<KeyId, [u8; 32]>,
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

impl KeyCache {
    pub fn new(s: CacheSettings) -> Self {
        Self {
            known: Cache::builder()
                .max_capacity(s.max_keys)
                .time_to_live(s.key_ttl)
                .build(),
            hash_of: Cache::builder()
                .max_capacity(s.max_keys)
                .time_to_live(s.key_ttl)
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
        self.hash_of.insert(key.key.id, hash);
        self.known.insert(hash, key);
    }

    pub fn insert_unknown(&self, hash: [u8; 32]) {
        self.unknown.insert(hash, ());
    }

    /// Drops a key so the next call reads it from the store.
    pub fn forget(&self, id: KeyId) {
        if let Some(hash) = self.hash_of.remove(&id) {
            self.known.invalidate(&hash);
        }
    }

    /// Drops every key (after a change the feed may have missed).
    pub fn forget_all(&self) {
        self.known.invalidate_all();
        self.hash_of.invalidate_all();
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
