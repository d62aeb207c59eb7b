//! A flood of made-up keys with valid checksums: what one client network may cost the store
//! before it is answered RATE_LIMITED, what every client together may, and who is spared.

use crate::support::app::{Backend, Spawn, TestApp};
use crate::verify::{keyed, verify};
use gatekey::domain::key_format::{self, Environment, KeyKind};
use gatekey::proto::v1 as pb;
use secrecy::ExposeSecret;
use serde_json::json;
use std::time::Duration;

const ATTACKER: &str = "203.0.113.9";
const NEIGHBOUR: &str = "198.51.100.7";

/// A key nobody issued, with a valid checksum (the checksum is public by design).
fn made_up() -> String {
    let key = key_format::generate(KeyKind::Secret, Environment::Live);
    key.secret().expose_secret().to_owned()
}

fn reason(r: &pb::VerifyResponse) -> pb::VerifyReason {
    pb::VerifyReason::try_from(r.reason).expect("known reason")
}

async fn counting(config: &[(&str, serde_json::Value)]) -> TestApp {
    let mut spawn = Spawn::on(Backend::Sqlite).counting();
    for (k, v) in config {
        spawn = spawn.set(k, v.clone());
    }
    spawn.start().await.expect("app")
}

fn lookups(app: &TestApp) -> usize {
    app.counting.as_ref().expect("counting store").count("find_key_by_hash")
}

async fn metric(app: &TestApp, series: &str) -> u64 {
    let text = reqwest::get(format!("{}/metrics", app.http_addr))
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text");
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.trim().parse().ok())
        .unwrap_or(0)
}

#[tokio::test]
async fn made_up_keys_from_one_address_cost_twenty_lookups_then_are_rate_limited_without_any() {
    let app = counting(&[]).await;
    let before = lookups(&app);
    for i in 0..20 {
        let r = verify(&app, &made_up(), &[], ATTACKER).await;
        assert_eq!(reason(&r), pb::VerifyReason::InvalidCredential, "guess {i}");
    }
    for _ in 0..100 {
        let r = verify(&app, &made_up(), &[], ATTACKER).await;
        assert_eq!((reason(&r), r.http_status), (pb::VerifyReason::RateLimited, 429));
        let rl = r.rate_limit.expect("the verdict says when to retry");
        assert_eq!(rl.policy, "client_failures");
        assert_eq!(rl.retry_after, Some(prost_types::Duration { seconds: 1, nanos: 0 }));
        assert!(r.principal.is_none());
    }
    assert_eq!(
        lookups(&app) - before,
        20,
        "one lookup per guess within the budget, none after"
    );
    // Broken checksums and garbage count as failures too, and are refused alike.
    let r = verify(&app, "sk_live_not-even-close", &[], ATTACKER).await;
    assert_eq!(reason(&r), pb::VerifyReason::RateLimited);

    let r = verify(&app, &made_up(), &[], NEIGHBOUR).await;
    assert_eq!(
        reason(&r),
        pb::VerifyReason::InvalidCredential,
        "another address is unaffected"
    );

    // The budget refills one failure a second.
    app.clock.advance(Duration::from_secs(1));
    assert_eq!(
        reason(&verify(&app, &made_up(), &[], ATTACKER).await),
        pb::VerifyReason::InvalidCredential
    );
    assert_eq!(
        reason(&verify(&app, &made_up(), &[], ATTACKER).await),
        pb::VerifyReason::RateLimited
    );
    assert_eq!(
        metric(&app, "gatekey_verify_flood_denied_total{guard=\"client_failures\"}").await,
        102
    );
    assert_eq!(
        metric(&app, "gatekey_verify_key_lookups_total{result=\"unknown\"}").await,
        22
    );
}

#[tokio::test]
async fn concurrent_guesses_cannot_slip_past_the_budget_together() {
    let app = counting(&[]).await;
    let before = lookups(&app);
    let keys: Vec<String> = (0..200).map(|_| made_up()).collect();
    let calls = keys.iter().map(|k| verify(&app, k, &[], ATTACKER));
    let results = futures::future::join_all(calls).await;
    let invalid = results
        .iter()
        .filter(|r| reason(r) == pb::VerifyReason::InvalidCredential)
        .count();
    assert_eq!(invalid, 20);
    assert_eq!(lookups(&app) - before, 20, "charged before the lookup, not after");
}

#[tokio::test]
async fn a_cold_cache_does_not_refuse_a_busy_client_of_real_keys() {
    let app = counting(&[("verify_ip_failure_burst", json!(3))]).await;
    let org = app.org("acme").await;
    app.unlimited(&org.owner_token).await;
    let sa = app.service_account(&org.owner_token, "ci", pb::Role::Member).await;
    let mut keys = Vec::new();
    for _ in 0..3 {
        keys.push(app.issue(&org.owner_token, &sa, &[]).await.secret);
    }
    // 64 concurrent first calls, far more than the failure budget of 3, with as many real keys
    // as the budget: the calls that join a lookup under way reserve nothing.
    let calls = (0..64).map(|i| verify(&app, &keys[i % keys.len()], &[], ATTACKER));
    let results = futures::future::join_all(calls).await;
    assert!(
        results.iter().all(|r| r.allowed),
        "{:?}",
        results.iter().map(reason).collect::<Vec<_>>()
    );
}

#[tokio::test]
async fn an_ipv6_client_is_judged_by_its_slash_64() {
    let app = counting(&[("verify_ip_failure_burst", json!(3))]).await;
    for i in 0..3 {
        let ip = format!("2001:db8:7:7::{i:x}");
        assert_eq!(
            reason(&verify(&app, &made_up(), &[], &ip).await),
            pb::VerifyReason::InvalidCredential
        );
    }
    let r = verify(&app, &made_up(), &[], "2001:db8:7:7:dead:beef::1").await;
    assert_eq!(
        reason(&r),
        pb::VerifyReason::RateLimited,
        "a fresh address in the same /64"
    );
    let r = verify(&app, &made_up(), &[], "2001:db8:7:8::1").await;
    assert_eq!(reason(&r), pb::VerifyReason::InvalidCredential, "the next /64");
}

#[tokio::test]
async fn real_keys_never_spend_the_budget_and_cached_ones_still_work_from_a_blocked_address() {
    let app = counting(&[("verify_ip_failure_burst", json!(3))]).await;
    let org = app.org("acme").await;
    app.unlimited(&org.owner_token).await;
    let sa = app.service_account(&org.owner_token, "ci", pb::Role::Member).await;
    let mut keys = Vec::new();
    for _ in 0..6 {
        keys.push(app.issue(&org.owner_token, &sa, &[]).await.secret);
    }
    // Six uncached real keys from one address, twice the failure budget: all allowed.
    for key in &keys[..5] {
        assert!(verify(&app, key, &[], ATTACKER).await.allowed);
    }
    for _ in 0..3 {
        assert_eq!(
            reason(&verify(&app, &made_up(), &[], ATTACKER).await),
            pb::VerifyReason::InvalidCredential
        );
    }
    assert_eq!(
        reason(&verify(&app, &made_up(), &[], ATTACKER).await),
        pb::VerifyReason::RateLimited
    );
    // Blocked: a key already in memory still works (a NAT'd office keeps working while one
    // of its machines guesses); a key that would need the store waits for the budget.
    assert!(verify(&app, &keys[0], &[], ATTACKER).await.allowed);
    let before = lookups(&app);
    let r = verify(&app, &keys[5], &[], ATTACKER).await;
    assert_eq!(reason(&r), pb::VerifyReason::RateLimited);
    assert_eq!(lookups(&app), before, "refused without a lookup");
    assert!(verify(&app, &keys[5], &[], NEIGHBOUR).await.allowed);
    // A session's access token (signed by gatekey, not guessable) is not held up either.
    assert!(verify(&app, &org.owner_token, &[], ATTACKER).await.allowed);
}

#[tokio::test]
async fn calls_without_a_client_address_are_bounded_by_the_lookup_cap_alone() {
    let app = counting(&[("verify_unknown_key_lookups_per_sec", json!(30))]).await;
    let before = lookups(&app);
    for i in 0..30 {
        let r = verify(&app, &made_up(), &[], "").await;
        assert_eq!(reason(&r), pb::VerifyReason::InvalidCredential, "guess {i}");
    }
    let r = verify(&app, &made_up(), &[], "").await;
    assert_eq!(reason(&r), pb::VerifyReason::RateLimited);
    assert_eq!(r.rate_limit.expect("verdict").policy, "key_lookups");
    assert_eq!(lookups(&app) - before, 30);
}

#[tokio::test]
async fn the_lookup_cap_bounds_a_flood_from_many_addresses_and_real_keys_are_told_to_retry() {
    let app = counting(&[("verify_unknown_key_lookups_per_sec", json!(10))]).await;
    let (owner, secret, _) = keyed(&app, "acme", &[]).await;
    app.unlimited(&owner).await;
    let before = lookups(&app);
    let mut answers = Vec::new();
    for i in 0..200 {
        let ip = format!("192.0.2.{}", i % 250);
        answers.push(reason(&verify(&app, &made_up(), &[], &ip).await));
    }
    let invalid = answers
        .iter()
        .filter(|r| **r == pb::VerifyReason::InvalidCredential)
        .count();
    assert_eq!(invalid, 10, "{answers:?}");
    assert_eq!(lookups(&app) - before, 10, "the cap holds whatever the addresses");
    // A real key not in memory is not called invalid: it is told to retry, and then passes.
    let r = verify(&app, &secret, &[], NEIGHBOUR).await;
    assert_eq!(reason(&r), pb::VerifyReason::RateLimited);
    let rl = r.rate_limit.expect("verdict");
    assert_eq!(rl.policy, "key_lookups");
    assert_eq!(
        rl.retry_after,
        Some(prost_types::Duration {
            seconds: 0,
            nanos: 100_000_000
        })
    );
    app.clock.advance(Duration::from_millis(100));
    assert!(verify(&app, &secret, &[], NEIGHBOUR).await.allowed);
    // Lookups that find a key give their unit back: the next made-up key still has one.
    let r = verify(&app, &made_up(), &[], NEIGHBOUR).await;
    assert_eq!(reason(&r), pb::VerifyReason::InvalidCredential);
    assert_eq!(
        metric(&app, "gatekey_verify_flood_denied_total{guard=\"key_lookups\"}").await,
        191
    );
}

#[tokio::test]
async fn with_both_guards_off_every_made_up_key_costs_a_lookup() {
    let app = counting(&[
        ("verify_ip_failure_limit", json!(false)),
        ("verify_unknown_key_lookups_per_sec", json!(0)),
    ])
    .await;
    let before = lookups(&app);
    for _ in 0..100 {
        assert_eq!(
            reason(&verify(&app, &made_up(), &[], ATTACKER).await),
            pb::VerifyReason::InvalidCredential
        );
    }
    assert_eq!(lookups(&app) - before, 100);
}

#[tokio::test]
async fn forward_auth_answers_a_blocked_client_429_with_retry_after() {
    let app = counting(&[("verify_ip_failure_burst", json!(2))]).await;
    let client = reqwest::Client::new();
    let mut last = None;
    for _ in 0..3 {
        let resp = client
            .get(format!("{}/v1/forward-auth", app.http_addr))
            .header("authorization", format!("Bearer {}", made_up()))
            .header("x-forwarded-for", ATTACKER)
            .send()
            .await
            .expect("forward-auth");
        last = Some((
            resp.status().as_u16(),
            resp.headers()
                .get("retry-after")
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned),
            resp.headers()
                .get("x-gatekey-reason")
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned),
        ));
    }
    assert_eq!(last, Some((429, Some("1".to_owned()), Some("RATE_LIMITED".to_owned()))));
}
