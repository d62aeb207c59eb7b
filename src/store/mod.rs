//! Storage: the contract split into role traits (`traits.rs`), the decisions that are not SQL
//! (`rules.rs`), and the SQL backends (`postgres.rs`, `sqlite.rs`), which share one body of SQL
//! per aggregate (`sql/`).

mod codec;
mod connect;
mod deadline;
mod fault;
mod mysql;
mod postgres;
mod records;
pub mod rules;
mod sql;
mod sqlite;
mod text;
mod traits;

pub use records::*;
pub use traits::*;

use std::sync::Arc;

pub use connect::{ConnectSettings, connect_with};
pub use deadline::DeadlineStore;
pub use mysql::MySqlStore;
pub use postgres::{ChangeSubscription, PgStore};
pub use sqlite::SqliteStore;

/// Why a store call failed. The use cases map each case; none carries a secret.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// No such object in the caller's org (a foreign object counts as missing).
    #[error("not found")]
    NotFound,
    /// A unique field is taken.
    #[error("{0} already exists")]
    Conflict(Taken),
    /// The object exists but is in the wrong state for the change.
    #[error("precondition failed: {0:?}")]
    Precondition(Precondition),
    /// The database could not be reached or timed out; retrying may help.
    #[error("store unavailable")]
    Unavailable(#[source] sqlx::Error),
    /// No answer within the time the caller may wait (`store_timeout_ms` for Verify,
    /// `admin_store_timeout_ms` for the admin and auth calls); retrying may help.
    #[error("store did not answer within {} ms", .0.as_millis())]
    TimedOut(std::time::Duration),
    /// Anything else: a bug, a corrupt row, a failed migration.
    #[error("store failure")]
    Internal(#[source] anyhow::Error),
}

/// The unique fields a create can collide on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Taken {
    Email,
    OrgName,
    ServiceAccountName,
}

impl std::fmt::Display for Taken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Taken::Email => "email",
            Taken::OrgName => "org name",
            Taken::ServiceAccountName => "service account name",
        })
    }
}

/// The state rules a change can break.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Precondition {
    /// DeleteKey on a key that is not revoked.
    KeyNotRevoked,
    /// RotateKey on a key that is revoked, expired, disabled or already rotated (a lost race
    /// included), or whose pair partner is disabled or was rotated concurrently.
    KeyNotRotatable,
    /// DisableKey or EnableKey on a revoked key: revocation is final.
    KeyRevoked,
    // Issue 9, members.
    /// Demoting or removing the org's only owner.
    LastOwner,
    /// Changing or removing a member whose role is above the caller's own; the use cases
    /// answer it as a permission denial.
    MemberOutranksCaller,
    /// ChangePassword lost a race with another change of the same password.
    PasswordChanged,
}

pub type StoreResult<T> = Result<T, StoreError>;

/// The store the application runs on.
pub type SharedStore = Arc<dyn Store>;

/// Opens the store named by `url` with the default pool settings and a single attempt (tests,
/// tools); the server uses [`connect_with`].
pub async fn connect(url: &str) -> anyhow::Result<SharedStore> {
    connect_with(url, &ConnectSettings::default()).await
}
