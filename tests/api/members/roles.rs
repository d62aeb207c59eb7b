//! ListUsers, SetUserRole and RemoveUser.

use super::{id_of, remove, set_role, users, verify};
use crate::support::app::{PASSWORD, USER_AGENT, assert_error, authed, spawn_app};
use gatekey::proto::v1 as pb;
use tonic::Code;

#[tokio::test]
async fn members_are_listed_with_their_role_and_last_login_to_users_only() {
    let app = spawn_app().await;
    let org = app.org("acme").await;
    app.admin()
        .create_user(authed(
            &org.owner_token,
            pb::CreateUserRequest {
                email: "new@acme.test".into(),
                password: PASSWORD.into(),
                role: pb::Role::Operator as i32,
            },
        ))
        .await
        .expect("create user");
    let listed = users(&app, &org.owner_token).await.expect("list");
    let new = listed.iter().find(|u| u.email == "new@acme.test").expect("listed");
    assert_eq!(new.role, pb::Role::Operator as i32);
    assert!(new.created_at.is_some());
    assert_eq!(new.last_login_at, None, "never logged in");
    let owner = listed
        .iter()
        .find(|u| u.email == org.owner_email)
        .expect("owner listed");
    assert!(owner.last_login_at.is_some(), "the owner logged in");

    let member = app.login("new@acme.test").await.access_token;
    let seen_by_member = users(&app, &member).await.expect("any member lists");
    let new = seen_by_member.iter().find(|u| u.email == "new@acme.test").unwrap();
    assert!(new.last_login_at.is_some(), "set by the login");

    let sa = app.service_account(&org.owner_token, "ci", pb::Role::Member).await;
    let key = app.issue(&org.owner_token, &sa, &[]).await.secret;
    assert_error(users(&app, &key).await, Code::PermissionDenied, "API_KEY_NOT_ALLOWED");
}

#[tokio::test]
async fn nobody_grants_above_their_role_or_changes_a_member_above_it() {
    let app = spawn_app().await;
    let org = app.org("acme").await;
    let admin = app.member(&org.owner_token, "admin@acme.test", pb::Role::Admin).await;
    let member = app.member(&org.owner_token, "m@acme.test", pb::Role::Member).await;
    let member_id = id_of(&app, &org.owner_token, "m@acme.test").await;

    assert_error(
        set_role(&app, &admin, &member_id, pb::Role::Owner).await,
        Code::PermissionDenied,
        "ROLE_ABOVE_OWN",
    );
    assert_error(
        set_role(&app, &admin, &org.owner_id, pb::Role::Member).await,
        Code::PermissionDenied,
        "ROLE_ABOVE_OWN",
    );
    assert_error(
        remove(&app, &admin, &org.owner_id).await,
        Code::PermissionDenied,
        "ROLE_ABOVE_OWN",
    );
    assert_error(
        set_role(&app, &member, &member_id, pb::Role::Operator).await,
        Code::PermissionDenied,
        "INSUFFICIENT_ROLE",
    );
    assert_error(
        remove(&app, &member, &member_id).await,
        Code::PermissionDenied,
        "INSUFFICIENT_ROLE",
    );
    let raised = set_role(&app, &admin, &member_id, pb::Role::Admin)
        .await
        .expect("up to own role");
    assert_eq!(raised.role, pb::Role::Admin as i32);
    assert_error(
        set_role(&app, &admin, "not-an-id", pb::Role::Member).await,
        Code::InvalidArgument,
        "INVALID_ARGUMENT",
    );
}

#[tokio::test]
async fn the_last_owner_can_be_neither_demoted_nor_removed() {
    let app = spawn_app().await;
    let org = app.org("acme").await;
    assert_error(
        set_role(&app, &org.owner_token, &org.owner_id, pb::Role::Admin).await,
        Code::FailedPrecondition,
        "LAST_OWNER",
    );
    assert_error(
        remove(&app, &org.owner_token, &org.owner_id).await,
        Code::FailedPrecondition,
        "LAST_OWNER",
    );
    app.member(&org.owner_token, "second@acme.test", pb::Role::Owner).await;
    let demoted = set_role(&app, &org.owner_token, &org.owner_id, pb::Role::Admin)
        .await
        .expect("another owner remains");
    assert_eq!(demoted.role, pb::Role::Admin as i32);
    // Demoting oneself ends one's own sessions as well: the token still says owner.
    assert_error(
        set_role(&app, &org.owner_token, &org.owner_id, pb::Role::Member).await,
        Code::Unauthenticated,
        "SESSION_REVOKED",
    );
    let now_admin = app.login(&org.owner_email).await.access_token;
    let second = id_of(&app, &now_admin, "second@acme.test").await;
    assert_error(
        set_role(&app, &now_admin, &second, pb::Role::Admin).await,
        Code::PermissionDenied,
        "ROLE_ABOVE_OWN",
    );
}

#[tokio::test]
async fn a_demotion_ends_the_members_sessions_and_the_next_login_has_the_new_role() {
    let app = spawn_app().await;
    let org = app.org("acme").await;
    let admin = app.member(&org.owner_token, "admin@acme.test", pb::Role::Admin).await;
    app.service_account(&admin, "before", pb::Role::Member).await;
    assert!(verify(&app, &admin).await.allowed);
    let admin_id = id_of(&app, &org.owner_token, "admin@acme.test").await;
    set_role(&app, &org.owner_token, &admin_id, pb::Role::Member)
        .await
        .expect("demote");
    // The old token carried the admin role: it is refused at once, by the admin API and by
    // Verify, so the old role's scopes end with the demotion.
    assert_error(users(&app, &admin).await, Code::Unauthenticated, "SESSION_REVOKED");
    let denied = verify(&app, &admin).await;
    assert_eq!(
        (denied.allowed, denied.reason),
        (false, pb::VerifyReason::SessionRevoked as i32)
    );
    let again = app.login("admin@acme.test").await.access_token;
    let refused = app
        .admin()
        .create_service_account(authed(
            &again,
            pb::CreateServiceAccountRequest {
                name: "after".into(),
                role: pb::Role::Member as i32,
            },
        ))
        .await;
    assert_error(refused, Code::PermissionDenied, "INSUFFICIENT_ROLE");
    let events = app.audit_events(&org.owner_token, "user.role_changed").await;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].target, format!("user:{admin_id}"));
    assert_eq!(events[0].details.get("from").map(String::as_str), Some("admin"));
    assert_eq!(events[0].details.get("to").map(String::as_str), Some("member"));
    assert_eq!(events[0].details.get("ended_sessions").map(String::as_str), Some("1"));
    assert_eq!(events[0].actor_display, org.owner_email);
}

#[tokio::test]
async fn a_removed_member_loses_every_session_at_once_and_the_email_can_be_invited_again() {
    let app = spawn_app().await;
    let org = app.org("acme").await;
    app.member(&org.owner_token, "gone@acme.test", pb::Role::Operator).await;
    let tokens = app.login("gone@acme.test").await;
    let gone = id_of(&app, &org.owner_token, "gone@acme.test").await;
    assert!(verify(&app, &tokens.access_token).await.allowed);

    remove(&app, &org.owner_token, &gone).await.expect("remove");

    assert_error(
        users(&app, &tokens.access_token).await,
        Code::Unauthenticated,
        "SESSION_REVOKED",
    );
    let denied = verify(&app, &tokens.access_token).await;
    assert_eq!(
        (denied.allowed, denied.reason),
        (false, pb::VerifyReason::SessionRevoked as i32)
    );
    let refreshed = app
        .auth()
        .refresh(pb::RefreshRequest {
            refresh_token: tokens.refresh_token.clone(),
            user_agent: USER_AGENT.into(),
        })
        .await;
    assert_error(refreshed, Code::Unauthenticated, "SESSION_REVOKED");
    let login = app
        .auth()
        .login(pb::LoginRequest {
            email: "gone@acme.test".into(),
            password: PASSWORD.into(),
            remember_me: false,
            user_agent: USER_AGENT.into(),
        })
        .await;
    assert_error(login, Code::Unauthenticated, "INVALID_CREDENTIALS");
    let listed = users(&app, &org.owner_token).await.unwrap();
    assert!(listed.iter().all(|u| u.id != gone));
    assert_error(
        remove(&app, &org.owner_token, &gone).await,
        Code::NotFound,
        "USER_NOT_FOUND",
    );

    let removed = app.audit_events(&org.owner_token, "user.removed").await;
    assert_eq!(removed.len(), 1);
    assert_eq!(removed[0].target, format!("user:{gone}"));
    assert_eq!(removed[0].details.get("ended_sessions").map(String::as_str), Some("2"));
    // The removed user's own events still name them.
    let logins = app.audit_events(&org.owner_token, "user.login_succeeded").await;
    assert!(logins.iter().any(|e| e.actor_display == "gone@acme.test"));

    let again = app.member(&org.owner_token, "gone@acme.test", pb::Role::Member).await;
    assert!(users(&app, &again).await.is_ok(), "the email is free for a new member");
}

#[tokio::test]
async fn a_foreign_orgs_member_is_not_found() {
    let app = spawn_app().await;
    let a = app.org("acme").await;
    let b = app.org("globex").await;
    assert_error(
        set_role(&app, &b.owner_token, &a.owner_id, pb::Role::Member).await,
        Code::NotFound,
        "USER_NOT_FOUND",
    );
    assert_error(
        remove(&app, &b.owner_token, &a.owner_id).await,
        Code::NotFound,
        "USER_NOT_FOUND",
    );
    let listed = users(&app, &b.owner_token).await.unwrap();
    assert_eq!(listed.len(), 1, "only globex's owner");
}
