//! DisableKey and EnableKey over gRPC: a reversible suspension that Verify answers with
//! DISABLED (401) at once on this replica and, through the change feed, on every other.

use crate::support::app::{Backend, Spawn, TestApp, assert_error, authed, spawn_app};
use crate::verify::verify;
use gatekey::proto::v1 as pb;
use std::time::{Duration, Instant};
use tonic::{Code, Status};

async fn disable(app: &TestApp, token: &str, key_id: &str) -> Result<pb::ApiKey, Status> {
    let req = pb::DisableKeyRequest { key_id: key_id.into() };
    let r = app.keys().disable_key(authed(token, req)).await?;
    Ok(r.into_inner().key.expect("key"))
}

async fn enable(app: &TestApp, token: &str, key_id: &str) -> Result<pb::ApiKey, Status> {
    let req = pb::EnableKeyRequest { key_id: key_id.into() };
    let r = app.keys().enable_key(authed(token, req)).await?;
    Ok(r.into_inner().key.expect("key"))
}

fn reason(r: &pb::VerifyResponse) -> pb::VerifyReason {
    pb::VerifyReason::try_from(r.reason).expect("known reason")
}

/// An org's owner token and a freshly issued key (secret, id) of a member service account.
async fn owner_and_key(app: &TestApp) -> (String, String, String) {
    let org = app.org("acme").await;
    app.unlimited(&org.owner_token).await;
    let sa = app.service_account(&org.owner_token, "ci", pb::Role::Member).await;
    let issued = app.issue(&org.owner_token, &sa, &["cameras.read"]).await;
    (org.owner_token, issued.secret, issued.key.expect("key").id)
}

#[tokio::test]
async fn a_disabled_key_is_denied_with_disabled_401_until_it_is_enabled_again() {
    let app = spawn_app().await;
    let (owner, secret, id) = owner_and_key(&app).await;
    assert!(verify(&app, &secret, &[], "").await.allowed, "cached while active");

    let disabled = disable(&app, &owner, &id).await.expect("disable");
    assert_eq!(disabled.status, pb::KeyStatus::Disabled as i32);
    let disabled_at = disabled.disabled_at.expect("disabled_at is set");
    let denied = verify(&app, &secret, &[], "").await;
    assert_eq!((reason(&denied), denied.http_status), (pb::VerifyReason::Disabled, 401));
    assert!(!denied.allowed);
    assert!(denied.principal.is_none(), "a disabled key names no principal");

    // Disabling again answers the key as it is: the first time, and no second event.
    let again = disable(&app, &owner, &id).await.expect("disable again");
    assert_eq!(again.disabled_at, Some(disabled_at));
    let events = app.audit_events(&owner, "service_account.key_disabled").await;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].target, format!("key:{id}"));

    let enabled = enable(&app, &owner, &id).await.expect("enable");
    assert_eq!(enabled.status, pb::KeyStatus::Active as i32);
    assert_eq!(enabled.disabled_at, None);
    let ok = verify(&app, &secret, &[], "").await;
    assert_eq!((reason(&ok), ok.http_status), (pb::VerifyReason::Ok, 200));
    assert_eq!(enable(&app, &owner, &id).await.expect("enable again"), enabled);
    assert_eq!(app.audit_events(&owner, "service_account.key_enabled").await.len(), 1);
}

#[tokio::test]
async fn a_disabled_key_cannot_call_the_admin_api() {
    let app = spawn_app().await;
    let (owner, secret, id) = owner_and_key(&app).await;
    disable(&app, &owner, &id).await.expect("disable");
    let listed = app
        .keys()
        .list_keys(authed(&secret, pb::ListKeysRequest::default()))
        .await;
    assert_error(listed, Code::Unauthenticated, "CREDENTIAL_DISABLED");
}

#[tokio::test]
async fn another_orgs_key_cannot_be_disabled_or_enabled_it_is_not_found() {
    let app = spawn_app().await;
    let (owner, secret, id) = owner_and_key(&app).await;
    let other = app.org("globex").await;
    assert_error(
        disable(&app, &other.owner_token, &id).await,
        Code::NotFound,
        "KEY_NOT_FOUND",
    );
    assert_error(
        enable(&app, &other.owner_token, &id).await,
        Code::NotFound,
        "KEY_NOT_FOUND",
    );
    assert!(verify(&app, &secret, &[], "").await.allowed, "still active");
    assert!(
        app.audit_events(&owner, "service_account.key_disabled")
            .await
            .is_empty()
    );
}

#[tokio::test]
async fn members_and_keys_cannot_disable_and_admins_not_a_key_above_their_role() {
    let app = spawn_app().await;
    let org = app.org("acme").await;
    let member = app.member(&org.owner_token, "m@acme.test", pb::Role::Member).await;
    let admin = app.member(&org.owner_token, "a@acme.test", pb::Role::Admin).await;
    let sa = app.service_account(&org.owner_token, "ci", pb::Role::Member).await;
    let issued = app.issue(&org.owner_token, &sa, &[]).await;
    let id = issued.key.expect("key").id;

    assert_error(
        disable(&app, &member, &id).await,
        Code::PermissionDenied,
        "INSUFFICIENT_ROLE",
    );
    assert_error(
        enable(&app, &member, &id).await,
        Code::PermissionDenied,
        "INSUFFICIENT_ROLE",
    );
    assert_error(
        disable(&app, &issued.secret, &id).await,
        Code::PermissionDenied,
        "API_KEY_NOT_ALLOWED",
    );

    let owners_sa = app.service_account(&org.owner_token, "root", pb::Role::Owner).await;
    let owners_key = app.issue(&org.owner_token, &owners_sa, &[]).await.key.expect("key").id;
    assert_error(
        disable(&app, &admin, &owners_key).await,
        Code::PermissionDenied,
        "ROLE_ABOVE_OWN",
    );
    let by_admin = disable(&app, &admin, &id)
        .await
        .expect("an admin disables a member's key");
    assert_eq!(by_admin.status, pb::KeyStatus::Disabled as i32);
}

#[tokio::test]
async fn a_revoked_key_can_be_neither_disabled_nor_enabled_and_a_disabled_key_not_rotated() {
    let app = spawn_app().await;
    let (owner, _, id) = owner_and_key(&app).await;
    disable(&app, &owner, &id).await.expect("disable");
    let rotated = app
        .keys()
        .rotate_key(authed(
            &owner,
            pb::RotateKeyRequest {
                key_id: id.clone(),
                grace_period: None,
            },
        ))
        .await;
    assert_error(rotated, Code::FailedPrecondition, "KEY_NOT_ROTATABLE");

    let revoked = app
        .keys()
        .revoke_key(authed(&owner, pb::RevokeKeyRequest { key_id: id.clone() }))
        .await
        .expect("a disabled key can be revoked")
        .into_inner()
        .key
        .expect("key");
    assert_eq!(
        revoked.status,
        pb::KeyStatus::Revoked as i32,
        "revoked wins over disabled"
    );
    assert_error(
        disable(&app, &owner, &id).await,
        Code::FailedPrecondition,
        "KEY_REVOKED",
    );
    assert_error(enable(&app, &owner, &id).await, Code::FailedPrecondition, "KEY_REVOKED");
}

/// Polls `app` until Verify of `secret` answers `want`; returns how long it took.
async fn time_until(app: &TestApp, secret: &str, want: pb::VerifyReason, limit: Duration) -> Duration {
    let started = Instant::now();
    loop {
        if reason(&verify(app, secret, &[], "").await) == want {
            return started.elapsed();
        }
        assert!(
            started.elapsed() < limit,
            "not {want:?} on the other replica within {limit:?}"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// Disables and enables on replica A a key that replica B holds in its cache (entries live for
/// minutes): only the change feed can tell B.
async fn disable_reaches_the_other_replica(backend: Backend, bound: Duration) {
    let Some(a) = Spawn::on(backend).start().await else {
        eprintln!("skipped: no {backend:?} server configured");
        return;
    };
    let b = Spawn::on(backend).replica_of(&a).start().await.expect("replica");
    let (owner, secret, id) = owner_and_key(&a).await;
    assert!(verify(&b, &secret, &[], "").await.allowed, "B has it cached");

    disable(&a, &owner, &id).await.expect("disable on A");
    let took = time_until(&b, &secret, pb::VerifyReason::Disabled, bound).await;
    eprintln!("{backend:?}: the disable reached the other replica in {took:?}");
    enable(&a, &owner, &id).await.expect("enable on A");
    let took = time_until(&b, &secret, pb::VerifyReason::Ok, bound).await;
    eprintln!("{backend:?}: the enable reached the other replica in {took:?}");
}

#[tokio::test]
async fn postgres_a_disable_and_an_enable_reach_the_other_replica_by_notify() {
    disable_reaches_the_other_replica(Backend::Postgres, Duration::from_millis(500)).await;
}

#[tokio::test]
async fn sqlite_a_disable_and_an_enable_reach_the_other_replica_by_polling() {
    disable_reaches_the_other_replica(Backend::Sqlite, Duration::from_millis(1500)).await;
}
