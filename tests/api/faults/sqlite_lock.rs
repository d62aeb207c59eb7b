//! Two processes on one SQLite file: the other one holds the write lock.
//!
//! The test's own connection stands in for the other process: SQLite's file locks are the same
//! between two connections of one process as between two processes.

use super::{Writer, assert_unavailable};
use crate::support::app::{Backend, Spawn};
use crate::support::db;
use gatekey::proto::v1 as pb;
use sqlx::{Connection, Executor, SqliteConnection};
use std::time::{Duration, Instant};

const BUSY_TIMEOUT: Duration = Duration::from_millis(500);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_lock_held_elsewhere_is_waited_for_up_to_the_busy_timeout_then_answered_unavailable() {
    let (url, _dir) = db::fresh_sqlite_url();
    let app = Spawn::on(Backend::Sqlite)
        .on_database(&format!("{url}?busy_timeout_ms={}", BUSY_TIMEOUT.as_millis()))
        .start()
        .await
        .expect("app");
    let org = app.org("sqlite-lock").await;
    let service_account = app.service_account(&org.owner_token, "ci", pb::Role::Member).await;
    let w = Writer {
        app: &app,
        token: org.owner_token.clone(),
        service_account,
    };
    let key = w.issue_within(Duration::ZERO).await;

    let mut other = SqliteConnection::connect(&url).await.expect("a second connection");
    other.execute("BEGIN IMMEDIATE").await.expect("take the write lock");

    // These begin with a write, so SQLite waits for the lock: the busy timeout, no longer.
    for round in 0..2 {
        let started = Instant::now();
        assert_unavailable(&w.create_service_account(&format!("locked-{round}")).await.unwrap_err());
        let waited = started.elapsed();
        assert!(
            waited >= BUSY_TIMEOUT - Duration::from_millis(50),
            "gave up after {waited:?}"
        );
        assert!(waited < BUSY_TIMEOUT * 4, "waited {waited:?}");
        let started = Instant::now();
        assert_unavailable(&w.issue().await.unwrap_err());
        assert!(started.elapsed() < BUSY_TIMEOUT * 4, "waited {:?}", started.elapsed());
    }
    // A rotation reads first; SQLite cannot wait for a lock from inside a read (it could
    // deadlock), so it answers at once, and the same way.
    let started = Instant::now();
    assert_unavailable(&w.rotate(&key).await.unwrap_err());
    assert!(started.elapsed() < BUSY_TIMEOUT * 4);

    other.execute("ROLLBACK").await.expect("release the lock");
    w.create_service_account("unlocked")
        .await
        .expect("a write once released");
    let key = w.rotate(&key).await.expect("rotate once released").into_inner();

    // A lock held for less than the busy timeout is waited out, not failed.
    other
        .execute("BEGIN IMMEDIATE")
        .await
        .expect("take the write lock again");
    let release = tokio::spawn(async move {
        tokio::time::sleep(BUSY_TIMEOUT / 3).await;
        other.execute("COMMIT").await.expect("release the lock");
        other
    });
    w.create_service_account("waited")
        .await
        .expect("a write that waited for the lock");
    release.await.expect("release task");
    assert!(key.new_key.is_some());
}
