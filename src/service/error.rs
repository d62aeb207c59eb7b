//! The one error type of the use cases; `grpc/status.rs` maps it to gRPC statuses.

use crate::domain::FieldViolation;
use crate::store::{Precondition, StoreError, Taken};
use std::time::Duration;

/// Why a call could not be authenticated. Each has a stable reason code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthFailure {
    MissingCredential,
    InvalidCredential,
    CredentialExpired,
    CredentialRevoked,
    /// An API key that is disabled (suspended) until enabled again.
    CredentialDisabled,
    SessionRevoked,
    /// Login: unknown email or wrong password, deliberately indistinguishable.
    InvalidCredentials,
    InvalidRefreshToken,
    RefreshTokenExpired,
    RefreshTokenReused,
    SessionMismatch,
}

/// Why an authenticated caller may not do this.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Denial {
    InsufficientRole,
    RoleAboveOwn,
    ApiKeyNotAllowed,
}

/// The kinds of object a caller can ask for by id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resource {
    Key,
    ServiceAccount,
    /// A member of the caller's org (issue 9).
    User,
}

impl std::fmt::Display for Resource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Resource::Key => "key",
            Resource::ServiceAccount => "service account",
            Resource::User => "user",
        })
    }
}

/// Every way a use case can fail.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    #[error("invalid argument")]
    InvalidArgument(Vec<FieldViolation>),
    #[error("unauthenticated: {0:?}")]
    Unauthenticated(AuthFailure),
    #[error("permission denied: {0:?}")]
    PermissionDenied(Denial),
    #[error("{0} not found")]
    NotFound(Resource),
    #[error("{0} already exists")]
    AlreadyExists(Taken),
    #[error("failed precondition: {0:?}")]
    FailedPrecondition(Precondition),
    #[error("too many failed attempts")]
    Throttled { retry_after: Duration },
    /// Too many password hashes in flight; retry shortly.
    #[error("server busy")]
    Busy,
    #[error("store unavailable")]
    Unavailable(#[source] anyhow::Error),
    #[error("internal error")]
    Internal(#[source] anyhow::Error),
}

pub type ServiceResult<T> = Result<T, ServiceError>;

impl From<FieldViolation> for ServiceError {
    fn from(v: FieldViolation) -> Self {
        ServiceError::InvalidArgument(vec![v])
    }
}

impl ServiceError {
    /// Maps a store error where a missing row means a missing `kind` of object.
    pub fn from_store(kind: Resource) -> impl Fn(StoreError) -> ServiceError {
        move |e| match e {
            StoreError::NotFound => ServiceError::NotFound(kind),
            other => other.into(),
        }
    }
}

impl From<StoreError> for ServiceError {
    fn from(e: StoreError) -> Self {
        match e {
            // Every store call that can answer NotFound is mapped with `from_store`, which
            // knows what was missing; reaching this arm is a bug.
            StoreError::NotFound => ServiceError::Internal(anyhow::anyhow!("unmapped NotFound from the store")),
            StoreError::Conflict(field) => ServiceError::AlreadyExists(field),
            StoreError::Precondition(p) => ServiceError::FailedPrecondition(p),
            StoreError::Unavailable(e) => ServiceError::Unavailable(e.into()),
            timed_out @ StoreError::TimedOut(_) => ServiceError::Unavailable(timed_out.into()),
            StoreError::Internal(e) => ServiceError::Internal(e),
        }
    }
}

impl From<crate::verify::VerifyError> for ServiceError {
    /// The engine could not answer: the store is needed and unreachable, or unseen too long.
    fn from(e: crate::verify::VerifyError) -> Self {
        match e {
            crate::verify::VerifyError::Unavailable(store) => ServiceError::Unavailable(store.into()),
            crate::verify::VerifyError::Stale => {
                ServiceError::Unavailable(anyhow::anyhow!("change feed unread for too long"))
            }
        }
    }
}
