//! The one place that turns use-case errors into gRPC statuses.
//!
//! Every status carries a `google.rpc.ErrorInfo` whose `reason` is a stable UPPER_SNAKE code;
//! invalid arguments also carry `google.rpc.BadRequest` field violations. Internal causes are
//! logged here and never sent.

use crate::service::{AuthFailure, Denial, Resource, ServiceError};
use crate::store::{Precondition, Taken};
use std::collections::HashMap;
use tonic::{Code, Status};
use tonic_types::{ErrorDetails, StatusExt};

/// The `domain` of every ErrorInfo.
pub const ERROR_DOMAIN: &str = "gatekey.dev";

fn auth_reason(f: AuthFailure) -> (&'static str, &'static str) {
    match f {
        AuthFailure::MissingCredential => (
            "MISSING_CREDENTIAL",
            "an `authorization: Bearer` credential is required",
        ),
        AuthFailure::InvalidCredential => ("INVALID_CREDENTIAL", "the credential is not valid"),
        AuthFailure::CredentialExpired => ("CREDENTIAL_EXPIRED", "the credential has expired"),
        AuthFailure::CredentialRevoked => ("CREDENTIAL_REVOKED", "the credential has been revoked"),
        AuthFailure::CredentialDisabled => ("CREDENTIAL_DISABLED", "the credential is disabled"),
        AuthFailure::SessionRevoked => ("SESSION_REVOKED", "the session has been revoked"),
        AuthFailure::InvalidCredentials => ("INVALID_CREDENTIALS", "email or password is incorrect"),
        AuthFailure::InvalidRefreshToken => ("INVALID_REFRESH_TOKEN", "the refresh token is not valid"),
        AuthFailure::RefreshTokenExpired => ("REFRESH_TOKEN_EXPIRED", "the refresh token has expired"),
        AuthFailure::RefreshTokenReused => (
            "REFRESH_TOKEN_REUSED",
            "the refresh token was already used; the session has been revoked",
        ),
        AuthFailure::SessionMismatch => ("SESSION_MISMATCH", "the refresh token belongs to another client"),
    }
}

fn denial_reason(d: Denial) -> (&'static str, &'static str) {
    match d {
        Denial::InsufficientRole => ("INSUFFICIENT_ROLE", "this call requires the owner or admin role"),
        Denial::RoleAboveOwn => (
            "ROLE_ABOVE_OWN",
            "a role above your own cannot be granted, and whoever holds one cannot be changed or removed",
        ),
        Denial::ApiKeyNotAllowed => ("API_KEY_NOT_ALLOWED", "API keys may not make this call"),
    }
}

fn not_found_reason(kind: Resource) -> &'static str {
    match kind {
        Resource::Key => "KEY_NOT_FOUND",
        Resource::ServiceAccount => "SERVICE_ACCOUNT_NOT_FOUND",
        Resource::User => "USER_NOT_FOUND",
    }
}

fn conflict_reason(field: Taken) -> &'static str {
    match field {
        Taken::Email => "EMAIL_TAKEN",
        Taken::OrgName => "ORG_NAME_TAKEN",
        Taken::ServiceAccountName => "SERVICE_ACCOUNT_NAME_TAKEN",
    }
}

fn precondition_reason(p: Precondition) -> (&'static str, &'static str) {
    match p {
        Precondition::KeyNotRevoked => ("KEY_NOT_REVOKED", "only a revoked key can be deleted"),
        Precondition::KeyNotRotatable => (
            "KEY_NOT_ROTATABLE",
            "the key (or the other key of its pair) is revoked, expired, disabled or already rotated",
        ),
        Precondition::KeyRevoked => ("KEY_REVOKED", "the key is revoked; it cannot be disabled or enabled"),
        // Issue 9, members.
        Precondition::LastOwner => ("LAST_OWNER", "the org's last owner cannot be demoted or removed"),
        // The use cases answer this one as PERMISSION_DENIED ROLE_ABOVE_OWN; mapped here too so
        // the map stays exhaustive.
        Precondition::MemberOutranksCaller => denial_reason(Denial::RoleAboveOwn),
        Precondition::PasswordChanged => (
            "PASSWORD_CHANGED",
            "the password was changed meanwhile; try again with the current one",
        ),
    }
}

/// A status of `code` with an ErrorInfo of `reason`, plus any extra details.
fn status(code: Code, reason: &str, message: &str, mut details: ErrorDetails) -> Status {
    details.set_error_info(reason, ERROR_DOMAIN, HashMap::new());
    Status::with_error_details(code, message, details)
}

impl From<ServiceError> for Status {
    fn from(e: ServiceError) -> Self {
        let none = ErrorDetails::new;
        match e {
            ServiceError::InvalidArgument(violations) => {
                let mut details = ErrorDetails::new();
                for v in &violations {
                    details.add_bad_request_violation(v.field.clone(), v.description.clone());
                }
                let message = violations
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join("; ");
                status(Code::InvalidArgument, "INVALID_ARGUMENT", &message, details)
            }
            ServiceError::Unauthenticated(f) => {
                let (reason, message) = auth_reason(f);
                status(Code::Unauthenticated, reason, message, none())
            }
            ServiceError::PermissionDenied(d) => {
                let (reason, message) = denial_reason(d);
                status(Code::PermissionDenied, reason, message, none())
            }
            ServiceError::NotFound(kind) => status(
                Code::NotFound,
                not_found_reason(kind),
                &format!("{kind} not found"),
                none(),
            ),
            ServiceError::AlreadyExists(field) => status(
                Code::AlreadyExists,
                conflict_reason(field),
                &format!("{field} already exists"),
                none(),
            ),
            ServiceError::FailedPrecondition(p) => {
                let (reason, message) = precondition_reason(p);
                status(Code::FailedPrecondition, reason, message, none())
            }
            ServiceError::Throttled { retry_after } => status(
                Code::ResourceExhausted,
                "TOO_MANY_ATTEMPTS",
                "too many failed attempts; try again later",
                ErrorDetails::with_retry_info(Some(retry_after)),
            ),
            ServiceError::Busy => status(
                Code::ResourceExhausted,
                "SERVER_BUSY",
                "too many logins in progress; retry shortly",
                ErrorDetails::with_retry_info(Some(std::time::Duration::from_secs(1))),
            ),
            ServiceError::Unavailable(cause) => {
                tracing::warn!(error = format!("{cause:#}"), "store unavailable");
                status(
                    Code::Unavailable,
                    "STORE_UNAVAILABLE",
                    "the store is unavailable; retry",
                    // Long enough for a pool to reconnect after a restart or failover.
                    ErrorDetails::with_retry_info(Some(std::time::Duration::from_secs(1))),
                )
            }
            ServiceError::Internal(cause) => {
                tracing::error!(error = format!("{cause:#}"), "internal error");
                status(Code::Internal, "INTERNAL", "internal error", none())
            }
        }
    }
}
