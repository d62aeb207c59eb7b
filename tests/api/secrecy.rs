//! No secret ever reaches the logs: not an API key, an access or refresh token, a password,
//! the pepper or the signing secret, whether the call that carried it succeeded or not.

use crate::support::app::{PASSWORD, USER_AGENT, authed, spawn_app};
use crate::support::logs;
use gatekey::domain::key_format::{Environment, KeyKind, generate};
use gatekey::proto::v1 as pb;
use secrecy::ExposeSecret;
use tonic::Code;

/// `token` with one character of its signature changed.
fn tampered(token: &str) -> String {
    let mut chars: Vec<char> = token.chars().collect();
    let last = chars.len() - 3;
    chars[last] = if chars[last] == 'A' { 'B' } else { 'A' };
    chars.into_iter().collect()
}

/// `key` with a typo in its random part (its checksum then fails).
fn typo(key: &str) -> String {
    let mut bytes = key.as_bytes().to_vec();
    bytes[12] = if bytes[12] == b'a' { b'b' } else { b'a' };
    String::from_utf8(bytes).expect("ascii")
}

#[tokio::test]
async fn no_log_line_ever_contains_a_secret() {
    // The capture (installed by spawn_app) logs gatekey at TRACE and its dependencies at
    // DEBUG, spans included as they open, the most the harness records.
    let app = spawn_app().await;
    let org = app.org("acme").await;
    app.unlimited(&org.owner_token).await;
    let sa = app.service_account(&org.owner_token, "ci", pb::Role::Member).await;
    let issued = app.issue(&org.owner_token, &sa, &["cameras.read"]).await;
    let id = issued.key.clone().expect("key").id;
    app.keys()
        .get_key(authed(&issued.secret, pb::GetKeyRequest { key_id: id.clone() }))
        .await
        .expect("use the key");
    let rotated = app
        .keys()
        .rotate_key(authed(
            &org.owner_token,
            pb::RotateKeyRequest {
                key_id: id,
                // Both keys stay valid for an hour, so Verify allows each.
                grace_period: Some(prost_types::Duration {
                    seconds: 3600,
                    nanos: 0,
                }),
            },
        ))
        .await
        .expect("rotate")
        .into_inner();
    let tokens = app.login(&org.owner_email).await;
    let unknown_key = generate(KeyKind::Secret, Environment::Live)
        .secret()
        .expose_secret()
        .to_owned();
    let wrong_key = typo(&issued.secret);
    let forged_token = tampered(&tokens.access_token);

    // Verify, allowing and refusing, with each kind of credential, bare and as `Bearer`.
    let verdicts = [
        (issued.secret.as_str(), true),
        (rotated.secret.as_str(), true),
        (tokens.access_token.as_str(), true),
        (wrong_key.as_str(), false),
        (unknown_key.as_str(), false),
        (forged_token.as_str(), false),
        (tokens.refresh_token.as_str(), false),
    ];
    for (credential, allowed) in verdicts {
        for presented in [credential.to_owned(), format!("Bearer {credential}")] {
            let r = crate::verify::verify(&app, &presented, &["cameras.read"], "203.0.113.9").await;
            assert_eq!(r.allowed, allowed, "Verify answered {:?}", r.reason);
        }
    }
    // Admin calls refuse the bad ones too.
    for bad in [&wrong_key, &unknown_key, &forged_token] {
        let denied = app.keys().list_keys(authed(bad, pb::ListKeysRequest::default())).await;
        assert_eq!(denied.expect_err("refused").code(), Code::Unauthenticated);
    }

    let refreshed = app.refresh(&tokens.refresh_token).await;
    assert!(
        crate::verify::verify(&app, &refreshed.access_token, &[], "")
            .await
            .allowed
    );
    // The replay ends the session (theft policy); a wrong password fails; logouts end sessions.
    let replayed = app
        .auth()
        .refresh(pb::RefreshRequest {
            refresh_token: tokens.refresh_token.clone(),
            user_agent: USER_AGENT.into(),
        })
        .await;
    assert!(replayed.is_err(), "a replayed refresh token is refused");
    let wrong_password = app
        .auth()
        .login(pb::LoginRequest {
            email: org.owner_email.clone(),
            password: "a wrong password".into(),
            remember_me: false,
            user_agent: USER_AGENT.into(),
        })
        .await;
    assert!(wrong_password.is_err());
    let last = app.login(&org.owner_email).await;
    for refresh_token in [&last.refresh_token, &refreshed.refresh_token] {
        let _ = app
            .auth()
            .logout(pb::LogoutRequest {
                refresh_token: refresh_token.clone(),
            })
            .await;
    }
    assert!(
        !crate::verify::verify(&app, &last.access_token, &[], "").await.allowed,
        "logged out"
    );
    app.stop().await.expect("clean shutdown");

    let logs = logs::captured();
    for evidence in [
        "issued API key",
        "AuthService/Verify",
        "AuthService/Refresh",
        "AuthService/Logout",
        "session logged out",
    ] {
        assert!(logs.contains(evidence), "the capture saw {evidence:?}");
    }
    let signature = |token: &str| token.rsplit('.').next().expect("signature").to_owned();
    let secrets = [
        ("the API key", issued.secret.clone()),
        ("the API key without its prefix", issued.secret[8..].to_owned()),
        ("the rotated key", rotated.secret.clone()),
        ("a mistyped key", wrong_key),
        ("an unknown key", unknown_key),
        ("the access token", tokens.access_token.clone()),
        ("the access token's signature", signature(&tokens.access_token)),
        ("a tampered access token", forged_token),
        ("the refreshed access token", refreshed.access_token.clone()),
        ("the last access token", last.access_token.clone()),
        ("the refresh token", tokens.refresh_token.clone()),
        ("the rotated refresh token", refreshed.refresh_token.clone()),
        ("the last refresh token", last.refresh_token.clone()),
        ("the password", PASSWORD.to_owned()),
        ("a wrong password", "a wrong password".to_owned()),
        ("the pepper", "test-pepper-0123456789abcdef0123456789".to_owned()),
        ("the signing secret", "test-signing-secret-0123456789abcdef".to_owned()),
    ];
    for (what, secret) in secrets {
        assert!(!logs.contains(&secret), "{what} reached the logs");
    }
}
