//! Readiness: whether this replica can answer Verify, asked the same way by gRPC health and
//! `/readyz`. Every allow, cached or just read, needs a change feed read within
//! `verify_stale_secs` (a stale replica answers `UNAVAILABLE` to every credential even while
//! the store answers pings), so readiness is exactly that freshness. A fresh replica stays
//! ready through a store outage, serving its cache; the store is pinged only to say why a
//! stale one is not ready.

use super::Core;
use std::time::Duration;

/// How long readiness waits for the store's answer.
const PING_WAIT: Duration = Duration::from_secs(1);

/// Whether this replica should get traffic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Readiness {
    Ready,
    /// The change feed is unread past the stale window; the message says for how long and
    /// what the store answers (no secret).
    NotReady(String),
}

impl Core {
    /// The store is pinged only when the cache is stale, for the message.
    pub async fn readiness(&self) -> Readiness {
        if self.verifier.is_fresh() {
            return Readiness::Ready;
        }
        let failure = match tokio::time::timeout(PING_WAIT, self.store.ping()).await {
            Ok(Ok(())) => "the store answers but the change feed is not being read".to_owned(),
            // The top-level message only: the causes beneath may quote the server.
            Ok(Err(e)) => e.to_string(),
            Err(_) => format!("store did not answer within {} ms", PING_WAIT.as_millis()),
        };
        Readiness::NotReady(format!(
            "{failure}; change feed unread for {} s, past verify_stale_secs ({} s)",
            self.verifier.since_synced().as_secs(),
            self.verifier.settings.stale_after.as_secs()
        ))
    }
}
