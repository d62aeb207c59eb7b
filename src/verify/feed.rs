//! Follows the store's change feed so every replica drops what another replica changed.
//!
//! Each change has a sequence number. The follower applies everything newer than its cursor,
//! woken at once by NOTIFY on PostgreSQL and polling every `poll_every` anyway (a notification
//! can be lost); MySQL/MariaDB and SQLite have no NOTIFY, so there polling alone delivers
//! changes. Sequence numbers are handed out at insert and committed in any order, so a hole
//! below a newer row may still fill: the follower applies rows past a hole (invalidation is
//! idempotent) but keeps its cursor below the hole until it fills or `gap_timeout` passes (a
//! rolled-back transaction leaves a permanent hole).

use super::Verifier;
use crate::store::{Change, ChangeSubscription, StoreError};
use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::watch;

/// Rows read per poll.
const PAGE: i64 = 1000;

/// The follower's position in the feed.
pub struct FeedCursor {
    /// Every change up to here has been applied.
    cursor: i64,
    /// Applied changes above `cursor` (there is a hole at `cursor + 1`).
    ahead: BTreeSet<i64>,
    /// When the hole at `cursor + 1` was first seen.
    hole_since: Option<Instant>,
}

impl FeedCursor {
    pub fn at(seq: i64) -> Self {
        Self {
            cursor: seq,
            ahead: BTreeSet::new(),
            hole_since: None,
        }
    }

    pub fn position(&self) -> i64 {
        self.cursor
    }

    /// Where to read new rows from: above everything applied, holes or not.
    pub fn read_from(&self) -> i64 {
        self.ahead.last().copied().unwrap_or(self.cursor).max(self.cursor)
    }

    /// The hole's range as `(after, limit)` for `changes_since`, if there is one.
    pub fn hole(&self) -> Option<(i64, i64)> {
        self.ahead.first().map(|first| (self.cursor, first - self.cursor - 1))
    }

    /// Records a batch; returns the changes not applied before, and whether a hole was given
    /// up on (then some change may have been missed).
    pub fn accept(&mut self, batch: Vec<Change>, gap_timeout: Duration) -> (Vec<Change>, bool) {
        let fresh: Vec<Change> = batch
            .into_iter()
            .filter(|c| c.seq > self.cursor && !self.ahead.contains(&c.seq))
            .collect();
        self.ahead.extend(fresh.iter().map(|c| c.seq));
        let skipped = self.advance(gap_timeout);
        (fresh, skipped)
    }

    fn advance(&mut self, gap_timeout: Duration) -> bool {
        let mut skipped = false;
        loop {
            while self.ahead.remove(&(self.cursor + 1)) {
                self.cursor += 1;
                self.hole_since = None;
            }
            if self.ahead.is_empty() {
                self.hole_since = None;
                return skipped;
            }
            let since = *self.hole_since.get_or_insert_with(Instant::now);
            if since.elapsed() < gap_timeout {
                return skipped;
            }
            // The hole never filled: its sequence numbers were rolled back, or logged ahead and
            // lost in a crash (PostgreSQL can skip 32 at once), or their transactions took
            // longer than the timeout, which the caller must assume and recover from. Every
            // number in it was missing when the hole was first seen, so all of them are given
            // up on together: one skip, one cache drop, however wide the hole.
            if let Some(&first) = self.ahead.first() {
                self.cursor = first - 1;
            }
            self.hole_since = None;
            skipped = true;
        }
    }
}

/// Runs until `stop` flips: reads from the latest change on, applies each to `verifier`.
pub async fn follow(verifier: Arc<Verifier>, mut stop: watch::Receiver<bool>) {
    let settings = verifier.settings;
    let mut cursor = loop {
        match verifier.store.latest_change_seq().await {
            Ok(seq) => break FeedCursor::at(seq),
            Err(e) => {
                tracing::warn!(error = %e, "change feed: cannot read the latest sequence; retrying");
                tokio::select! {
                    _ = stop.changed() => return,
                    () = tokio::time::sleep(settings.poll_every) => {}
                }
            }
        }
    };
    verifier.mark_synced();
    let mut subscription: Option<ChangeSubscription> = None;
    let mut next_subscribe = Instant::now();
    loop {
        if subscription.is_none() && Instant::now() >= next_subscribe {
            subscription = subscribe(&verifier).await;
            next_subscribe = Instant::now() + Duration::from_secs(5);
        }
        tokio::select! {
            _ = stop.changed() => return,
            woke = wait(&mut subscription) => {
                if let Err(e) = woke {
                    tracing::warn!(error = %e, "change feed: LISTEN failed; polling until it is back");
                    subscription = None;
                }
            }
            () = tokio::time::sleep(settings.poll_every) => {}
        }
        poll(&verifier, &mut cursor).await;
    }
}

async fn subscribe(verifier: &Verifier) -> Option<ChangeSubscription> {
    match verifier.store.subscribe_changes().await {
        Ok(sub) => sub,
        Err(e) => {
            tracing::warn!(error = %e, "change feed: LISTEN unavailable; polling");
            None
        }
    }
}

async fn wait(subscription: &mut Option<ChangeSubscription>) -> Result<(), StoreError> {
    match subscription {
        Some(sub) => sub.recv().await,
        None => std::future::pending().await,
    }
}

/// Re-reads the hole (if any), then reads every new row page by page, and applies them.
pub async fn poll(verifier: &Verifier, cursor: &mut FeedCursor) {
    let gap_timeout = verifier.settings.gap_timeout;
    let apply = |batch: Vec<Change>, cursor: &mut FeedCursor| {
        let (fresh, skipped) = cursor.accept(batch, gap_timeout);
        for change in &fresh {
            verifier.apply(change);
        }
        if skipped {
            tracing::warn!(
                position = cursor.position(),
                "change feed: skipped a hole; dropping every cache"
            );
            verifier.forget_everything();
        }
    };
    if let Some((after, limit)) = cursor.hole() {
        match bounded(verifier, verifier.store.changes_since(after, limit.max(1))).await {
            Ok(batch) => apply(batch, cursor),
            Err(e) => return failed(&e),
        }
    }
    loop {
        match bounded(verifier, verifier.store.changes_since(cursor.read_from(), PAGE)).await {
            Ok(batch) => {
                let full = batch.len() as i64 == PAGE;
                apply(batch, cursor);
                if !full {
                    break;
                }
            }
            Err(e) => return failed(&e),
        }
    }
    // A hole that times out is only noticed on a poll, even when no row arrives.
    apply(Vec::new(), cursor);
    verifier.mark_synced();
}

/// A feed read may take as long as a lookup: a half-open connection after a failover would
/// otherwise hold the follower for the kernel's retransmission timeout (many minutes), and
/// the replica would go stale without a single error to show for it.
async fn bounded<T>(
    verifier: &Verifier,
    read: impl std::future::Future<Output = Result<T, StoreError>>,
) -> Result<T, StoreError> {
    let limit = verifier.settings.lookup_timeout;
    tokio::time::timeout(limit, read)
        .await
        .unwrap_or(Err(StoreError::TimedOut(limit)))
}

fn failed(e: &StoreError) {
    metrics::counter!("gatekey_change_feed_errors_total").increment(1);
    tracing::warn!(error = %e, "change feed: poll failed");
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::time::UnixMs;
    use crate::store::ChangeKind;

    fn change(seq: i64) -> Change {
        Change {
            seq,
            kind: ChangeKind::Key,
            subject: seq.to_string(),
            created_at: UnixMs(0),
        }
    }

    #[test]
    fn applies_in_order_and_waits_below_a_hole() {
        let mut c = FeedCursor::at(10);
        let (applied, skipped) = c.accept(vec![change(11), change(13)], Duration::from_secs(60));
        assert_eq!((applied.len(), skipped), (2, false));
        assert_eq!(c.position(), 11, "stops below the hole at 12");
        assert_eq!(c.hole(), Some((11, 1)), "only seq 12 is re-read");
        assert_eq!(c.read_from(), 13, "new rows are read from above 13");
        // 13 comes back in a re-read but is not applied twice; 12 fills the hole.
        let (applied, _) = c.accept(vec![change(12), change(13)], Duration::from_secs(60));
        assert_eq!(applied.iter().map(|c| c.seq).collect::<Vec<_>>(), vec![12]);
        assert_eq!((c.position(), c.hole()), (13, None));
    }

    #[test]
    fn a_wide_hole_is_skipped_whole_after_one_timeout() {
        let timeout = Duration::from_millis(40);
        let mut c = FeedCursor::at(0);
        // A crash can skip 32 sequence numbers at once.
        let (_, skipped) = c.accept(vec![change(33)], timeout);
        assert_eq!((c.position(), skipped), (0, false), "waits below the hole first");
        std::thread::sleep(timeout + Duration::from_millis(10));
        let (_, skipped) = c.accept(Vec::new(), timeout);
        assert_eq!((c.position(), skipped), (33, true), "one timeout skips all 32");
        let (_, skipped) = c.accept(vec![change(34)], timeout);
        assert_eq!((c.position(), skipped), (34, false), "and caches are dropped once");
    }

    #[test]
    fn a_hole_that_never_fills_is_skipped_after_the_timeout() {
        let mut c = FeedCursor::at(0);
        let (_, skipped) = c.accept(vec![change(2)], Duration::ZERO);
        assert_eq!(
            (c.position(), skipped),
            (2, true),
            "skipping is reported so caches are dropped"
        );
    }
}
