//! AuthService.Verify: every reason and status, expiry edges, revocation, the rate limit,
//! what the store sees, and an outage with a warm cache.

use crate::support::app::{Backend, Spawn, TestApp, assert_error, authed, issue_request, spawn_app};
use gatekey::domain::ids::KeyId;
use gatekey::domain::time::{Clock, UnixMs};
use gatekey::proto::v1 as pb;
use std::time::Duration;
use tonic::Code;

pub fn request(credential: &str, scopes: &[&str], ip: &str) -> pb::VerifyRequest {
    pb::VerifyRequest {
        credential: credential.into(),
        required_scopes: scopes.iter().map(|s| s.to_string()).collect(),
        client_ip: ip.into(),
        cost: 0,
    }
}

pub async fn verify(app: &TestApp, credential: &str, scopes: &[&str], ip: &str) -> pb::VerifyResponse {
    app.auth()
        .verify(request(credential, scopes, ip))
        .await
        .expect("verify answers")
        .into_inner()
}

fn reason(r: &pb::VerifyResponse) -> pb::VerifyReason {
    pb::VerifyReason::try_from(r.reason).expect("known reason")
}

/// An org with a service account and one key with `scopes`; returns (org owner token, key secret, key id).
pub async fn keyed(app: &TestApp, org: &str, scopes: &[&str]) -> (String, String, String) {
    let org = app.org(org).await;
    let sa = app.service_account(&org.owner_token, "ci", pb::Role::Operator).await;
    let issued = app.issue(&org.owner_token, &sa, scopes).await;
    (org.owner_token, issued.secret, issued.key.expect("key").id)
}

#[tokio::test]
async fn a_valid_key_is_allowed_with_its_principal_and_rate_limit() {
    let app = spawn_app().await;
    let (_, secret, id) = keyed(&app, "acme", &["cameras.read", "leads.*"]).await;
    let r = verify(
        &app,
        &format!("Bearer {secret}"),
        &["cameras.read", "leads.lead.write"],
        "203.0.113.9",
    )
    .await;
    assert!(r.allowed);
    assert_eq!((reason(&r), r.http_status), (pb::VerifyReason::Ok, 200));
    let p = r.principal.expect("principal");
    assert_eq!(p.r#type, pb::PrincipalType::ServiceAccount as i32);
    assert_eq!(
        (p.key_id.as_str(), p.key_prefix.as_str(), p.key_start.as_str()),
        (id.as_str(), "sk_live_", &secret[..12])
    );
    assert_eq!(
        (p.role, p.environment),
        (pb::Role::Operator as i32, pb::Environment::Live as i32)
    );
    assert_eq!(p.scopes, vec!["cameras.read", "leads.*"]);
    let rl = r.rate_limit.expect("rate limit");
    assert_eq!(
        (rl.limited, rl.policy.as_str(), rl.limit, rl.remaining),
        (false, "org", 1000, 99)
    );
    assert_eq!(rl.policy_header, "\"org\";q=1000;w=60");
    assert_eq!(rl.header, "\"org\";r=99;t=1");
}

#[tokio::test]
async fn every_denial_has_its_reason_and_http_status() {
    let app = spawn_app().await;
    let org = app.org("acme").await;
    let sa = app.service_account(&org.owner_token, "ci", pb::Role::Member).await;
    let plain = app.issue(&org.owner_token, &sa, &["cameras.read"]).await.secret;
    let mut req = issue_request(&sa, "office", &["cameras.read"]);
    req.ip_allowlist = vec!["10.0.0.0/8".into()];
    let fenced = app
        .keys()
        .issue_key(authed(&org.owner_token, req))
        .await
        .expect("issue")
        .into_inner()
        .secret;
    let mut req = issue_request(&sa, "soon", &[]);
    let soon = app.clock.now().0 / 1000 + 60;
    req.expires_at = Some(prost_types::Timestamp {
        seconds: soon,
        nanos: 0,
    });
    let expiring = app
        .keys()
        .issue_key(authed(&org.owner_token, req))
        .await
        .expect("issue")
        .into_inner()
        .secret;
    let revoked = app.issue(&org.owner_token, &sa, &[]).await;
    let revoked_id = revoked.key.expect("key").id;
    app.keys()
        .revoke_key(authed(&org.owner_token, pb::RevokeKeyRequest { key_id: revoked_id }))
        .await
        .expect("revoke");
    let mut typo = plain.clone().into_bytes();
    typo[9] = if typo[9] == b'a' { b'b' } else { b'a' };
    let typo = String::from_utf8(typo).expect("ascii");

    let cases = [
        ("", vec![], "", pb::VerifyReason::MissingCredential, 401),
        ("Bearer ", vec![], "", pb::VerifyReason::MissingCredential, 401),
        (typo.as_str(), vec![], "", pb::VerifyReason::InvalidCredential, 401),
        (
            "not-a-key-nor-a-jwt",
            vec![],
            "",
            pb::VerifyReason::InvalidCredential,
            401,
        ),
        (revoked.secret.as_str(), vec![], "", pb::VerifyReason::Revoked, 401),
        (
            fenced.as_str(),
            vec![],
            "192.0.2.1",
            pb::VerifyReason::IpNotAllowed,
            403,
        ),
        (fenced.as_str(), vec![], "", pb::VerifyReason::IpNotAllowed, 403),
        (fenced.as_str(), vec![], "10.2.3.4", pb::VerifyReason::Ok, 200),
        (
            plain.as_str(),
            vec!["cameras.write"],
            "",
            pb::VerifyReason::InsufficientScope,
            403,
        ),
    ];
    for (credential, scopes, ip, want, status) in cases {
        let r = verify(&app, credential, &scopes, ip).await;
        assert_eq!(
            (reason(&r), r.http_status, r.allowed),
            (want, status, want == pb::VerifyReason::Ok),
            "{credential:?}"
        );
    }
    let over_long = format!("sk_live_{}", "a".repeat(10_000));
    assert_eq!(
        reason(&verify(&app, &over_long, &[], "").await),
        pb::VerifyReason::InvalidCredential
    );

    app.clock.advance(Duration::from_secs(61));
    let r = verify(&app, &expiring, &[], "").await;
    assert_eq!((reason(&r), r.http_status), (pb::VerifyReason::Expired, 401));

    let tokens = app.login(&org.owner_email).await;
    app.auth()
        .logout(pb::LogoutRequest {
            refresh_token: tokens.refresh_token,
        })
        .await
        .expect("logout");
    let r = verify(&app, &tokens.access_token, &[], "").await;
    assert_eq!((reason(&r), r.http_status), (pb::VerifyReason::SessionRevoked, 401));
}

#[tokio::test]
async fn malformed_requests_are_errors_and_garbled_credentials_are_denials() {
    let app = spawn_app().await;
    let (_, secret, _) = keyed(&app, "acme", &[]).await;
    let bad_ip = app.auth().verify(request(&secret, &[], "300.1.1.1")).await;
    assert_error(bad_ip, Code::InvalidArgument, "INVALID_ARGUMENT");
    let many: Vec<String> = (0..33).map(|i| format!("s{i}.read")).collect();
    let too_many = pb::VerifyRequest {
        credential: secret.clone(),
        required_scopes: many,
        ..Default::default()
    };
    assert_error(
        app.auth().verify(too_many).await,
        Code::InvalidArgument,
        "INVALID_ARGUMENT",
    );
    assert_eq!(
        reason(&verify(&app, "\0garbage\u{1F600}", &[], "").await),
        pb::VerifyReason::InvalidCredential
    );
}

#[tokio::test]
async fn expiry_is_exact_to_the_millisecond_on_the_cache_and_the_store_path() {
    let app = spawn_app().await;
    let org = app.org("acme").await;
    let sa = app.service_account(&org.owner_token, "ci", pb::Role::Member).await;
    let expires_ms = (app.clock.now().0 / 1000 + 3600) * 1000;
    let mut req = issue_request(&sa, "edge", &[]);
    req.expires_at = Some(prost_types::Timestamp {
        seconds: expires_ms / 1000,
        nanos: 0,
    });
    let issued = app
        .keys()
        .issue_key(authed(&org.owner_token, req))
        .await
        .expect("issue")
        .into_inner();
    let id = KeyId(issued.key.expect("key").id.parse().expect("uuid"));
    verify(&app, &issued.secret, &[], "").await;

    for (offset, want) in [
        (-1, pb::VerifyReason::Ok),
        (0, pb::VerifyReason::Expired),
        (1, pb::VerifyReason::Expired),
    ] {
        app.clock.set(UnixMs(expires_ms + offset));
        let cached = reason(&verify(&app, &issued.secret, &[], "").await);
        app.core.verifier.forget_key(id);
        let from_store = reason(&verify(&app, &issued.secret, &[], "").await);
        assert_eq!((cached, from_store), (want, want), "at expiry {offset:+} ms");
    }
}

#[tokio::test]
async fn a_revoked_key_is_denied_on_the_very_next_call() {
    let app = spawn_app().await;
    let (owner, secret, id) = keyed(&app, "acme", &[]).await;
    assert!(verify(&app, &secret, &[], "").await.allowed, "warm in the cache");
    app.keys()
        .revoke_key(authed(&owner, pb::RevokeKeyRequest { key_id: id }))
        .await
        .expect("revoke");
    assert_eq!(reason(&verify(&app, &secret, &[], "").await), pb::VerifyReason::Revoked);
}

#[tokio::test]
async fn invalid_checksums_and_cache_hits_never_touch_the_store_and_verify_never_writes() {
    let app = Spawn::on(Backend::Sqlite)
        .counting()
        .set("change_poll_ms", serde_json::json!(10))
        .start()
        .await
        .expect("app");
    let store = app.counting.clone().expect("counting store");
    let (owner, secret, id) = keyed(&app, "acme", &["cameras.read"]).await;
    let mut typo = secret.clone().into_bytes();
    typo[20] = if typo[20] == b'x' { b'y' } else { b'x' };
    let typo = String::from_utf8(typo).expect("ascii");
    app.unlimited(&owner).await;
    // The change feed brings this replica its own changes too (and drops what they touch);
    // let it apply them first, so what follows counts Verify's lookups alone.
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let before = store.snapshot();

    for _ in 0..50 {
        assert_eq!(
            reason(&verify(&app, &typo, &[], "").await),
            pb::VerifyReason::InvalidCredential
        );
    }
    assert_eq!(
        store.count("find_key_by_hash"),
        before.get("find_key_by_hash").copied().unwrap_or(0),
        "no lookup for a bad checksum"
    );

    let started = std::time::Instant::now();
    for _ in 0..200 {
        assert!(verify(&app, &secret, &["cameras.read"], "").await.allowed);
    }
    // Usage is flushed at most once a second, however slow a loaded machine makes the loop.
    let flushes_allowed = started.elapsed().as_secs() as usize + 2;
    let after = store.snapshot();
    let delta = |m: &str| after.get(m).copied().unwrap_or(0) - before.get(m).copied().unwrap_or(0);
    assert_eq!(delta("find_key_by_hash"), 1, "one lookup, then cache hits");
    assert_eq!(delta("get_org_rate_limit"), 1, "the org policy is cached too");
    let writes_before: std::collections::HashMap<_, _> = before.iter().map(|(m, n)| (*m, *n)).collect();
    for (write, count) in store.writes() {
        if write != "touch_keys" {
            assert_eq!(
                count,
                writes_before.get(write).copied().unwrap_or(0),
                "Verify wrote with {write}"
            );
        }
    }
    assert!(
        delta("touch_keys") <= flushes_allowed,
        "usage is flushed in batches, not per call"
    );

    // The uses were not lost: after a flush the key shows when it was last used.
    tokio::time::sleep(Duration::from_millis(1300)).await;
    let key = app
        .keys()
        .get_key(authed(&owner, pb::GetKeyRequest { key_id: id }))
        .await
        .expect("get");
    assert!(key.into_inner().key.expect("key").last_used_at.is_some());
}

#[tokio::test]
async fn an_unknown_well_formed_key_costs_one_store_lookup_per_five_seconds() {
    // The negative cache lives 5 s in real time (moka's clock), so the test waits it out.
    let app = Spawn::on(Backend::Sqlite).counting().start().await.expect("app");
    let store = app.counting.clone().expect("counting store");
    let stranger = gatekey::domain::key_format::generate(
        gatekey::domain::key_format::KeyKind::Secret,
        gatekey::domain::key_format::Environment::Live,
    );
    let raw = secrecy::ExposeSecret::expose_secret(stranger.secret()).to_owned();
    let refused = || async { reason(&verify(&app, &raw, &[], "").await) == pb::VerifyReason::InvalidCredential };
    let first = std::time::Instant::now();
    for _ in 0..20 {
        assert!(refused().await);
    }
    assert_eq!(store.count("find_key_by_hash"), 1, "one lookup for a burst");
    tokio::time::sleep_until((first + Duration::from_secs(4)).into()).await;
    assert!(refused().await);
    assert_eq!(store.count("find_key_by_hash"), 1, "still remembered after 4 s");
    tokio::time::sleep_until((first + Duration::from_millis(5600)).into()).await;
    assert!(refused().await);
    assert_eq!(
        store.count("find_key_by_hash"),
        2,
        "looked up again once 5 s have passed"
    );
}

#[tokio::test]
async fn concurrent_misses_for_one_key_share_one_store_lookup() {
    let app = Spawn::on(Backend::Sqlite).counting().start().await.expect("app");
    let store = app.counting.clone().expect("counting store");
    let (owner, secret, _) = keyed(&app, "acme", &[]).await;
    app.unlimited(&owner).await;
    let before = store.count("find_key_by_hash");
    let calls = (0..40).map(|_| verify(&app, &secret, &[], ""));
    let results = futures::future::join_all(calls).await;
    assert!(results.iter().all(|r| r.allowed));
    // One lookup, or two if a call missed the cache just as the first lookup landed.
    assert!(
        store.count("find_key_by_hash") - before <= 2,
        "{} lookups",
        store.count("find_key_by_hash") - before
    );
}

#[tokio::test]
async fn the_org_bucket_allows_the_burst_then_429s_with_an_exact_retry_after() {
    let app = spawn_app().await;
    let (_, secret, _) = keyed(&app, "acme", &[]).await;
    // The clock stands still, so the GCRA arithmetic is exact.
    for i in 0..100 {
        let r = verify(&app, &secret, &[], "").await;
        assert!(r.allowed, "request {i}");
        assert_eq!(r.rate_limit.expect("rl").remaining, 99 - i);
    }
    let r = verify(&app, &secret, &[], "").await;
    assert_eq!(
        (reason(&r), r.http_status, r.allowed),
        (pb::VerifyReason::RateLimited, 429, false)
    );
    let rl = r.rate_limit.expect("rate limit");
    assert!(rl.limited);
    assert_eq!(rl.remaining, 0);
    assert_eq!(
        rl.retry_after,
        Some(prost_types::Duration {
            seconds: 0,
            nanos: 60_000_000
        }),
        "one emission interval"
    );
    assert_eq!(rl.header, "\"org\";r=0;t=6");
    app.clock.advance(Duration::from_millis(60));
    assert!(
        verify(&app, &secret, &[], "").await.allowed,
        "one interval later one more passes"
    );
    assert!(!verify(&app, &secret, &[], "").await.allowed);
}

#[tokio::test]
async fn set_rate_limit_changes_the_org_default_and_key_overrides_get_their_own_bucket() {
    let app = spawn_app().await;
    let (owner, secret, id) = keyed(&app, "acme", &[]).await;
    let policy = |limit, burst| pb::RateLimitPolicy {
        limit,
        window: Some(prost_types::Duration { seconds: 60, nanos: 0 }),
        burst,
    };
    app.admin()
        .set_rate_limit(authed(
            &owner,
            pb::SetRateLimitRequest {
                key_id: String::new(),
                policy: Some(policy(10, 3)),
            },
        ))
        .await
        .expect("org default");
    let mut costly = request(&secret, &[], "");
    costly.cost = 2;
    let r = app.auth().verify(costly.clone()).await.expect("verify").into_inner();
    assert_eq!(
        (r.allowed, r.rate_limit.as_ref().map(|l| l.remaining)),
        (true, Some(1)),
        "cost 2 of burst 3"
    );
    assert!(
        !app.auth().verify(costly).await.expect("verify").into_inner().allowed,
        "only 1 unit left"
    );

    app.admin()
        .set_rate_limit(authed(
            &owner,
            pb::SetRateLimitRequest {
                key_id: id.clone(),
                policy: Some(policy(500, 50)),
            },
        ))
        .await
        .expect("key override");
    let r = verify(&app, &secret, &[], "").await;
    let rl = r.rate_limit.expect("rl");
    assert_eq!(
        (r.allowed, rl.policy.as_str(), rl.limit, rl.remaining),
        (true, "key", 500, 49)
    );

    let member = app.member(&owner, "m@acme.test", pb::Role::Member).await;
    assert_error(
        app.admin()
            .set_rate_limit(authed(
                &member,
                pb::SetRateLimitRequest {
                    key_id: id,
                    policy: Some(policy(1, 1)),
                },
            ))
            .await,
        Code::PermissionDenied,
        "INSUFFICIENT_ROLE",
    );
    assert_error(
        app.admin()
            .set_rate_limit(authed(
                &owner,
                pb::SetRateLimitRequest {
                    key_id: String::new(),
                    policy: None,
                },
            ))
            .await,
        Code::InvalidArgument,
        "INVALID_ARGUMENT",
    );
}

#[tokio::test]
async fn with_the_store_down_cached_allows_last_the_2_s_stale_window_then_unavailable_and_revocations_stick() {
    // The window is real time (a monotonic clock), so the test uses a short one, and polls
    // every 100 ms so the feed was read at most that long before the store goes down: the
    // window then ends between 1.9 s and 2 s after.
    let app = Spawn::on(Backend::Sqlite)
        .counting()
        .set("verify_stale_secs", 2.into())
        .set("change_poll_ms", 100.into())
        .start()
        .await
        .expect("app");
    let store = app.counting.clone().expect("counting store");
    let (_, secret, _) = keyed(&app, "acme", &[]).await;
    let (_, revoked_secret, revoked_id) = keyed(&app, "bravo", &[]).await;
    let (_, cold_secret, _) = keyed(&app, "charlie", &[]).await;
    assert!(verify(&app, &secret, &[], "").await.allowed);
    let bravo_owner = app.login("owner@bravo.test").await.access_token;
    app.keys()
        .revoke_key(authed(&bravo_owner, pb::RevokeKeyRequest { key_id: revoked_id }))
        .await
        .expect("revoke");
    // Let the feed deliver the revocation first: applying it drops the key's cache entry, so a
    // lookup made before it lands would be dropped again and the outage would find no entry.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        reason(&verify(&app, &revoked_secret, &[], "").await),
        pb::VerifyReason::Revoked
    );

    store.set_down(true);
    let down = std::time::Instant::now();
    assert!(
        verify(&app, &secret, &[], "").await.allowed,
        "a cached allow works through the outage"
    );
    assert_error(
        app.auth().verify(request(&cold_secret, &[], "")).await,
        Code::Unavailable,
        "STORE_UNAVAILABLE",
    );
    tokio::time::sleep_until((down + Duration::from_millis(1500)).into()).await;
    assert!(
        verify(&app, &secret, &[], "").await.allowed,
        "still allowed 1.5 s into the outage, inside the window"
    );
    tokio::time::sleep_until((down + Duration::from_millis(2500)).into()).await;
    assert_error(
        app.auth().verify(request(&secret, &[], "")).await,
        Code::Unavailable,
        "STORE_UNAVAILABLE",
    );
    assert_eq!(
        reason(&verify(&app, &revoked_secret, &[], "").await),
        pb::VerifyReason::Revoked,
        "never served again"
    );

    store.set_down(false);
    tokio::time::sleep(Duration::from_millis(1000)).await;
    assert!(
        verify(&app, &secret, &[], "").await.allowed,
        "back once the feed is read again"
    );
}

#[tokio::test]
async fn users_verify_with_their_roles_scopes_and_tampered_tokens_are_refused() {
    let app = spawn_app().await;
    let org = app.org("acme").await;
    let owner = verify(&app, &org.owner_token, &["cameras.write"], "").await;
    assert!(owner.allowed, "owners hold * by default");
    let p = owner.principal.expect("principal");
    assert_eq!(
        (p.r#type, p.id.as_str(), p.scopes.clone()),
        (
            pb::PrincipalType::User as i32,
            org.owner_id.as_str(),
            vec!["*".to_string()]
        )
    );

    let member = app.member(&org.owner_token, "m@acme.test", pb::Role::Member).await;
    assert!(
        verify(&app, &member, &[], "").await.allowed,
        "no scope required: any member"
    );
    assert_eq!(
        reason(&verify(&app, &member, &["cameras.read"], "").await),
        pb::VerifyReason::InsufficientScope
    );
    app.admin()
        .set_role_scopes(authed(
            &org.owner_token,
            pb::SetRoleScopesRequest {
                role: pb::Role::Member as i32,
                scopes: vec!["cameras.read".into()],
            },
        ))
        .await
        .expect("grant");
    assert!(
        verify(&app, &member, &["cameras.read"], "").await.allowed,
        "the grant applies at once"
    );

    let tokens = app.login(&org.owner_email).await;
    assert_eq!(
        reason(&verify(&app, &tokens.refresh_token, &[], "").await),
        pb::VerifyReason::InvalidCredential
    );
    for (attack, forged) in crate::support::forge::forged_tokens(&app, &org.owner_token).await {
        let r = verify(&app, &forged, &[], "").await;
        assert_eq!(reason(&r), pb::VerifyReason::InvalidCredential, "{attack}");
    }

    app.clock.advance(Duration::from_secs(3600 + 31));
    assert_eq!(
        reason(&verify(&app, &org.owner_token, &[], "").await),
        pb::VerifyReason::Expired
    );
}

#[tokio::test]
async fn a_replayed_refresh_token_ends_the_sessions_access_tokens_at_verify() {
    let app = spawn_app().await;
    let org = app.org("acme").await;
    let tokens = app.login(&org.owner_email).await;
    assert!(verify(&app, &tokens.access_token, &[], "").await.allowed);
    let refresh = |t: &str| pb::RefreshRequest {
        refresh_token: t.into(),
        user_agent: crate::support::app::USER_AGENT.into(),
    };
    app.auth()
        .refresh(refresh(&tokens.refresh_token))
        .await
        .expect("rotate");
    let _ = app.auth().refresh(refresh(&tokens.refresh_token)).await;
    assert_eq!(
        reason(&verify(&app, &tokens.access_token, &[], "").await),
        pb::VerifyReason::SessionRevoked
    );
}
