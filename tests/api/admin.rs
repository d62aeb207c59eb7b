//! AdminService over gRPC: service accounts, users, the audit log.

use crate::support::app::{assert_error, authed, spawn_app};
use gatekey::proto::v1 as pb;
use tonic::Code;

#[tokio::test]
async fn service_accounts_are_created_listed_and_unique_per_org() {
    let app = spawn_app().await;
    let org = app.org("acme").await;
    let created = app
        .admin()
        .create_service_account(authed(
            &org.owner_token,
            pb::CreateServiceAccountRequest {
                name: " ci ".into(),
                role: pb::Role::Operator as i32,
            },
        ))
        .await
        .expect("create")
        .into_inner()
        .service_account
        .expect("sa");
    assert_eq!((created.name.as_str(), created.role), ("ci", pb::Role::Operator as i32));
    assert_error(
        app.admin()
            .create_service_account(authed(
                &org.owner_token,
                pb::CreateServiceAccountRequest {
                    name: "ci".into(),
                    role: pb::Role::Member as i32,
                },
            ))
            .await,
        Code::AlreadyExists,
        "SERVICE_ACCOUNT_NAME_TAKEN",
    );
    assert_error(
        app.admin()
            .create_service_account(authed(
                &org.owner_token,
                pb::CreateServiceAccountRequest {
                    name: "x".into(),
                    role: 0,
                },
            ))
            .await,
        Code::InvalidArgument,
        "INVALID_ARGUMENT",
    );
    let listed = app
        .admin()
        .list_service_accounts(authed(&org.owner_token, pb::ListServiceAccountsRequest::default()))
        .await
        .expect("list")
        .into_inner();
    assert_eq!(listed.service_accounts, vec![created]);
}

#[tokio::test]
async fn users_are_added_to_the_callers_org_and_can_log_in() {
    let app = spawn_app().await;
    let org = app.org("acme").await;
    let user = app
        .admin()
        .create_user(authed(
            &org.owner_token,
            pb::CreateUserRequest {
                email: "Dev@Acme.test".into(),
                password: "long enough pw".into(),
                role: pb::Role::Operator as i32,
            },
        ))
        .await
        .expect("create")
        .into_inner()
        .user
        .expect("user");
    assert_eq!(
        (user.email.as_str(), user.org_id.as_str()),
        ("dev@acme.test", org.org_id.as_str())
    );
    assert_error(
        app.admin()
            .create_user(authed(
                &org.owner_token,
                pb::CreateUserRequest {
                    email: "dev@acme.test".into(),
                    password: "long enough pw".into(),
                    role: pb::Role::Member as i32,
                },
            ))
            .await,
        Code::AlreadyExists,
        "EMAIL_TAKEN",
    );
    for (email, password) in [
        ("no-at", "long enough pw"),
        ("a@b.test", "short"),
        ("a@b.test", &"p".repeat(1025)),
    ] {
        assert_error(
            app.admin()
                .create_user(authed(
                    &org.owner_token,
                    pb::CreateUserRequest {
                        email: email.into(),
                        password: password.into(),
                        role: pb::Role::Member as i32,
                    },
                ))
                .await,
            Code::InvalidArgument,
            "INVALID_ARGUMENT",
        );
    }
    let login = app
        .auth()
        .login(pb::LoginRequest {
            email: "dev@acme.test".into(),
            password: "long enough pw".into(),
            remember_me: false,
            user_agent: "t".into(),
        })
        .await;
    assert!(login.is_ok());
}

#[tokio::test]
async fn the_audit_log_is_newest_first_filterable_paged_and_admin_only() {
    let app = spawn_app().await;
    let org = app.org("acme").await;
    for i in 0..3 {
        app.service_account(&org.owner_token, &format!("sa{i}"), pb::Role::Member)
            .await;
    }
    let all = app.audit_events(&org.owner_token, "").await;
    let actions: Vec<&str> = all.iter().map(|e| e.action.as_str()).collect();
    assert_eq!(actions[..3], ["service_account.created"; 3]);
    assert!(
        actions.contains(&"org.created")
            && actions.contains(&"user.created")
            && actions.contains(&"user.login_succeeded")
    );
    assert!(
        all.windows(2)
            .all(|w| w[0].occurred_at.map(|t| (t.seconds, t.nanos)) >= w[1].occurred_at.map(|t| (t.seconds, t.nanos)))
    );

    let page = app
        .admin()
        .list_audit_events(authed(
            &org.owner_token,
            pb::ListAuditEventsRequest {
                page_size: 2,
                action: "service_account.created".into(),
                ..Default::default()
            },
        ))
        .await
        .expect("audit")
        .into_inner();
    assert_eq!(page.events.len(), 2);
    let rest = app
        .admin()
        .list_audit_events(authed(
            &org.owner_token,
            pb::ListAuditEventsRequest {
                page_size: 2,
                action: "service_account.created".into(),
                page_token: page.next_page_token,
                ..Default::default()
            },
        ))
        .await
        .expect("audit")
        .into_inner();
    assert_eq!((rest.events.len(), rest.next_page_token.as_str()), (1, ""));

    assert_error(
        app.admin()
            .list_audit_events(authed(
                &org.owner_token,
                pb::ListAuditEventsRequest {
                    action: "DROP TABLE".into(),
                    ..Default::default()
                },
            ))
            .await,
        Code::InvalidArgument,
        "INVALID_ARGUMENT",
    );
    let member = app.member(&org.owner_token, "m@acme.test", pb::Role::Member).await;
    assert_error(
        app.admin()
            .list_audit_events(authed(&member, pb::ListAuditEventsRequest::default()))
            .await,
        Code::PermissionDenied,
        "INSUFFICIENT_ROLE",
    );
}
