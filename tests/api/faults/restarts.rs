//! Sessions terminated, PostgreSQL stopped, restarted and crashed while rotations run.

use super::{PATIENCE, Writer, assert_unavailable, ok_or_unavailable, timed};
use crate::support::app::{Backend, Spawn, TestApp};
use crate::support::pg_cluster::PgCluster;
use gatekey::domain::audit::action;
use gatekey::domain::ids::OrgId;
use gatekey::proto::v1 as pb;
use gatekey::store::PageRequest;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

const DATABASE: &str = "gatekey";

/// The org the clients write as.
#[derive(Clone)]
pub(super) struct Owner {
    pub(super) org_id: String,
    pub(super) token: String,
    pub(super) service_account: String,
}

impl Owner {
    pub(super) fn writer<'a>(&self, app: &'a TestApp) -> Writer<'a> {
        Writer {
            app,
            token: self.token.clone(),
            service_account: self.service_account.clone(),
        }
    }
}

async fn setup(cluster: &PgCluster) -> (TestApp, Owner) {
    let url = cluster.create_database(DATABASE).await;
    let app = Spawn::on(Backend::Postgres)
        .on_database(&url)
        .start()
        .await
        .expect("the app on the private cluster");
    let org = app.org("restarts").await;
    let service_account = app.service_account(&org.owner_token, "ci", pb::Role::Member).await;
    let owner = Owner {
        org_id: org.org_id,
        token: org.owner_token,
        service_account,
    };
    (app, owner)
}

/// What one client saw: the rotations it was told committed, and how often it was told to retry.
#[derive(Default)]
pub(super) struct Seen {
    pub(super) rotated: Vec<(String, String)>,
    pub(super) unavailable: usize,
    pub(super) slowest: Duration,
}

impl Seen {
    /// What all the clients saw, together.
    pub(super) async fn gather(clients: Vec<tokio::task::JoinHandle<Seen>>) -> Seen {
        let mut seen = Seen::default();
        for client in clients {
            let s = client.await.expect("a client panicked");
            seen.rotated.extend(s.rotated);
            seen.unavailable += s.unavailable;
            seen.slowest = seen.slowest.max(s.slowest);
        }
        seen
    }
}

/// Every rotation that exists has its audit event and every event its rotation, whatever the
/// clients were told; every rotation a client was told about exists.
pub(super) async fn assert_every_rotation_audited_and_acknowledged_ones_kept(
    app: &TestApp,
    owner: &Owner,
    seen: &Seen,
) {
    let org = OrgId::parse("org", &owner.org_id).expect("org id");
    let rotations = stored_rotations(app, org).await;
    let audited = audited_rotations(app, org).await;
    assert_eq!(rotations, audited, "rotations and their audit events differ");
    for (old, new) in &seen.rotated {
        assert_eq!(rotations.get(new), Some(old), "an acknowledged rotation is missing");
    }
    assert!(rotations.len() >= seen.rotated.len());
}

/// Rotates a chain of keys until `stop`. An `UNAVAILABLE` rotation may or may not have
/// committed (the answer can be lost after COMMIT), so the chain restarts from a new key.
pub(super) async fn rotate_until(app: Arc<TestApp>, owner: Owner, stop: Arc<AtomicBool>) -> Seen {
    let w = owner.writer(&app);
    let mut seen = Seen::default();
    let mut current: Option<String> = None;
    while !stop.load(Ordering::Relaxed) {
        let started = Instant::now();
        let answer = match &current {
            None => ok_or_unavailable(w.issue().await).map(|r| r.key.expect("issued key").id),
            Some(old) => ok_or_unavailable(w.rotate(old).await).map(|r| {
                let new = r.new_key.expect("new key").id;
                seen.rotated.push((old.clone(), new.clone()));
                new
            }),
        };
        seen.slowest = seen.slowest.max(started.elapsed());
        if answer.is_none() {
            seen.unavailable += 1;
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        current = answer;
    }
    seen
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotations_through_terminations_restarts_and_a_crash_answer_ok_or_unavailable_and_never_half_commit() {
    let Some(cluster) = PgCluster::start("the restart test").await else {
        return;
    };
    let (app, owner) = setup(&cluster).await;
    let app = Arc::new(app);
    let stop = Arc::new(AtomicBool::new(false));
    let clients: Vec<_> = (0..4)
        .map(|_| tokio::spawn(rotate_until(Arc::clone(&app), owner.clone(), Arc::clone(&stop))))
        .collect();

    let pause = || tokio::time::sleep(Duration::from_millis(300));
    let mut terminated = 0;
    for _ in 0..4 {
        pause().await;
        terminated += cluster.terminate_backends(DATABASE).await;
    }
    cluster.stop("fast").await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    cluster.start_server().await;
    for _ in 0..3 {
        pause().await;
        terminated += cluster.terminate_backends(DATABASE).await;
    }
    cluster.stop("immediate").await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    cluster.start_server().await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    stop.store(true, Ordering::Relaxed);

    let seen = Seen::gather(clients).await;
    eprintln!(
        "{} rotations OK, {} UNAVAILABLE, {terminated} sessions terminated, slowest answer {:?}",
        seen.rotated.len(),
        seen.unavailable,
        seen.slowest
    );
    assert!(seen.slowest < PATIENCE, "an answer took {:?}", seen.slowest);
    assert!(
        seen.unavailable > 0,
        "no fault ever reached a call; the test proves nothing"
    );
    assert!(terminated > 0, "no session was ever terminated");

    assert_every_rotation_audited_and_acknowledged_ones_kept(&app, &owner, &seen).await;
    // And the service works again.
    let w = owner.writer(&app);
    let key = w.issue_within(Duration::from_secs(10)).await;
    w.rotate(&key).await.expect("a rotation after the faults");
}

/// Stopped PostgreSQL: a write answers UNAVAILABLE within the pool's acquire timeout rather than
/// hanging, and the first write after the restart succeeds on a fresh connection.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopped_server_answers_unavailable_within_the_acquire_timeout_and_serves_again_once_started() {
    let Some(cluster) = PgCluster::start("the stopped-server test").await else {
        return;
    };
    let (app, owner) = setup(&cluster).await;
    let w = owner.writer(&app);
    let key = w.issue_within(Duration::ZERO).await;

    cluster.stop("fast").await;
    for _ in 0..2 {
        assert_unavailable(&timed(w.issue()).await.unwrap_err());
        assert_unavailable(&timed(w.rotate(&key)).await.unwrap_err());
    }
    cluster.start_server().await;
    let started = Instant::now();
    let fresh = w.issue_within(Duration::from_secs(10)).await;
    w.rotate(&fresh).await.expect("rotate after the restart");
    eprintln!("served again {:?} after the restart", started.elapsed());
}

/// new key id -> old key id, from the keys themselves.
async fn stored_rotations(app: &TestApp, org: OrgId) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut after = None;
    loop {
        let page = app
            .core
            .store
            .list_keys(org, None, PageRequest { size: 500, after })
            .await
            .expect("list keys");
        for key in page.items {
            if let Some(old) = key.rotated_from {
                out.insert(key.id.to_string(), old.to_string());
            }
        }
        match page.next {
            Some(next) => after = Some(next),
            None => return out,
        }
    }
}

/// new key id -> old key id, from the `key_rotated` audit events.
async fn audited_rotations(app: &TestApp, org: OrgId) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut after = None;
    loop {
        let page = app
            .core
            .store
            .list_audit_events(org, Some(action::KEY_ROTATED), PageRequest { size: 500, after })
            .await
            .expect("list audit events");
        for event in page.items {
            let new = event.details.get("new_key_id").expect("new_key_id").clone();
            let old = event.target.strip_prefix("key:").expect("a key target").to_owned();
            assert!(out.insert(new, old).is_none(), "one rotation audited twice");
        }
        match page.next {
            Some(next) => after = Some(next),
            None => return out,
        }
    }
}
