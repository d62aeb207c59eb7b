//! A slow or black-holed store costs a Verify, ext_authz or forward-auth call on a cache miss
//! at most `store_timeout_ms` (then `UNAVAILABLE` / 503), an admin call at most
//! `admin_store_timeout_ms`; cached keys do not wait at all; and a lookup a caller gave up on
//! runs on and fills the cache for the next one.

use crate::gateways::protocols::check_request;
use crate::support::app::{Backend, Spawn, TestApp, assert_error, authed};
use crate::support::counting_store::CountingStore;
use crate::support::db;
use crate::support::tcp_proxy::{Mode, TcpProxy, target_of};
use crate::verify::{keyed, request, verify};
use envoy_types::pb::envoy::service::auth::v3::authorization_client::AuthorizationClient;
use gatekey::proto::v1 as pb;
use std::time::{Duration, Instant};
use tonic::Code;
use tonic_types::StatusExt;

/// Far above the store timeout these tests set (the default, 150 ms), far below the old 5 s
/// pool wait.
const PROMPT: Duration = Duration::from_secs(1);

#[tokio::test]
async fn a_slow_store_gets_unavailable_within_the_store_timeout_and_the_lookup_still_fills_the_cache() {
    let (app, store) = counted("store_timeout_ms", 150).await;
    let (_, warm, _) = keyed(&app, "acme", &[]).await;
    let (_, cold, _) = keyed(&app, "bravo", &[]).await;
    assert!(verify(&app, &warm, &[], "").await.allowed);

    store.set_delay(Duration::from_millis(1500));
    let asked = Instant::now();
    let status = assert_error(
        app.auth().verify(request(&cold, &[], "")).await,
        Code::Unavailable,
        "STORE_UNAVAILABLE",
    );
    let waited = asked.elapsed();
    assert!(
        waited >= Duration::from_millis(140) && waited < PROMPT,
        "waited {waited:?}: the store timeout (150 ms), not the store's 1.5 s"
    );
    assert!(status.get_error_details().retry_info().is_some(), "with RetryInfo");
    let asked = Instant::now();
    assert!(verify(&app, &warm, &[], "").await.allowed, "a cached key still works");
    assert!(
        asked.elapsed() < Duration::from_millis(100),
        "and does not wait for the store"
    );

    // The lookup the caller gave up on lands when the slow store answers, and is cached.
    tokio::time::sleep(Duration::from_millis(1800)).await;
    store.set_delay(Duration::ZERO);
    let lookups = store.count("find_key_by_hash");
    assert!(verify(&app, &cold, &[], "").await.allowed);
    assert_eq!(
        store.count("find_key_by_hash"),
        lookups,
        "served from the cache the abandoned lookup filled, without another lookup"
    );
}

#[tokio::test]
async fn concurrent_callers_of_one_slow_key_share_one_lookup_and_each_gives_up_on_time() {
    let (app, store) = counted("store_timeout_ms", 150).await;
    let (_, cold, _) = keyed(&app, "acme", &[]).await;
    store.set_delay(Duration::from_millis(800));
    let before = store.count("find_key_by_hash");
    let asked = Instant::now();
    let calls = (0..8).map(|_| {
        let mut auth = app.auth();
        let req = request(&cold, &[], "");
        async move { auth.verify(req).await }
    });
    for answer in futures::future::join_all(calls).await {
        assert_eq!(answer.expect_err("no answer in time").code(), Code::Unavailable);
    }
    assert!(asked.elapsed() < PROMPT, "{:?}", asked.elapsed());
    tokio::time::sleep(Duration::from_millis(900)).await;
    assert_eq!(store.count("find_key_by_hash") - before, 1, "one lookup for all eight");
}

#[tokio::test]
async fn admin_calls_give_up_after_the_admin_store_timeout() {
    let (app, store) = counted("admin_store_timeout_ms", 300).await;
    let org = app.org("acme").await;
    let list = || {
        let mut keys = app.keys();
        let request = authed(
            &org.owner_token,
            pb::ListKeysRequest {
                service_account_id: String::new(),
                page_size: 10,
                page_token: String::new(),
            },
        );
        async move { keys.list_keys(request).await }
    };
    list().await.expect("a call that warms the token cache");
    store.set_delay(Duration::from_secs(3));
    let asked = Instant::now();
    assert_error(list().await, Code::Unavailable, "STORE_UNAVAILABLE");
    let waited = asked.elapsed();
    assert!(
        waited >= Duration::from_millis(290) && waited < PROMPT,
        "waited {waited:?}: the admin store timeout (300 ms), not the store's 3 s"
    );
}

/// Through a proxy in front of the shared PostgreSQL: black-holed traffic (connections open,
/// nothing answers) is the case a pool's acquire timeout alone does not bound.
#[tokio::test]
async fn a_black_holed_postgres_costs_an_uncached_key_the_store_timeout_on_every_protocol() {
    let Some((_pg, proxy, app)) = through_proxy(150).await else {
        return;
    };
    let (_, warm, _) = keyed(&app, "acme", &[]).await;
    let (_, cold, _) = keyed(&app, "bravo", &[]).await;
    assert!(verify(&app, &warm, &[], "").await.allowed);

    proxy.set(Mode::BlackHole);
    let asked = Instant::now();
    assert_error(
        app.auth().verify(request(&cold, &[], "")).await,
        Code::Unavailable,
        "STORE_UNAVAILABLE",
    );
    assert!(asked.elapsed() < PROMPT, "Verify waited {:?}", asked.elapsed());
    assert!(verify(&app, &warm, &[], "").await.allowed, "a cached key answers OK");

    let asked = Instant::now();
    let forward = reqwest::Client::new()
        .get(format!("{}/v1/forward-auth", app.http_addr))
        .header("x-api-key", &cold)
        .send()
        .await
        .expect("forward-auth answers");
    assert_eq!(forward.status(), reqwest::StatusCode::SERVICE_UNAVAILABLE);
    assert!(asked.elapsed() < PROMPT, "forward-auth waited {:?}", asked.elapsed());

    let asked = Instant::now();
    let check = AuthorizationClient::new(app.channel.clone())
        .check(check_request(
            &[("authorization", &format!("Bearer {cold}"))],
            "",
            "203.0.113.9",
        ))
        .await;
    assert_eq!(check.expect_err("no decision").code(), Code::Unavailable);
    assert!(asked.elapsed() < PROMPT, "Check waited {:?}", asked.elapsed());

    proxy.set(Mode::Pass);
}

#[tokio::test]
async fn a_delayed_postgres_within_the_timeout_still_answers() {
    let Some((_pg, proxy, app)) = through_proxy(2000).await else {
        return;
    };
    let (_, cold, _) = keyed(&app, "acme", &[]).await;
    proxy.set(Mode::Delay(Duration::from_millis(100)));
    assert!(
        verify(&app, &cold, &[], "").await.allowed,
        "a slow store within the timeout is waited for"
    );
}

/// A server on a fresh PostgreSQL database reached through a proxy the test controls, with
/// `store_timeout_ms`; `None` without PostgreSQL.
async fn through_proxy(store_timeout_ms: u64) -> Option<(db::TestDb, TcpProxy, TestApp)> {
    let pg = db::fresh_database(db::Server::Postgres).await?;
    let proxy = TcpProxy::start(target_of(pg.url())).await;
    let app = Spawn::on(Backend::Postgres)
        .on_database(&proxy.url_through(pg.url()))
        .set("store_timeout_ms", store_timeout_ms.into())
        .start()
        .await
        .expect("app");
    Some((pg, proxy, app))
}

/// A server on SQLite behind the counting store (whose calls a test can delay), with one
/// timeout setting.
async fn counted(setting: &str, ms: u64) -> (TestApp, CountingStore) {
    let app = Spawn::on(Backend::Sqlite)
        .counting()
        .set(setting, ms.into())
        .start()
        .await
        .expect("app");
    let store = app.counting.clone().expect("counting store");
    (app, store)
}
