//! ChangePassword.

use super::verify;
use crate::support::app::{PASSWORD, USER_AGENT, assert_error, authed, spawn_app};
use gatekey::proto::v1 as pb;
use tonic::Code;
use tonic_types::StatusExt;

const NEW_PASSWORD: &str = "a much better passphrase";

fn change(current: &str, new: &str) -> pb::ChangePasswordRequest {
    pb::ChangePasswordRequest {
        current_password: current.into(),
        new_password: new.into(),
    }
}

#[tokio::test]
async fn changing_the_password_ends_the_other_sessions_but_not_the_callers() {
    let app = spawn_app().await;
    let org = app.org("acme").await;
    let other = app.login(&org.owner_email).await;
    let mine = app.login(&org.owner_email).await;

    let ended = app
        .auth()
        .change_password(authed(&mine.access_token, change(PASSWORD, NEW_PASSWORD)))
        .await
        .expect("change")
        .into_inner();
    assert_eq!(ended.ended_sessions, 2, "the org's first login and `other`");

    assert!(
        verify(&app, &mine.access_token).await.allowed,
        "the caller's session survives"
    );
    app.refresh(&mine.refresh_token).await;
    let denied = verify(&app, &other.access_token).await;
    assert_eq!(denied.reason, pb::VerifyReason::SessionRevoked as i32);
    assert_error(
        app.admin()
            .list_users(authed(&other.access_token, pb::ListUsersRequest::default()))
            .await,
        Code::Unauthenticated,
        "SESSION_REVOKED",
    );
    let refreshed = app
        .auth()
        .refresh(pb::RefreshRequest {
            refresh_token: other.refresh_token,
            user_agent: USER_AGENT.into(),
        })
        .await;
    assert_error(refreshed, Code::Unauthenticated, "SESSION_REVOKED");

    let login = |password: &str| pb::LoginRequest {
        email: org.owner_email.clone(),
        password: password.into(),
        remember_me: false,
        user_agent: USER_AGENT.into(),
    };
    assert_error(
        app.auth().login(login(PASSWORD)).await,
        Code::Unauthenticated,
        "INVALID_CREDENTIALS",
    );
    app.auth()
        .login(login(NEW_PASSWORD))
        .await
        .expect("the new password logs in");

    let events = app.audit_events(&mine.access_token, "user.password_changed").await;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].target, format!("user:{}", org.owner_id));
    assert_eq!(events[0].details.get("ended_sessions").map(String::as_str), Some("2"));
    assert!(
        !format!("{events:?}").contains(NEW_PASSWORD) && !format!("{events:?}").contains(PASSWORD),
        "no password in the audit log"
    );
}

#[tokio::test]
async fn a_wrong_current_password_a_weak_new_one_or_an_api_key_is_refused() {
    let app = spawn_app().await;
    let org = app.org("acme").await;
    assert_error(
        app.auth()
            .change_password(authed(&org.owner_token, change("not the password", NEW_PASSWORD)))
            .await,
        Code::Unauthenticated,
        "INVALID_CREDENTIALS",
    );
    let weak = assert_error(
        app.auth()
            .change_password(authed(&org.owner_token, change(PASSWORD, "short")))
            .await,
        Code::InvalidArgument,
        "INVALID_ARGUMENT",
    );
    let fields: Vec<String> = weak
        .get_error_details()
        .bad_request()
        .map(|b| b.field_violations.iter().map(|v| v.field.clone()).collect())
        .unwrap_or_default();
    assert_eq!(fields, vec!["new_password".to_owned()]);
    let sa = app.service_account(&org.owner_token, "ci", pb::Role::Member).await;
    let key = app.issue(&org.owner_token, &sa, &[]).await.secret;
    assert_error(
        app.auth()
            .change_password(authed(&key, change(PASSWORD, NEW_PASSWORD)))
            .await,
        Code::PermissionDenied,
        "API_KEY_NOT_ALLOWED",
    );
    assert_error(
        app.auth()
            .change_password(tonic::Request::new(change(PASSWORD, NEW_PASSWORD)))
            .await,
        Code::Unauthenticated,
        "MISSING_CREDENTIAL",
    );
    // The unchanged password still logs in: nothing was changed by the refusals.
    app.login(&org.owner_email).await;
}

#[tokio::test]
async fn wrong_current_passwords_are_throttled_like_logins() {
    let app = spawn_app().await;
    let org = app.org("acme").await;
    let mut last = None;
    for _ in 0..20 {
        let r = app
            .auth()
            .change_password(authed(&org.owner_token, change("not the password", NEW_PASSWORD)))
            .await;
        let status = r.expect_err("refused");
        if status.code() == Code::ResourceExhausted {
            last = Some(status);
            break;
        }
        assert_eq!(status.code(), Code::Unauthenticated);
    }
    let throttled = last.expect("throttled within 20 attempts");
    assert_eq!(crate::support::app::reason(&throttled), "TOO_MANY_ATTEMPTS");
}
