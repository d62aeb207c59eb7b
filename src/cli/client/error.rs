//! The one place where a failed command becomes a message on stderr and an exit code.

use std::fmt::Write as _;
use std::io::ErrorKind;
use tonic::Code;
use tonic_types::StatusExt;

/// Exit code for a command the server refused or could not be reached for.
pub const EXIT_REFUSED: u8 = 1;
/// Exit code for bad input caught on this side, including "not logged in".
pub const EXIT_USAGE: u8 = 2;

/// A problem with what the user asked for, found before or without asking the server.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);

/// The server could not be reached at all.
#[derive(Debug, thiserror::Error)]
#[error("cannot reach the gatekey server at {server}")]
pub struct ConnectError {
    pub server: String,
}

/// The exit code for a failed command; 0 when only the reader of stdout went away
/// (`gatekey keys list | head`), which is not worth an error message.
pub fn exit_code(err: &anyhow::Error) -> u8 {
    let chain = || err.chain();
    if chain().any(|e| e.is::<UsageError>()) {
        EXIT_USAGE
    } else if chain().any(|e| e.is::<tonic::Status>() || e.is::<ConnectError>()) {
        // A server that closes the connection mid-call (a refused client certificate) also
        // ends in a broken pipe; that one is a failure, not a closed stdout.
        EXIT_REFUSED
    } else if chain().any(|e| {
        e.downcast_ref::<std::io::Error>()
            .is_some_and(|e| e.kind() == ErrorKind::BrokenPipe)
    }) {
        0
    } else {
        EXIT_REFUSED
    }
}

/// The text printed on stderr for a failed command, one or more lines without a trailing
/// newline. A server refusal reads `error: <REASON> : <message>`, followed by any field
/// violations; everything else is the error with its causes.
pub fn describe(err: &anyhow::Error) -> String {
    if let Some(status) = err.chain().find_map(|e| e.downcast_ref::<tonic::Status>()) {
        return describe_status(status);
    }
    let mut text = format!("error: {err}");
    let mut previous = err.to_string();
    for cause in err.chain().skip(1) {
        // Transport errors repeat their source's message; say it once.
        let cause = cause.to_string();
        if cause != previous {
            let _ = write!(text, ": {cause}");
        }
        previous = cause;
    }
    text
}

fn describe_status(status: &tonic::Status) -> String {
    let details = status.get_error_details();
    let reason = details
        .error_info()
        .map(|info| info.reason.clone())
        .filter(|reason| !reason.is_empty())
        .unwrap_or_else(|| code_name(status.code()).to_owned());
    let mut text = format!("error: {reason} : {}", printable(status.message()));
    if let Some(bad_request) = details.bad_request() {
        for violation in &bad_request.field_violations {
            let _ = write!(
                text,
                "\n  {}: {}",
                printable(&violation.field),
                printable(&violation.description)
            );
        }
    }
    text
}

/// The canonical UPPER_SNAKE name of a gRPC status code, as in `google.rpc.Code`.
pub fn code_name(code: Code) -> &'static str {
    match code {
        Code::Ok => "OK",
        Code::Cancelled => "CANCELLED",
        Code::Unknown => "UNKNOWN",
        Code::InvalidArgument => "INVALID_ARGUMENT",
        Code::DeadlineExceeded => "DEADLINE_EXCEEDED",
        Code::NotFound => "NOT_FOUND",
        Code::AlreadyExists => "ALREADY_EXISTS",
        Code::PermissionDenied => "PERMISSION_DENIED",
        Code::ResourceExhausted => "RESOURCE_EXHAUSTED",
        Code::FailedPrecondition => "FAILED_PRECONDITION",
        Code::Aborted => "ABORTED",
        Code::OutOfRange => "OUT_OF_RANGE",
        Code::Unimplemented => "UNIMPLEMENTED",
        Code::Internal => "INTERNAL",
        Code::Unavailable => "UNAVAILABLE",
        Code::DataLoss => "DATA_LOSS",
        Code::Unauthenticated => "UNAUTHENTICATED",
    }
}

/// Escapes control characters so that text from the server cannot move the cursor or
/// rewrite earlier lines of the terminal.
pub fn printable(text: &str) -> String {
    if !text.chars().any(char::is_control) {
        return text.to_owned();
    }
    text.chars()
        .map(|c| {
            if c.is_control() {
                c.escape_default().to_string()
            } else {
                c.to_string()
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use anyhow::Context as _;
    use tonic_types::{ErrorDetails, FieldViolation};

    #[test]
    fn usage_errors_exit_2_even_under_context() {
        let err = anyhow::Error::new(UsageError("not logged in".into())).context("loading session");
        assert_eq!(exit_code(&err), EXIT_USAGE);
    }

    #[test]
    fn server_refusals_and_connection_failures_exit_1() {
        let refused = anyhow::Error::new(tonic::Status::not_found("no such key"));
        assert_eq!(exit_code(&refused), EXIT_REFUSED);
        let unreachable = anyhow::Error::new(ConnectError {
            server: "http://x".into(),
        });
        assert_eq!(exit_code(&unreachable), EXIT_REFUSED);
        let other: anyhow::Result<()> = Err(anyhow::anyhow!("disk full")).context("saving");
        assert!(other.is_err_and(|e| exit_code(&e) == EXIT_REFUSED));
    }

    #[test]
    fn a_closed_stdout_is_not_an_error() {
        let err = anyhow::Error::new(std::io::Error::from(ErrorKind::BrokenPipe)).context("writing");
        assert_eq!(exit_code(&err), 0);
    }

    #[test]
    fn a_connection_the_server_closed_is_a_failure_not_a_closed_stdout() {
        let status = tonic::Status::from_error(Box::new(std::io::Error::from(ErrorKind::BrokenPipe)));
        let err = anyhow::Error::new(status).context("logging in");
        assert_eq!(exit_code(&err), EXIT_REFUSED);
    }

    #[test]
    fn a_refusal_shows_the_error_info_reason_and_field_violations() {
        let mut details = ErrorDetails::with_error_info("KEY_INVALID_ARGUMENT", "gatekey", []);
        details.set_bad_request(vec![FieldViolation::new("scopes[0]", "must not be empty")]);
        let status = tonic::Status::with_error_details(Code::InvalidArgument, "bad key", details);
        let err = anyhow::Error::new(status).context("calling KeyService.IssueKey");
        assert_eq!(
            describe(&err),
            "error: KEY_INVALID_ARGUMENT : bad key\n  scopes[0]: must not be empty"
        );
    }

    #[test]
    fn a_refusal_without_error_info_shows_the_code_name() {
        let err = anyhow::Error::new(tonic::Status::permission_denied("admin role required"));
        assert_eq!(describe(&err), "error: PERMISSION_DENIED : admin role required");
    }

    #[test]
    fn other_errors_show_their_causes() {
        let err = anyhow::Error::new(ConnectError {
            server: "http://h:1".into(),
        })
        .context("logging in");
        assert_eq!(
            describe(&err),
            "error: logging in: cannot reach the gatekey server at http://h:1"
        );
    }

    #[test]
    fn control_characters_from_the_server_are_escaped() {
        assert_eq!(printable("a\u{1b}[2Jb\n"), "a\\u{1b}[2Jb\\n");
        assert_eq!(printable("plain"), "plain");
    }
}
