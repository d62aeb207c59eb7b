//! A demoted primary: the server turns read-only under the pool's open connections.

use super::{Writer, assert_unavailable, ok_or_unavailable, timed};
use crate::support::app::{Backend, Spawn, TestApp, authed};
use crate::support::pg_cluster::PgCluster;
use gatekey::proto::v1 as pb;
use std::time::Duration;

async fn app_on(cluster: &PgCluster) -> TestApp {
    let url = cluster.create_database("gatekey").await;
    Spawn::on(Backend::Postgres)
        .on_database(&url)
        .start()
        .await
        .expect("the app on the private cluster")
}

async fn writer(app: &TestApp) -> Writer<'_> {
    let org = app.org("failover").await;
    let service_account = app.service_account(&org.owner_token, "ci", pb::Role::Member).await;
    Writer {
        app,
        token: org.owner_token,
        service_account,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_on_a_read_only_server_answer_unavailable_and_succeed_once_it_takes_writes_again() {
    let Some(cluster) = PgCluster::start("the read-only server test").await else {
        return;
    };
    let app = app_on(&cluster).await;
    let w = writer(&app).await;
    let key = w.issue_within(Duration::ZERO).await;

    cluster.set_read_only(true).await;
    for round in 0..3 {
        assert_unavailable(
            &timed(w.create_service_account(&format!("ro-{round}")))
                .await
                .unwrap_err(),
        );
        assert_unavailable(&timed(w.issue()).await.unwrap_err());
        assert_unavailable(&timed(w.rotate(&key)).await.unwrap_err());
    }
    // Reads need no primary.
    let listed = app
        .keys()
        .list_keys(authed(&w.token, pb::ListKeysRequest::default()))
        .await
        .expect("list keys on a read-only server");
    assert_eq!(listed.into_inner().keys.len(), 1);

    cluster.set_read_only(false).await;
    w.create_service_account("rw-again")
        .await
        .expect("a write once writable");
    w.rotate(&key).await.expect("rotate once writable");
}

/// After a failover the pool still holds sessions on the old primary. Here they are sessions
/// opened while the database defaulted to read-only: `ALTER DATABASE … RESET` leaves them
/// read-only for life, while new sessions are writable, so only evicting them recovers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_to_a_demoted_primary_are_evicted_and_the_next_write_lands_on_a_fresh_one() {
    let Some(cluster) = PgCluster::start("the stale-connection test").await else {
        return;
    };
    let app = app_on(&cluster).await;
    let w = writer(&app).await;
    let key = w.issue_within(Duration::ZERO).await;

    cluster
        .execute("ALTER DATABASE gatekey SET default_transaction_read_only = on")
        .await;
    cluster.terminate_backends("gatekey").await;
    // The pool reconnects, and every session it opens now is read-only for life.
    for round in 0..4 {
        let name = format!("stale-{round}");
        let (a, b) = tokio::join!(w.create_service_account(&name), w.issue());
        assert!(
            ok_or_unavailable(a).is_none(),
            "a write on a read-only session succeeded"
        );
        assert!(
            ok_or_unavailable(b).is_none(),
            "a write on a read-only session succeeded"
        );
    }
    cluster
        .execute("ALTER DATABASE gatekey RESET default_transaction_read_only")
        .await;

    // The first write may still meet a stale session (and evict them all); the next must not.
    let mut failed = 0;
    let rotated = loop {
        match ok_or_unavailable(timed(w.rotate(&key)).await) {
            Some(rotated) => break rotated,
            None => failed += 1,
        }
        assert!(failed <= 1, "writes kept failing on sessions of the demoted primary");
    };
    let mut key = rotated.new_key.expect("new key").id;
    for _ in 0..5 {
        key = w
            .rotate(&key)
            .await
            .expect("rotate after eviction")
            .into_inner()
            .new_key
            .expect("new key")
            .id;
    }
}
