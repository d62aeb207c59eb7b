//! Every existing `/v1` route: the happy path, and the error shapes of permission and validation.

use super::{call, code, json_call, login};
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

    // Every bad field of a request is named at once, a past expiry with the rest.
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

    // A body sent as written, to create a service account.
    let post_raw = |content_type: &'static str, raw: &'static str| {
        let request = reqwest::Client::new()
            .post(format!("{}/v1/service-accounts", app.http_addr))
            .bearer_auth(&org.owner_token)
            .header("content-type", content_type)
            .body(raw);
        async move { super::answer(request.send().await.unwrap()).await }
    };
    let (status, body) = post_raw("text/plain", "{\"name\":\"a\"}").await;
    assert_eq!((status, code(&body)), (400, "INVALID_ARGUMENT"));
    // Broken JSON has no field to blame: the error names none.
    for raw in [r#"{"name":"#, r#"{"name":"x","role":"member",,}"#, r#"{"name" "x"}"#] {
        let (status, body) = post_raw("application/json", raw).await;
        assert_eq!((status, code(&body)), (400, "INVALID_ARGUMENT"), "{raw}: {body}");
        assert_eq!(body["error"]["details"], json!({}), "{raw}: {body}");
        let message = body["error"]["message"].as_str().unwrap();
        assert!(message.starts_with("malformed request"), "{raw}: {message}");
    }
    // Only one JSON object is a body: not an array (serde would read it by position), not an
    // object followed by more.
    for raw in [
        r#"["sneaky","member"]"#,
        r#"{"name":"one","role":"member"}{"name":"two","role":"owner"}"#,
        r#"{"name":"one","role":"member"} trailing"#,
        r#""text""#,
    ] {
        let (status, body) = post_raw("application/json", raw).await;
        assert_eq!((status, code(&body)), (400, "INVALID_ARGUMENT"), "{raw}: {body}");
    }
    let (_, listed) = json_call(&app, Method::GET, "/v1/service-accounts", t, None).await;
    let names: Vec<&str> = listed["service_accounts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|sa| sa["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["svc"], "nothing but svc was created");

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

#[tokio::test]
async fn the_openapi_document_is_3_1_and_lists_every_route() {
    let app = spawn_app().await;
    let response = call(&app, Method::GET, "/v1/openapi.json", None, None).await;
    let (status, doc) = super::answer(response).await;
    assert_eq!(status, 200);
    assert!(doc["openapi"].as_str().unwrap().starts_with("3.1."));
    let routes = [
        ("post", "/v1/auth/login"),
        ("post", "/v1/auth/refresh"),
        ("post", "/v1/auth/logout"),
        ("post", "/v1/auth/password"),
        ("post", "/v1/verify"),
        ("get", "/v1/service-accounts"),
        ("post", "/v1/service-accounts"),
        ("delete", "/v1/service-accounts/{id}"),
        ("get", "/v1/service-accounts/{id}/keys"),
        ("post", "/v1/service-accounts/{id}/keys"),
        ("post", "/v1/service-accounts/{id}/key-pairs"),
        ("get", "/v1/keys"),
        ("get", "/v1/keys/{id}"),
        ("delete", "/v1/keys/{id}"),
        ("post", "/v1/keys/{id}/rotate"),
        ("post", "/v1/keys/{id}/revoke"),
        ("post", "/v1/keys/{id}/disable"),
        ("post", "/v1/keys/{id}/enable"),
        ("get", "/v1/rate-limits/org"),
        ("put", "/v1/rate-limits/org"),
        ("get", "/v1/rate-limits/keys/{id}"),
        ("put", "/v1/rate-limits/keys/{id}"),
        ("delete", "/v1/rate-limits/keys/{id}"),
        ("get", "/v1/roles"),
        ("put", "/v1/roles/{role}/scopes"),
        ("get", "/v1/users"),
        ("post", "/v1/users"),
        ("put", "/v1/users/{id}/role"),
        ("delete", "/v1/users/{id}"),
        ("get", "/v1/audit-events"),
        ("post", "/console/session"),
        ("get", "/console/session"),
        ("delete", "/console/session"),
        ("post", "/console/session/refresh"),
    ];
    for (method, path) in routes {
        let op = &doc["paths"][path][method];
        assert!(op.is_object(), "{method} {path} missing");
        assert!(
            op["responses"]["400"].is_object() || path.starts_with("/console"),
            "{method} {path}"
        );
    }
    assert_eq!(doc["components"]["securitySchemes"]["bearer"]["scheme"], "bearer");
    // The enums are documented with the words the API writes (a drift here fails every
    // response carrying them in the fuzzer).
    let words = |schema: &str| -> Vec<String> {
        doc["components"]["schemas"][schema]["enum"]
            .as_array()
            .unwrap_or_else(|| panic!("{schema} is an enum"))
            .iter()
            .map(|v| v.as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(words("Role"), ["member", "operator", "admin", "owner"]);
    assert_eq!(words("KeyStatus"), ["active", "expired", "revoked", "disabled"]);
    assert_eq!(words("RateLimitSource"), ["key", "org", "built_in"]);
    let reasons = words("VerifyReason");
    assert!(
        reasons.iter().any(|r| r == "OK") && reasons.iter().any(|r| r == "DISABLED"),
        "{reasons:?}"
    );
    // What the service requires and bounds, the document says (a client generated from it
    // should not find out by a 400).
    let required = |schema: &str| -> Vec<String> {
        let mut names: Vec<String> = doc["components"]["schemas"][schema]["required"]
            .as_array()
            .unwrap_or_else(|| panic!("{schema} has required fields"))
            .iter()
            .map(|v| v.as_str().unwrap().to_owned())
            .collect();
        names.sort_unstable();
        names
    };
    assert_eq!(required("LoginBody"), ["email", "password"]);
    assert_eq!(required("CreateServiceAccountBody"), ["name", "role"]);
    assert_eq!(required("RateLimitPolicy"), ["burst", "limit", "window_secs"]);
    let limit = &doc["components"]["schemas"]["RateLimitPolicy"]["properties"]["limit"];
    assert_eq!(
        (limit["minimum"].as_f64(), limit["maximum"].as_f64()),
        (Some(1.0), Some(1e7))
    );
    let page_size = doc["paths"]["/v1/keys"]["get"]["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "page_size")
        .unwrap();
    assert_eq!(page_size["schema"]["maximum"].as_f64(), Some(1000.0), "{page_size}");
    // A body with required fields is itself required; one whose fields all have defaults is not.
    let body_required = |method: &str, path: &str| doc["paths"][path][method]["requestBody"]["required"] == true;
    assert!(body_required("post", "/v1/users") && body_required("post", "/v1/auth/login"));
    assert!(!body_required("post", "/v1/keys/{id}/revoke") && !body_required("post", "/v1/verify"));
    let scope = &doc["components"]["schemas"]["ScopeName"];
    assert!(scope["pattern"].as_str().unwrap().ends_with("|\\*)$"), "{scope}");
    assert_eq!(scope["maxLength"], 128);
}
