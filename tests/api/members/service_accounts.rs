//! DeleteServiceAccount.

use super::verify;
use crate::support::app::{assert_error, authed, spawn_app};
use gatekey::proto::v1 as pb;
use tonic::Code;

async fn delete(
    app: &crate::support::app::TestApp,
    token: &str,
    id: &str,
) -> Result<pb::DeleteServiceAccountResponse, tonic::Status> {
    app.admin()
        .delete_service_account(authed(
            token,
            pb::DeleteServiceAccountRequest {
                service_account_id: id.into(),
            },
        ))
        .await
        .map(tonic::Response::into_inner)
}

#[tokio::test]
async fn deleting_a_service_account_revokes_its_keys_and_frees_its_name() {
    let app = spawn_app().await;
    let org = app.org("acme").await;
    let sa = app.service_account(&org.owner_token, "ci", pb::Role::Member).await;
    let live = app.issue(&org.owner_token, &sa, &[]).await;
    let earlier = app.issue(&org.owner_token, &sa, &[]).await;
    let earlier_id = earlier.key.as_ref().unwrap().id.clone();
    app.keys()
        .revoke_key(authed(&org.owner_token, pb::RevokeKeyRequest { key_id: earlier_id }))
        .await
        .expect("revoke");
    assert!(verify(&app, &live.secret).await.allowed);

    let deleted = delete(&app, &org.owner_token, &sa).await.expect("delete");
    assert_eq!(deleted.revoked_keys, 1, "only the key that was still active");

    let denied = verify(&app, &live.secret).await;
    assert_eq!(
        (denied.allowed, denied.reason),
        (false, pb::VerifyReason::Revoked as i32)
    );
    assert_error(
        app.admin()
            .list_users(authed(&live.secret, pb::ListUsersRequest::default()))
            .await,
        Code::Unauthenticated,
        "CREDENTIAL_REVOKED",
    );
    let listed = app
        .admin()
        .list_service_accounts(authed(&org.owner_token, pb::ListServiceAccountsRequest::default()))
        .await
        .unwrap()
        .into_inner();
    assert!(listed.service_accounts.iter().all(|s| s.id != sa));
    assert_error(
        delete(&app, &org.owner_token, &sa).await,
        Code::NotFound,
        "SERVICE_ACCOUNT_NOT_FOUND",
    );
    let issue_again = app
        .keys()
        .issue_key(authed(
            &org.owner_token,
            crate::support::app::issue_request(&sa, "late", &[]),
        ))
        .await;
    assert_error(issue_again, Code::NotFound, "SERVICE_ACCOUNT_NOT_FOUND");
    // Its keys stay, revoked, for their history: still listed under the deleted account.
    let history = app
        .keys()
        .list_keys(authed(
            &org.owner_token,
            pb::ListKeysRequest {
                service_account_id: sa.clone(),
                ..Default::default()
            },
        ))
        .await
        .expect("a deleted account's keys")
        .into_inner();
    assert_eq!(history.keys.len(), 2);
    assert!(history.keys.iter().all(|k| k.status == pb::KeyStatus::Revoked as i32));
    app.service_account(&org.owner_token, "ci", pb::Role::Member).await;

    let events = app.audit_events(&org.owner_token, "service_account.deleted").await;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].target, format!("service_account:{sa}"));
    assert_eq!(events[0].details.get("name").map(String::as_str), Some("ci"));
    assert_eq!(events[0].details.get("revoked_keys").map(String::as_str), Some("1"));
    let revoked = app.audit_events(&org.owner_token, "service_account.key_revoked").await;
    let live_id = live.key.as_ref().unwrap().id.clone();
    assert!(revoked.iter().any(|e| e.target == format!("key:{live_id}")
        && e.details.get("reason").map(String::as_str) == Some("service_account_deleted")));
}

#[tokio::test]
async fn only_admins_delete_service_accounts_up_to_their_own_role_in_their_own_org() {
    let app = spawn_app().await;
    let org = app.org("acme").await;
    let other = app.org("globex").await;
    let admin = app.member(&org.owner_token, "admin@acme.test", pb::Role::Admin).await;
    let member = app.member(&org.owner_token, "m@acme.test", pb::Role::Member).await;
    let owners = app.service_account(&org.owner_token, "root", pb::Role::Owner).await;
    let ci = app.service_account(&org.owner_token, "ci", pb::Role::Member).await;
    let key = app.issue(&org.owner_token, &ci, &[]).await.secret;

    assert_error(
        delete(&app, &admin, &owners).await,
        Code::PermissionDenied,
        "ROLE_ABOVE_OWN",
    );
    assert_error(
        delete(&app, &member, &ci).await,
        Code::PermissionDenied,
        "INSUFFICIENT_ROLE",
    );
    assert_error(
        delete(&app, &key, &ci).await,
        Code::PermissionDenied,
        "API_KEY_NOT_ALLOWED",
    );
    assert_error(
        delete(&app, &other.owner_token, &ci).await,
        Code::NotFound,
        "SERVICE_ACCOUNT_NOT_FOUND",
    );
    assert!(verify(&app, &key).await.allowed, "nothing was deleted");
    delete(&app, &admin, &ci)
        .await
        .expect("an admin deletes a member account");
}
