//! Every existing `/v1` route: the happy path, and the error shapes of permission and validation.

use super::{code, json_call, login, post_raw};
use crate::support::app::{PASSWORD, spawn_app};
use gatekey::proto::v1 as pb;
use reqwest::Method;
use serde_json::json;

#[tokio::test]
async fn login_refresh_and_logout_work_over_json() {
    let app = spawn_app().await;
    let org = app.org("acme").await;
    let tokens = login(&app, &org.owner_email).await;
    assert_eq!(tokens["token_type"], "Bearer");
    assert!(tokens["access_token_expires_at"].as_str().unwrap().ends_with('Z'));
    let refresh = tokens["refresh_token"].as_str().unwrap();

    let (status, renewed) = json_call(
        &app,
        Method::POST,
        "/v1/auth/refresh",
        None,
        Some(json!({"refresh_token": refresh})),
    )
    .await;
    assert_eq!(status, 200, "{renewed}");
    let (status, reused) = json_call(
        &app,
        Method::POST,
        "/v1/auth/refresh",
        None,
        Some(json!({"refresh_token": refresh})),
    )
    .await;
    assert_eq!((status, code(&reused)), (401, "REFRESH_TOKEN_REUSED"));

    let (status, bad) = json_call(
        &app,
        Method::POST,
        "/v1/auth/login",
        None,
        Some(json!({"email": org.owner_email, "password": "wrong password here"})),
    )
    .await;
    assert_eq!((status, code(&bad)), (401, "INVALID_CREDENTIALS"));

    let login2 = login(&app, &org.owner_email).await;
    let (status, body) = json_call(
        &app,
        Method::POST,
        "/v1/auth/logout",
        None,
        Some(json!({"refresh_token": login2["refresh_token"]})),
    )
    .await;
    assert_eq!((status, body), (204, serde_json::Value::Null));
}

#[tokio::test]
async fn the_key_lifecycle_works_over_json_and_verify_decides_in_the_body() {
    let app = spawn_app().await;
    let org = app.org("acme").await;
    let t = Some(org.owner_token.as_str());

    let (status, created) = json_call(
        &app,
        Method::POST,
        "/v1/service-accounts",
        t,
        Some(json!({"name": "billing", "role": "member"})),
    )
    .await;
    assert_eq!(status, 201, "{created}");
    assert_eq!(created["service_account"]["role"], "member");
    let sa = created["service_account"]["id"].as_str().unwrap().to_owned();
    let (status, list) = json_call(&app, Method::GET, "/v1/service-accounts", t, None).await;
    assert_eq!(status, 200);
    assert_eq!(list["service_accounts"][0]["id"], sa.as_str());

    let (status, issued) = json_call(
        &app,
        Method::POST,
        &format!("/v1/service-accounts/{sa}/keys"),
        t,
        Some(json!({"name": "ci", "environment": "test", "scopes": ["invoices:read"], "rate_limit": {"limit": 10, "window_secs": 60, "burst": 10}})),
    )
    .await;
    assert_eq!(status, 201, "{issued}");
    assert_eq!(issued["key"]["kind"], "secret");
    assert_eq!(issued["key"]["status"], "active");
    assert_eq!(issued["key"]["rate_limit"]["window_secs"], 60);
    let secret = issued["secret"].as_str().unwrap().to_owned();
    let key = issued["key"]["id"].as_str().unwrap().to_owned();

    let (status, verdict) = json_call(
        &app,
        Method::POST,
        "/v1/verify",
        None,
        Some(json!({"credential": secret, "required_scopes": ["invoices:read"]})),
    )
    .await;
    assert_eq!(status, 200, "{verdict}");
    assert_eq!(
        (verdict["allowed"].as_bool(), verdict["reason"].as_str()),
        (Some(true), Some("OK"))
    );
    assert_eq!(verdict["principal"]["type"], "service_account");
    let (_, denied) = json_call(
        &app,
        Method::POST,
        "/v1/verify",
        None,
        Some(json!({"credential": "nope"})),
    )
    .await;
    assert_eq!(
        (denied["allowed"].as_bool(), denied["http_status"].as_u64()),
        (Some(false), Some(401))
    );
    assert_eq!(denied["reason"], "INVALID_CREDENTIAL");

    // A suspension: Verify says DISABLED (401) until the key is enabled again.
    for (action, status_word, reason, http) in [
        ("disable", "disabled", "DISABLED", 401),
        ("enable", "active", "OK", 200),
    ] {
        let (status, changed) = json_call(&app, Method::POST, &format!("/v1/keys/{key}/{action}"), t, None).await;
        assert_eq!(
            (status, changed["key"]["status"].as_str()),
            (200, Some(status_word)),
            "{changed}"
        );
        let (_, verdict) = json_call(
            &app,
            Method::POST,
            "/v1/verify",
            None,
            Some(json!({"credential": secret, "required_scopes": ["invoices:read"]})),
        )
        .await;
        assert_eq!(
            (verdict["reason"].as_str(), verdict["http_status"].as_u64()),
            (Some(reason), Some(http)),
            "after {action}: {verdict}"
        );
    }

    let (status, got) = json_call(&app, Method::GET, &format!("/v1/keys/{key}"), t, None).await;
    assert_eq!((status, got["key"]["id"].as_str()), (200, Some(key.as_str())));
    let (status, listed) = json_call(&app, Method::GET, &format!("/v1/keys?service_account_id={sa}"), t, None).await;
    assert_eq!((status, listed["keys"].as_array().map(Vec::len)), (200, Some(1)));
    let (status, of_sa) = json_call(&app, Method::GET, &format!("/v1/service-accounts/{sa}/keys"), t, None).await;
    assert_eq!((status, of_sa["keys"].as_array().map(Vec::len)), (200, Some(1)));

    // A violation names the JSON field, also where it differs from the proto's (`_secs`).
    let (status, refused) = json_call(
        &app,
        Method::POST,
        &format!("/v1/keys/{key}/rotate"),
        t,
        Some(json!({"grace_period_secs": 4_000_000})),
    )
    .await;
    assert_eq!(status, 400, "{refused}");
    assert_eq!(
        refused["error"]["details"]["field_violations"][0]["field"], "grace_period_secs",
        "{refused}"
    );
    assert!(
        refused["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with("grace_period_secs:"),
        "{refused}"
    );
    let (status, rotated) = json_call(
        &app,
        Method::POST,
        &format!("/v1/keys/{key}/rotate"),
        t,
        Some(json!({"grace_period_secs": 0})),
    )
    .await;
    assert_eq!(status, 200, "{rotated}");
    let new_key = rotated["new_key"]["id"].as_str().unwrap().to_owned();
    assert_ne!(new_key, key);

    // Revoke with no body at all.
    let (status, revoked) = json_call(&app, Method::POST, &format!("/v1/keys/{new_key}/revoke"), t, None).await;
    assert_eq!(
        (status, revoked["key"]["status"].as_str()),
        (200, Some("revoked")),
        "{revoked}"
    );
    let (status, body) = json_call(&app, Method::DELETE, &format!("/v1/keys/{new_key}"), t, None).await;
    assert_eq!(status, 204, "{body}");
    let (status, gone) = json_call(&app, Method::GET, &format!("/v1/keys/{new_key}"), t, None).await;
    assert_eq!((status, code(&gone)), (404, "KEY_NOT_FOUND"));
    assert_eq!(gone["error"]["details"], json!({}), "details is always there: {gone}");
}

#[tokio::test]
async fn a_foreign_orgs_key_is_not_found_like_a_nonexistent_one() {
    let app = spawn_app().await;
    let acme = app.org("acme").await;
    let globex = app.org("globex").await;
    let sa = app
        .service_account(&acme.owner_token, "billing", pb::Role::Member)
        .await;
    let key = app.issue(&acme.owner_token, &sa, &[]).await.key.unwrap().id;
    let t = Some(globex.owner_token.as_str());
    let (status, foreign) = json_call(&app, Method::GET, &format!("/v1/keys/{key}"), t, None).await;
    let missing = uuid::Uuid::now_v7();
    let (status2, nonexistent) = json_call(&app, Method::GET, &format!("/v1/keys/{missing}"), t, None).await;
    assert_eq!((status, code(&foreign)), (404, "KEY_NOT_FOUND"));
    assert_eq!(foreign, nonexistent);
    assert_eq!(status2, 404);

    // The same for a service account's key list, as for its other routes.
    let (status, foreign) = json_call(&app, Method::GET, &format!("/v1/service-accounts/{sa}/keys"), t, None).await;
    let (status2, nonexistent) = json_call(
        &app,
        Method::GET,
        &format!("/v1/service-accounts/{missing}/keys"),
        t,
        None,
    )
    .await;
    assert_eq!((status, code(&foreign)), (404, "SERVICE_ACCOUNT_NOT_FOUND"));
    assert_eq!((status2, foreign), (404, nonexistent));
}

#[tokio::test]
async fn permission_and_validation_errors_have_the_json_shape() {
    let app = spawn_app().await;
    let org = app.org("acme").await;
    let member = app.member(&org.owner_token, "m@acme.test", pb::Role::Member).await;

    let (status, body) = json_call(&app, Method::GET, "/v1/service-accounts", None, None).await;
    assert_eq!((status, code(&body)), (401, "MISSING_CREDENTIAL"));
    let (status, body) = json_call(
        &app,
        Method::POST,
        "/v1/service-accounts",
        Some(&member),
        Some(json!({"name": "x", "role": "member"})),
    )
    .await;
    assert_eq!((status, code(&body)), (403, "INSUFFICIENT_ROLE"));
    let (status, body) = json_call(
        &app,
        Method::POST,
        "/v1/users",
        Some(&member),
        Some(json!({"email": "n@acme.test", "password": PASSWORD, "role": "member"})),
    )
    .await;
    assert_eq!((status, code(&body)), (403, "INSUFFICIENT_ROLE"));

    let t = Some(org.owner_token.as_str());
    let (status, body) = json_call(
        &app,
        Method::POST,
        "/v1/service-accounts",
        t,
        Some(json!({"name": "", "role": "member"})),
    )
    .await;
    assert_eq!((status, code(&body)), (400, "INVALID_ARGUMENT"));
    assert_eq!(
        body["error"]["details"]["field_violations"][0]["field"], "name",
        "{body}"
    );

    let (status, body) = json_call(
        &app,
        Method::POST,
        "/v1/service-accounts",
        t,
        Some(json!({"name": "a", "role": "member", "colour": "red"})),
    )
    .await;
    assert_eq!((status, code(&body)), (400, "INVALID_ARGUMENT"));
    assert_eq!(
        body["error"]["details"]["field_violations"][0]["field"], "colour",
        "{body}"
    );
    let (status, body) = json_call(
        &app,
        Method::POST,
        "/v1/service-accounts",
        t,
        Some(json!({"name": "a", "role": "emperor"})),
    )
    .await;
    assert_eq!(
        (
            status,
            body["error"]["details"]["field_violations"][0]["field"].as_str()
        ),
        (400, Some("role"))
    );

    let big = "x".repeat(65 * 1024);
    let (status, body) = json_call(
        &app,
        Method::POST,
        "/v1/service-accounts",
        t,
        Some(json!({"name": big})),
    )
    .await;
    assert_eq!((status, code(&body)), (413, "PAYLOAD_TOO_LARGE"));

    let (status, body) = post_raw(&app, &org.owner_token, "text/plain", "{\"name\":\"a\"}").await;
    assert_eq!((status, code(&body)), (400, "INVALID_ARGUMENT"));
    // Only one JSON object is a body: not an array (serde would read it by position), not an
    // object followed by more.
    for raw in [
        r#"["sneaky","member"]"#,
        r#"{"name":"one","role":"member"}{"name":"two","role":"owner"}"#,
        r#"{"name":"one","role":"member"} trailing"#,
        r#""text""#,
    ] {
        let (status, body) = post_raw(&app, &org.owner_token, "application/json", raw).await;
        assert_eq!((status, code(&body)), (400, "INVALID_ARGUMENT"), "{raw}: {body}");
    }
    let (_, listed) = json_call(&app, Method::GET, "/v1/service-accounts", t, None).await;
    assert_eq!(listed["service_accounts"], json!([]), "nothing was created");

    // No credential at all: refused before the body is judged.
    let (status, body) = json_call(
        &app,
        Method::POST,
        "/v1/service-accounts",
        None,
        Some(json!({"colour": "red"})),
    )
    .await;
    assert_eq!((status, code(&body)), (401, "MISSING_CREDENTIAL"));

    for path in ["/v1/no-such-thing", "/v1", "/v1/"] {
        let (status, body) = json_call(&app, Method::GET, path, t, None).await;
        assert_eq!((status, code(&body)), (404, "NOT_FOUND"), "{path}");
    }
    let (status, body) = json_call(&app, Method::PATCH, "/v1/service-accounts", t, None).await;
    assert_eq!((status, code(&body)), (405, "METHOD_NOT_ALLOWED"));
}

#[tokio::test]
async fn users_audit_events_rate_limits_and_roles_work_over_json() {
    let app = spawn_app().await;
    let org = app.org("acme").await;
    let t = Some(org.owner_token.as_str());
    let (status, user) = json_call(
        &app,
        Method::POST,
        "/v1/users",
        t,
        Some(json!({"email": "n@acme.test", "password": PASSWORD, "role": "operator"})),
    )
    .await;
    assert_eq!(
        (status, user["user"]["role"].as_str()),
        (201, Some("operator")),
        "{user}"
    );

    let (status, events) = json_call(&app, Method::GET, "/v1/audit-events?page_size=5", t, None).await;
    assert_eq!(status, 200, "{events}");
    assert!(!events["events"].as_array().unwrap().is_empty());
    let (status, body) = json_call(&app, Method::GET, "/v1/audit-events?page_size=x", t, None).await;
    assert_eq!(
        (
            status,
            body["error"]["details"]["field_violations"][0]["field"].as_str()
        ),
        (400, Some("page_size"))
    );

    let (status, limit) = json_call(
        &app,
        Method::PUT,
        "/v1/rate-limits/org",
        t,
        Some(json!({"policy": {"limit": 50, "window_secs": 10, "burst": 5}})),
    )
    .await;
    assert_eq!((status, limit["policy"]["limit"].as_u64()), (200, Some(50)), "{limit}");
    let (status, body) = json_call(
        &app,
        Method::PUT,
        "/v1/rate-limits/org",
        t,
        Some(json!({"policy": {"limit": 50, "window_secs": 0, "burst": 5}})),
    )
    .await;
    assert_eq!((status, code(&body)), (400, "INVALID_ARGUMENT"), "{body}");

    let (status, scopes) = json_call(
        &app,
        Method::PUT,
        "/v1/roles/member/scopes",
        t,
        Some(json!({"scopes": ["invoices:read"]})),
    )
    .await;
    assert_eq!((status, scopes["role"].as_str()), (200, Some("member")), "{scopes}");
    let (status, body) = json_call(
        &app,
        Method::PUT,
        "/v1/roles/emperor/scopes",
        t,
        Some(json!({"scopes": []})),
    )
    .await;
    assert_eq!(
        (
            status,
            body["error"]["details"]["field_violations"][0]["field"].as_str()
        ),
        (400, Some("role"))
    );
}
