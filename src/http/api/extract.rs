//! Reading a request: the JSON body and query (unknown fields and wrongly typed values are
//! 400s naming the field, JSON that does not parse a 400 naming none), and the call context
//! handed to the service impls (credential, user agent, peer address), with the CSRF rule for
//! cookie-authenticated changes.

use super::ApiState;
use super::errors::ApiError;
use super::session::{self, SESSION_COOKIE};
use crate::telemetry::admin::ActorSlot;
use axum::body::Bytes;
use axum::extract::{ConnectInfo, FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, Method, StatusCode, header};
use serde::de::DeserializeOwned;
use serde_json::error::Category;
use std::net::SocketAddr;
use tonic::metadata::MetadataValue;
use tonic::transport::server::TcpConnectInfo;

/// Largest request body accepted.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// A JSON request body. An empty body reads as `{}` (every field optional, so the service
/// names a missing required field); a non-empty one must be `application/json`.
pub struct JsonBody<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let json = is_json(req.headers());
        let bytes = Bytes::from_request(req, state).await.map_err(|rejection| {
            if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "PAYLOAD_TOO_LARGE",
                    format!("the request body is larger than {MAX_BODY_BYTES} bytes"),
                )
            } else {
                ApiError::bad_request("the request body could not be read")
            }
        })?;
        // No body, or `null`, reads as `{}`: a body whose fields all have defaults is optional
        // in the document, and one with required fields gets its missing fields named.
        let bytes: &[u8] = if bytes.iter().all(u8::is_ascii_whitespace) || bytes.trim_ascii() == b"null" {
            b"{}"
        } else if !json {
            return Err(ApiError::bad_request(
                "the request body must be `Content-Type: application/json`",
            ));
        } else {
            &bytes
        };
        // Serde would also read a struct from an array, by position; a body is an object.
        if bytes.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
            return Err(ApiError::bad_request(
                "malformed request: the body must be a JSON object",
            ));
        }
        let mut de = serde_json::Deserializer::from_slice(bytes);
        let body = serde_path_to_error::deserialize(&mut de).map_err(|e| {
            // Broken JSON has no field to name, only a place (which says nothing to a client).
            if matches!(e.inner().classify(), Category::Syntax | Category::Eof) {
                ApiError::bad_request(format!("malformed request: {}", serde_words(&e.inner().to_string())))
            } else {
                violation(e.path().to_string(), &e.inner().to_string())
            }
        })?;
        // Anything after the object (a second object, garbage) makes the whole body malformed.
        de.end()
            .map_err(|_| ApiError::bad_request("malformed request: characters after the JSON object"))?;
        Ok(JsonBody(body))
    }
}

fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|mime| mime.trim().eq_ignore_ascii_case("application/json"))
}

/// Deserialises a query string, turning serde's error into a violation naming the field.
fn parse<'de, T: serde::Deserialize<'de>, D>(de: D) -> Result<T, ApiError>
where
    D: serde::Deserializer<'de>,
    D::Error: std::fmt::Display,
{
    serde_path_to_error::deserialize(de).map_err(|e| violation(e.path().to_string(), &e.inner().to_string()))
}

/// A value serde refused, as a violation of the field at `path`.
fn violation(path: String, message: &str) -> ApiError {
    // The path already ends in an unknown field's name, except at the top level.
    let field = match unknown_field(message) {
        _ if path != "." => path,
        Some(name) => name.to_owned(),
        None => String::new(),
    };
    let description = serde_words(message);
    if field.is_empty() {
        ApiError::bad_request(format!("malformed request: {description}"))
    } else {
        ApiError::invalid_field(&field, description)
    }
}

/// serde's own words, cut before its position suffix (which says nothing to a client).
fn serde_words(message: &str) -> String {
    message.split(" at line ").next().unwrap_or_default().to_owned()
}

/// The name in serde's "unknown field `x`, expected ..." message.
fn unknown_field(message: &str) -> Option<&str> {
    let rest = message.strip_prefix("unknown field `")?;
    rest.split('`').next()
}

/// A query string, read as strictly as a body.
pub struct JsonQuery<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for JsonQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let query = parts.uri.query().unwrap_or_default();
        let de = serde_urlencoded::Deserializer::new(form_urlencoded::parse(query.as_bytes()));
        parse(de).map(JsonQuery)
    }
}

/// What a handler needs of the request besides its body: turned into a `tonic::Request`
/// carrying `authorization` (from the header, else the console session cookie),
/// `user-agent` and the peer address, as the gRPC server would have built it.
pub struct Call {
    authorization: Option<String>,
    user_agent: Option<String>,
    peer: Option<SocketAddr>,
    actor: Option<ActorSlot>,
}

impl Call {
    /// A `tonic::Request` of `message` carrying this call's metadata.
    pub fn request<T>(&self, message: T) -> tonic::Request<T> {
        let mut req = tonic::Request::new(message);
        if let Some(value) = self
            .authorization
            .as_deref()
            .and_then(|v| MetadataValue::try_from(v).ok())
        {
            req.metadata_mut().insert("authorization", value);
        }
        if let Some(value) = self.user_agent.as_deref().and_then(|v| MetadataValue::try_from(v).ok()) {
            req.metadata_mut().insert("user-agent", value);
        }
        req.extensions_mut().insert(TcpConnectInfo {
            local_addr: None,
            remote_addr: self.peer,
        });
        if let Some(actor) = &self.actor {
            // Filled in by the service once the caller is known, for `refusals` to log.
            req.extensions_mut().insert(actor.clone());
        }
        req
    }
}

impl FromRequestParts<ApiState> for Call {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &ApiState) -> Result<Self, Self::Rejection> {
        let authorization = match authorization_header(parts) {
            Some(value) => Some(value),
            None => match session::cookie(&parts.headers, SESSION_COOKIE) {
                Some(jwt) => {
                    if matches!(parts.method, Method::GET | Method::HEAD) {
                        // Reads need no CSRF proof, but the cookie still carries only a session.
                        if state.core.jwt.verify_signed(jwt).is_err() {
                            return Err(ApiError::invalid_credential());
                        }
                    } else {
                        state.csrf.check_access_token(&state.core, jwt, &parts.headers)?;
                    }
                    Some(format!("Bearer {jwt}"))
                }
                None => None,
            },
        };
        Ok(Self::with(parts, authorization))
    }
}

impl Call {
    fn with(parts: &Parts, authorization: Option<String>) -> Self {
        Self {
            authorization,
            user_agent: header_text(&parts.headers, header::USER_AGENT.as_str()),
            peer: parts.extensions.get::<ConnectInfo<SocketAddr>>().map(|c| c.0),
            actor: parts.extensions.get::<ActorSlot>().cloned(),
        }
    }
}

/// The `Authorization` header. One that is not text is still "present": the service answers
/// it as invalid.
fn authorization_header(parts: &Parts) -> Option<String> {
    parts
        .headers
        .get(header::AUTHORIZATION)
        .map(|value| value.to_str().unwrap_or("Invalid").to_owned())
}

/// A call to a route that takes no credential of the caller's own (login, refresh, logout,
/// verify): the console's session cookie is not read there, so a browser that holds one
/// is neither asked for a CSRF proof nor answered as that session.
pub struct PublicCall(pub Call);

impl<S: Send + Sync> FromRequestParts<S> for PublicCall {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(Self(Call::with(parts, authorization_header(parts))))
    }
}

/// A header's value as text, `None` when absent or not text.
pub fn header_text(headers: &HeaderMap, name: &str) -> Option<String> {
    headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_owned)
}

/// The `{id}` (or `{role}`) segment of a route; the service validates it.
pub struct PathId(pub String);

impl<S: Send + Sync> FromRequestParts<S> for PathId {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        axum::extract::Path::<String>::from_request_parts(parts, state)
            .await
            .map(|p| Self(p.0))
            .map_err(|_| ApiError::bad_request("the path segment is not valid text"))
    }
}
