//! The store under faults: a demoted primary, terminated sessions, restarts and crashes of
//! PostgreSQL, and a second process holding SQLite's write lock. Every write answers OK or
//! `UNAVAILABLE` with a RetryInfo (never `INTERNAL`), soon, and nothing half-commits.

mod failover;
mod mysql_kills;
mod restarts;
mod sqlite_lock;

use crate::support::app::{TestApp, authed, issue_request, reason};
use gatekey::proto::v1 as pb;
use std::time::{Duration, Instant};
use tonic::{Code, Status};
use tonic_types::StatusExt;

/// The longest a call may take under any of these faults: the pool's acquire timeout (5 s)
/// plus the work itself. A call that waits longer has hung.
const PATIENCE: Duration = Duration::from_secs(8);

/// Asserts `status` is the store's `UNAVAILABLE`, with the RetryInfo clients back off by.
#[track_caller]
fn assert_unavailable(status: &Status) {
    assert_eq!(
        (status.code(), reason(status).as_str()),
        (Code::Unavailable, "STORE_UNAVAILABLE"),
        "{status:?}"
    );
    let delay = status.get_error_details().retry_info().and_then(|r| r.retry_delay);
    assert_eq!(delay, Some(Duration::from_secs(1)), "RetryInfo of {status:?}");
}

/// The value of an OK answer, or `None` for the store's `UNAVAILABLE`; anything else fails.
#[track_caller]
fn ok_or_unavailable<T>(answer: Result<tonic::Response<T>, Status>) -> Option<T> {
    match answer {
        Ok(response) => Some(response.into_inner()),
        Err(status) => {
            assert_unavailable(&status);
            None
        }
    }
}

/// The writes the tests make, as one org's owner.
struct Writer<'a> {
    app: &'a TestApp,
    token: String,
    service_account: String,
}

impl Writer<'_> {
    async fn create_service_account(
        &self,
        name: &str,
    ) -> Result<tonic::Response<pb::CreateServiceAccountResponse>, Status> {
        let request = pb::CreateServiceAccountRequest {
            name: name.into(),
            role: pb::Role::Member as i32,
        };
        self.app
            .admin()
            .create_service_account(authed(&self.token, request))
            .await
    }

    async fn issue(&self) -> Result<tonic::Response<pb::IssueKeyResponse>, Status> {
        let request = issue_request(&self.service_account, "load", &["cameras.read"]);
        self.app.keys().issue_key(authed(&self.token, request)).await
    }

    async fn rotate(&self, key_id: &str) -> Result<tonic::Response<pb::RotateKeyResponse>, Status> {
        let request = pb::RotateKeyRequest {
            key_id: key_id.into(),
            grace_period: None,
        };
        self.app.keys().rotate_key(authed(&self.token, request)).await
    }

    /// The id of a newly issued key, waiting up to `within` for the store to come back.
    async fn issue_within(&self, within: Duration) -> String {
        let deadline = Instant::now() + within;
        loop {
            if let Some(issued) = ok_or_unavailable(self.issue().await) {
                return issued.key.expect("issued key").id;
            }
            assert!(
                Instant::now() < deadline,
                "the store did not come back within {within:?}"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

/// Runs `call` and asserts it answered within [`PATIENCE`].
async fn timed<F: std::future::Future>(call: F) -> F::Output {
    let started = Instant::now();
    let out = call.await;
    let took = started.elapsed();
    assert!(took < PATIENCE, "a call took {took:?} under a fault");
    out
}
