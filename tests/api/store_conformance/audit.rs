//! The audit log and the JWT signing keys.

use super::fixtures::{HOUR_MS, after, at, events, first, tenant};
use gatekey::domain::audit::{Actor, AuditEvent, action};
use gatekey::domain::ids::EventId;
use gatekey::store::{SigningKeyRecord, Store};

pub(super) async fn audit_events_are_listed_newest_first_by_action_a_page_at_a_time(store: &dyn Store) {
    let a = tenant(store).await;
    let b = tenant(store).await;
    let baseline = store.list_audit_events(a.org, None, first(100)).await.unwrap().items;
    let mut appended = Vec::new();
    for i in 0..5 {
        let act = if i % 2 == 0 { "test.even" } else { "test.odd" };
        let mut e = a.ctx_at(at(i)).event(act, format!("thing:{i}"));
        e.key_prefix = format!("sk_test_{i:04}");
        e.details.insert("i".into(), i.to_string());
        store.append_audit(&e).await.unwrap();
        appended.push(e);
    }

    let all = store.list_audit_events(a.org, None, first(100)).await.unwrap();
    let newest_first: Vec<AuditEvent> = appended.iter().rev().chain(&baseline).cloned().collect();
    assert_eq!(all.items, newest_first, "every field read back, newest first");
    assert_eq!(all.next, None);

    let page = store
        .list_audit_events(a.org, Some("test.even"), first(2))
        .await
        .unwrap();
    assert_eq!(page.items, [appended[4].clone(), appended[2].clone()]);
    assert_eq!(page.next, Some(appended[2].id.0));
    let page = store
        .list_audit_events(a.org, Some("test.even"), after(2, page.next))
        .await
        .unwrap();
    assert_eq!(page.items, [appended[0].clone()]);
    assert_eq!(page.next, None);

    assert!(events(store, b.org, "test.even").await.is_empty());
    let foreign = store.list_audit_events(b.org, None, first(100)).await.unwrap().items;
    assert!(foreign.iter().all(|e| e.org_id == Some(b.org)), "{foreign:?}");
}

pub(super) async fn an_audit_event_without_an_org_is_kept_but_listed_under_no_org(store: &dyn Store) {
    let t = tenant(store).await;
    let failed_login = AuditEvent {
        id: EventId::generate(),
        org_id: None,
        actor: Actor::Anonymous,
        action: action::LOGIN_FAILED.to_owned(),
        target: String::new(),
        key_prefix: String::new(),
        client_ip: "198.51.100.7".to_owned(),
        occurred_at: at(1_000),
        details: [("email".to_owned(), "nobody@example.com".to_owned())].into(),
    };
    store.append_audit(&failed_login).await.unwrap();
    assert!(events(store, t.org, action::LOGIN_FAILED).await.is_empty());
}

pub(super) async fn signing_keys_are_listed_oldest_first(store: &dyn Store) {
    assert!(store.list_signing_keys().await.unwrap().is_empty());
    let record = |kid: &str, created: i64| SigningKeyRecord {
        kid: kid.to_owned(),
        public_key: rand::random::<[u8; 32]>().to_vec(),
        created_at: at(created),
        activates_at: at(created + HOUR_MS),
    };
    let (early, middle, late) = (record("k-early", 0), record("k-middle", 1_000), record("k-late", 2_000));
    for key in [&late, &early, &middle] {
        store.insert_signing_key(key).await.unwrap();
    }
    assert_eq!(store.list_signing_keys().await.unwrap(), [early, middle, late]);
}
