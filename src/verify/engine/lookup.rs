//! Keys not in memory: read from the store once per flight of concurrent misses, within the
//! flood budgets (see `verify::flood`), and the charge an invalid credential costs its client.

use super::Verifier;
use crate::domain::verify::VerifyReason;
use crate::store::StoreError;
use crate::verify::cache::CachedKey;
use crate::verify::{Decision, RateLimitOutcome, VerifyError, VerifyInput};
use std::net::IpAddr;
use std::sync::Arc;
use tokio::sync::OnceCell;

/// A finished key lookup: the generation it started at, and what it found.
type KeyLookup = (u64, Option<Arc<CachedKey>>);

/// One store lookup under way, shared by the calls that missed the same key meanwhile.
pub(super) type Flight = OnceCell<KeyLookup>;

/// What a cache miss came to.
pub(super) enum Looked {
    Found(Arc<CachedKey>),
    Unknown,
    /// A flood budget is spent: answered without a lookup.
    Throttled(RateLimitOutcome),
}

/// Why a flight ended without an answer.
enum Grounded {
    Store(StoreError),
    OverBudget(RateLimitOutcome),
}

impl Verifier {
    /// The verdict for an invalid credential: `INVALID_CREDENTIAL`, charged to the client's
    /// failure budget; once that is spent, `RATE_LIMITED` instead.
    pub(super) fn invalid(&self, input: &VerifyInput<'_>) -> Decision {
        match self.flood.charge_client(input.client_ip, self.now_ns()) {
            Ok(()) => Decision::deny(VerifyReason::InvalidCredential),
            Err(outcome) => {
                self.metrics.flood_client.increment(1);
                Decision::throttled(outcome)
            }
        }
    }

    /// Reads a key that is not in memory. A call that starts a lookup charges the client one
    /// failure before it runs, not after, so a thousand concurrent guesses cannot all pass a
    /// budget none of them has spent yet; the charge is given back when the key exists, so
    /// real keys never spend the budget. A call that joins a lookup already under way for the
    /// same key is not charged: it costs the store nothing, and a busy client of one real key
    /// on a cold cache must not exhaust its budget on reservations.
    pub(super) async fn look_up(&self, hash: [u8; 32], client: Option<IpAddr>) -> Result<Looked, VerifyError> {
        let joining = self
            .inflight
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .contains_key(&hash);
        if !joining {
            if let Err(outcome) = self.flood.charge_client(client, self.now_ns()) {
                self.metrics.flood_client.increment(1);
                return Ok(Looked::Throttled(outcome));
            }
        }
        let looked = self.load_key(hash).await;
        if !joining && !matches!(looked, Ok(Looked::Unknown)) {
            self.flood.refund_client(client);
        }
        looked
    }

    /// Reads a key on a cache miss. Concurrent misses for one key share one store query (a
    /// busy key just invalidated, or a burst of one unknown key, costs the store one lookup),
    /// which alone draws on the replica's lookup budget. A lookup that began before an
    /// invalidation answers no caller that joined after it and is never cached: the
    /// generation it started at must still be current.
    async fn load_key(&self, hash: [u8; 32]) -> Result<Looked, VerifyError> {
        let joined_at = self.generation();
        let flight = {
            let mut inflight = self.inflight.lock().unwrap_or_else(|p| p.into_inner());
            inflight.entry(hash).or_default().clone()
        };
        let lookup = flight
            .get_or_try_init(|| async {
                let started_at = self.generation();
                self.flood.charge_lookup(self.now_ns()).map_err(Grounded::OverBudget)?;
                let found = self.find(&hash).await.map_err(Grounded::Store)?;
                if found.is_some() {
                    self.flood.refund_lookup();
                }
                Ok::<_, Grounded>((started_at, found))
            })
            .await
            .map(|(started_at, found)| (*started_at, found.clone()));
        let fresh = match lookup {
            Ok((started_at, found)) if started_at >= joined_at && started_at == self.generation() => Some(found),
            Ok(_) => None,
            Err(Grounded::Store(e)) => {
                self.land(hash, &flight);
                return Err(VerifyError::Unavailable(e));
            }
            // The joiners of this flight each try the budget in turn, and are refused alike.
            Err(Grounded::OverBudget(outcome)) => {
                self.land(hash, &flight);
                self.metrics.flood_lookups.increment(1);
                return Ok(Looked::Throttled(outcome));
            }
        };
        let found = match fresh {
            Some(found) => {
                match &found {
                    Some(k) => self.keys.insert(hash, k.clone()),
                    None => self.keys.insert_unknown(hash),
                }
                found
            }
            // Raced an invalidation: ask the store again for this call, and cache nothing.
            // Not charged: the lookup it repeats was.
            None => self.find(&hash).await.map_err(VerifyError::Unavailable)?,
        };
        self.land(hash, &flight);
        Ok(found.map_or(Looked::Unknown, Looked::Found))
    }

    /// One store lookup by hash, counted by what it found.
    async fn find(&self, hash: &[u8; 32]) -> Result<Option<Arc<CachedKey>>, StoreError> {
        let found = self.store.find_key_by_hash(hash).await?;
        match found {
            Some(_) => self.metrics.lookups_found.increment(1),
            None => self.metrics.lookups_unknown.increment(1),
        }
        Ok(found.map(|k| Arc::new(CachedKey::new(k))))
    }

    /// Retires a finished lookup, after its result is cached, so later misses start afresh.
    fn land(&self, hash: [u8; 32], flight: &Arc<Flight>) {
        let mut inflight = self.inflight.lock().unwrap_or_else(|p| p.into_inner());
        if inflight.get(&hash).is_some_and(|f| Arc::ptr_eq(f, flight)) {
            inflight.remove(&hash);
        }
    }

    /// The engine's clock in nanoseconds, as the limiters count.
    fn now_ns(&self) -> i64 {
        self.clock.now().0.saturating_mul(1_000_000)
    }
}
