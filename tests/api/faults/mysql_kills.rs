//! MariaDB/MySQL: the server kills gatekey's connections (`KILL CONNECTION`, as a failover
//! proxy or an operator does) while rotations run. Only this test's database's connections are
//! killed, so the shared server and the other tests never notice.

use super::PATIENCE;
use super::restarts::{Owner, Seen, assert_every_rotation_audited_and_acknowledged_ones_kept, rotate_until};
use crate::support::app::{Backend, Spawn};
use crate::support::db::MYSQL_URL_VAR;
use gatekey::proto::v1 as pb;
use sqlx::{Connection, Executor, MySqlConnection};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// Kills every connection to `database` but the caller's; returns how many.
async fn kill_connections(admin: &mut MySqlConnection, database: &str) -> usize {
    let ids: Vec<u64> = sqlx::query_scalar(
        "SELECT CAST(id AS UNSIGNED) FROM information_schema.processlist WHERE db = ? AND id <> CONNECTION_ID()",
    )
    .bind(database)
    .fetch_all(&mut *admin)
    .await
    .expect("list connections");
    for id in &ids {
        // A connection may end by itself between the listing and the kill.
        let _ = admin.execute(format!("KILL CONNECTION {id}").as_str()).await;
    }
    ids.len()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mysql_rotations_through_killed_connections_answer_ok_or_unavailable_and_never_half_commit() {
    let Ok(admin_url) = std::env::var(MYSQL_URL_VAR) else {
        eprintln!("skipped: {MYSQL_URL_VAR} is unset");
        return;
    };
    let app = Spawn::on(Backend::MySql).start().await.expect("the app on MySQL");
    let database = app
        .database_url
        .rsplit('/')
        .next()
        .and_then(|rest| rest.split('?').next())
        .expect("a database name")
        .to_owned();
    let mut admin = MySqlConnection::connect(&admin_url).await.expect("admin connection");
    let org = app.org("kills").await;
    let service_account = app.service_account(&org.owner_token, "ci", pb::Role::Member).await;
    let owner = Owner {
        org_id: org.org_id,
        token: org.owner_token,
        service_account,
    };
    let app = Arc::new(app);
    let stop = Arc::new(AtomicBool::new(false));
    let clients: Vec<_> = (0..4)
        .map(|_| tokio::spawn(rotate_until(Arc::clone(&app), owner.clone(), Arc::clone(&stop))))
        .collect();

    let mut killed = 0;
    for _ in 0..8 {
        tokio::time::sleep(Duration::from_millis(250)).await;
        killed += kill_connections(&mut admin, &database).await;
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    stop.store(true, Ordering::Relaxed);

    let seen = Seen::gather(clients).await;
    eprintln!(
        "{} rotations OK, {} UNAVAILABLE, {killed} connections killed, slowest answer {:?}",
        seen.rotated.len(),
        seen.unavailable,
        seen.slowest
    );
    assert!(killed > 0, "no connection was ever killed");
    assert!(seen.slowest < PATIENCE, "an answer took {:?}", seen.slowest);
    assert!(!seen.rotated.is_empty(), "no rotation ever succeeded");

    assert_every_rotation_audited_and_acknowledged_ones_kept(&app, &owner, &seen).await;
    // And the service works again.
    let w = owner.writer(&app);
    let key = w.issue_within(Duration::from_secs(10)).await;
    w.rotate(&key).await.expect("a rotation after the kills");
    let _ = admin.close().await;
}
