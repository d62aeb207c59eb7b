//! Key usage: the `last_used_at` that replicas flush in batches, each on its own schedule.

use super::fixtures::{at, issued_key, key_of, service_account, tenant};
use gatekey::domain::api_key::ApiKey;
use gatekey::domain::ids::KeyId;
use gatekey::domain::time::UnixMs;
use gatekey::store::Store;

pub(super) async fn touching_keys_raises_last_used_at_and_never_lowers_it(store: &dyn Store) {
    let t = tenant(store).await;
    let sa = service_account(store, &t, "ci").await;
    let (a, b, c) = (
        issued_key(store, &t, sa.id).await,
        issued_key(store, &t, sa.id).await,
        issued_key(store, &t, sa.id).await,
    );
    let used = |key: &ApiKey, when: UnixMs| ApiKey {
        last_used_at: Some(when),
        ..key.clone()
    };

    store.touch_keys(&[(a.id, at(5_000)), (b.id, at(7_000))]).await.unwrap();
    assert_eq!(key_of(store, &t, a.id).await, Some(used(&a, at(5_000))));
    assert_eq!(key_of(store, &t, b.id).await, Some(used(&b, at(7_000))));
    assert_eq!(
        key_of(store, &t, c.id).await,
        Some(c.clone()),
        "an untouched key stays unused"
    );

    // Replicas flush independently, so an older use can arrive after a newer one.
    store
        .touch_keys(&[(a.id, at(3_000)), (b.id, at(8_000)), (c.id, at(1_000))])
        .await
        .unwrap();
    assert_eq!(
        key_of(store, &t, a.id).await,
        Some(used(&a, at(5_000))),
        "never lowered"
    );
    assert_eq!(key_of(store, &t, b.id).await, Some(used(&b, at(8_000))), "raised");
    assert_eq!(key_of(store, &t, c.id).await, Some(used(&c, at(1_000))), "set");
}

pub(super) async fn touching_nothing_or_an_unknown_key_changes_nothing(store: &dyn Store) {
    let t = tenant(store).await;
    let sa = service_account(store, &t, "ci").await;
    let key = issued_key(store, &t, sa.id).await;
    store.touch_keys(&[]).await.unwrap();
    assert_eq!(key_of(store, &t, key.id).await, Some(key.clone()));

    // A key deleted between its use and the flush is skipped; the rest of the batch is written.
    let deleted = issued_key(store, &t, sa.id).await;
    store.revoke_key(&t.ctx_at(at(1_000)), deleted.id).await.unwrap();
    store.delete_key(&t.ctx_at(at(1_000)), deleted.id).await.unwrap();
    let batch = [
        (KeyId::generate(), at(2_000)),
        (deleted.id, at(2_000)),
        (key.id, at(2_000)),
    ];
    store.touch_keys(&batch).await.unwrap();
    let used = ApiKey {
        last_used_at: Some(at(2_000)),
        ..key.clone()
    };
    assert_eq!(key_of(store, &t, key.id).await, Some(used));
    assert_eq!(key_of(store, &t, deleted.id).await, None, "not brought back");
}

pub(super) async fn a_key_named_twice_in_one_batch_keeps_the_later_time(store: &dyn Store) {
    let t = tenant(store).await;
    let sa = service_account(store, &t, "ci").await;
    let (a, b) = (issued_key(store, &t, sa.id).await, issued_key(store, &t, sa.id).await);
    // A replica whose cache entry for a key was replaced while its use was pending flushes
    // both entries; either may come first.
    let batch = [
        (a.id, at(1_000)),
        (a.id, at(2_000)),
        (b.id, at(2_000)),
        (b.id, at(1_000)),
    ];
    store.touch_keys(&batch).await.unwrap();
    for key in [&a, &b] {
        let used = ApiKey {
            last_used_at: Some(at(2_000)),
            ..key.clone()
        };
        assert_eq!(key_of(store, &t, key.id).await, Some(used));
    }
}
