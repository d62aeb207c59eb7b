//! `GET /metrics`: every family described, counters present at 0 before the first call, and
//! the right series moving when calls happen.

use super::Server;
use crate::support::app::authed;
use gatekey::proto::v1 as pb;

/// Counters an alert may `rate()` from the first scrape, with a label set of each.
const AT_ZERO_FROM_START: [&str; 12] = [
    r#"gatekey_verify_total{reason="ok"}"#,
    r#"gatekey_verify_total{reason="invalid_credential"}"#,
    r#"gatekey_verify_unavailable_total{cause="stale"}"#,
    r#"gatekey_verify_flood_denied_total{guard="client_failures"}"#,
    r#"gatekey_verify_key_lookups_total{result="unknown"}"#,
    r#"gatekey_verify_cache_evictions_total{cause="size"}"#,
    r#"gatekey_change_feed_errors_total"#,
    r#"gatekey_usage_flush_failures_total"#,
    r#"gatekey_ratelimit_redis_failures_total{mode="local"}"#,
    r#"gatekey_logins_total{outcome="bad_credentials"}"#,
    r#"gatekey_logins_total{outcome="throttled"}"#,
    r#"gatekey_admin_calls_total{method="gatekey.v1.AdminService/CreateUser",code="PERMISSION_DENIED"}"#,
];

#[tokio::test]
async fn a_fresh_server_describes_every_family_and_starts_its_counters_at_zero() {
    let server = Server::start(&[]).await;
    let page = server.scrape().await;

    for (series, _) in &page.samples {
        let family = page.family_of(series);
        assert!(page.help.contains(&family), "no # HELP for {family}");
        assert!(page.types.iter().any(|(f, _)| *f == family), "no # TYPE for {family}");
    }
    for (family, kind) in &page.types {
        if kind == "counter" {
            assert!(family.ends_with("_total"), "counter {family} does not end in _total");
        }
    }
    for series in AT_ZERO_FROM_START {
        assert_eq!(page.value(series), Some(0.0), "{series} is not at 0 on a fresh server");
    }
    assert_eq!(
        page.value(&format!(
            r#"gatekey_build_info{{version="{}"}}"#,
            env!("CARGO_PKG_VERSION")
        )),
        Some(1.0)
    );
    assert!(page.value("gatekey_verify_cache_keys").is_some());
    let age = page
        .value("gatekey_change_feed_last_read_age_seconds")
        .expect("feed age gauge");
    assert!((0.0..30.0).contains(&age), "the feed was read at start: {age}");
    assert!(
        page.types
            .contains(&("gatekey_verify_duration_seconds".into(), "histogram".into())),
        "the latency histogram is described before its first observation"
    );
}

#[tokio::test]
async fn a_verify_a_failed_login_and_an_admin_call_move_their_series() {
    let server = Server::start(&[]).await;
    let owner = server.owner().await;
    let before = server.scrape().await;

    let made_up = "sk_live_0000000000000000000000000000000000000000";
    let answer = server
        .auth()
        .verify(pb::VerifyRequest {
            credential: made_up.into(),
            client_ip: "192.0.2.1".into(),
            ..Default::default()
        })
        .await
        .expect("verify answers")
        .into_inner();
    assert!(!answer.allowed);
    assert!(server.login("owner@acme.test", "wrong password").await.is_err());
    server
        .keys()
        .list_keys(authed(&owner, pb::ListKeysRequest::default()))
        .await
        .expect("list keys");
    let after = server.scrape().await;

    let moved = |series: &str| after.value(series).unwrap_or(0.0) - before.value(series).unwrap_or(0.0);
    assert_eq!(moved(r#"gatekey_verify_total{reason="invalid_credential"}"#), 1.0);
    assert_eq!(moved(r#"gatekey_logins_total{outcome="bad_credentials"}"#), 1.0);
    assert_eq!(moved(r#"gatekey_logins_total{outcome="ok"}"#), 0.0);
    assert_eq!(
        moved(r#"gatekey_admin_calls_total{method="gatekey.v1.KeyService/ListKeys",code="OK"}"#),
        1.0
    );
    assert_eq!(
        moved(r#"gatekey_verify_duration_seconds_count{transport="grpc_verify",outcome="invalid_credential"}"#),
        1.0
    );
    assert_eq!(
        after.value(
            r#"gatekey_verify_duration_seconds_bucket{transport="grpc_verify",outcome="invalid_credential",le="+Inf"}"#
        ),
        Some(1.0)
    );
}
