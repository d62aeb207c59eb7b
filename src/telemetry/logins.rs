//! Login accounting: a counter by outcome, and a log line for every failure.
//!
//! A failed login is logged with the email as typed (already validated as an email) and the
//! client address, in plain text: the audit log stores the same email for the same event,
//! and an operator chasing a credential-stuffing run needs to see which accounts it aims at.
//! The password never reaches this module.

use crate::service::{AuthFailure, ServiceError};

/// The outcome label of a login that ended with `error` (`None`: it succeeded).
pub fn outcome(error: Option<&ServiceError>) -> &'static str {
    match error {
        None => "ok",
        Some(ServiceError::Unauthenticated(AuthFailure::InvalidCredentials)) => "bad_credentials",
        Some(ServiceError::Throttled { .. }) => "throttled",
        Some(ServiceError::Busy) => "busy",
        Some(ServiceError::InvalidArgument(_)) => "invalid_argument",
        Some(ServiceError::Unavailable(_)) => "unavailable",
        Some(_) => "error",
    }
}

/// Counts one login and logs it when it failed. `email` is `None` when the request was
/// malformed before an email could be read.
pub fn record(error: Option<&ServiceError>, email: Option<&str>, client_ip: &str) {
    let outcome = outcome(error);
    metrics::counter!("gatekey_logins_total", "outcome" => outcome).increment(1);
    if error.is_some() {
        tracing::warn!(outcome, email = email.unwrap_or(""), client_ip, "login failed");
    }
}
