//! Rate limits (the org default and per-key overrides) and the scopes each role grants.
//!
//! Every setting here changes what Verify answers on every replica, so besides reading back
//! exactly it must be audited and reach the change feed in the same transaction.

use super::fixtures::{
    Recorded, Tenant, at, change, changes_after, events, feed_end, issued_key, key_of, scopes, service_account, tenant,
};
use gatekey::domain::api_key::ApiKey;
use gatekey::domain::audit::action;
use gatekey::domain::ids::{KeyId, OrgId};
use gatekey::domain::rate_limit::RateLimitPolicy;
use gatekey::domain::role::Role;
use gatekey::domain::scope::Scopes;
use gatekey::domain::time::UnixMs;
use gatekey::store::{ChangeKind, RateLimitTarget, Store, StoreError};
use std::time::Duration;

fn policy(limit: u32, window_ms: u64, burst: u32) -> RateLimitPolicy {
    RateLimitPolicy::new("rate_limit", limit, Duration::from_millis(window_ms), burst).unwrap()
}

async fn grant(store: &dyn Store, t: &Tenant, role: Role, granted: &Scopes, now: UnixMs) {
    store.set_role_scopes(&t.ctx_at(now), role, granted).await.unwrap();
}

/// The org's configured roles in role order (the contract leaves the order open).
async fn configured(store: &dyn Store, org: OrgId) -> Vec<(Role, Scopes)> {
    let mut roles = store.role_scopes(org).await.unwrap();
    roles.sort_by_key(|(role, _)| *role);
    roles
}

// ---------------------------------------------------------------------------------------------
// Rate limits

pub(super) async fn an_org_rate_limit_is_none_until_set_and_then_reads_back_exactly(store: &dyn Store) {
    let a = tenant(store).await;
    let b = tenant(store).await;
    assert_eq!(store.get_org_rate_limit(a.org).await.unwrap(), Some(None));
    assert_eq!(
        store.get_org_rate_limit(OrgId::generate()).await.unwrap(),
        None,
        "no such org"
    );

    // A window that is not whole seconds, so a unit or rounding slip shows.
    let odd = policy(120, 1_500, 7);
    store
        .set_rate_limit(&a.ctx_at(at(1_000)), RateLimitTarget::Org, Some(odd))
        .await
        .unwrap();
    assert_eq!(store.get_org_rate_limit(a.org).await.unwrap(), Some(Some(odd)));

    let extreme = policy(10_000_000, 86_400_000, 1);
    store
        .set_rate_limit(&a.ctx_at(at(2_000)), RateLimitTarget::Org, Some(extreme))
        .await
        .unwrap();
    assert_eq!(
        store.get_org_rate_limit(a.org).await.unwrap(),
        Some(Some(extreme)),
        "the last setting wins"
    );
    assert_eq!(
        store.get_org_rate_limit(b.org).await.unwrap(),
        Some(None),
        "other orgs keep theirs"
    );
}

pub(super) async fn setting_the_org_rate_limit_audits_it_and_records_an_org_change(store: &dyn Store) {
    let t = tenant(store).await;
    let start = feed_end(store).await;
    store
        .set_rate_limit(&t.ctx_at(at(1_000)), RateLimitTarget::Org, Some(policy(120, 1_500, 7)))
        .await
        .unwrap();

    let audited = events(store, t.org, action::ORG_RATE_LIMIT_SET).await;
    assert_eq!(audited.len(), 1);
    assert_eq!(audited[0].target, format!("org:{}", t.org));
    assert_eq!(audited[0].actor, t.ctx.actor);
    assert_eq!(audited[0].occurred_at, at(1_000));
    assert_eq!(
        changes_after(store, start).await,
        [change(ChangeKind::Org, t.org, at(1_000))]
    );
}

pub(super) async fn a_key_rate_limit_override_reads_back_and_none_removes_it(store: &dyn Store) {
    let t = tenant(store).await;
    let sa = service_account(store, &t, "ci").await;
    let key = issued_key(store, &t, sa.id).await;
    let other = issued_key(store, &t, sa.id).await;

    let odd = policy(120, 1_500, 7);
    store
        .set_rate_limit(&t.ctx_at(at(1_000)), RateLimitTarget::Key(key.id), Some(odd))
        .await
        .unwrap();
    let overridden = ApiKey {
        rate_limit: Some(odd),
        ..key.clone()
    };
    assert_eq!(
        key_of(store, &t, key.id).await,
        Some(overridden),
        "only the limit changes"
    );
    assert_eq!(key_of(store, &t, other.id).await, Some(other), "other keys keep theirs");
    assert_eq!(
        store.get_org_rate_limit(t.org).await.unwrap(),
        Some(None),
        "the org default stays"
    );

    store
        .set_rate_limit(&t.ctx_at(at(2_000)), RateLimitTarget::Key(key.id), None)
        .await
        .unwrap();
    assert_eq!(key_of(store, &t, key.id).await, Some(key), "the override is gone");
}

pub(super) async fn setting_a_key_rate_limit_audits_it_and_records_a_key_change(store: &dyn Store) {
    let t = tenant(store).await;
    let sa = service_account(store, &t, "ci").await;
    let key = issued_key(store, &t, sa.id).await;
    let start = feed_end(store).await;
    let target = RateLimitTarget::Key(key.id);
    store
        .set_rate_limit(&t.ctx_at(at(1_000)), target, Some(policy(120, 1_500, 7)))
        .await
        .unwrap();
    store.set_rate_limit(&t.ctx_at(at(2_000)), target, None).await.unwrap();

    let audited = events(store, t.org, action::KEY_RATE_LIMIT_SET).await;
    let when: Vec<_> = audited.iter().map(|e| e.occurred_at).collect();
    assert_eq!(when, [at(2_000), at(1_000)], "setting and removing are both audited");
    for e in &audited {
        assert_eq!(e.target, format!("key:{}", key.id));
        assert_eq!(e.key_prefix, key.display_prefix());
        assert_eq!(e.actor, t.ctx.actor);
    }
    assert_eq!(
        changes_after(store, start).await,
        [
            change(ChangeKind::Key, key.id, at(1_000)),
            change(ChangeKind::Key, key.id, at(2_000)),
        ]
    );
}

pub(super) async fn another_orgs_key_rate_limit_cannot_be_set(store: &dyn Store) {
    let a = tenant(store).await;
    let b = tenant(store).await;
    let sa = service_account(store, &a, "ci").await;
    let key = issued_key(store, &a, sa.id).await;
    let start = feed_end(store).await;

    for limit in [Some(policy(1, 1_000, 1)), None] {
        let r = store
            .set_rate_limit(&b.ctx_at(at(1_000)), RateLimitTarget::Key(key.id), limit)
            .await;
        assert!(matches!(r, Err(StoreError::NotFound)), "{limit:?}: {r:?}");
    }
    let unknown = RateLimitTarget::Key(KeyId::generate());
    let r = store.set_rate_limit(&a.ctx, unknown, Some(policy(1, 1_000, 1))).await;
    assert!(matches!(r, Err(StoreError::NotFound)), "an unknown key: {r:?}");

    assert_eq!(key_of(store, &a, key.id).await, Some(key));
    for org in [a.org, b.org] {
        assert!(events(store, org, action::KEY_RATE_LIMIT_SET).await.is_empty(), "{org}");
    }
    let changes: Vec<Recorded> = changes_after(store, start).await;
    assert!(changes.is_empty(), "{changes:?}");
}

// ---------------------------------------------------------------------------------------------
// Role scopes

pub(super) async fn role_scopes_are_kept_per_org_and_role_and_the_last_setting_wins(store: &dyn Store) {
    let a = tenant(store).await;
    let b = tenant(store).await;
    assert!(
        configured(store, a.org).await.is_empty(),
        "no role is configured at first"
    );

    let reads = scopes(&["cameras.read"]);
    let writes = scopes(&["billing:*", "cameras.read", "cameras.write"]);
    grant(store, &a, Role::Member, &writes, at(1_000)).await;
    grant(store, &a, Role::Operator, &writes, at(2_000)).await;
    grant(store, &b, Role::Member, &writes, at(3_000)).await;
    grant(store, &a, Role::Member, &reads, at(4_000)).await;
    // Narrowing a role to nothing is a setting too (admins hold `*` until one is stored).
    grant(store, &a, Role::Admin, &Scopes::default(), at(5_000)).await;

    assert_eq!(
        configured(store, a.org).await,
        [
            (Role::Member, reads),
            (Role::Operator, writes.clone()),
            (Role::Admin, Scopes::default()),
        ]
    );
    assert_eq!(configured(store, b.org).await, [(Role::Member, writes)]);
}

pub(super) async fn setting_role_scopes_audits_it_and_records_an_org_change(store: &dyn Store) {
    let t = tenant(store).await;
    let start = feed_end(store).await;
    let granted = scopes(&["cameras.read"]);
    grant(store, &t, Role::Operator, &granted, at(1_000)).await;
    grant(store, &t, Role::Operator, &granted, at(2_000)).await;

    let audited = events(store, t.org, action::ROLE_SCOPES_SET).await;
    let when: Vec<_> = audited.iter().map(|e| e.occurred_at).collect();
    assert_eq!(when, [at(2_000), at(1_000)], "every setting is audited");
    for e in &audited {
        assert_eq!(e.target, format!("org:{}", t.org));
        assert_eq!(e.actor, t.ctx.actor);
    }
    assert_eq!(
        changes_after(store, start).await,
        [
            change(ChangeKind::Org, t.org, at(1_000)),
            change(ChangeKind::Org, t.org, at(2_000)),
        ]
    );
}
