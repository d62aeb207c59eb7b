//! Readiness: whether this replica can answer Verify, asked the same way by gRPC health and
//! `/readyz`. A replica is ready while its cached allows are fresh (the change feed was read
//! within `verify_stale_secs`) or the store answers; it is not ready only when both fail, which
//! is exactly when Verify answers `UNAVAILABLE` to every credential.

use super::Core;
use std::time::Duration;

/// How long readiness waits for the store's answer.
const PING_WAIT: Duration = Duration::from_secs(1);

/// Whether this replica should get traffic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Readiness {
    Ready,
    /// The store does not answer and the cached allows are past their stale window; the
    /// message says which store failure and for how long the feed is unread (no secret).
    NotReady(String),
}

impl Core {
    /// The store is pinged only when the cache is stale: a fresh replica is ready anyway.
    pub async fn readiness(&self) -> Readiness {
        if self.verifier.is_fresh() {
            return Readiness::Ready;
        }
        let failure = match tokio::time::timeout(PING_WAIT, self.store.ping()).await {
            Ok(Ok(())) => return Readiness::Ready,
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
