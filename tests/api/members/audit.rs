//! The audit log's actors in words and its actor and target filters.

use crate::support::app::{assert_error, authed, spawn_app};
use gatekey::domain::audit::{Actor, AuditContext};
use gatekey::domain::ids::{KeyId, OrgId};
use gatekey::domain::time::Clock;
use gatekey::proto::v1 as pb;
use tonic::Code;
use tonic_types::StatusExt;

fn filtered(actor: &str, target: &str) -> pb::ListAuditEventsRequest {
    pb::ListAuditEventsRequest {
        actor: actor.into(),
        target: target.into(),
        ..Default::default()
    }
}

#[tokio::test]
async fn events_name_their_actor_and_filter_by_actor_and_target() {
    let app = spawn_app().await;
    let org = app.org("acme").await;
    let sa = app.service_account(&org.owner_token, "ci", pb::Role::Member).await;
    let issued = app.issue(&org.owner_token, &sa, &[]).await;
    let key = issued.key.unwrap();
    // No admin call accepts an API key, so an event by a key is written as the store would.
    let ctx = AuditContext {
        org_id: OrgId(org.org_id.parse().unwrap()),
        actor: Actor::Key(KeyId(key.id.parse().unwrap())),
        client_ip: "192.0.2.1".into(),
        now: app.clock.now(),
    };
    app.core
        .store
        .append_audit(&ctx.event("test.by_key", format!("service_account:{sa}")))
        .await
        .unwrap();

    let by_key = app
        .admin()
        .list_audit_events(authed(&org.owner_token, filtered(&key.id, "")))
        .await
        .unwrap()
        .into_inner()
        .events;
    assert_eq!(by_key.len(), 1);
    assert_eq!(by_key[0].actor_display, format!("{}{}", key.prefix, key.start));

    let by_owner = app
        .admin()
        .list_audit_events(authed(
            &org.owner_token,
            filtered(&format!("user:{}", org.owner_id), ""),
        ))
        .await
        .unwrap()
        .into_inner()
        .events;
    assert!(!by_owner.is_empty());
    assert!(by_owner.iter().all(|e| e.actor == format!("user:{}", org.owner_id)));
    assert!(by_owner.iter().all(|e| e.actor_display == org.owner_email));

    let on_sa = app
        .admin()
        .list_audit_events(authed(&org.owner_token, filtered("", &sa)))
        .await
        .unwrap()
        .into_inner()
        .events;
    let actions: Vec<&str> = on_sa.iter().map(|e| e.action.as_str()).collect();
    assert_eq!(actions, vec!["test.by_key", "service_account.created"]);

    let bad = assert_error(
        app.admin()
            .list_audit_events(authed(&org.owner_token, filtered("system", "key:nope")))
            .await,
        Code::InvalidArgument,
        "INVALID_ARGUMENT",
    );
    let fields: Vec<String> = bad
        .get_error_details()
        .bad_request()
        .map(|b| b.field_violations.iter().map(|v| v.field.clone()).collect())
        .unwrap_or_default();
    assert_eq!(fields, vec!["actor".to_owned(), "target".to_owned()]);
}
