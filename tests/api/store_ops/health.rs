//! gRPC health follows readiness for every service name, as `/readyz` does: NOT_SERVING only
//! once the store is unreachable and the Verify cache is past its stale window, SERVING again
//! when the store returns; reflection (v1 and v1alpha) lists health, reflection and gatekey.

use crate::support::app::{Backend, Spawn, TestApp, spawn_app};
use std::time::{Duration, Instant};
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;

const SERVICES: [&str; 6] = [
    "",
    "gatekey.v1.AuthService",
    "gatekey.v1.KeyService",
    "gatekey.v1.AdminService",
    "envoy.service.auth.v3.Authorization",
    "envoy.service.ratelimit.v3.RateLimitService",
];

/// The status of every service name, in `SERVICES` order.
async fn statuses(app: &TestApp) -> Vec<ServingStatus> {
    let mut client = HealthClient::new(app.channel.clone());
    let mut out = Vec::new();
    for service in SERVICES {
        let status = client
            .check(HealthCheckRequest {
                service: service.to_owned(),
            })
            .await
            .map(|r| r.into_inner().status())
            .unwrap_or(ServingStatus::ServiceUnknown);
        out.push(status);
    }
    out
}

/// Waits until every service reports `want`, for at most `within`; returns when it did.
async fn until_all(app: &TestApp, want: ServingStatus, within: Duration) -> Instant {
    let deadline = Instant::now() + within;
    loop {
        let now = statuses(app).await;
        if now.iter().all(|s| *s == want) {
            return Instant::now();
        }
        assert!(Instant::now() < deadline, "still {now:?}, not all {want:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn readyz(app: &TestApp) -> (u16, serde_json::Value) {
    let r = reqwest::get(format!("{}/readyz", app.http_addr)).await.expect("readyz");
    let status = r.status().as_u16();
    (status, r.json().await.expect("a JSON body"))
}

#[tokio::test]
async fn health_goes_not_serving_past_the_stale_window_of_an_outage_and_back_when_the_store_returns() {
    let app = Spawn::on(Backend::Sqlite)
        .counting()
        .set("verify_stale_secs", 2.into())
        .set("change_poll_ms", 100.into())
        .start()
        .await
        .expect("app");
    let store = app.counting.clone().expect("counting store");
    until_all(&app, ServingStatus::Serving, Duration::from_secs(3)).await;
    assert_eq!(readyz(&app).await, (200, serde_json::json!({ "ready": true })));

    store.set_down(true);
    let down = Instant::now();
    tokio::time::sleep(Duration::from_millis(1200)).await;
    assert!(
        statuses(&app).await.iter().all(|s| *s == ServingStatus::Serving),
        "inside the stale window cached allows still work: still serving"
    );
    assert_eq!(readyz(&app).await.0, 200);
    let off = until_all(&app, ServingStatus::NotServing, Duration::from_secs(5)).await;
    assert!(off - down >= Duration::from_millis(1800), "not before the window ends");
    assert!(
        off - down < Duration::from_millis(4500),
        "promptly after it: {:?}",
        off - down
    );
    let (status, body) = readyz(&app).await;
    assert_eq!(status, 503);
    assert_eq!(body["ready"], false);
    assert_eq!(body["reason"], "STORE_UNAVAILABLE");
    assert!(
        body["message"]
            .as_str()
            .is_some_and(|m| m.contains("verify_stale_secs")),
        "{body}"
    );

    store.set_down(false);
    let back = Instant::now();
    let on = until_all(&app, ServingStatus::Serving, Duration::from_secs(3)).await;
    assert!(on - back < Duration::from_millis(2500), "{:?}", on - back);
    assert_eq!(readyz(&app).await.0, 200);
}

mod reflection {
    use super::*;
    use tokio_stream::StreamExt;

    const EXPECTED: [&str; 6] = [
        "grpc.health.v1.Health",
        "grpc.reflection.v1.ServerReflection",
        "grpc.reflection.v1alpha.ServerReflection",
        "gatekey.v1.AuthService",
        "gatekey.v1.KeyService",
        "gatekey.v1.AdminService",
    ];

    fn assert_lists_all(names: &[String], protocol: &str) {
        for want in EXPECTED {
            assert!(names.iter().any(|n| n == want), "{protocol} lacks {want}: {names:?}");
        }
    }

    /// Lists the services through one version of the reflection protocol (v1 and v1alpha
    /// have the same messages in different packages).
    macro_rules! listed_services {
        ($app:expr, $version:ident) => {{
            use tonic_reflection::pb::$version::ServerReflectionRequest;
            use tonic_reflection::pb::$version::server_reflection_client::ServerReflectionClient;
            use tonic_reflection::pb::$version::server_reflection_request::MessageRequest;
            use tonic_reflection::pb::$version::server_reflection_response::MessageResponse;
            let request = ServerReflectionRequest {
                host: String::new(),
                message_request: Some(MessageRequest::ListServices(String::new())),
            };
            let mut answers = ServerReflectionClient::new($app.channel.clone())
                .server_reflection_info(tokio_stream::iter([request]))
                .await
                .expect(stringify!($version))
                .into_inner();
            let answer = answers.next().await.expect("an answer").expect("ok");
            let Some(MessageResponse::ListServicesResponse(list)) = answer.message_response else {
                panic!("a service list: {answer:?}");
            };
            list.service.into_iter().map(|s| s.name).collect::<Vec<String>>()
        }};
    }

    #[tokio::test]
    async fn reflection_v1_lists_health_reflection_and_gatekey_services() {
        let app = spawn_app().await;
        assert_lists_all(&listed_services!(app, v1), "v1");
    }

    #[tokio::test]
    async fn reflection_v1alpha_lists_them_too() {
        let app = spawn_app().await;
        assert_lists_all(&listed_services!(app, v1alpha), "v1alpha");
    }
}
