//! Keys not in memory: read from the store once per flight of concurrent misses, within the
//! flood budgets (see `verify::flood`), and the charge an invalid credential costs its client.

use super::Verifier;
use crate::domain::verify::VerifyReason;
use crate::store::{StoreError, StoreResult};
use crate::verify::cache::CachedKey;
use crate::verify::{Decision, RateLimitOutcome, VerifyError, VerifyInput};
use std::net::IpAddr;
use std::sync::Arc;
use tokio::sync::watch;

/// What a finished lookup found, shared with every call that joined it.
type Found = Result<Option<Arc<CachedKey>>, Arc<StoreError>>;

/// One store lookup under way, shared by the calls that missed the same key meanwhile. It
/// runs in a task of its own: a caller that stops waiting (after `store_timeout`) does not
/// cancel it, so the key it finds is cached for whoever asks next.
pub(super) struct Flight {
    /// The generation when the lookup started.
    started_at: u64,
    /// `None` until the lookup lands.
    found: watch::Receiver<Option<Found>>,
}

/// What a cache miss came to.
pub(super) enum Looked {
    Found(Arc<CachedKey>),
    Unknown,
    /// A flood budget is spent: answered without a lookup.
    Throttled(RateLimitOutcome),
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
        // Given back when the key was found or no lookup ran (the replica's lookup budget
        // refused it); a timed-out or failed lookup keeps its charge, or a slow store would
        // let one client's guesses through uncharged.
        if !joining && matches!(looked, Ok(Looked::Found(_) | Looked::Throttled(_))) {
            self.flood.refund_client(client);
        }
        looked
    }

    /// Reads a key on a cache miss. Concurrent misses for one key share one store query (a
    /// busy key just invalidated, or a burst of one unknown key, costs the store one lookup),
    /// which alone draws on the replica's lookup budget. A caller waits for it at most
    /// `store_timeout`; the lookup itself runs on (up to `lookup_timeout`) and caches what it
    /// finds. A lookup that began before an invalidation answers no caller that joined after
    /// it and is never cached: the generation it started at must still be current.
    async fn load_key(&self, hash: [u8; 32]) -> Result<Looked, VerifyError> {
        let joined_at = self.generation();
        let flight = match self.board(hash) {
            Ok(flight) => flight,
            // Later callers each try the budget in turn, and are refused alike.
            Err(outcome) => {
                self.metrics.flood_lookups.increment(1);
                return Ok(Looked::Throttled(outcome));
            }
        };
        let found = match tokio::time::timeout(self.settings.store_timeout, landed(&flight)).await {
            Ok(found) => found,
            Err(_) => Err(Arc::new(StoreError::TimedOut(self.settings.store_timeout))),
        };
        let found = found.map_err(VerifyError::Unavailable)?;
        let found = if flight.started_at >= joined_at && flight.started_at == self.generation() {
            found
        } else {
            // Raced an invalidation: ask the store again for this call, and cache nothing.
            // Not charged: the lookup it repeats was.
            self.bounded(self.find(&hash)).await?
        };
        Ok(found.map_or(Looked::Unknown, Looked::Found))
    }

    /// Joins the lookup under way for `hash`, or starts one within the lookup budget.
    fn board(&self, hash: [u8; 32]) -> Result<Arc<Flight>, RateLimitOutcome> {
        let mut inflight = self.inflight.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(flight) = inflight.get(&hash) {
            return Ok(flight.clone());
        }
        self.flood.charge_lookup(self.now_ns())?;
        let (tx, rx) = watch::channel(None);
        let flight = Arc::new(Flight {
            started_at: self.generation(),
            found: rx,
        });
        inflight.insert(hash, flight.clone());
        drop(inflight);
        match self.me.upgrade() {
            Some(me) => {
                tokio::spawn(me.fly(hash, flight.clone(), tx));
            }
            // Only while the engine is being dropped; the waiters see the sender gone.
            None => self.land(hash, &flight),
        }
        Ok(flight)
    }

    /// The lookup's own task: reads the key, caches it unless an invalidation ran meanwhile,
    /// retires the flight and answers everyone still waiting.
    async fn fly(self: Arc<Self>, hash: [u8; 32], flight: Arc<Flight>, tx: watch::Sender<Option<Found>>) {
        let limit = self.settings.lookup_timeout;
        let found = match tokio::time::timeout(limit, self.find(&hash)).await {
            Ok(found) => found.map_err(Arc::new),
            Err(_) => Err(Arc::new(StoreError::TimedOut(limit))),
        };
        if let Ok(found) = &found {
            if found.is_some() {
                self.flood.refund_lookup();
            }
            self.cache_if_current(
                flight.started_at,
                || match found {
                    Some(k) => self.keys.insert(hash, k.clone()),
                    None => self.keys.insert_unknown(hash),
                },
                || self.keys.remove(&hash),
            );
        }
        self.land(hash, &flight);
        let _ = tx.send(Some(found));
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

    /// Awaits a store read for at most `store_timeout`: a gateway is better served by a quick
    /// `UNAVAILABLE` (its failure mode applies) than by waiting on a slow store.
    pub(super) async fn bounded<T>(&self, read: impl Future<Output = StoreResult<T>>) -> Result<T, VerifyError> {
        match tokio::time::timeout(self.settings.store_timeout, read).await {
            Ok(result) => result.map_err(|e| VerifyError::Unavailable(Arc::new(e))),
            Err(_) => Err(VerifyError::Unavailable(Arc::new(StoreError::TimedOut(
                self.settings.store_timeout,
            )))),
        }
    }

    /// The engine's clock in nanoseconds, as the limiters count.
    fn now_ns(&self) -> i64 {
        self.clock.now().0.saturating_mul(1_000_000)
    }
}

/// What `flight` found, once it lands.
async fn landed(flight: &Flight) -> Found {
    let mut landing = flight.found.clone();
    match landing.wait_for(Option::is_some).await {
        Ok(found) => found.clone().unwrap_or_else(|| Err(Arc::new(abandoned()))),
        // The task ended without an answer: the runtime is shutting down.
        Err(_) => Err(Arc::new(abandoned())),
    }
}

/// A lookup whose task ended without answering (the runtime is shutting down).
fn abandoned() -> StoreError {
    StoreError::Internal(anyhow::anyhow!("the key lookup was abandoned"))
}
