//! IssueKeyPair over gRPC: a publishable and a secret key under one pair id, issued in one
//! transaction and rotated together.

use crate::support::app::{TestApp, assert_error, authed, spawn_app};
use crate::verify::verify;
use gatekey::proto::v1 as pb;
use tonic::{Code, Status};

fn pair_request(sa: &str, name: &str, scopes: &[&str], publishable_scopes: &[&str]) -> pb::IssueKeyPairRequest {
    pb::IssueKeyPairRequest {
        service_account_id: sa.into(),
        name: name.into(),
        scopes: scopes.iter().map(|s| s.to_string()).collect(),
        publishable_scopes: publishable_scopes.iter().map(|s| s.to_string()).collect(),
        ..Default::default()
    }
}

async fn issue_pair(
    app: &TestApp,
    token: &str,
    req: pb::IssueKeyPairRequest,
) -> Result<pb::IssueKeyPairResponse, Status> {
    Ok(app.keys().issue_key_pair(authed(token, req)).await?.into_inner())
}

async fn rotate(app: &TestApp, token: &str, key_id: &str) -> Result<pb::RotateKeyResponse, Status> {
    let req = pb::RotateKeyRequest {
        key_id: key_id.into(),
        grace_period: None,
    };
    Ok(app.keys().rotate_key(authed(token, req)).await?.into_inner())
}

fn reason(r: &pb::VerifyResponse) -> pb::VerifyReason {
    pb::VerifyReason::try_from(r.reason).expect("known reason")
}

/// An owner token and a pair ("shop") of a member service account.
async fn owner_and_pair(app: &TestApp) -> (String, pb::IssueKeyPairResponse) {
    let org = app.org("acme").await;
    app.unlimited(&org.owner_token).await;
    let sa = app.service_account(&org.owner_token, "web", pb::Role::Member).await;
    let req = pair_request(&sa, "shop", &["orders.write", "orders.read"], &["orders.read"]);
    let pair = issue_pair(app, &org.owner_token, req).await.expect("issue pair");
    (org.owner_token, pair)
}

#[tokio::test]
async fn a_pair_is_a_publishable_and_a_secret_key_under_one_pair_id_both_verifying() {
    let app = spawn_app().await;
    let (owner, pair) = owner_and_pair(&app).await;
    let pk = pair.publishable_key.clone().expect("publishable key");
    let sk = pair.secret_key.clone().expect("secret key");

    assert!(!pair.pair_id.is_empty());
    assert_eq!(
        (pk.pair_id.as_str(), sk.pair_id.as_str()),
        (pair.pair_id.as_str(), pair.pair_id.as_str())
    );
    assert!(pair.publishable_secret.starts_with("pk_live_"));
    assert!(pair.secret.starts_with("sk_live_"));
    assert_eq!(
        (pk.kind, sk.kind),
        (pb::KeyKind::Publishable as i32, pb::KeyKind::Secret as i32)
    );
    assert_eq!(
        (pk.name.as_str(), sk.name.as_str()),
        ("shop (publishable)", "shop (secret)")
    );
    assert_eq!(pk.scopes, vec!["orders.read"]);
    assert_eq!(sk.scopes, vec!["orders.read", "orders.write"]);

    assert!(
        verify(&app, &pair.publishable_secret, &["orders.read"], "")
            .await
            .allowed
    );
    assert!(verify(&app, &pair.secret, &["orders.write"], "").await.allowed);
    let write_with_pk = verify(&app, &pair.publishable_secret, &["orders.write"], "").await;
    assert_eq!(reason(&write_with_pk), pb::VerifyReason::InsufficientScope);

    let issued = app.audit_events(&owner, "service_account.key_issued").await;
    assert_eq!(issued.len(), 2, "one event per key, in the pair's one transaction");
    for e in &issued {
        assert_eq!(e.details.get("pair_id"), Some(&pair.pair_id));
    }
    assert!(
        !format!("{issued:?}").contains(&pair.secret[8..])
            && !format!("{issued:?}").contains(&pair.publishable_secret[8..]),
        "no secret in the audit log"
    );
}

#[tokio::test]
async fn a_pair_with_a_write_publishable_scope_or_a_long_name_is_refused_naming_the_field() {
    let app = spawn_app().await;
    let org = app.org("acme").await;
    let sa = app.service_account(&org.owner_token, "web", pb::Role::Member).await;

    let write = pair_request(&sa, "shop", &[], &["orders.read", "orders.write"]);
    let status = assert_error(
        issue_pair(&app, &org.owner_token, write).await,
        Code::InvalidArgument,
        "INVALID_ARGUMENT",
    );
    assert!(status.message().contains("publishable_scopes"), "{}", status.message());

    let long = pair_request(&sa, &"x".repeat(19), &[], &[]);
    let status = assert_error(
        issue_pair(&app, &org.owner_token, long).await,
        Code::InvalidArgument,
        "INVALID_ARGUMENT",
    );
    assert!(status.message().starts_with("name"), "{}", status.message());
    let keys = app
        .keys()
        .list_keys(authed(&org.owner_token, pb::ListKeysRequest::default()))
        .await
        .expect("list")
        .into_inner();
    assert!(keys.keys.is_empty(), "nothing was issued");

    let member = app.member(&org.owner_token, "m@acme.test", pb::Role::Member).await;
    let by_member = issue_pair(&app, &member, pair_request(&sa, "shop", &[], &[])).await;
    assert_error(by_member, Code::PermissionDenied, "INSUFFICIENT_ROLE");
}

#[tokio::test]
async fn rotating_either_key_of_a_pair_rotates_both_under_the_same_pair_id() {
    let app = spawn_app().await;
    let (owner, pair) = owner_and_pair(&app).await;
    let sk = pair.secret_key.clone().expect("secret key");

    let r = rotate(&app, &owner, &sk.id).await.expect("rotate the secret key");
    let (new_sk, new_pk) = (r.new_key.expect("new"), r.paired_new_key.expect("paired new"));
    let paired_old = r.paired_old_key.expect("paired old");
    assert_eq!(paired_old.id, pair.publishable_key.expect("pk").id);
    assert_eq!(
        (new_sk.pair_id.as_str(), new_pk.pair_id.as_str()),
        (pair.pair_id.as_str(), pair.pair_id.as_str())
    );
    assert_eq!(
        (new_sk.kind, new_pk.kind),
        (pb::KeyKind::Secret as i32, pb::KeyKind::Publishable as i32)
    );
    assert_eq!(new_pk.scopes, vec!["orders.read"]);
    assert!(r.paired_secret.starts_with("pk_live_"));
    assert!(verify(&app, &r.secret, &["orders.write"], "").await.allowed);
    assert!(verify(&app, &r.paired_secret, &["orders.read"], "").await.allowed);
    for old in [&pair.secret, &pair.publishable_secret] {
        assert_eq!(reason(&verify(&app, old, &[], "").await), pb::VerifyReason::Revoked);
    }
    assert_eq!(app.audit_events(&owner, "service_account.key_rotated").await.len(), 2);

    // From the publishable side too: the current secret key comes along.
    let again = rotate(&app, &owner, &new_pk.id)
        .await
        .expect("rotate the publishable key");
    assert_eq!(again.paired_old_key.expect("paired old").id, new_sk.id);
    assert!(verify(&app, &again.paired_secret, &[], "").await.allowed);
}

#[tokio::test]
async fn a_pair_key_rotates_alone_once_its_partner_is_revoked_and_not_while_it_is_disabled() {
    let app = spawn_app().await;
    let (owner, pair) = owner_and_pair(&app).await;
    let pk = pair.publishable_key.clone().expect("pk");
    let sk = pair.secret_key.clone().expect("sk");

    app.keys()
        .disable_key(authed(&owner, pb::DisableKeyRequest { key_id: pk.id.clone() }))
        .await
        .expect("disable the publishable key");
    assert_error(
        rotate(&app, &owner, &sk.id).await,
        Code::FailedPrecondition,
        "KEY_NOT_ROTATABLE",
    );
    assert!(
        verify(&app, &pair.secret, &[], "").await.allowed,
        "the secret key is untouched"
    );

    // Revoking one key of a pair revokes that key only.
    app.keys()
        .revoke_key(authed(&owner, pb::RevokeKeyRequest { key_id: pk.id.clone() }))
        .await
        .expect("revoke the publishable key");
    assert!(
        verify(&app, &pair.secret, &[], "").await.allowed,
        "the secret key stays valid"
    );
    let alone = rotate(&app, &owner, &sk.id).await.expect("rotate alone");
    assert!(alone.paired_new_key.is_none() && alone.paired_secret.is_empty());
    assert_eq!(alone.new_key.expect("new").pair_id, pair.pair_id);
}
