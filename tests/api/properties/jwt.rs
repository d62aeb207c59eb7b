//! Access tokens (`src/sessions/jwt.rs`) and the Verify engine's reading of any credential:
//! nothing but a token gatekey signed, unaltered, is accepted.

use super::any_text;
use crate::support::app::{TestApp, spawn_app};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use gatekey::domain::verify::VerifyReason;
use gatekey::verify::VerifyInput;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};

/// A server with one logged-in owner, on a runtime the (synchronous) properties block on.
fn app_with_token() -> (tokio::runtime::Runtime, TestApp, String) {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let (app, token) = rt.block_on(async {
        let app = spawn_app().await;
        let token = app.org("acme").await.owner_token;
        (app, token)
    });
    (rt, app, token)
}

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Strings shaped like JWTs: three dot-separated base64url parts holding arbitrary bytes,
/// arbitrary JSON, or a header naming gatekey's real key over claims it never signed.
fn jwt_shaped(kid: String) -> impl Strategy<Value = String> {
    let part = prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..80).prop_map(|b| b64(&b)),
        any_text(40).prop_map(|t| b64(t.as_bytes())),
        "[A-Za-z0-9_-]{0,60}",
    ];
    let header = prop_oneof![
        part.clone(),
        proptest::sample::select(vec!["EdDSA", "HS256", "none", "RS256", "ES256", ""]).prop_map(move |alg| b64(
            serde_json::json!({"alg": alg, "kid": kid, "typ": "JWT"})
                .to_string()
                .as_bytes()
        )),
    ];
    let claims = (any_text(20), any::<i64>(), any::<i64>()).prop_map(|(sub, iat, exp)| {
        b64(
            serde_json::json!({"sub": sub, "org": sub, "role": "owner", "sid": sub, "iss": "gatekey",
            "aud": "gatekey", "typ": "access", "iat": iat, "exp": exp, "jti": "j"})
            .to_string()
            .as_bytes(),
        )
    });
    (header, prop_oneof![part.clone(), claims], part).prop_map(|(h, c, s)| format!("{h}.{c}.{s}"))
}

fn kid_of(token: &str) -> String {
    let header = URL_SAFE_NO_PAD.decode(token.split('.').next().unwrap()).unwrap();
    let header: serde_json::Value = serde_json::from_slice(&header).unwrap();
    header["kid"].as_str().unwrap().to_owned()
}

fn runner() -> TestRunner {
    TestRunner::new(Config::default())
}

#[test]
fn no_string_that_gatekey_did_not_sign_verifies_as_a_token() {
    let (rt, app, token) = app_with_token();
    assert!(app.core.jwt.verify(&token).is_ok(), "the genuine token verifies");
    let strategy = prop_oneof![any_text(200), jwt_shaped(kid_of(&token))];
    runner()
        .run(&strategy, |s| {
            prop_assert!(app.core.jwt.verify(&s).is_err(), "{:?} verified", s);
            Ok(())
        })
        .unwrap();
    rt.block_on(async { app.stop().await.unwrap() });
}

#[test]
fn any_one_character_changed_in_a_genuine_token_is_refused_by_verify() {
    let (rt, app, token) = app_with_token();
    let verifier = app.core.verifier.clone();
    let strategy = (
        any::<proptest::sample::Index>(),
        prop_oneof![
            proptest::sample::select(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.=+/ ".to_vec())
                .prop_map(char::from),
            any::<char>(),
        ],
    );
    runner()
        .run(&strategy, |(at, replacement)| {
            let mut chars: Vec<char> = token.chars().collect();
            let i = at.index(chars.len());
            prop_assume!(chars[i] != replacement);
            chars[i] = replacement;
            let tampered: String = chars.into_iter().collect();
            prop_assert!(
                app.core.jwt.verify(&tampered).is_err(),
                "position {} changed to {:?} verified",
                i,
                replacement
            );
            let decision = rt.block_on(verifier.verify(&VerifyInput {
                credential: &tampered,
                required: Default::default(),
                client_ip: None,
                cost: 1,
            }));
            let reason = decision.map(|d| d.reason).map_err(|e| e.to_string());
            prop_assert_eq!(
                reason,
                Ok(VerifyReason::InvalidCredential),
                "position {} changed to {:?}",
                i,
                replacement
            );
            Ok(())
        })
        .unwrap();
    let genuine = rt.block_on(verifier.verify(&VerifyInput {
        credential: &token,
        required: Default::default(),
        client_ip: None,
        cost: 1,
    }));
    assert!(genuine.unwrap().allowed(), "the untouched token is allowed");
    rt.block_on(async { app.stop().await.unwrap() });
}

#[test]
fn verify_answers_any_credential_with_a_denial_never_an_allow_or_an_error() {
    let (rt, app, token) = app_with_token();
    let verifier = app.core.verifier.clone();
    let strategy = prop_oneof![
        any_text(300),
        jwt_shaped(kid_of(&token)),
        any_text(40).prop_map(|t| format!("Bearer {t}")),
        "[a-z]{2}_(live|test)_[A-Za-z0-9]{30,50}",
    ];
    runner()
        .run(&strategy, |credential| {
            let decision = rt.block_on(verifier.verify(&VerifyInput {
                credential: &credential,
                required: Default::default(),
                client_ip: None,
                cost: 1,
            }));
            let reason = decision.map(|d| d.reason).map_err(|e| e.to_string());
            prop_assert!(
                matches!(
                    reason,
                    Ok(VerifyReason::InvalidCredential | VerifyReason::MissingCredential)
                ),
                "{:?} got {:?}",
                credential,
                reason
            );
            if reason == Ok(VerifyReason::MissingCredential) {
                let c = credential.trim();
                prop_assert!(
                    c.is_empty() || c.to_ascii_lowercase().starts_with("bearer"),
                    "{:?} read as missing",
                    credential
                );
            }
            Ok(())
        })
        .unwrap();
    rt.block_on(async { app.stop().await.unwrap() });
}
