//! The one place where a failed command becomes a message on stderr and an exit code.

use serde_json::{Map, Value, json};
use std::fmt::Write as _;
use std::io::{ErrorKind, Write as _};
use std::process::ExitCode;
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

/// `gatekey verify` was answered with a denial: the decision is the output, and the exit
/// code says it was not an allow. Nothing more is printed for it.
#[derive(Debug, thiserror::Error)]
#[error("the credential was denied")]
pub struct Denied;

/// Prints `err` once on stderr, as text or as one JSON object, and returns its exit code.
pub fn report(err: &anyhow::Error, json: bool) -> ExitCode {
    let code = exit_code(err);
    if code != 0 && !err.chain().any(|e| e.is::<Denied>()) {
        let text = if json { to_json(err).to_string() } else { describe(err) };
        // Nothing better to do when stderr itself is gone.
        let _ = writeln!(std::io::stderr(), "{text}");
    }
    ExitCode::from(code)
}

/// Whether the raw arguments ask for JSON; for errors found before they could be parsed.
pub fn asks_for_json<I: IntoIterator<Item = std::ffi::OsString>>(args: I) -> bool {
    args.into_iter()
        .skip(1)
        .take_while(|a| a != "--")
        .any(|a| a == "--json")
}

/// Reports a command line clap rejected (exit 2), or prints the help or version it asked for
/// (exit 0). With `--json` the rejection is one JSON object with code `USAGE`.
pub fn usage_failure(err: &clap::Error, json: bool) -> ExitCode {
    use clap::error::ErrorKind as Kind;
    let asked = matches!(err.kind(), Kind::DisplayHelp | Kind::DisplayVersion);
    if !json || asked {
        let _ = err.print();
        return ExitCode::from(u8::try_from(err.exit_code()).unwrap_or(EXIT_USAGE));
    }
    let rendered = err.render().to_string();
    // clap's text: the problem (sometimes over several lines), then "Usage: ..." and a hint.
    let (problem, usage) = match rendered.find("\nUsage:") {
        Some(at) => rendered.split_at(at),
        None => (rendered.as_str(), ""),
    };
    let problem = problem.strip_prefix("error: ").unwrap_or(problem);
    let message = problem.split_whitespace().collect::<Vec<_>>().join(" ");
    let usage: Vec<&str> = usage.lines().map(str::trim).filter(|l| !l.is_empty()).collect();
    let value = json!({
        "code": "USAGE",
        "message": message,
        "details": { "kind": format!("{:?}", err.kind()), "usage": usage.join("\n") },
    });
    let _ = writeln!(std::io::stderr(), "{value}");
    ExitCode::from(EXIT_USAGE)
}

/// A failed command as one JSON object: `code` is the server's stable ErrorInfo reason (else
/// the gRPC code name), or `USAGE`, `CONNECT_FAILED` or `FAILED` for errors on this side;
/// `details` holds field violations and the ErrorInfo metadata.
pub fn to_json(err: &anyhow::Error) -> Value {
    if let Some(status) = err.chain().find_map(|e| e.downcast_ref::<tonic::Status>()) {
        return status_json(status);
    }
    let code = if err.chain().any(|e| e.is::<UsageError>()) {
        "USAGE"
    } else if err.downcast_ref::<ConnectError>().is_some() || err.chain().any(|e| e.is::<ConnectError>()) {
        // The connection error is attached as context, which only `downcast_ref` sees.
        "CONNECT_FAILED"
    } else {
        "FAILED"
    };
    let message = describe(err);
    let message = message.strip_prefix("error: ").unwrap_or(&message);
    json!({ "code": code, "message": message, "details": {} })
}

fn status_json(status: &tonic::Status) -> Value {
    let details = status.get_error_details();
    let info = details.error_info();
    let reason = info
        .map(|info| info.reason.clone())
        .filter(|reason| !reason.is_empty())
        .unwrap_or_else(|| code_name(status.code()).to_owned());
    let mut fields = Map::new();
    fields.insert("grpc_code".into(), json!(code_name(status.code())));
    if let Some(info) = info {
        let mut metadata: Vec<_> = info.metadata.iter().collect();
        metadata.sort();
        for (key, value) in metadata {
            fields.insert(key.clone(), json!(value));
        }
    }
    if let Some(bad_request) = details.bad_request() {
        let violations: Vec<_> = bad_request
            .field_violations
            .iter()
            .map(|v| json!({ "field": v.field, "description": v.description }))
            .collect();
        fields.insert("field_violations".into(), Value::Array(violations));
    }
    if let Some(retry) = details.retry_info().and_then(|r| r.retry_delay) {
        fields.insert("retry_after_seconds".into(), json!(retry.as_secs_f64()));
    }
    json!({ "code": reason, "message": status.message(), "details": fields })
}

/// The exit code for a failed command; 0 when only the reader of stdout went away
/// (`gatekey keys list | head`), which is not worth an error message.
pub fn exit_code(err: &anyhow::Error) -> u8 {
    let chain = || err.chain();
    if chain().any(|e| e.is::<UsageError>()) {
        EXIT_USAGE
    } else if chain().any(|e| e.is::<Denied>()) {
        EXIT_REFUSED
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
    let message = printable(status.message());
    let mut text = format!("error: {reason} : {message}");
    if let Some(bad_request) = details.bad_request() {
        for violation in &bad_request.field_violations {
            let line = format!("{}: {}", printable(&violation.field), printable(&violation.description));
            // A single violation is usually the message itself; say it once.
            if !message.contains(&line) {
                let _ = write!(text, "\n  {line}");
            }
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
    fn json_errors_carry_the_reason_the_message_and_the_field_violations() {
        let mut details = ErrorDetails::with_error_info("KEY_INVALID_ARGUMENT", "gatekey", []);
        details.set_bad_request(vec![FieldViolation::new("scopes[0]", "must not be empty")]);
        let status = tonic::Status::with_error_details(Code::InvalidArgument, "bad key", details);
        let value = to_json(&anyhow::Error::new(status).context("issuing"));
        assert_eq!(value["code"], "KEY_INVALID_ARGUMENT");
        assert_eq!(value["message"], "bad key");
        assert_eq!(value["details"]["field_violations"][0]["field"], "scopes[0]");
        let usage = to_json(&anyhow::Error::new(UsageError("not logged in".into())));
        assert_eq!(
            (usage["code"].as_str(), usage["message"].as_str()),
            (Some("USAGE"), Some("not logged in"))
        );
        let unreachable = to_json(&anyhow::Error::new(ConnectError {
            server: "http://h:1".into(),
        }));
        assert_eq!(unreachable["code"], "CONNECT_FAILED");
    }

    #[test]
    fn json_is_asked_for_by_the_flag_anywhere_before_a_double_dash() {
        let args = |a: &[&str]| a.iter().map(std::ffi::OsString::from).collect::<Vec<_>>();
        assert!(asks_for_json(args(&["gatekey", "keys", "list", "--json"])));
        assert!(asks_for_json(args(&["gatekey", "--json", "keys"])));
        assert!(!asks_for_json(args(&["gatekey", "verify", "--", "--json"])));
        assert!(!asks_for_json(args(&["--json"])), "the program name is not a flag");
    }

    #[test]
    fn control_characters_from_the_server_are_escaped() {
        assert_eq!(printable("a\u{1b}[2Jb\n"), "a\\u{1b}[2Jb\\n");
        assert_eq!(printable("plain"), "plain");
    }
}
