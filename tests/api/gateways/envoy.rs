//! Envoy 1.40 with `deploy/envoy/envoy.yaml`: ext_authz to gatekey's `Check`, and the
//! rate-limit filter to gatekey's `ShouldRateLimit`.

use super::cases::{self, get, tenant};
use super::harness::{Gateway, available, config, free_port, upstream};
use crate::support::app::{Backend, Spawn, TestApp};
use serde_json::json;
use tokio::process::Command;

/// The limit of the shipped `/limited/` descriptor in these tests.
const DESCRIPTOR_LIMIT: usize = 3;

async fn gatekey() -> TestApp {
    Spawn::on(Backend::Sqlite)
        .counting()
        .set("trusted_proxies", json!(["127.0.0.1/32"]))
        .set("hide_credentials", json!(true))
        .set("query_credential", json!("api_key"))
        .set(
            "rate_limit_descriptors",
            json!([{ "domain": "gatekey", "key": "generic_key", "value": "limited", "limit": DESCRIPTOR_LIMIT, "window_secs": 60 }]),
        )
        .start()
        .await
        .expect("sqlite")
}

async fn envoy(app: &TestApp, dir: &std::path::Path) -> Gateway {
    let grpc_port = app.grpc_addr.rsplit(':').next().expect("port").to_owned();
    let listen = free_port();
    let conf = config(
        dir,
        "envoy/envoy.yaml",
        &[
            ("port_value: 50051", format!("port_value: {grpc_port}")),
            ("port_value: 9000", format!("port_value: {}", upstream().await)),
            ("port_value: 10000", format!("port_value: {listen}")),
            ("port_value: 9901", format!("port_value: {}", free_port())),
        ],
    );
    let mut cmd = Command::new("envoy");
    cmd.arg("-c")
        .arg(&conf)
        .args(["--base-id", &listen.to_string(), "-l", "warning", "--concurrency", "1"]);
    Gateway::start(cmd, listen, dir.join("envoy.log")).await
}

#[tokio::test]
async fn envoy_ext_authz_enforces_every_decision() {
    if !available("envoy") {
        return;
    }
    let dir = tempfile::tempdir().expect("tmp");
    let app = gatekey().await;
    let gw = envoy(&app, dir.path()).await;
    let t = tenant(&app, "envoy").await;
    cases::allowed_requests_carry_the_identity(&app, &gw.base, &t, cases::EVERYTHING).await;
    cases::credential_problems_are_401(&app, &gw.base, &t).await;
    cases::ip_and_scope_problems_are_403(&app, &gw.base, &t).await;
    cases::over_the_limit_is_429(&app, &gw.base, &t).await;
    cases::expired_keys_are_401(&app, &gw.base, &t).await;
    cases::store_down_with_a_cold_cache_fails_closed(&app, &gw.base, &t).await;
}

#[tokio::test]
async fn envoy_takes_a_configured_query_credential_and_hides_it() {
    if !available("envoy") {
        return;
    }
    let dir = tempfile::tempdir().expect("tmp");
    let app = gatekey().await;
    let gw = envoy(&app, dir.path()).await;
    let t = tenant(&app, "query").await;
    let (secret, id) = cases::key(&app, &t, &[], |_| {}).await;
    let echo = get(&gw.base, &format!("/api/x?page=2&api_key={secret}"), &[])
        .await
        .echo();
    assert_eq!(echo.header("x-gatekey-key-id"), Some(id.as_str()));
    assert_eq!(echo.query, "page=2", "the credential never reaches the upstream");
}

#[tokio::test]
async fn envoy_rate_limit_filter_enforces_a_descriptor_limit_exactly() {
    if !available("envoy") {
        return;
    }
    let dir = tempfile::tempdir().expect("tmp");
    let app = gatekey().await;
    let gw = envoy(&app, dir.path()).await;
    let t = tenant(&app, "limits").await;
    let (secret, _) = cases::key(&app, &t, &[], |_| {}).await;
    for i in 0..DESCRIPTOR_LIMIT {
        let seen = get(&gw.base, "/limited/x", &[("x-api-key", &secret)]).await;
        assert_eq!(seen.status, 200, "request {i}: {}", seen.text);
    }
    let over = get(&gw.base, "/limited/x", &[("x-api-key", &secret)]).await;
    assert_eq!(over.status, 429, "{:?}\n{}", over.headers, gw.output());
    assert_eq!(over.header("x-envoy-ratelimited"), "true");
    // Both policies are listed: the org's (from ext_authz) and the descriptor's.
    let policies: Vec<&str> = over
        .headers
        .get_all("ratelimit-policy")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect();
    let want = format!("\"descriptor\";q={DESCRIPTOR_LIMIT};w=60");
    assert!(policies.contains(&want.as_str()), "{policies:?}");
    // Other routes do not draw from the descriptor's bucket.
    assert_eq!(get(&gw.base, "/api/x", &[("x-api-key", &secret)]).await.status, 200);
}
