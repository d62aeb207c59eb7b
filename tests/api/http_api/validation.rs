//! Validation over JSON: every bad field named at once, broken JSON named as such.

use super::{code, json_call, post_raw};
use crate::support::app::spawn_app;
use reqwest::Method;
use serde_json::json;

#[tokio::test]
async fn broken_json_is_a_body_error_naming_no_field() {
    let app = spawn_app().await;
    let org = app.org("acme").await;
    for raw in [r#"{"name":"#, r#"{"name":"x","role":"member",,}"#, r#"{"name" "x"}"#] {
        let (status, body) = post_raw(&app, &org.owner_token, "application/json", raw).await;
        assert_eq!((status, code(&body)), (400, "INVALID_ARGUMENT"), "{raw}: {body}");
        assert_eq!(body["error"]["details"], json!({}), "{raw}: {body}");
        let message = body["error"]["message"].as_str().unwrap();
        assert!(message.starts_with("malformed request"), "{raw}: {message}");
    }
    // A well-formed body with a wrongly typed value still names its field.
    let (status, body) = post_raw(
        &app,
        &org.owner_token,
        "application/json",
        r#"{"name": 7, "role": "member"}"#,
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(
        body["error"]["details"]["field_violations"][0]["field"], "name",
        "{body}"
    );
}

#[tokio::test]
async fn a_past_expiry_is_named_with_the_other_bad_fields() {
    let app = spawn_app().await;
    let org = app.org("acme").await;
    let t = Some(org.owner_token.as_str());
    let (_, sa) = json_call(
        &app,
        Method::POST,
        "/v1/service-accounts",
        t,
        Some(json!({"name": "svc", "role": "member"})),
    )
    .await;
    let sa_id = sa["service_account"]["id"].as_str().unwrap();
    let (status, body) = json_call(
        &app,
        Method::POST,
        &format!("/v1/service-accounts/{sa_id}/keys"),
        t,
        Some(json!({
            "name": "",
            "scopes": ["BAD SCOPE"],
            "ip_allowlist": ["300.1.1.1/99"],
            "expires_at": "2000-01-01T00:00:00Z",
        })),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    let mut fields: Vec<&str> = body["error"]["details"]["field_violations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["field"].as_str().unwrap())
        .collect();
    fields.sort_unstable();
    assert_eq!(fields, ["expires_at", "ip_allowlist", "name", "scopes"], "{body}");
}
