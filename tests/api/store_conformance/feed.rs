//! The change feed replicas follow to drop cached keys, sessions and org settings, and the
//! wake-up signal that lets them read it early.
//!
//! A replica remembers the last `seq` it applied and asks for what follows, so the feed must
//! be strictly ordered, resumable from any `seq`, and hold exactly one row per change that
//! affects a cached answer; a call that changes nothing must leave it alone.

use super::Backend;
use super::fixtures::{
    HOUR_MS, IP, Recorded, UA, at, change, changes_after, feed_end, is_not_found, is_not_rotatable, issued_key,
    refresh, rotated, scopes, service_account, session, successor, tenant,
};
use gatekey::domain::ids::KeyId;
use gatekey::domain::rate_limit::RateLimitPolicy;
use gatekey::domain::role::Role;
use gatekey::store::{ChangeKind, Precondition, RateLimitTarget, RefreshOutcome, Store, StoreError};
use std::time::Duration;

pub(super) async fn an_empty_feed_ends_at_zero(store: &dyn Store) {
    assert_eq!(store.latest_change_seq().await.unwrap(), 0);
    assert!(store.changes_since(0, 100).await.unwrap().is_empty());
}

pub(super) async fn changes_are_read_in_order_after_a_given_seq_a_limit_at_a_time(store: &dyn Store) {
    let t = tenant(store).await;
    let sa = service_account(store, &t, "ci").await;
    let (k0, k1) = (issued_key(store, &t, sa.id).await, issued_key(store, &t, sa.id).await);
    let (s, token) = session(store, &t, false).await;
    let start = feed_end(store).await;

    // One change of every kind, interleaved, so the order is the feed's and not per kind.
    store.revoke_key(&t.ctx_at(at(1_000)), k0.id).await.unwrap();
    let limit = Some(RateLimitPolicy::DEFAULT);
    store
        .set_rate_limit(&t.ctx_at(at(2_000)), RateLimitTarget::Org, limit)
        .await
        .unwrap();
    store.revoke_session_by_token(&token, IP, at(3_000)).await.unwrap();
    store
        .set_role_scopes(&t.ctx_at(at(4_000)), Role::Member, &scopes(&["cameras.read"]))
        .await
        .unwrap();
    store.revoke_key(&t.ctx_at(at(5_000)), k1.id).await.unwrap();

    let all = store.changes_since(start, 100).await.unwrap();
    let recorded: Vec<Recorded> = all.iter().map(|c| (c.kind, c.subject.clone(), c.created_at)).collect();
    assert_eq!(
        recorded,
        [
            change(ChangeKind::Key, k0.id, at(1_000)),
            change(ChangeKind::Org, t.org, at(2_000)),
            change(ChangeKind::Session, s.id, at(3_000)),
            change(ChangeKind::Org, t.org, at(4_000)),
            change(ChangeKind::Key, k1.id, at(5_000)),
        ]
    );
    assert!(all[0].seq > start, "{start} then {all:?}");
    assert!(
        all.windows(2).all(|w| w[0].seq < w[1].seq),
        "strictly increasing: {all:?}"
    );
    assert_eq!(feed_end(store).await, all[4].seq, "the latest seq is the last change's");

    // A follower reading two at a time resumes after the last seq it saw.
    assert_eq!(store.changes_since(start, 2).await.unwrap(), all[..2]);
    assert_eq!(store.changes_since(all[1].seq, 2).await.unwrap(), all[2..4]);
    assert_eq!(store.changes_since(all[3].seq, 2).await.unwrap(), all[4..]);
    assert!(store.changes_since(all[4].seq, 2).await.unwrap().is_empty());
    assert_eq!(store.changes_since(all[2].seq, 1).await.unwrap(), all[3..4]);
}

pub(super) async fn revoking_rotating_and_deleting_a_key_each_record_a_key_change(store: &dyn Store) {
    let t = tenant(store).await;
    let sa = service_account(store, &t, "ci").await;
    let revoked = issued_key(store, &t, sa.id).await;
    let replaced = issued_key(store, &t, sa.id).await;
    let overlapped = issued_key(store, &t, sa.id).await;
    let start = feed_end(store).await;

    store.revoke_key(&t.ctx_at(at(1_000)), revoked.id).await.unwrap();
    let next = successor(&t, &replaced, at(2_000));
    store
        .rotate_key(&t.ctx_at(at(2_000)), replaced.id, &next, None)
        .await
        .unwrap();
    let next = successor(&t, &overlapped, at(3_000));
    let grace_until = Some(at(3_000 + HOUR_MS));
    store
        .rotate_key(&t.ctx_at(at(3_000)), overlapped.id, &next, grace_until)
        .await
        .unwrap();
    store.delete_key(&t.ctx_at(at(4_000)), revoked.id).await.unwrap();

    // The subject is the key replicas hold in their caches: the old one when rotating.
    assert_eq!(
        changes_after(store, start).await,
        [
            change(ChangeKind::Key, revoked.id, at(1_000)),
            change(ChangeKind::Key, replaced.id, at(2_000)),
            change(ChangeKind::Key, overlapped.id, at(3_000)),
            change(ChangeKind::Key, revoked.id, at(4_000)),
        ]
    );
}

pub(super) async fn a_call_that_changes_nothing_records_no_change(store: &dyn Store) {
    let a = tenant(store).await;
    let b = tenant(store).await;
    let sa = service_account(store, &a, "ci").await;
    let revoked = issued_key(store, &a, sa.id).await;
    store.revoke_key(&a.ctx_at(at(1_000)), revoked.id).await.unwrap();
    let live = issued_key(store, &a, sa.id).await;
    let start = feed_end(store).await;
    let (now, intruder) = (a.ctx_at(at(2_000)), b.ctx_at(at(2_000)));

    let again = store.revoke_key(&now, revoked.id).await.unwrap();
    assert_eq!(again.revoked_at, Some(at(1_000)), "revoking again is a no-op");
    let r = store
        .rotate_key(&now, revoked.id, &successor(&a, &revoked, now.now), None)
        .await;
    assert!(is_not_rotatable(&r), "{r:?}");
    let r = store.delete_key(&now, live.id).await;
    assert!(
        matches!(r, Err(StoreError::Precondition(Precondition::KeyNotRevoked))),
        "{r:?}"
    );

    let r = store.revoke_key(&intruder, live.id).await;
    assert!(is_not_found(&r), "{r:?}");
    let r = store
        .rotate_key(&intruder, live.id, &successor(&b, &live, now.now), None)
        .await;
    assert!(is_not_found(&r), "{r:?}");
    let r = store.delete_key(&intruder, revoked.id).await;
    assert!(is_not_found(&r), "{r:?}");
    let r = store
        .set_rate_limit(&intruder, RateLimitTarget::Key(live.id), Some(RateLimitPolicy::DEFAULT))
        .await;
    assert!(is_not_found(&r), "{r:?}");
    let r = store.revoke_key(&now, KeyId::generate()).await;
    assert!(is_not_found(&r), "{r:?}");
    let unknown_token = store.revoke_session_by_token(&rand::random(), IP, at(2_000)).await;
    assert_eq!(unknown_token.unwrap(), None);

    let changes = changes_after(store, start).await;
    assert!(changes.is_empty(), "{changes:?}");
}

pub(super) async fn logging_out_and_reusing_a_refresh_token_record_a_session_change(store: &dyn Store) {
    let t = tenant(store).await;
    let (logged_out, token) = session(store, &t, false).await;
    let (stolen, first_token) = session(store, &t, false).await;
    let (out, _) = refresh(store, &first_token, UA, at(500)).await;
    assert_eq!(out, rotated(&stolen, at(500)));
    let start = feed_end(store).await;

    let ended = store.revoke_session_by_token(&token, IP, at(1_000)).await.unwrap();
    assert_eq!(ended, Some(logged_out.id));
    let again = store.revoke_session_by_token(&token, IP, at(2_000)).await.unwrap();
    assert_eq!(again, Some(logged_out.id), "an already ended session is left as it is");
    let (out, _) = refresh(store, &first_token, UA, at(3_000)).await;
    assert!(
        matches!(&out, RefreshOutcome::Reused(s) if s.id == stolen.id),
        "{out:?}"
    );

    assert_eq!(
        changes_after(store, start).await,
        [
            change(ChangeKind::Session, logged_out.id, at(1_000)),
            change(ChangeKind::Session, stolen.id, at(3_000)),
        ]
    );
}

/// PostgreSQL wakes followers with LISTEN/NOTIFY; SQLite and MySQL have no such signal, so
/// their followers poll (`None`).
pub(super) async fn followers_are_woken_by_notify_on_postgres_and_poll_elsewhere(store: &dyn Store, backend: Backend) {
    let t = tenant(store).await;
    let sa = service_account(store, &t, "ci").await;
    let key = issued_key(store, &t, sa.id).await;

    let subscription = store.subscribe_changes().await.unwrap();
    if backend != Backend::Postgres {
        assert!(subscription.is_none(), "{backend:?} followers poll");
        return;
    }
    let mut subscription = subscription.expect("PostgreSQL offers a subscription");

    let quiet = tokio::time::timeout(Duration::from_millis(200), subscription.recv()).await;
    assert!(quiet.is_err(), "woke before anything changed: {quiet:?}");
    // The change commits on a pool connection, not on the listening one.
    store.revoke_key(&t.ctx_at(at(1_000)), key.id).await.unwrap();
    let woke = tokio::time::timeout(Duration::from_secs(3), subscription.recv()).await;
    assert!(
        matches!(woke, Ok(Ok(()))),
        "not woken within 3 s of the commit: {woke:?}"
    );
}
