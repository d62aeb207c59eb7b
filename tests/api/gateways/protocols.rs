//! The gateway protocols driven directly, without a gateway in between: ext_authz `Check`,
//! `ShouldRateLimit`, forward-auth's nginx variant and trusted proxies, and the gateway
//! listener that serves only these.

use super::cases::{get, key, limit_key, tenant};
use super::harness::CLIENT_IP;
use crate::support::app::{Backend, Spawn, TestApp, authed};
use envoy_types::ext_authz::v3::pb::{CheckRequest, HttpResponse};
use envoy_types::pb::envoy::config::core::v3::{Address, SocketAddress, address};
use envoy_types::pb::envoy::extensions::common::ratelimit::v3::RateLimitDescriptor;
use envoy_types::pb::envoy::extensions::common::ratelimit::v3::rate_limit_descriptor::Entry;
use envoy_types::pb::envoy::service::auth::v3::AttributeContext;
use envoy_types::pb::envoy::service::auth::v3::attribute_context::{HttpRequest, Peer, Request as AttrRequest};
use envoy_types::pb::envoy::service::auth::v3::authorization_client::AuthorizationClient;
use envoy_types::pb::envoy::service::ratelimit::v3::rate_limit_response::Code;
use envoy_types::pb::envoy::service::ratelimit::v3::rate_limit_service_client::RateLimitServiceClient;
use envoy_types::pb::envoy::service::ratelimit::v3::{RateLimitRequest, RateLimitResponse};
use gatekey::proto::v1 as pb;
use serde_json::json;
use std::collections::HashMap;
use tonic::Code as GrpcCode;
use tonic::transport::Channel;

pub(crate) fn check_request(headers: &[(&str, &str)], scopes: &str, client_ip: &str) -> CheckRequest {
    CheckRequest {
        attributes: Some(AttributeContext {
            source: Some(Peer {
                address: Some(Address {
                    address: Some(address::Address::SocketAddress(SocketAddress {
                        address: client_ip.into(),
                        ..Default::default()
                    })),
                }),
                ..Default::default()
            }),
            request: Some(AttrRequest {
                http: Some(HttpRequest {
                    method: "GET".into(),
                    path: "/api/x".into(),
                    headers: headers.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
                    ..Default::default()
                }),
                ..Default::default()
            }),
            context_extensions: HashMap::from([("scopes".to_owned(), scopes.to_owned())]),
            ..Default::default()
        }),
    }
}

async fn channel(addr: &str) -> Channel {
    Channel::from_shared(addr.to_owned())
        .expect("uri")
        .connect()
        .await
        .expect("connect")
}

#[tokio::test]
async fn check_denies_in_band_and_answers_unavailable_only_when_it_cannot_decide() {
    let app = Spawn::on(Backend::Sqlite).counting().start().await.expect("sqlite");
    let t = tenant(&app, "authz").await;
    let mut authz = AuthorizationClient::new(app.channel.clone());

    let denied = authz
        .check(check_request(&[], "", "203.0.113.9"))
        .await
        .expect("a deny is an answer")
        .into_inner();
    assert_eq!(denied.status.expect("status").code, GrpcCode::Unauthenticated as i32);
    let Some(HttpResponse::DeniedResponse(d)) = denied.http_response else {
        panic!("denied response")
    };
    assert_eq!(d.status.expect("status").code, 401);
    let body: serde_json::Value = serde_json::from_str(&d.body).expect("json");
    assert_eq!(body["error"]["code"], "MISSING_CREDENTIAL");

    let (secret, id) = key(&app, &t, &["cameras.read"], |_| {}).await;
    let spoofed = [
        ("x-api-key", secret.as_str()),
        ("x-gatekey-extra", "forged"),
        ("x-gatekey-org", "forged"),
    ];
    let ok = authz
        .check(check_request(&spoofed, "cameras.read", "203.0.113.9"))
        .await
        .expect("allow")
        .into_inner();
    assert_eq!(ok.status.expect("status").code, 0);
    let metadata = ok.dynamic_metadata.expect("dynamic metadata");
    let field = |k: &str| match metadata.fields.get(k).and_then(|v| v.kind.clone()) {
        Some(envoy_types::pb::google::protobuf::value::Kind::StringValue(s)) => s,
        other => panic!("{k}: {other:?}"),
    };
    assert_eq!(
        (field("org_id"), field("key_id"), field("role")),
        (t.org_id.clone(), id, "operator".to_owned())
    );
    let Some(HttpResponse::OkResponse(r)) = ok.http_response else {
        panic!("ok response")
    };
    #[allow(deprecated, reason = "older Envoys read the metadata from the ok response")]
    let old_place = r.dynamic_metadata.clone();
    assert_eq!(old_place.as_ref(), Some(&metadata), "the same metadata in both places");
    assert_eq!(
        r.headers_to_remove,
        vec!["x-gatekey-extra".to_owned()],
        "forged extras go, identity is overwritten"
    );
    let org = r
        .headers
        .iter()
        .filter_map(|h| h.header.as_ref())
        .find(|h| h.key == "x-gatekey-org")
        .expect("org header");
    assert_eq!(org.value, t.org_id);

    let (cold, _) = key(&app, &t, &[], |_| {}).await;
    app.counting.as_ref().expect("counting").set_down(true);
    let err = authz
        .check(check_request(
            &[("authorization", &format!("Bearer {cold}"))],
            "",
            "203.0.113.9",
        ))
        .await
        .expect_err("no decision without the store");
    app.counting.as_ref().expect("counting").set_down(false);
    assert_eq!(err.code(), GrpcCode::Unavailable);
}

fn descriptor(entries: &[(&str, &str)]) -> RateLimitDescriptor {
    RateLimitDescriptor {
        entries: entries
            .iter()
            .map(|(k, v)| Entry {
                key: k.to_string(),
                value: v.to_string(),
            })
            .collect(),
        ..Default::default()
    }
}

async fn should(
    client: &mut RateLimitServiceClient<Channel>,
    domain: &str,
    d: RateLimitDescriptor,
) -> RateLimitResponse {
    client
        .should_rate_limit(RateLimitRequest {
            domain: domain.into(),
            descriptors: vec![d],
            hits_addend: 0,
        })
        .await
        .expect("answer")
        .into_inner()
}

#[tokio::test]
async fn should_rate_limit_follows_its_rules_and_shares_gatekeys_buckets() {
    let app = Spawn::on(Backend::Sqlite)
        .set(
            "rate_limit_descriptors",
            json!([
                { "domain": "edge", "key": "remote_address", "limit": 2, "window_secs": 60 },
                { "domain": "tenants", "key": "org_id" },
            ]),
        )
        .start()
        .await
        .expect("sqlite");
    let mut rls = RateLimitServiceClient::new(app.channel.clone());
    let from = |ip: &'static str| descriptor(&[("remote_address", ip)]);
    for _ in 0..2 {
        assert_eq!(
            should(&mut rls, "edge", from("192.0.2.1")).await.overall_code,
            Code::Ok as i32
        );
    }
    let over = should(&mut rls, "edge", from("192.0.2.1")).await;
    assert_eq!(over.overall_code, Code::OverLimit as i32);
    let status = &over.statuses[0];
    let limit = status.current_limit.as_ref().expect("current limit");
    assert_eq!((limit.requests_per_unit, status.limit_remaining), (2, 0));
    assert!(status.duration_until_reset.is_some());
    assert!(
        over.response_headers_to_add
            .iter()
            .any(|h| h.key == "RateLimit-Policy" && h.value == "\"descriptor\";q=2;w=60")
    );
    assert_eq!(
        should(&mut rls, "edge", from("192.0.2.2")).await.overall_code,
        Code::Ok as i32,
        "each value has its own bucket"
    );
    let unmatched = should(&mut rls, "other", from("192.0.2.1")).await;
    assert_eq!(unmatched.overall_code, Code::Ok as i32);
    assert!(unmatched.statuses[0].current_limit.is_none());

    // gatekey's own ids: the key's override bucket, the one Verify charges too.
    let t = tenant(&app, "shared").await;
    let (secret, id) = key(&app, &t, &[], |_| {}).await;
    limit_key(&app, &t, &id, 2).await;
    let by_key = descriptor(&[("org_id", &t.org_id), ("key_id", &id)]);
    let elsewhere = should(&mut rls, "edge", by_key.clone()).await;
    assert!(
        elsewhere.statuses[0].current_limit.is_none(),
        "only an org_id rule opts a domain in"
    );
    let made_up = uuid::Uuid::now_v7().to_string();
    let nobody = should(&mut rls, "tenants", descriptor(&[("org_id", &made_up)])).await;
    assert!(
        nobody.statuses[0].current_limit.is_none(),
        "an org that does not exist limits nothing"
    );
    let foreign = should(
        &mut rls,
        "tenants",
        descriptor(&[("org_id", &made_up), ("key_id", &id)]),
    )
    .await;
    assert!(
        foreign.statuses[0].current_limit.is_none(),
        "a key of another org limits nothing"
    );
    assert_eq!(
        should(&mut rls, "tenants", by_key.clone()).await.overall_code,
        Code::Ok as i32
    );
    let verify = |secret: String| {
        let app = &app;
        async move { crate::verify::verify(app, &secret, &[], "").await }
    };
    assert!(
        verify(secret.clone()).await.allowed,
        "one unit left after the descriptor's"
    );
    assert_eq!(verify(secret).await.reason, pb::VerifyReason::RateLimited as i32);
    assert_eq!(
        should(&mut rls, "tenants", by_key).await.overall_code,
        Code::OverLimit as i32
    );
}

#[tokio::test]
async fn forward_auth_believes_forwarded_addresses_only_from_trusted_proxies() {
    for (trusted, want) in [(json!(["127.0.0.0/8"]), "203.0.113.9"), (json!([]), CLIENT_IP)] {
        let app = Spawn::on(Backend::Sqlite)
            .set("trusted_proxies", trusted)
            .start()
            .await
            .expect("sqlite");
        let t = tenant(&app, "proxies").await;
        let (fenced, _) = key(&app, &t, &[], |r| r.ip_allowlist = vec!["10.0.0.0/8".into()]).await;
        let seen = get(
            &app.http_addr,
            "/v1/forward-auth",
            &[("x-api-key", &fenced), ("x-forwarded-for", "203.0.113.9")],
        )
        .await;
        assert_eq!(seen.status, 403);
        assert_eq!(seen.body()["error"]["details"]["client_ip"], want);
    }
}

#[tokio::test]
async fn the_nginx_variant_answers_what_auth_request_can_pass_on() {
    let app = Spawn::on(Backend::Sqlite).start().await.expect("sqlite");
    let t = tenant(&app, "nginx").await;
    let (secret, id) = key(&app, &t, &[], |_| {}).await;
    limit_key(&app, &t, &id, 1).await;
    assert_eq!(
        get(&app.http_addr, "/v1/forward-auth/nginx", &[("x-api-key", &secret)])
            .await
            .status,
        200
    );
    let limited = get(&app.http_addr, "/v1/forward-auth/nginx", &[("x-api-key", &secret)]).await;
    assert_eq!(limited.status, 403, "auth_request passes only 2xx, 401 and 403");
    assert_eq!(limited.header("x-gatekey-reason"), "RATE_LIMITED");
    let carried: serde_json::Value =
        serde_json::from_str(limited.header("x-gatekey-error-body")).expect("body in a header");
    assert_eq!(carried, limited.body());
    assert!(limited.header("retry-after").parse::<u64>().is_ok());
    let standard = get(&app.http_addr, "/v1/forward-auth", &[("x-api-key", &secret)]).await;
    assert_eq!((standard.status, standard.code().as_str()), (429, "RATE_LIMITED"));
    let (other, _) = key(&app, &t, &[], |_| {}).await;
    let twice = get(
        &app.http_addr,
        "/v1/forward-auth",
        &[("x-api-key", &secret), ("x-api-key", &other)],
    )
    .await;
    assert_eq!(
        (twice.status, twice.code().as_str()),
        (401, "INVALID_CREDENTIAL"),
        "a repeated credential header"
    );
    let bad = get(
        &app.http_addr,
        "/v1/forward-auth",
        &[("x-api-key", &secret), ("x-gatekey-cost", "0")],
    )
    .await;
    assert_eq!((bad.status, bad.code().as_str()), (500, "GATEWAY_MISCONFIGURED"));
}

#[tokio::test]
async fn the_gateway_listener_serves_the_gateway_protocols_and_nothing_else() {
    let app: TestApp = Spawn::on(Backend::Sqlite)
        .set("gateway_addr", json!("127.0.0.1:0"))
        .start()
        .await
        .expect("sqlite");
    let base = app.gateway_addr.clone().expect("gateway listener");
    let t = tenant(&app, "edge").await;
    let (secret, _) = key(&app, &t, &[], |_| {}).await;
    let gw = channel(&base).await;

    let verified = pb::auth_service_client::AuthServiceClient::new(gw.clone())
        .verify(crate::verify::request(&secret, &[], ""))
        .await
        .expect("Verify is served")
        .into_inner();
    assert!(verified.allowed);
    let checked = AuthorizationClient::new(gw.clone())
        .check(check_request(&[("x-api-key", &secret)], "", "203.0.113.9"))
        .await
        .expect("Check is served")
        .into_inner();
    assert_eq!(checked.status.expect("status").code, 0);
    let limited = RateLimitServiceClient::new(gw.clone())
        .should_rate_limit(RateLimitRequest::default())
        .await
        .expect("ShouldRateLimit is served");
    assert_eq!(limited.into_inner().overall_code, Code::Ok as i32);
    assert_eq!(
        get(&base, "/v1/forward-auth", &[("x-api-key", &secret)]).await.status,
        200
    );
    assert_eq!(get(&base, "/readyz", &[]).await.status, 200);

    let login = pb::auth_service_client::AuthServiceClient::new(gw.clone())
        .login(pb::LoginRequest {
            email: "owner@edge.test".into(),
            password: crate::support::app::PASSWORD.into(),
            ..Default::default()
        })
        .await
        .expect_err("no login on the gateway listener");
    assert_eq!(login.code(), GrpcCode::Unimplemented);
    let admin = pb::key_service_client::KeyServiceClient::new(gw)
        .list_keys(authed(&t.owner, pb::ListKeysRequest::default()))
        .await
        .expect_err("no admin calls on the gateway listener");
    assert_eq!(admin.code(), GrpcCode::Unimplemented);
    assert_eq!(get(&base, "/metrics", &[]).await.status, 404);
}
