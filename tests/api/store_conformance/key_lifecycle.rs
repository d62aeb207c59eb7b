//! API keys: the reversible suspension (disable, enable) and key pairs (issued and rotated
//! together, in one transaction).

use super::fixtures::{
    Tenant, at, change, changes_after, events, feed_end, is_not_found, is_not_rotatable, issued_key, key_of,
    new_key_of, service_account, successor, tenant,
};
use gatekey::domain::api_key::{ApiKey, KeyRotation, KeyStatus, NewKey};
use gatekey::domain::audit::action;
use gatekey::domain::ids::{KeyPairId, ServiceAccountId};
use gatekey::domain::key_format::{Environment, KeyKind};
use gatekey::domain::time::UnixMs;
use gatekey::store::{ChangeKind, Precondition, Store, StoreError};

fn is_revoked_precondition<T>(r: &Result<T, StoreError>) -> bool {
    matches!(r, Err(StoreError::Precondition(Precondition::KeyRevoked)))
}

/// A publishable and a secret key of one new pair, not yet stored.
fn pair_of(t: &Tenant, sa: ServiceAccountId) -> (NewKey, NewKey) {
    let pair = KeyPairId::generate();
    let mut pk = new_key_of(t, sa, KeyKind::Publishable, Environment::Live);
    let mut sk = new_key_of(t, sa, KeyKind::Secret, Environment::Live);
    pk.key.pair_id = Some(pair);
    sk.key.pair_id = Some(pair);
    (pk, sk)
}

/// The rotation of `old` at `now` that ends it at once, as the rotate use case builds it.
fn rotation(t: &Tenant, old: &ApiKey, now: UnixMs) -> KeyRotation {
    let mut new = new_key_of(t, old.service_account_id, old.kind, old.environment);
    new.key.name = old.name.rotated(&now.yymmdd());
    new.key.rotated_from = Some(old.id);
    new.key.created_at = now;
    new.key.pair_id = old.pair_id;
    KeyRotation {
        old: old.id,
        new,
        old_expires_at: None,
    }
}

pub(super) async fn disabling_a_key_records_when_once_and_enabling_clears_it(store: &dyn Store) {
    let t = tenant(store).await;
    let sa = service_account(store, &t, "ci").await;
    let key = issued_key(store, &t, sa.id).await;
    let seq = feed_end(store).await;

    let disabled = store.disable_key(&t.ctx_at(at(1_000)), key.id).await.unwrap();
    let expected = ApiKey {
        disabled_at: Some(at(1_000)),
        ..key.clone()
    };
    assert_eq!(disabled, expected);
    assert_eq!(disabled.status(at(2_000)), KeyStatus::Disabled);
    assert_eq!(key_of(store, &t, key.id).await, Some(expected.clone()));
    // Idempotent: the first time stays, with no second event or change.
    let again = store.disable_key(&t.ctx_at(at(5_000)), key.id).await.unwrap();
    assert_eq!(again, expected);
    let audited = events(store, t.org, action::KEY_DISABLED).await;
    assert_eq!(audited.len(), 1);
    assert_eq!(audited[0].target, format!("key:{}", key.id));
    assert_eq!(audited[0].actor, t.ctx.actor);

    let enabled = store.enable_key(&t.ctx_at(at(6_000)), key.id).await.unwrap();
    assert_eq!(enabled, key);
    assert_eq!(key_of(store, &t, key.id).await, Some(key.clone()));
    assert_eq!(store.enable_key(&t.ctx_at(at(7_000)), key.id).await.unwrap(), key);
    assert_eq!(events(store, t.org, action::KEY_ENABLED).await.len(), 1);

    assert_eq!(
        changes_after(store, seq).await,
        vec![
            change(ChangeKind::Key, key.id, at(1_000)),
            change(ChangeKind::Key, key.id, at(6_000)),
        ],
        "one change per state change, so replicas drop the cached key"
    );
}

pub(super) async fn a_revoked_key_can_be_neither_disabled_nor_enabled(store: &dyn Store) {
    let t = tenant(store).await;
    let sa = service_account(store, &t, "ci").await;
    let revoked = issued_key(store, &t, sa.id).await;
    store.revoke_key(&t.ctx_at(at(1_000)), revoked.id).await.unwrap();
    let disabled_then_revoked = issued_key(store, &t, sa.id).await;
    store
        .disable_key(&t.ctx_at(at(1_000)), disabled_then_revoked.id)
        .await
        .unwrap();
    store
        .revoke_key(&t.ctx_at(at(2_000)), disabled_then_revoked.id)
        .await
        .unwrap();

    for key in [&revoked, &disabled_then_revoked] {
        let before = key_of(store, &t, key.id).await;
        let seq = feed_end(store).await;
        let r = store.disable_key(&t.ctx_at(at(3_000)), key.id).await;
        assert!(is_revoked_precondition(&r), "{r:?}");
        let r = store.enable_key(&t.ctx_at(at(3_000)), key.id).await;
        assert!(is_revoked_precondition(&r), "{r:?}");
        assert_eq!(key_of(store, &t, key.id).await, before, "unchanged");
        assert!(changes_after(store, seq).await.is_empty());
    }
    let still = key_of(store, &t, disabled_then_revoked.id).await.unwrap();
    assert_eq!(
        still.status(at(4_000)),
        KeyStatus::Revoked,
        "revoked wins over disabled"
    );
}

pub(super) async fn another_orgs_key_cannot_be_disabled_or_enabled(store: &dyn Store) {
    let a = tenant(store).await;
    let b = tenant(store).await;
    let sa = service_account(store, &a, "ci").await;
    let key = issued_key(store, &a, sa.id).await;
    assert!(is_not_found(&store.disable_key(&b.ctx, key.id).await));
    assert!(is_not_found(&store.enable_key(&b.ctx, key.id).await));
    assert_eq!(key_of(store, &a, key.id).await, Some(key));
}

pub(super) async fn rotating_a_pair_from_either_side_at_once_succeeds_once(store: &dyn Store) {
    let t = tenant(store).await;
    let sa = service_account(store, &t, "web").await;
    let now = at(1_000);
    let ctx = t.ctx_at(now);
    // Several rounds: opposite lock orders deadlock only sometimes.
    for round in 0..4 {
        let (pk, sk) = pair_of(&t, sa.id);
        store.insert_key_pair(&t.ctx, &pk, &sk).await.unwrap();
        let from_pk = (rotation(&t, &pk.key, now), rotation(&t, &sk.key, now));
        let from_sk = (rotation(&t, &sk.key, now), rotation(&t, &pk.key, now));
        let (a, b) = tokio::join!(
            store.rotate_key_pair(&ctx, &from_pk.0, &from_pk.1),
            store.rotate_key_pair(&ctx, &from_sk.0, &from_sk.1),
        );
        assert_eq!(
            usize::from(a.is_ok()) + usize::from(b.is_ok()),
            1,
            "round {round}: exactly one wins: {a:?} / {b:?}"
        );
        let lost = if a.is_ok() { &b } else { &a };
        assert!(is_not_rotatable(lost), "round {round}: the other is told so: {lost:?}");
        let pair = pk.key.pair_id.unwrap();
        assert_eq!(
            store.list_pair_keys(t.org, pair).await.unwrap().len(),
            4,
            "round {round}"
        );
    }
}

pub(super) async fn a_disabled_key_cannot_be_rotated(store: &dyn Store) {
    let t = tenant(store).await;
    let sa = service_account(store, &t, "ci").await;
    let key = issued_key(store, &t, sa.id).await;
    let disabled = store.disable_key(&t.ctx_at(at(1_000)), key.id).await.unwrap();
    let next = successor(&t, &key, at(2_000));
    let r = store.rotate_key(&t.ctx_at(at(2_000)), key.id, &next, None).await;
    assert!(is_not_rotatable(&r), "{r:?}");
    assert_eq!(key_of(store, &t, next.key.id).await, None);
    assert_eq!(key_of(store, &t, key.id).await, Some(disabled));
}

pub(super) async fn a_pair_is_inserted_and_listed_together_with_an_event_per_key(store: &dyn Store) {
    let t = tenant(store).await;
    let other = tenant(store).await;
    let sa = service_account(store, &t, "web").await;
    let (pk, sk) = pair_of(&t, sa.id);
    let pair = pk.key.pair_id.unwrap();
    store.insert_key_pair(&t.ctx, &pk, &sk).await.unwrap();

    assert_eq!(
        store.list_pair_keys(t.org, pair).await.unwrap(),
        vec![pk.key.clone(), sk.key.clone()]
    );
    assert!(store.list_pair_keys(other.org, pair).await.unwrap().is_empty());
    assert_eq!(store.find_key_by_hash(&sk.hash).await.unwrap(), Some(sk.key.clone()));
    let issued = events(store, t.org, action::KEY_ISSUED).await;
    assert_eq!(issued.len(), 2);
    for e in &issued {
        assert_eq!(e.details.get("pair_id"), Some(&pair.to_string()));
    }
}

pub(super) async fn a_pair_whose_second_key_fails_inserts_nothing(store: &dyn Store) {
    let t = tenant(store).await;
    let sa = service_account(store, &t, "web").await;
    let (pk, mut sk) = pair_of(&t, sa.id);
    // The same hash twice breaks the unique index on the second insert.
    sk.hash = pk.hash;
    assert!(store.insert_key_pair(&t.ctx, &pk, &sk).await.is_err());
    assert_eq!(key_of(store, &t, pk.key.id).await, None);
    assert!(events(store, t.org, action::KEY_ISSUED).await.is_empty());
}

pub(super) async fn rotating_a_pair_replaces_both_keys_or_neither(store: &dyn Store) {
    let t = tenant(store).await;
    let sa = service_account(store, &t, "web").await;
    let (pk, sk) = pair_of(&t, sa.id);
    let pair = pk.key.pair_id;
    store.insert_key_pair(&t.ctx, &pk, &sk).await.unwrap();
    let now = at(1_000);
    let (first, second) = (rotation(&t, &pk.key, now), rotation(&t, &sk.key, now));
    let seq = feed_end(store).await;

    let [(new_pk, old_pk), (new_sk, old_sk)] = store.rotate_key_pair(&t.ctx_at(now), &first, &second).await.unwrap();
    assert_eq!((new_pk.pair_id, new_sk.pair_id), (pair, pair));
    assert_eq!((old_pk.revoked_at, old_sk.revoked_at), (Some(now), Some(now)));
    assert_eq!(key_of(store, &t, new_sk.id).await, Some(second.new.key.clone()));
    assert_eq!(store.list_pair_keys(t.org, pair.unwrap()).await.unwrap().len(), 4);
    assert_eq!(events(store, t.org, action::KEY_ROTATED).await.len(), 2);
    let mut changed = changes_after(store, seq).await;
    changed.sort_by(|a, b| a.1.cmp(&b.1));
    let mut expected = vec![
        change(ChangeKind::Key, pk.key.id, now),
        change(ChangeKind::Key, sk.key.id, now),
    ];
    expected.sort_by(|a, b| a.1.cmp(&b.1));
    assert_eq!(changed, expected, "a change for each old key");

    // A second rotation of the replaced pair's old keys fails as a whole: the second old key
    // is already rotated, so the first one, which would be rotatable alone, stays too.
    let fresh = rotation(&t, &new_pk, at(2_000));
    let stale = rotation(&t, &old_sk, at(2_000));
    let seq = feed_end(store).await;
    let r = store.rotate_key_pair(&t.ctx_at(at(2_000)), &fresh, &stale).await;
    assert!(is_not_rotatable(&r), "{r:?}");
    assert_eq!(key_of(store, &t, new_pk.id).await, Some(new_pk));
    assert_eq!(
        key_of(store, &t, fresh.new.key.id).await,
        None,
        "the first rotation was undone"
    );
    assert!(changes_after(store, seq).await.is_empty());
}
