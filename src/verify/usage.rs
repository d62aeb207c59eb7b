//! `last_used_at`, coalesced: Verify only marks the key in memory; a flusher writes the
//! batch at most once a second and on shutdown, so Verify itself never writes to the store.

use super::cache::CachedKey;
use crate::store::{KeyUsage, StoreError};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Most keys written by one statement (two parameters each, far below both backends' limits),
/// so a replica using up to this many keys a second writes one statement a second.
const BATCH: usize = 5000;

/// Keys used since the last flush.
#[derive(Default)]
pub struct UsageLog {
    pending: Mutex<Vec<Arc<CachedKey>>>,
}

impl UsageLog {
    /// Queues `key` if it was not queued already (the common case takes no lock).
    pub fn record(&self, key: &Arc<CachedKey>, now: crate::domain::time::UnixMs) {
        if key.mark_used(now)
            && let Ok(mut pending) = self.pending.lock()
        {
            pending.push(key.clone());
        }
    }

    /// Writes every pending use; failed batches are queued again for the next flush.
    /// Each statement may take `limit`: a store that stopped answering must not hold the
    /// flusher, or shutdown, past its grace period. Marks that were not written are kept.
    pub async fn flush(&self, store: &dyn KeyUsage, limit: Duration) -> usize {
        let batch = match self.pending.lock() {
            Ok(mut pending) => std::mem::take(&mut *pending),
            Err(_) => return 0,
        };
        let mut written = 0;
        for chunk in batch.chunks(BATCH) {
            let uses: Vec<_> = chunk.iter().map(|k| k.take_use()).collect();
            let touched = match tokio::time::timeout(limit, store.touch_keys(&uses)).await {
                Ok(touched) => touched,
                Err(_) => Err(StoreError::TimedOut(limit)),
            };
            match touched {
                Ok(()) => written += uses.len(),
                Err(e) => {
                    tracing::warn!(error = %e, keys = uses.len(), "flushing last_used_at failed; will retry");
                    metrics::counter!("gatekey_usage_flush_failures_total").increment(1);
                    if let Ok(mut pending) = self.pending.lock() {
                        pending.extend(chunk.iter().filter(|k| k.remark()).cloned());
                    }
                }
            }
        }
        written
    }
}
