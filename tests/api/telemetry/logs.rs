//! JSON log lines: the message at the top level, and refusals (failed logins, refused admin
//! calls) logged with who was refused and never with what they presented.

use super::Server;
use crate::support::app::{PASSWORD, authed};
use gatekey::proto::v1 as pb;
use std::time::Duration;
use tonic::Code;

fn json_lines(server: &Server) -> Vec<serde_json::Value> {
    server
        .log_lines()
        .iter()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not a JSON line ({e}): {l}")))
        .collect()
}

/// Waits for a line whose `message` is `message` and that `matches`.
async fn line_where(server: &Server, message: &str, matches: impl Fn(&serde_json::Value) -> bool) -> serde_json::Value {
    for _ in 0..100 {
        if let Some(l) = json_lines(server)
            .into_iter()
            .find(|l| l["message"] == message && matches(l))
        {
            return l;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("no `{message}` line in:\n{}", server.log_lines().join("\n"));
}

#[tokio::test]
async fn json_logs_carry_the_message_at_the_top_level() {
    let server = Server::start(&[]).await;
    let serving = line_where(&server, "gatekey serving", |_| true).await;
    assert_eq!(serving["level"], "INFO");
    assert!(serving["timestamp"].is_string());
    assert!(serving.get("fields").is_none(), "fields are flattened: {serving}");
}

#[tokio::test]
async fn failed_logins_and_refused_admin_calls_are_logged_with_the_actor_and_no_secret() {
    let server = Server::start(&[]).await;
    let owner = server.owner().await;
    let wrong_password = "not the password at all";
    assert!(server.login("owner@acme.test", wrong_password).await.is_err());

    // A member may not create service accounts; an unknown key is not a caller at all.
    server
        .admin()
        .create_user(authed(
            &owner,
            pb::CreateUserRequest {
                email: "member@acme.test".into(),
                password: PASSWORD.into(),
                role: pb::Role::Member as i32,
            },
        ))
        .await
        .expect("create member");
    let member = server
        .login("member@acme.test", PASSWORD)
        .await
        .expect("member logs in");
    let member_token = member.access_token.clone();
    let denied = server
        .admin()
        .create_service_account(authed(
            &member.access_token,
            pb::CreateServiceAccountRequest {
                name: "ci".into(),
                role: pb::Role::Operator as i32,
            },
        ))
        .await
        .expect_err("a member is refused");
    assert_eq!(denied.code(), Code::PermissionDenied);
    let made_up_key = "sk_live_aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    let unauthenticated = server
        .keys()
        .list_keys(authed(made_up_key, pb::ListKeysRequest::default()))
        .await
        .expect_err("an unknown key is refused");
    assert_eq!(unauthenticated.code(), Code::Unauthenticated);

    let failed = line_where(&server, "login failed", |_| true).await;
    assert_eq!(failed["level"], "WARN");
    assert_eq!(failed["email"], "owner@acme.test");
    assert_eq!(failed["outcome"], "bad_credentials");

    let permission = line_where(&server, "admin call refused", |l| l["code"] == "PERMISSION_DENIED").await;
    assert_eq!(permission["method"], "gatekey.v1.AdminService/CreateServiceAccount");
    let actor = permission["actor"].as_str().expect("actor");
    assert!(actor.starts_with("user:"), "the member is named: {permission}");
    let unknown = line_where(&server, "admin call refused", |l| l["code"] == "UNAUTHENTICATED").await;
    assert_eq!(unknown["method"], "gatekey.v1.KeyService/ListKeys");
    assert_eq!(unknown["actor"], "anonymous");

    // The JSON API logs its refusals too: the member's, and an anonymous one (refused before
    // its malformed body is read, as gRPC refuses before the message matters).
    let client = reqwest::Client::new();
    let refused = client
        .post(format!("{}/v1/service-accounts", server.http))
        .bearer_auth(&member_token)
        .json(&serde_json::json!({"name": "ci", "role": "operator"}))
        .send()
        .await
        .expect("POST");
    assert_eq!(refused.status(), 403);
    let anonymous = client
        .post(format!("{}/v1/service-accounts", server.http))
        .json(&serde_json::json!({"bogus": 1}))
        .send()
        .await
        .expect("POST");
    assert_eq!(anonymous.status(), 401);
    let body: serde_json::Value = anonymous.json().await.expect("json");
    assert_eq!(body["error"]["code"], "MISSING_CREDENTIAL");
    let http_member = line_where(&server, "admin call refused", |l| l["status"] == 403).await;
    assert_eq!(http_member["route"], "POST /v1/service-accounts");
    assert_eq!(http_member["actor"], actor);
    let http_anonymous = line_where(&server, "admin call refused", |l| l["status"] == 401).await;
    assert_eq!(http_anonymous["actor"], "anonymous");

    let everything = server.log_lines().join("\n");
    for secret in [
        wrong_password,
        PASSWORD,
        made_up_key,
        &owner,
        &member_token,
        &member.refresh_token,
    ] {
        assert!(!everything.contains(secret), "a secret reached the logs");
    }
}
