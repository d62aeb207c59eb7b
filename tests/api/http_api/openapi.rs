//! The OpenAPI document: every route, the enum words the API writes, and the rules it states
//! matching the service's own limits.

use super::call;
use crate::support::app::spawn_app;
use gatekey::domain::verify::{MAX_REQUIRED_SCOPES, RequiredScopes};
use gatekey::domain::{fields, rate_limit, scope};
use reqwest::Method;

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
    // The bounds are literals in the code (utoipa takes no constants): held to the service's.
    let bound =
        |value: &serde_json::Value, key: &str| value[key].as_u64().unwrap_or_else(|| panic!("{key} of {value}"));
    let policy = &doc["components"]["schemas"]["RateLimitPolicy"]["properties"];
    for field in ["limit", "burst"] {
        assert_eq!(bound(&policy[field], "minimum"), 1);
        assert_eq!(bound(&policy[field], "maximum"), u64::from(rate_limit::MAX_LIMIT));
    }
    assert_eq!(
        bound(&policy["window_secs"], "maximum"),
        rate_limit::MAX_WINDOW.as_secs()
    );
    for path in ["/v1/keys", "/v1/users", "/v1/service-accounts", "/v1/audit-events"] {
        let page_size = doc["paths"][path]["get"]["parameters"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["name"] == "page_size")
            .unwrap();
        assert_eq!(
            bound(&page_size["schema"], "maximum"),
            u64::from(gatekey::store::MAX_PAGE_SIZE),
            "{path}"
        );
    }
    let cost = &doc["components"]["schemas"]["VerifyBody"]["properties"]["cost"];
    assert_eq!(bound(cost, "maximum"), u64::from(gatekey::grpc::verify::MAX_COST));
    let password = &doc["components"]["schemas"]["CreateUserBody"]["properties"]["password"];
    assert_eq!(bound(password, "minLength"), fields::MIN_PASSWORD_CHARS as u64);
    assert_eq!(bound(password, "maxLength"), fields::MAX_PASSWORD_BYTES as u64);
    let issue = &doc["components"]["schemas"]["IssueKeyBody"]["properties"]["scopes"];
    assert_eq!(bound(issue, "maxItems"), scope::MAX_SCOPES as u64);
    let needed = &doc["components"]["schemas"]["VerifyBody"]["properties"]["required_scopes"];
    assert_eq!(bound(needed, "maxItems"), MAX_REQUIRED_SCOPES as u64);

    // A body with required fields is itself required; one whose fields all have defaults is not.
    let body_required = |method: &str, path: &str| doc["paths"][path][method]["requestBody"]["required"] == true;
    assert!(body_required("post", "/v1/users") && body_required("post", "/v1/auth/login"));
    assert!(!body_required("post", "/v1/keys/{id}/revoke") && !body_required("post", "/v1/verify"));

    // The scope patterns accept exactly what the parsers accept.
    let pattern = |schema: &str| {
        let s = &doc["components"]["schemas"][schema];
        assert_eq!(bound(s, "maxLength"), scope::MAX_SCOPE_LEN as u64);
        regex::Regex::new(s["pattern"].as_str().unwrap()).unwrap()
    };
    let (granted, needed) = (pattern("ScopeName"), pattern("RequiredScopeName"));
    let samples = [
        "cameras.read",
        "cameras:read",
        "a",
        "a-b_c.d9",
        "cameras.*",
        "*",
        "",
        ".",
        "a.",
        ".a",
        "a..b",
        "A.read",
        "a b",
        "a.*.b",
        "**",
        "a.b*",
        "é",
        "a\n",
        "a:*",
    ];
    for sample in samples {
        let one = [sample.to_owned()];
        assert_eq!(
            granted.is_match(sample),
            scope::Scope::parse("s", sample).is_ok(),
            "{sample:?}"
        );
        assert_eq!(
            needed.is_match(sample),
            RequiredScopes::parse("s", &one).is_ok(),
            "{sample:?}"
        );
    }
}
