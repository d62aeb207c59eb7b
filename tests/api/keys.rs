//! KeyService over gRPC: the key lifecycle, its validation, and who may do what.

use crate::support::app::{Backend, assert_error, authed, issue_request, spawn_app, try_spawn_app_on};
use gatekey::proto::v1 as pb;
use std::time::Duration;
use tonic::Code;

fn key_id(req_id: &str) -> pb::GetKeyRequest {
    pb::GetKeyRequest { key_id: req_id.into() }
}

#[tokio::test]
async fn issued_key_is_shown_once_and_listed_without_its_secret() {
    let app = spawn_app().await;
    let org = app.org("acme").await;
    let sa = app.service_account(&org.owner_token, "ci", pb::Role::Operator).await;
    let issued = app
        .issue(&org.owner_token, &sa, &["cameras.read", "leads.lead.write"])
        .await;
    let key = issued.key.expect("key");

    assert!(
        issued.secret.starts_with("sk_live_"),
        "secret has the live secret prefix"
    );
    assert_eq!(issued.secret.len(), 8 + 32 + 6);
    assert_eq!(key.prefix, "sk_live_");
    assert_eq!(key.start, &issued.secret[8..12]);
    assert_eq!(key.status, pb::KeyStatus::Active as i32);
    assert_eq!(key.role, pb::Role::Operator as i32);
    assert_eq!(key.scopes, vec!["cameras.read", "leads.lead.write"]);
    assert_eq!(key.created_by, format!("user:{}", org.owner_id));
    assert!(key.expires_at.is_none(), "keys never expire by default");

    let listed = app
        .keys()
        .list_keys(authed(&org.owner_token, pb::ListKeysRequest::default()))
        .await
        .expect("list")
        .into_inner();
    assert_eq!(listed.keys, vec![key.clone()]);
    let got = app
        .keys()
        .get_key(authed(&org.owner_token, key_id(&key.id)))
        .await
        .expect("get")
        .into_inner();
    assert_eq!(got.key, Some(key));
    assert!(
        !format!("{listed:?}{got:?}").contains(&issued.secret[8..]),
        "no listing carries the secret"
    );
}

#[tokio::test]
async fn issue_accepts_every_optional_field() {
    let app = spawn_app().await;
    let org = app.org("acme").await;
    let sa = app.service_account(&org.owner_token, "ci", pb::Role::Member).await;
    let expires = prost_types::Timestamp {
        seconds: chrono::Utc::now().timestamp() + 3600,
        nanos: 0,
    };
    let mut req = issue_request(&sa, "  ウェブ  ", &["billing:read"]);
    req.kind = pb::KeyKind::Publishable as i32;
    req.environment = pb::Environment::Test as i32;
    req.ip_allowlist = vec!["10.0.0.0/8".into(), "2001:db8::1".into()];
    req.expires_at = Some(expires);
    req.rate_limit = Some(pb::RateLimitPolicy {
        limit: 100,
        window: Some(prost_types::Duration { seconds: 60, nanos: 0 }),
        burst: 10,
    });
    req.metadata = [("team".to_string(), "platform".to_string())].into();
    let issued = app
        .keys()
        .issue_key(authed(&org.owner_token, req))
        .await
        .expect("issue")
        .into_inner();
    let key = issued.key.expect("key");
    assert!(issued.secret.starts_with("pk_test_"));
    assert_eq!(key.name, "ウェブ", "names are trimmed and may be any script");
    assert_eq!(key.kind, pb::KeyKind::Publishable as i32);
    assert_eq!(key.environment, pb::Environment::Test as i32);
    assert_eq!(key.ip_allowlist, vec!["10.0.0.0/8", "2001:db8::1/128"]);
    assert_eq!(key.expires_at, Some(expires));
    assert_eq!(key.rate_limit.as_ref().map(|r| (r.limit, r.burst)), Some((100, 10)));
    assert_eq!(key.metadata.get("team").map(String::as_str), Some("platform"));
}

#[tokio::test]
async fn bad_input_names_the_field_and_changes_nothing() {
    let app = spawn_app().await;
    let org = app.org("acme").await;
    let sa = app.service_account(&org.owner_token, "ci", pb::Role::Member).await;
    let past = prost_types::Timestamp {
        seconds: chrono::Utc::now().timestamp() - 10,
        nanos: 0,
    };
    type Mutation = Box<dyn Fn(&mut pb::IssueKeyRequest)>;
    let cases: Vec<(&str, Mutation)> = vec![
        ("name", Box::new(|r| r.name = "x".repeat(33))),
        ("name", Box::new(|r| r.name = "   ".into())),
        ("name", Box::new(|r| r.name = "a\0b".into())),
        ("scopes", Box::new(|r| r.scopes = vec!["".into()])),
        ("scopes", Box::new(|r| r.scopes = vec!["Cameras.Read".into()])),
        ("scopes", Box::new(|r| r.scopes = vec!["a.*.b".into()])),
        (
            "scopes",
            Box::new(|r| {
                r.kind = pb::KeyKind::Publishable as i32;
                r.scopes = vec!["cameras.write".into()];
            }),
        ),
        (
            "ip_allowlist",
            Box::new(|r| r.ip_allowlist = vec!["10.0.0.0/33".into()]),
        ),
        ("ip_allowlist", Box::new(|r| r.ip_allowlist = vec!["not-an-ip".into()])),
        ("expires_at", Box::new(move |r| r.expires_at = Some(past))),
        (
            "metadata",
            Box::new(|r| r.metadata = [("k".to_string(), "v".repeat(600))].into()),
        ),
        (
            "metadata",
            Box::new(|r| r.metadata = (0..40).map(|i| (format!("k{i}"), "v".to_string())).collect()),
        ),
        ("service_account_id", Box::new(|r| r.service_account_id = "nope".into())),
        (
            "rate_limit.limit",
            Box::new(|r| {
                r.rate_limit = Some(pb::RateLimitPolicy {
                    limit: 0,
                    window: Some(prost_types::Duration { seconds: 1, nanos: 0 }),
                    burst: 1,
                })
            }),
        ),
        (
            "rate_limit.window",
            Box::new(|r| {
                r.rate_limit = Some(pb::RateLimitPolicy {
                    limit: 1,
                    window: None,
                    burst: 1,
                })
            }),
        ),
    ];
    for (field, mutate) in cases {
        let mut req = issue_request(&sa, "ok", &["cameras.read"]);
        mutate(&mut req);
        let status = assert_error(
            app.keys().issue_key(authed(&org.owner_token, req)).await,
            Code::InvalidArgument,
            "INVALID_ARGUMENT",
        );
        use tonic_types::StatusExt;
        let fields: Vec<String> = status
            .get_error_details()
            .bad_request()
            .map(|b| b.field_violations.iter().map(|v| v.field.clone()).collect())
            .unwrap_or_default();
        assert!(
            fields.contains(&field.to_string()),
            "expected a violation on {field}, got {fields:?}"
        );
    }
    let listed = app
        .keys()
        .list_keys(authed(&org.owner_token, pb::ListKeysRequest::default()))
        .await
        .expect("list");
    assert!(
        listed.into_inner().keys.is_empty(),
        "no rejected request stored anything"
    );
}

#[tokio::test]
async fn page_size_out_of_range_is_rejected_and_paging_walks_every_key() {
    let app = spawn_app().await;
    let org = app.org("acme").await;
    let sa = app.service_account(&org.owner_token, "ci", pb::Role::Member).await;
    for _ in 0..5 {
        app.issue(&org.owner_token, &sa, &[]).await;
    }
    let too_big = pb::ListKeysRequest {
        page_size: 1001,
        ..Default::default()
    };
    assert_error(
        app.keys().list_keys(authed(&org.owner_token, too_big)).await,
        Code::InvalidArgument,
        "INVALID_ARGUMENT",
    );
    let garbage = pb::ListKeysRequest {
        page_token: "!!".into(),
        ..Default::default()
    };
    assert_error(
        app.keys().list_keys(authed(&org.owner_token, garbage)).await,
        Code::InvalidArgument,
        "INVALID_ARGUMENT",
    );

    let mut seen = Vec::new();
    let mut token = String::new();
    loop {
        let page = app
            .keys()
            .list_keys(authed(
                &org.owner_token,
                pb::ListKeysRequest {
                    page_size: 2,
                    page_token: token,
                    ..Default::default()
                },
            ))
            .await
            .expect("page")
            .into_inner();
        assert!(page.keys.len() <= 2);
        seen.extend(page.keys.into_iter().map(|k| k.id));
        if page.next_page_token.is_empty() {
            break;
        }
        token = page.next_page_token;
    }
    let mut unique = seen.clone();
    unique.dedup();
    assert_eq!((seen.len(), unique.len()), (5, 5));
}

#[tokio::test]
async fn revoke_is_instant_idempotent_and_audited() {
    let app = spawn_app().await;
    let org = app.org("acme").await;
    let sa = app.service_account(&org.owner_token, "ci", pb::Role::Member).await;
    let issued = app.issue(&org.owner_token, &sa, &["cameras.read"]).await;
    let id = issued.key.expect("key").id;

    // The key authenticates until it is revoked, and not one call after.
    app.keys()
        .get_key(authed(&issued.secret, key_id(&id)))
        .await
        .expect("key works before revoke");
    let revoked = app
        .keys()
        .revoke_key(authed(&org.owner_token, pb::RevokeKeyRequest { key_id: id.clone() }))
        .await
        .expect("revoke")
        .into_inner()
        .key
        .expect("key");
    assert_eq!(revoked.status, pb::KeyStatus::Revoked as i32);
    assert_eq!(revoked.revoked_by, format!("user:{}", org.owner_id));
    assert_error(
        app.keys().get_key(authed(&issued.secret, key_id(&id))).await,
        Code::Unauthenticated,
        "CREDENTIAL_REVOKED",
    );

    let again = app
        .keys()
        .revoke_key(authed(&org.owner_token, pb::RevokeKeyRequest { key_id: id.clone() }))
        .await
        .expect("revoking twice is fine")
        .into_inner()
        .key
        .expect("key");
    assert_eq!(again.revoked_at, revoked.revoked_at, "the first revocation stands");

    let events = app.audit_events(&org.owner_token, "service_account.key_revoked").await;
    assert_eq!(events.len(), 1, "one event for one revocation");
    assert_eq!(events[0].actor, format!("user:{}", org.owner_id));
    assert_eq!(events[0].key_prefix, format!("sk_live_{}", &issued.secret[8..12]));
    assert_eq!(events[0].target, format!("key:{id}"));
}

#[tokio::test]
async fn rotation_copies_the_policy_and_retires_the_old_key() {
    let app = spawn_app().await;
    let org = app.org("acme").await;
    let sa = app.service_account(&org.owner_token, "ci", pb::Role::Operator).await;
    let mut req = issue_request(&sa, "deploy-bot-with-a-long-name-xxxx", &["cameras.read"]);
    req.ip_allowlist = vec!["10.0.0.0/8".into()];
    req.metadata = [("team".to_string(), "infra".to_string())].into();
    let expires = prost_types::Timestamp {
        seconds: chrono::Utc::now().timestamp() + 7200,
        nanos: 0,
    };
    req.expires_at = Some(expires);
    let issued = app
        .keys()
        .issue_key(authed(&org.owner_token, req))
        .await
        .expect("issue")
        .into_inner();
    let old = issued.key.expect("key");

    let rotated = app
        .keys()
        .rotate_key(authed(
            &org.owner_token,
            pb::RotateKeyRequest {
                key_id: old.id.clone(),
                grace_period: None,
            },
        ))
        .await
        .expect("rotate")
        .into_inner();
    let new = rotated.new_key.expect("new key");
    let old_after = rotated.old_key.expect("old key");
    assert_ne!(rotated.secret, issued.secret);
    assert_eq!(new.rotated_from, old.id);
    assert_eq!(
        (new.scopes.clone(), new.ip_allowlist.clone(), new.metadata.clone()),
        (old.scopes, old.ip_allowlist, old.metadata)
    );
    assert_eq!((new.role, new.expires_at), (old.role, Some(expires)));
    let date = chrono::Utc::now().format("%y%m%d").to_string();
    assert_eq!(new.name.chars().count(), 32);
    assert!(new.name.ends_with(&format!(" {date}")), "{}", new.name);
    assert_eq!(
        old_after.status,
        pb::KeyStatus::Revoked as i32,
        "grace 0 revokes at once"
    );
    assert_error(
        app.keys().get_key(authed(&issued.secret, key_id(&old.id))).await,
        Code::Unauthenticated,
        "CREDENTIAL_REVOKED",
    );
    app.keys()
        .get_key(authed(&rotated.secret, key_id(&new.id)))
        .await
        .expect("the new key works");

    // A second rotation of the retired key is refused.
    assert_error(
        app.keys()
            .rotate_key(authed(
                &org.owner_token,
                pb::RotateKeyRequest {
                    key_id: old.id.clone(),
                    grace_period: None,
                },
            ))
            .await,
        Code::FailedPrecondition,
        "KEY_NOT_ROTATABLE",
    );
}

#[tokio::test]
async fn rotation_with_grace_keeps_the_old_key_until_then_but_never_past_its_expiry() {
    let app = spawn_app().await;
    let org = app.org("acme").await;
    let sa = app.service_account(&org.owner_token, "ci", pb::Role::Member).await;
    let issued = app.issue(&org.owner_token, &sa, &[]).await;
    let old = issued.key.expect("key");
    let grace = prost_types::Duration { seconds: 600, nanos: 0 };
    let rotated = app
        .keys()
        .rotate_key(authed(
            &org.owner_token,
            pb::RotateKeyRequest {
                key_id: old.id.clone(),
                grace_period: Some(grace),
            },
        ))
        .await
        .expect("rotate")
        .into_inner();
    let old_after = rotated.old_key.expect("old");
    assert_eq!(old_after.status, pb::KeyStatus::Active as i32);
    let expected = app.clock_now_secs() + 600;
    assert!((old_after.expires_at.expect("expiry").seconds - expected).abs() <= 1);
    app.keys()
        .get_key(authed(&issued.secret, key_id(&old.id)))
        .await
        .expect("old key still works in grace");
    app.clock.advance(Duration::from_secs(601));
    assert_error(
        app.keys().get_key(authed(&issued.secret, key_id(&old.id))).await,
        Code::Unauthenticated,
        "CREDENTIAL_EXPIRED",
    );

    // A key that expires before the grace ends keeps its own, earlier expiry.
    let mut req = issue_request(&sa, "short", &[]);
    let soon = app.clock_now_secs() + 60;
    req.expires_at = Some(prost_types::Timestamp {
        seconds: soon,
        nanos: 0,
    });
    let short = app
        .keys()
        .issue_key(authed(&org.owner_token, req))
        .await
        .expect("issue")
        .into_inner()
        .key
        .expect("key");
    let rotated = app
        .keys()
        .rotate_key(authed(
            &org.owner_token,
            pb::RotateKeyRequest {
                key_id: short.id,
                grace_period: Some(grace),
            },
        ))
        .await
        .expect("rotate")
        .into_inner();
    assert_eq!(rotated.old_key.expect("old").expires_at.map(|t| t.seconds), Some(soon));
}

async fn concurrent_rotations_succeed_exactly_once(backend: Backend) {
    let Some(app) = try_spawn_app_on(backend).await else {
        eprintln!("skipped: no {backend:?} server configured");
        return;
    };
    let org = app.org("acme").await;
    let sa = app.service_account(&org.owner_token, "ci", pb::Role::Member).await;
    let id = app.issue(&org.owner_token, &sa, &[]).await.key.expect("key").id;
    let calls = (0..4).map(|_| {
        let mut client = app.keys();
        let req = authed(
            &org.owner_token,
            pb::RotateKeyRequest {
                key_id: id.clone(),
                grace_period: None,
            },
        );
        async move { client.rotate_key(req).await }
    });
    let results = futures::future::join_all(calls).await;
    let ok = results.iter().filter(|r| r.is_ok()).count();
    assert_eq!(ok, 1, "exactly one rotation wins: {results:?}");
    for r in results.into_iter().filter(|r| r.is_err()) {
        assert_error(r, Code::FailedPrecondition, "KEY_NOT_ROTATABLE");
    }
    let keys = app
        .keys()
        .list_keys(authed(&org.owner_token, pb::ListKeysRequest::default()))
        .await
        .expect("list");
    assert_eq!(keys.into_inner().keys.len(), 2, "one old key and one replacement");
}

#[tokio::test]
async fn sqlite_concurrent_rotations_of_one_key_succeed_exactly_once() {
    concurrent_rotations_succeed_exactly_once(Backend::Sqlite).await;
}

#[tokio::test]
async fn postgres_concurrent_rotations_of_one_key_succeed_exactly_once() {
    concurrent_rotations_succeed_exactly_once(Backend::Postgres).await;
}

#[tokio::test]
async fn mysql_concurrent_rotations_of_one_key_succeed_exactly_once() {
    concurrent_rotations_succeed_exactly_once(Backend::MySql).await;
}

#[tokio::test]
async fn only_revoked_keys_can_be_deleted_and_their_history_stays() {
    let app = spawn_app().await;
    let org = app.org("acme").await;
    let sa = app.service_account(&org.owner_token, "ci", pb::Role::Member).await;
    let id = app.issue(&org.owner_token, &sa, &[]).await.key.expect("key").id;
    assert_error(
        app.keys()
            .delete_key(authed(&org.owner_token, pb::DeleteKeyRequest { key_id: id.clone() }))
            .await,
        Code::FailedPrecondition,
        "KEY_NOT_REVOKED",
    );
    app.keys()
        .revoke_key(authed(&org.owner_token, pb::RevokeKeyRequest { key_id: id.clone() }))
        .await
        .expect("revoke");
    app.keys()
        .delete_key(authed(&org.owner_token, pb::DeleteKeyRequest { key_id: id.clone() }))
        .await
        .expect("delete");
    assert_error(
        app.keys().get_key(authed(&org.owner_token, key_id(&id))).await,
        Code::NotFound,
        "KEY_NOT_FOUND",
    );
    let events = app.audit_events(&org.owner_token, "").await;
    let actions: Vec<&str> = events
        .iter()
        .filter(|e| e.target == format!("key:{id}"))
        .map(|e| e.action.as_str())
        .collect();
    assert_eq!(
        actions,
        vec![
            "service_account.key_deleted",
            "service_account.key_revoked",
            "service_account.key_issued"
        ],
        "newest first, nothing lost"
    );
}

impl crate::support::app::TestApp {
    fn clock_now_secs(&self) -> i64 {
        use gatekey::domain::time::Clock;
        self.clock.now().0 / 1000
    }
}
