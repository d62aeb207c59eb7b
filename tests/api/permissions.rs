//! Who may do what, and the tenancy wall between orgs.

use crate::support::app::{assert_error, authed, issue_request, spawn_app};
use gatekey::proto::v1 as pb;
use tonic::Code;

#[tokio::test]
async fn operators_members_and_api_keys_cannot_manage_keys() {
    let app = spawn_app().await;
    let org = app.org("acme").await;
    let sa = app.service_account(&org.owner_token, "ci", pb::Role::Member).await;
    let issued = app.issue(&org.owner_token, &sa, &["cameras.read"]).await;
    let id = issued.key.expect("key").id;
    let operator = app.member(&org.owner_token, "op@acme.test", pb::Role::Operator).await;
    let member = app.member(&org.owner_token, "m@acme.test", pb::Role::Member).await;

    for (who, token, reason) in [
        ("operator", operator.as_str(), "INSUFFICIENT_ROLE"),
        ("member", member.as_str(), "INSUFFICIENT_ROLE"),
        ("api key", issued.secret.as_str(), "API_KEY_NOT_ALLOWED"),
    ] {
        let mut keys = app.keys();
        let mut admin = app.admin();
        let denied = [
            keys.issue_key(authed(token, issue_request(&sa, "x", &[])))
                .await
                .map(|_| ()),
            keys.rotate_key(authed(
                token,
                pb::RotateKeyRequest {
                    key_id: id.clone(),
                    grace_period: None,
                },
            ))
            .await
            .map(|_| ()),
            keys.revoke_key(authed(token, pb::RevokeKeyRequest { key_id: id.clone() }))
                .await
                .map(|_| ()),
            keys.delete_key(authed(token, pb::DeleteKeyRequest { key_id: id.clone() }))
                .await
                .map(|_| ()),
            admin
                .create_service_account(authed(
                    token,
                    pb::CreateServiceAccountRequest {
                        name: "x".into(),
                        role: pb::Role::Member as i32,
                    },
                ))
                .await
                .map(|_| ()),
            admin
                .create_user(authed(
                    token,
                    pb::CreateUserRequest {
                        email: "new@acme.test".into(),
                        password: "long enough pw".into(),
                        role: pb::Role::Member as i32,
                    },
                ))
                .await
                .map(|_| ()),
        ];
        for result in denied {
            let status = assert_error(result, Code::PermissionDenied, reason);
            assert!(!status.message().is_empty(), "{who}");
        }
        // Reading is open to every member.
        keys.get_key(authed(token, pb::GetKeyRequest { key_id: id.clone() }))
            .await
            .expect("any member reads keys");
        keys.list_keys(authed(token, pb::ListKeysRequest::default()))
            .await
            .expect("any member lists keys");
    }
    let key = app
        .keys()
        .get_key(authed(&org.owner_token, pb::GetKeyRequest { key_id: id }))
        .await
        .expect("get");
    assert_eq!(
        key.into_inner().key.expect("key").status,
        pb::KeyStatus::Active as i32,
        "nothing was changed"
    );
}

#[tokio::test]
async fn nobody_grants_a_role_above_their_own() {
    let app = spawn_app().await;
    let org = app.org("acme").await;
    let admin = app.member(&org.owner_token, "admin@acme.test", pb::Role::Admin).await;
    assert_error(
        app.admin()
            .create_user(authed(
                &admin,
                pb::CreateUserRequest {
                    email: "boss@acme.test".into(),
                    password: "long enough pw".into(),
                    role: pb::Role::Owner as i32,
                },
            ))
            .await,
        Code::PermissionDenied,
        "ROLE_ABOVE_OWN",
    );
    assert_error(
        app.admin()
            .create_service_account(authed(
                &admin,
                pb::CreateServiceAccountRequest {
                    name: "root".into(),
                    role: pb::Role::Owner as i32,
                },
            ))
            .await,
        Code::PermissionDenied,
        "ROLE_ABOVE_OWN",
    );
    // An admin cannot mint a key for an owner-role service account either.
    let owner_sa = app.service_account(&org.owner_token, "root", pb::Role::Owner).await;
    assert_error(
        app.keys()
            .issue_key(authed(&admin, issue_request(&owner_sa, "k", &[])))
            .await,
        Code::PermissionDenied,
        "ROLE_ABOVE_OWN",
    );
    let admin_sa = app.service_account(&admin, "deployer", pb::Role::Admin).await;
    app.issue(&admin, &admin_sa, &[]).await;
}

#[tokio::test]
async fn an_api_key_sees_only_its_own_service_accounts_keys() {
    let app = spawn_app().await;
    let org = app.org("acme").await;
    let mine = app.service_account(&org.owner_token, "mine", pb::Role::Member).await;
    let other = app.service_account(&org.owner_token, "other", pb::Role::Member).await;
    let key = app.issue(&org.owner_token, &mine, &[]).await;
    let foreign = app.issue(&org.owner_token, &other, &[]).await.key.expect("key");

    let listed = app
        .keys()
        .list_keys(authed(&key.secret, pb::ListKeysRequest::default()))
        .await
        .expect("list")
        .into_inner();
    assert_eq!(
        listed
            .keys
            .iter()
            .map(|k| k.service_account_id.as_str())
            .collect::<Vec<_>>(),
        vec![mine.as_str()]
    );
    assert_error(
        app.keys()
            .list_keys(authed(
                &key.secret,
                pb::ListKeysRequest {
                    service_account_id: other.clone(),
                    ..Default::default()
                },
            ))
            .await,
        Code::PermissionDenied,
        "API_KEY_NOT_ALLOWED",
    );
    assert_error(
        app.keys()
            .get_key(authed(&key.secret, pb::GetKeyRequest { key_id: foreign.id }))
            .await,
        Code::NotFound,
        "KEY_NOT_FOUND",
    );
}

#[tokio::test]
async fn a_foreign_orgs_ids_answer_exactly_like_nonexistent_ones() {
    let app = spawn_app().await;
    let a = app.org("alpha").await;
    let b = app.org("bravo").await;
    let a_sa = app.service_account(&a.owner_token, "ci", pb::Role::Member).await;
    let a_key = app.issue(&a.owner_token, &a_sa, &[]).await;
    let a_id = a_key.key.clone().expect("key").id;
    let missing = uuid::Uuid::now_v7().to_string();

    for id in [a_id.clone(), missing] {
        let mut keys = app.keys();
        let results = [
            keys.get_key(authed(&b.owner_token, pb::GetKeyRequest { key_id: id.clone() }))
                .await
                .map(|_| ()),
            keys.revoke_key(authed(&b.owner_token, pb::RevokeKeyRequest { key_id: id.clone() }))
                .await
                .map(|_| ()),
            keys.rotate_key(authed(
                &b.owner_token,
                pb::RotateKeyRequest {
                    key_id: id.clone(),
                    grace_period: None,
                },
            ))
            .await
            .map(|_| ()),
            keys.delete_key(authed(&b.owner_token, pb::DeleteKeyRequest { key_id: id.clone() }))
                .await
                .map(|_| ()),
        ];
        for r in results {
            let status = assert_error(r, Code::NotFound, "KEY_NOT_FOUND");
            assert_eq!(status.message(), "key not found", "same words for foreign and missing");
        }
    }
    assert_error(
        app.keys()
            .issue_key(authed(&b.owner_token, issue_request(&a_sa, "steal", &[])))
            .await,
        Code::NotFound,
        "SERVICE_ACCOUNT_NOT_FOUND",
    );
    let b_keys = app
        .keys()
        .list_keys(authed(&b.owner_token, pb::ListKeysRequest::default()))
        .await
        .expect("list");
    assert!(b_keys.into_inner().keys.is_empty());
    for sa in [a_sa.clone(), uuid::Uuid::now_v7().to_string()] {
        let listed = app
            .keys()
            .list_keys(authed(
                &b.owner_token,
                pb::ListKeysRequest {
                    service_account_id: sa,
                    ..Default::default()
                },
            ))
            .await;
        let status = assert_error(listed, Code::NotFound, "SERVICE_ACCOUNT_NOT_FOUND");
        assert_eq!(
            status.message(),
            "service account not found",
            "same words for foreign and missing"
        );
    }
    let b_sas = app
        .admin()
        .list_service_accounts(authed(&b.owner_token, pb::ListServiceAccountsRequest::default()))
        .await;
    assert!(b_sas.expect("list").into_inner().service_accounts.is_empty());
    let b_audit = app
        .admin()
        .list_audit_events(authed(&b.owner_token, pb::ListAuditEventsRequest::default()))
        .await;
    assert!(
        b_audit
            .expect("audit")
            .into_inner()
            .events
            .iter()
            .all(|e| e.org_id == b.org_id)
    );

    // And A's key is untouched by all of that.
    let still = app
        .keys()
        .get_key(authed(&a.owner_token, pb::GetKeyRequest { key_id: a_id }))
        .await
        .expect("get");
    assert_eq!(
        still.into_inner().key.expect("key").status,
        pb::KeyStatus::Active as i32
    );
}

#[tokio::test]
async fn calls_without_or_with_a_bad_credential_are_unauthenticated() {
    let app = spawn_app().await;
    let org = app.org("acme").await;
    let sa = app.service_account(&org.owner_token, "ci", pb::Role::Member).await;
    let secret = app.issue(&org.owner_token, &sa, &[]).await.secret;
    assert_error(
        app.keys()
            .list_keys(tonic::Request::new(pb::ListKeysRequest::default()))
            .await,
        Code::Unauthenticated,
        "MISSING_CREDENTIAL",
    );
    let mut typo = secret.clone().into_bytes();
    typo[10] = if typo[10] == b'a' { b'b' } else { b'a' };
    let typo = String::from_utf8(typo).expect("ascii");
    for bad in [
        typo.as_str(),
        "sk_live_nope",
        "not.a.jwt",
        "eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.",
    ] {
        assert_error(
            app.keys().list_keys(authed(bad, pb::ListKeysRequest::default())).await,
            Code::Unauthenticated,
            "INVALID_CREDENTIAL",
        );
    }
    let mut basic = tonic::Request::new(pb::ListKeysRequest::default());
    basic
        .metadata_mut()
        .insert("authorization", "Basic Zm9vOmJhcg==".parse().expect("ascii"));
    assert_error(
        app.keys().list_keys(basic).await,
        Code::Unauthenticated,
        "INVALID_CREDENTIAL",
    );
}

#[tokio::test]
async fn messages_over_64_kib_are_refused_before_they_reach_a_handler() {
    let app = spawn_app().await;
    let org = app.org("acme").await;
    let sa = app.service_account(&org.owner_token, "ci", pb::Role::Member).await;
    let mut req = issue_request(&sa, "big", &[]);
    req.metadata = [("k".to_string(), "v".repeat(70 * 1024))].into();
    let status = app
        .keys()
        .issue_key(authed(&org.owner_token, req))
        .await
        .expect_err("too large");
    // tonic reports an over-limit message as OUT_OF_RANGE; other stacks say RESOURCE_EXHAUSTED.
    assert!(
        matches!(status.code(), Code::OutOfRange | Code::ResourceExhausted),
        "{status:?}"
    );
    assert!(status.message().contains("too large"), "{status:?}");
    let keys = app
        .keys()
        .list_keys(authed(&org.owner_token, pb::ListKeysRequest::default()))
        .await
        .expect("list");
    assert!(keys.into_inner().keys.is_empty());
}
