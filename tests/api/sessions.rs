//! AuthService over gRPC: login, refresh rotation and its theft policy, logout, JWTs.

use crate::support::app::{PASSWORD, USER_AGENT, assert_error, authed, spawn_app};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use gatekey::proto::v1 as pb;
use gatekey::sessions::jwt::AccessClaims;
use std::time::{Duration, Instant};
use tonic::Code;

fn refresh_req(token: &str, user_agent: &str) -> pb::RefreshRequest {
    pb::RefreshRequest {
        refresh_token: token.into(),
        user_agent: user_agent.into(),
    }
}

fn login_req(email: &str, password: &str) -> pb::LoginRequest {
    pb::LoginRequest {
        email: email.into(),
        password: password.into(),
        remember_me: false,
        user_agent: USER_AGENT.into(),
    }
}

#[tokio::test]
async fn login_returns_a_one_hour_jwt_and_a_seven_day_refresh_token() {
    let app = spawn_app().await;
    let org = app.org("acme").await;
    let tokens = app.login(&org.owner_email).await;
    let now = chrono::Utc::now().timestamp();
    assert_eq!(tokens.token_type, "Bearer");
    assert!(tokens.refresh_token.starts_with("gkr_"));
    let access_exp = tokens.access_token_expires_at.expect("exp").seconds;
    let refresh_exp = tokens.refresh_token_expires_at.expect("exp").seconds;
    assert!((access_exp - now - 3600).abs() <= 5, "one hour");
    assert!((refresh_exp - now - 7 * 86_400).abs() <= 5, "seven days");

    let remembered = app
        .auth()
        .login(pb::LoginRequest {
            remember_me: true,
            ..login_req(&org.owner_email, PASSWORD)
        })
        .await
        .expect("login")
        .into_inner();
    assert!(
        (remembered.refresh_token_expires_at.expect("exp").seconds - now - 30 * 86_400).abs() <= 5,
        "thirty days"
    );

    // The access token is an EdDSA JWT with a kid, whose claims name the user, org, role and session.
    let parts: Vec<&str> = tokens.access_token.split('.').collect();
    let header: serde_json::Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[0]).expect("b64")).expect("json");
    let claims: serde_json::Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).expect("b64")).expect("json");
    assert_eq!(header["alg"], "EdDSA");
    assert!(header["kid"].is_string());
    assert_eq!(claims["sub"], org.owner_id.as_str());
    assert_eq!(claims["org"], org.org_id.as_str());
    assert_eq!(claims["role"], "owner");
    assert_eq!(
        (claims["iss"].as_str(), claims["aud"].as_str(), claims["typ"].as_str()),
        (Some("gatekey"), Some("gatekey"), Some("access"))
    );
    assert!(claims["sid"].is_string());
}

#[tokio::test]
async fn the_access_token_verifies_against_the_published_jwks() {
    let app = spawn_app().await;
    let org = app.org("acme").await;
    let jwks = app.jwks().await;
    let header = jsonwebtoken::decode_header(&org.owner_token).expect("header");
    let jwk = jwks["keys"]
        .as_array()
        .expect("keys")
        .iter()
        .find(|k| k["kid"].as_str() == header.kid.as_deref())
        .expect("the signing key is published");
    assert_eq!(
        (jwk["kty"].as_str(), jwk["crv"].as_str()),
        (Some("OKP"), Some("Ed25519"))
    );
    let key = jsonwebtoken::DecodingKey::from_ed_components(jwk["x"].as_str().expect("x")).expect("key");
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::EdDSA);
    validation.set_audience(&["gatekey"]);
    validation.set_issuer(&["gatekey"]);
    let data = jsonwebtoken::decode::<serde_json::Value>(&org.owner_token, &key, &validation).expect("verifies");
    assert_eq!(data.claims["sub"], org.owner_id.as_str());
}

#[tokio::test]
async fn unknown_email_and_wrong_password_fail_alike_and_are_audited() {
    let app = spawn_app().await;
    let org = app.org("acme").await;
    let mut timings = Vec::new();
    for (email, password) in [
        (org.owner_email.as_str(), "wrong password"),
        ("ghost@acme.test", "wrong password"),
    ] {
        let started = Instant::now();
        let status = assert_error(
            app.auth().login(login_req(email, password)).await,
            Code::Unauthenticated,
            "INVALID_CREDENTIALS",
        );
        timings.push(started.elapsed());
        assert_eq!(status.message(), "email or password is incorrect");
    }
    // Both paths run argon2 once, so neither is an order of magnitude faster than the other.
    let (a, b) = (timings[0].as_secs_f64(), timings[1].as_secs_f64());
    assert!(a.max(b) / a.min(b) < 5.0, "timings {timings:?}");
    let events = app.audit_events(&org.owner_token, "user.login_failed").await;
    assert_eq!(events.len(), 1, "the failure on the org's own user is in its log");
    let successes = app.audit_events(&org.owner_token, "user.login_succeeded").await;
    assert_eq!(successes.len(), 1);
}

#[tokio::test]
async fn repeated_failures_for_one_email_are_throttled() {
    let app = spawn_app().await;
    let org = app.org("acme").await;
    for _ in 0..5 {
        assert_error(
            app.auth().login(login_req(&org.owner_email, "nope nope")).await,
            Code::Unauthenticated,
            "INVALID_CREDENTIALS",
        );
    }
    let status = assert_error(
        app.auth().login(login_req(&org.owner_email, PASSWORD)).await,
        Code::ResourceExhausted,
        "TOO_MANY_ATTEMPTS",
    );
    use tonic_types::StatusExt;
    assert!(
        status
            .get_error_details()
            .retry_info()
            .and_then(|r| r.retry_delay)
            .is_some()
    );
    // Other emails are unaffected.
    let other = app.member(&org.owner_token, "other@acme.test", pb::Role::Member).await;
    assert!(!other.is_empty());
}

#[tokio::test]
async fn login_rejects_malformed_input_by_field() {
    let app = spawn_app().await;
    for (req, field) in [
        (login_req("no-at-sign", PASSWORD), "email"),
        (login_req("a@b.test", &"p".repeat(1025)), "password"),
        (login_req("a@b.test", "nul\0byte"), "password"),
        (
            pb::LoginRequest {
                user_agent: "bad\0agent".into(),
                ..login_req("a@b.test", PASSWORD)
            },
            "user_agent",
        ),
    ] {
        let status = assert_error(app.auth().login(req).await, Code::InvalidArgument, "INVALID_ARGUMENT");
        assert!(status.message().starts_with(field), "{}", status.message());
    }
}

#[tokio::test]
async fn refresh_rotates_the_token_every_time() {
    let app = spawn_app().await;
    let org = app.org("acme").await;
    let first = app.login(&org.owner_email).await;
    let second = app.refresh(&first.refresh_token).await;
    assert_ne!(second.refresh_token, first.refresh_token);
    let third = app.refresh(&second.refresh_token).await;
    assert_ne!(third.refresh_token, second.refresh_token);
    app.keys()
        .list_keys(authed(&third.access_token, pb::ListKeysRequest::default()))
        .await
        .expect("new access token works");
}

#[tokio::test]
async fn a_different_user_agent_is_refused_without_consuming_the_token() {
    let app = spawn_app().await;
    let org = app.org("acme").await;
    let tokens = app.login(&org.owner_email).await;
    assert_error(
        app.auth().refresh(refresh_req(&tokens.refresh_token, "curl/8.0")).await,
        Code::Unauthenticated,
        "SESSION_MISMATCH",
    );
    // An over-long User-Agent is a different one too, not a malformed request.
    assert_error(
        app.auth()
            .refresh(refresh_req(&tokens.refresh_token, &"x".repeat(10_000)))
            .await,
        Code::Unauthenticated,
        "SESSION_MISMATCH",
    );
    let audited = app.audit_events(&org.owner_token, "session.user_agent_mismatch").await;
    assert_eq!(audited.len(), 2, "each mismatch is audited");
    assert!(audited.iter().all(|e| e.target.starts_with("session:")), "{audited:?}");
    assert!(
        audited
            .iter()
            .all(|e| !format!("{e:?}").contains(&tokens.refresh_token)),
        "never the token"
    );
    app.auth()
        .refresh(refresh_req(&tokens.refresh_token, USER_AGENT))
        .await
        .expect("the token was not consumed");
}

#[tokio::test]
async fn a_replayed_refresh_token_revokes_the_whole_session() {
    let app = spawn_app().await;
    let org = app.org("acme").await;
    let first = app.login(&org.owner_email).await;
    let second = app.refresh(&first.refresh_token).await;

    assert_error(
        app.auth().refresh(refresh_req(&first.refresh_token, USER_AGENT)).await,
        Code::Unauthenticated,
        "REFRESH_TOKEN_REUSED",
    );
    // Every token of that login is now dead: the newest refresh token and the access tokens.
    assert_error(
        app.auth().refresh(refresh_req(&second.refresh_token, USER_AGENT)).await,
        Code::Unauthenticated,
        "SESSION_REVOKED",
    );
    for access in [&first.access_token, &second.access_token] {
        assert_error(
            app.keys()
                .list_keys(authed(access, pb::ListKeysRequest::default()))
                .await,
            Code::Unauthenticated,
            "SESSION_REVOKED",
        );
    }
    let other = app.login(&org.owner_email).await;
    let events = app
        .audit_events(&other.access_token, "session.refresh_token_reused")
        .await;
    assert_eq!(events.len(), 1, "the reuse is audited");
}

#[tokio::test]
async fn two_concurrent_refreshes_with_one_token_succeed_exactly_once() {
    let app = spawn_app().await;
    let org = app.org("acme").await;
    let tokens = app.login(&org.owner_email).await;
    let (mut a, mut b) = (app.auth(), app.auth());
    let (ra, rb) = tokio::join!(
        a.refresh(refresh_req(&tokens.refresh_token, USER_AGENT)),
        b.refresh(refresh_req(&tokens.refresh_token, USER_AGENT))
    );
    let ok = [ra.is_ok(), rb.is_ok()].iter().filter(|x| **x).count();
    assert_eq!(ok, 1, "{ra:?} {rb:?}");
    let loser = if ra.is_ok() { rb } else { ra };
    assert_error(loser, Code::Unauthenticated, "REFRESH_TOKEN_REUSED");
}

#[tokio::test]
async fn logout_revokes_the_session() {
    let app = spawn_app().await;
    let org = app.org("acme").await;
    let tokens = app.login(&org.owner_email).await;
    app.auth()
        .logout(pb::LogoutRequest {
            refresh_token: tokens.refresh_token.clone(),
        })
        .await
        .expect("logout");
    assert_error(
        app.auth().refresh(refresh_req(&tokens.refresh_token, USER_AGENT)).await,
        Code::Unauthenticated,
        "SESSION_REVOKED",
    );
    assert_error(
        app.keys()
            .list_keys(authed(&tokens.access_token, pb::ListKeysRequest::default()))
            .await,
        Code::Unauthenticated,
        "SESSION_REVOKED",
    );
    assert_error(
        app.auth().refresh(refresh_req("gkr_unknown", USER_AGENT)).await,
        Code::Unauthenticated,
        "INVALID_REFRESH_TOKEN",
    );
    assert_error(
        app.auth().refresh(refresh_req("", USER_AGENT)).await,
        Code::InvalidArgument,
        "INVALID_ARGUMENT",
    );
}

#[tokio::test]
async fn expired_and_tampered_access_tokens_are_refused() {
    let app = spawn_app().await;
    let org = app.org("acme").await;
    let token = org.owner_token.clone();
    for (attack, bad) in crate::support::forge::forged_tokens(&app, &token).await {
        let status = assert_error(
            app.keys().list_keys(authed(&bad, pb::ListKeysRequest::default())).await,
            Code::Unauthenticated,
            "INVALID_CREDENTIAL",
        );
        assert!(!status.message().is_empty(), "{attack}");
    }
    // A refresh token is not an access token.
    let tokens = app.login(&org.owner_email).await;
    assert_error(
        app.keys()
            .list_keys(authed(&tokens.refresh_token, pb::ListKeysRequest::default()))
            .await,
        Code::Unauthenticated,
        "INVALID_CREDENTIAL",
    );
    // Expiry: valid within the 30 s leeway, refused after it.
    app.clock.advance(Duration::from_secs(3600 + 20));
    app.keys()
        .list_keys(authed(&token, pb::ListKeysRequest::default()))
        .await
        .expect("within leeway");
    app.clock.advance(Duration::from_secs(11));
    assert_error(
        app.keys()
            .list_keys(authed(&token, pb::ListKeysRequest::default()))
            .await,
        Code::Unauthenticated,
        "CREDENTIAL_EXPIRED",
    );
}

#[tokio::test]
async fn tokens_from_the_future_are_refused_on_verify_and_admin_calls() {
    let app = spawn_app().await;
    let org = app.org("acme").await;
    let genuine = app.core.jwt.verify(&org.owner_token).expect("a valid token");
    let now = genuine.iat;
    let skewed = [
        (
            "nbf an hour ahead",
            AccessClaims {
                nbf: Some(now + 3600),
                ..genuine.clone()
            },
        ),
        (
            "iat an hour ahead",
            AccessClaims {
                iat: now + 3600,
                ..genuine.clone()
            },
        ),
    ];
    for (what, claims) in skewed {
        // Signed with gatekey's own key: only the times are wrong.
        let token = app.core.jwt.sign(&claims).expect("sign");
        let verdict = crate::verify::verify(&app, &token, &[], "").await;
        assert_eq!(verdict.reason, pb::VerifyReason::InvalidCredential as i32, "{what}");
        let admin = app
            .keys()
            .list_keys(authed(&token, pb::ListKeysRequest::default()))
            .await;
        assert_error(admin, Code::Unauthenticated, "INVALID_CREDENTIAL");
    }
    // Within the leeway both are fine (clocks drift).
    let near = AccessClaims {
        nbf: Some(now + 10),
        iat: now + 10,
        ..genuine
    };
    let token = app.core.jwt.sign(&near).expect("sign");
    assert!(crate::verify::verify(&app, &token, &[], "").await.allowed);
}
