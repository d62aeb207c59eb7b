//! The cases every gateway must pass, written once against the gateway's base URL.

use super::harness::{CLIENT_IP, Echo, client};
use crate::support::app::{TestApp, authed, issue_request};
use gatekey::domain::time::Clock;
use gatekey::proto::v1 as pb;
use std::time::Duration;

/// An org with its default limit out of the way and an operator service account.
pub struct Tenant {
    pub org_id: String,
    pub owner: String,
    pub service_account: String,
}

pub async fn tenant(app: &TestApp, name: &str) -> Tenant {
    let org = app.org(name).await;
    app.unlimited(&org.owner_token).await;
    let service_account = app.service_account(&org.owner_token, "edge", pb::Role::Operator).await;
    Tenant {
        org_id: org.org_id,
        owner: org.owner_token,
        service_account,
    }
}

/// Issues a key with `scopes`, adjusted by `tweak`; returns (secret, key id).
pub async fn key(
    app: &TestApp,
    t: &Tenant,
    scopes: &[&str],
    tweak: impl FnOnce(&mut pb::IssueKeyRequest),
) -> (String, String) {
    let mut req = issue_request(&t.service_account, "gw", scopes);
    tweak(&mut req);
    let issued = app
        .keys()
        .issue_key(authed(&t.owner, req))
        .await
        .expect("issue key")
        .into_inner();
    (issued.secret, issued.key.expect("key").id)
}

/// Gives key `id` its own limit of `limit` per minute, all available at once.
pub async fn limit_key(app: &TestApp, t: &Tenant, id: &str, limit: u32) {
    app.admin()
        .set_rate_limit(authed(
            &t.owner,
            pb::SetRateLimitRequest {
                key_id: id.into(),
                policy: Some(pb::RateLimitPolicy {
                    limit,
                    window: Some(prost_types::Duration { seconds: 60, nanos: 0 }),
                    burst: limit,
                }),
            },
        ))
        .await
        .expect("set key limit");
}

/// A response as the client saw it.
pub struct Seen {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub text: String,
}

impl Seen {
    pub fn header(&self, name: &str) -> &str {
        self.headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or("")
    }

    pub fn echo(&self) -> Echo {
        assert_eq!(self.status, 200, "not allowed: {}", self.text);
        serde_json::from_str(&self.text).expect("upstream echo")
    }

    /// The `error.code` of a deny body.
    pub fn code(&self) -> String {
        let body: serde_json::Value = serde_json::from_str(&self.text)
            .unwrap_or_else(|_| panic!("deny body is not JSON: {:?} (status {})", self.text, self.status));
        body["error"]["code"].as_str().unwrap_or_default().to_owned()
    }

    pub fn body(&self) -> serde_json::Value {
        serde_json::from_str(&self.text).expect("JSON body")
    }
}

pub async fn get(base: &str, path: &str, headers: &[(&str, &str)]) -> Seen {
    let mut req = client().get(format!("{base}{path}"));
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let resp = req.send().await.expect("gateway answers");
    Seen {
        status: resp.status().as_u16(),
        headers: resp.headers().clone(),
        text: resp.text().await.unwrap_or_default(),
    }
}

fn bearer(secret: &str) -> String {
    format!("Bearer {secret}")
}

/// What a gateway can do with gatekey's answer.
#[derive(Clone, Copy)]
pub struct Abilities {
    /// Copies headers of an allow answer onto the client's response (Traefik cannot).
    pub rate_limit_fields_on_allow: bool,
}

pub const EVERYTHING: Abilities = Abilities {
    rate_limit_fields_on_allow: true,
};

/// Allowed: the upstream sees who called, never a client's forged identity, and (with
/// credentials hidden) not the credential; the client sees the RateLimit fields.
pub async fn allowed_requests_carry_the_identity(app: &TestApp, base: &str, t: &Tenant, can: Abilities) {
    let (secret, id) = key(app, t, &["cameras.read"], |_| {}).await;
    let seen = get(
        base,
        "/api/things",
        &[
            ("authorization", &bearer(&secret)),
            ("x-gatekey-org", "forged-org"),
            ("x-gatekey-role", "owner"),
            ("x_gatekey_key_id", "forged-key"),
        ],
    )
    .await;
    if can.rate_limit_fields_on_allow {
        assert!(seen.header("ratelimit-policy").contains("q="), "{:?}", seen.headers);
        assert!(seen.header("ratelimit").contains("r="), "{:?}", seen.headers);
    }
    let echo = seen.echo();
    assert_eq!(echo.path, "/api/things");
    assert_eq!(echo.header("x-gatekey-org"), Some(t.org_id.as_str()));
    assert_eq!(echo.header("x-gatekey-principal"), Some(t.service_account.as_str()));
    assert_eq!(echo.header("x-gatekey-principal-type"), Some("service_account"));
    assert_eq!(echo.header("x-gatekey-role"), Some("operator"));
    assert_eq!(echo.header("x-gatekey-scopes"), Some("cameras.read"));
    assert_eq!(echo.header("x-gatekey-key-id"), Some(id.as_str()));
    assert_eq!(echo.header("x-gatekey-key-prefix"), Some("sk_live_"));
    assert_eq!(echo.header("x-gatekey-environment"), Some("live"));
    assert_eq!(
        echo.header("authorization"),
        None,
        "credentials are hidden from the upstream"
    );
    assert_eq!(
        echo.header("x_gatekey_key_id"),
        None,
        "underscore spellings are gatekey's too"
    );

    let by_header = get(base, "/api/things", &[("x-api-key", &secret)]).await.echo();
    assert_eq!(by_header.header("x-gatekey-key-id"), Some(id.as_str()));
    assert_eq!(
        by_header.header("x-api-key"),
        None,
        "credentials are hidden from the upstream"
    );

    // A user's access token: no key, so the key headers are present but empty, and a
    // client's copy of them does not survive.
    let user = get(
        base,
        "/api/things",
        &[("authorization", &bearer(&t.owner)), ("x-gatekey-key-id", "forged-key")],
    )
    .await
    .echo();
    assert_eq!(user.header("x-gatekey-principal-type"), Some("user"));
    assert_eq!(user.header("x-gatekey-role"), Some("owner"));
    assert!(
        user.header("x-gatekey-key-id").unwrap_or_default().is_empty(),
        "{:?}",
        user.headers
    );
}

/// Missing, invalid, conflicting, revoked, disabled: 401 with the JSON body and the RFC 6750
/// challenge.
pub async fn credential_problems_are_401(app: &TestApp, base: &str, t: &Tenant) {
    let missing = get(base, "/api/x", &[]).await;
    assert_eq!((missing.status, missing.code().as_str()), (401, "MISSING_CREDENTIAL"));
    assert_eq!(missing.header("www-authenticate"), "Bearer");

    let invalid = get(base, "/api/x", &[("authorization", "Bearer sk_live_not-a-real-key")]).await;
    assert_eq!((invalid.status, invalid.code().as_str()), (401, "INVALID_CREDENTIAL"));
    assert_eq!(invalid.header("www-authenticate"), "Bearer error=\"invalid_token\"");

    let (secret, id) = key(app, t, &[], |_| {}).await;
    let (other, _) = key(app, t, &[], |_| {}).await;
    let conflicting = get(
        base,
        "/api/x",
        &[("authorization", &bearer(&secret)), ("x-api-key", &other)],
    )
    .await;
    assert_eq!(
        (conflicting.status, conflicting.code().as_str()),
        (401, "INVALID_CREDENTIAL")
    );

    assert_eq!(get(base, "/api/x", &[("x-api-key", &secret)]).await.status, 200);
    app.keys()
        .revoke_key(authed(&t.owner, pb::RevokeKeyRequest { key_id: id }))
        .await
        .expect("revoke");
    let revoked = get(base, "/api/x", &[("x-api-key", &secret)]).await;
    assert_eq!(
        (revoked.status, revoked.code().as_str()),
        (401, "REVOKED"),
        "on the very next request"
    );
    assert_eq!(revoked.header("www-authenticate"), "Bearer error=\"invalid_token\"");

    let (paused, paused_id) = key(app, t, &[], |_| {}).await;
    assert_eq!(get(base, "/api/x", &[("x-api-key", &paused)]).await.status, 200);
    let disable = pb::DisableKeyRequest {
        key_id: paused_id.clone(),
    };
    app.keys()
        .disable_key(authed(&t.owner, disable))
        .await
        .expect("disable");
    let disabled = get(base, "/api/x", &[("x-api-key", &paused)]).await;
    assert_eq!(
        (disabled.status, disabled.code().as_str()),
        (401, "DISABLED"),
        "on the very next request"
    );
    assert_eq!(disabled.header("www-authenticate"), "Bearer error=\"invalid_token\"");
    let enable = pb::EnableKeyRequest { key_id: paused_id };
    app.keys().enable_key(authed(&t.owner, enable)).await.expect("enable");
    assert_eq!(get(base, "/api/x", &[("x-api-key", &paused)]).await.status, 200);
}

/// IP and scope: 403; the scope a route needs comes from the gateway's own config.
pub async fn ip_and_scope_problems_are_403(app: &TestApp, base: &str, t: &Tenant) {
    let (fenced, _) = key(app, t, &["cameras.read"], |r| {
        r.ip_allowlist = vec!["10.0.0.0/8".into()]
    })
    .await;
    // The client claims an allowed address; only the gateway's own account of it counts.
    let forged = [
        ("x-api-key", fenced.as_str()),
        ("x-forwarded-for", "10.1.2.3"),
        ("x-real-ip", "10.1.2.3"),
    ];
    let ip = get(base, "/api/x", &forged).await;
    assert_eq!((ip.status, ip.code().as_str()), (403, "IP_NOT_ALLOWED"));
    assert_eq!(ip.body()["error"]["details"]["client_ip"], CLIENT_IP);

    let (reader, _) = key(app, t, &["cameras.read"], |_| {}).await;
    let (other, _) = key(app, t, &["leads.read"], |_| {}).await;
    assert_eq!(get(base, "/cameras/1", &[("x-api-key", &reader)]).await.status, 200);
    // The route's scope comes from the gateway: a client cannot name a scope it holds.
    let scope = get(
        base,
        "/cameras/1",
        &[("x-api-key", &other), ("x-gatekey-require-scopes", "leads.read")],
    )
    .await;
    assert_eq!((scope.status, scope.code().as_str()), (403, "INSUFFICIENT_SCOPE"));
    assert_eq!(
        scope.header("www-authenticate"),
        "Bearer error=\"insufficient_scope\", scope=\"cameras.read\""
    );
    assert_eq!(
        scope.body()["error"]["details"]["missing_scopes"],
        serde_json::json!(["cameras.read"])
    );
    // The same key passes where the gateway asks for no scope.
    assert_eq!(get(base, "/api/x", &[("x-api-key", &other)]).await.status, 200);
}

/// Over the limit: 429 with `Retry-After` and the RateLimit fields; a route's cost counts.
pub async fn over_the_limit_is_429(app: &TestApp, base: &str, t: &Tenant) {
    let (secret, id) = key(app, t, &[], |_| {}).await;
    limit_key(app, t, &id, 2).await;
    for _ in 0..2 {
        assert_eq!(get(base, "/api/x", &[("x-api-key", &secret)]).await.status, 200);
    }
    let limited = get(base, "/api/x", &[("x-api-key", &secret)]).await;
    assert_eq!((limited.status, limited.code().as_str()), (429, "RATE_LIMITED"));
    let retry: u64 = limited.header("retry-after").parse().expect("Retry-After in seconds");
    assert!((1..=30).contains(&retry), "retry after {retry}");
    assert_eq!(limited.body()["error"]["details"]["retry_after_seconds"], retry);
    assert_eq!(limited.header("ratelimit-policy"), "\"key\";q=2;w=60");
    assert!(
        limited.header("ratelimit").starts_with("\"key\";r=0;t="),
        "{:?}",
        limited.headers
    );

    let (bulk, bulk_id) = key(app, t, &[], |_| {}).await;
    limit_key(app, t, &bulk_id, 15).await;
    assert_eq!(get(base, "/bulk/job", &[("x-api-key", &bulk)]).await.status, 200);
    let second = get(base, "/bulk/job", &[("x-api-key", &bulk), ("x-gatekey-cost", "1")]).await;
    assert_eq!(
        second.status, 429,
        "the route costs 10 of the 15, whatever the client says"
    );
    assert_eq!(
        get(base, "/api/x", &[("x-api-key", &bulk)]).await.status,
        200,
        "5 units remain"
    );
}

/// Expired keys: 401 `EXPIRED` with when.
pub async fn expired_keys_are_401(app: &TestApp, base: &str, t: &Tenant) {
    let now = app.clock.now();
    let (secret, _) = key(app, t, &[], |r| {
        r.expires_at = Some(prost_types::Timestamp {
            seconds: now.0 / 1000 + 3600,
            nanos: 0,
        })
    })
    .await;
    assert_eq!(get(base, "/api/x", &[("x-api-key", &secret)]).await.status, 200);
    app.clock.advance(Duration::from_secs(3601));
    let expired = get(base, "/api/x", &[("x-api-key", &secret)]).await;
    assert_eq!((expired.status, expired.code().as_str()), (401, "EXPIRED"));
    assert!(expired.body()["error"]["details"]["expired_at"].is_string());
}

/// The store down and the key never seen: gatekey cannot answer, and the gateway applies its
/// failure behaviour (every shipped config fails closed with 503).
pub async fn store_down_with_a_cold_cache_fails_closed(app: &TestApp, base: &str, t: &Tenant) {
    let (secret, _) = key(app, t, &[], |_| {}).await;
    app.counting.as_ref().expect("counting store").set_down(true);
    let seen = get(base, "/api/x", &[("x-api-key", &secret)]).await;
    app.counting.as_ref().expect("counting store").set_down(false);
    assert_eq!(seen.status, 503, "{}", seen.text);
}
