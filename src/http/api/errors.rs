//! The JSON error shape, and the one map from a gRPC status (what the service impls answer)
//! to it: `code` is the status's ErrorInfo reason, the HTTP status follows Google's mapping.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use tonic::Code;
use tonic_types::StatusExt;
use utoipa::ToSchema;

/// `{"error": {...}}`, the body of every non-2xx answer under `/v1` and `/console/session`.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    pub error: ErrorObject,
}

/// What went wrong: a stable code, a human message and optional details.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorObject {
    /// The stable UPPER_SNAKE reason (the gRPC ErrorInfo reason).
    pub code: String,
    pub message: String,
    /// Always present, `{}` when there is nothing more to say.
    pub details: ErrorDetails,
}

/// Field violations of a bad request and the retry delay of a throttled one.
#[derive(Debug, Default, Serialize, ToSchema)]
pub struct ErrorDetails {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub field_violations: Vec<FieldViolation>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retry_after_secs: Option<u64>,
}

/// One invalid field, named as in the request body (the proto field name).
#[derive(Debug, Serialize, ToSchema)]
pub struct FieldViolation {
    pub field: String,
    pub description: String,
}

/// An error answer on its way out.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub body: ErrorBody,
}

impl ApiError {
    /// An error without details.
    pub fn new(status: StatusCode, code: &str, message: impl Into<String>) -> Self {
        Self {
            status,
            body: ErrorBody {
                error: ErrorObject {
                    code: code.to_owned(),
                    message: message.into(),
                    details: ErrorDetails::default(),
                },
            },
        }
    }

    /// 400 INVALID_ARGUMENT naming `field`.
    pub fn invalid_field(field: &str, description: impl Into<String>) -> Self {
        let description = description.into();
        let mut e = Self::new(
            StatusCode::BAD_REQUEST,
            "INVALID_ARGUMENT",
            format!("{field}: {description}"),
        );
        e.body.error.details.field_violations = vec![FieldViolation {
            field: field.to_owned(),
            description,
        }];
        e
    }

    /// 400 INVALID_ARGUMENT about the request as a whole (no field to name).
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "INVALID_ARGUMENT", message)
    }

    /// 403 CSRF_TOKEN_INVALID: a cookie-authenticated change without the session's token.
    pub fn csrf() -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            "CSRF_TOKEN_INVALID",
            "a cookie-authenticated request must carry the session's X-CSRF-Token header",
        )
    }

    /// 401 INVALID_CREDENTIAL, as the service answers it: a session cookie that holds no
    /// session token.
    pub fn invalid_credential() -> Self {
        tonic::Status::from(crate::service::ServiceError::Unauthenticated(
            crate::service::AuthFailure::InvalidCredential,
        ))
        .into()
    }
}

/// Google's mapping of gRPC codes to HTTP statuses.
pub fn http_status(code: Code) -> StatusCode {
    match code {
        Code::Ok => StatusCode::OK,
        Code::InvalidArgument | Code::FailedPrecondition | Code::OutOfRange => StatusCode::BAD_REQUEST,
        Code::Unauthenticated => StatusCode::UNAUTHORIZED,
        Code::PermissionDenied => StatusCode::FORBIDDEN,
        Code::NotFound => StatusCode::NOT_FOUND,
        Code::AlreadyExists | Code::Aborted => StatusCode::CONFLICT,
        Code::ResourceExhausted => StatusCode::TOO_MANY_REQUESTS,
        Code::Unimplemented => StatusCode::NOT_IMPLEMENTED,
        Code::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        Code::DeadlineExceeded => StatusCode::GATEWAY_TIMEOUT,
        Code::Cancelled | Code::Unknown | Code::Internal | Code::DataLoss => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

/// The upper-snake name of a code, for a status that carries no ErrorInfo.
fn code_name(code: Code) -> &'static str {
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

impl From<tonic::Status> for ApiError {
    fn from(status: tonic::Status) -> Self {
        let details = status.get_error_details();
        let code = details
            .error_info()
            .map(|info| info.reason.clone())
            .unwrap_or_else(|| code_name(status.code()).to_owned());
        let field_violations: Vec<FieldViolation> = details
            .bad_request()
            .map(|b| {
                b.field_violations
                    .iter()
                    .map(|v| FieldViolation {
                        field: json_field(&v.field),
                        description: v.description.clone(),
                    })
                    .collect()
            })
            .unwrap_or_default();
        let retry_after_secs = details
            .retry_info()
            .and_then(|r| r.retry_delay)
            // Rounded up: a client that waits the whole seconds is never early.
            .map(|d| d.as_secs() + u64::from(d.subsec_nanos() > 0));
        // The message of a single violation starts with its field's name: the JSON one, too.
        let message = match details.bad_request().and_then(|b| b.field_violations.first()) {
            Some(v) if json_field(&v.field) != v.field => {
                status.message().strip_prefix(&format!("{}:", v.field)).map_or_else(
                    || status.message().to_owned(),
                    |rest| format!("{}:{rest}", json_field(&v.field)),
                )
            }
            _ => status.message().to_owned(),
        };
        Self {
            status: http_status(status.code()),
            body: ErrorBody {
                error: ErrorObject {
                    code,
                    message,
                    details: ErrorDetails {
                        field_violations,
                        retry_after_secs,
                    },
                },
            },
        }
    }
}

/// The JSON name of a proto field path: the same, except that durations, proto `Duration`s,
/// are whole seconds in JSON under a `_secs` name (`grace_period` is `grace_period_secs`,
/// `rate_limit.window` is `rate_limit.window_secs`).
fn json_field(proto: &str) -> String {
    let last = proto.rsplit('.').next().unwrap_or(proto);
    if matches!(last, "grace_period" | "window") {
        format!("{proto}_secs")
    } else {
        proto.to_owned()
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let retry = self
            .body
            .error
            .details
            .retry_after_secs
            .and_then(|s| HeaderValue::from_str(&s.to_string()).ok());
        let mut response = (self.status, Json(self.body)).into_response();
        if let Some(retry) = retry {
            response.headers_mut().insert(header::RETRY_AFTER, retry);
        }
        response
    }
}
