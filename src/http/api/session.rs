//! The web console's session in cookies: `gatekey_session` holds the access JWT and
//! `gatekey_refresh` the refresh token, both HttpOnly and SameSite=Strict (Secure with TLS),
//! so page script never sees a credential. A change made with the cookie must carry
//! `X-CSRF-Token`, an HMAC of the session id under a key derived from the key pepper (so it
//! survives restarts and holds across replicas), compared in constant time.

use super::ApiState;
use super::dto::Role;
use super::errors::{ApiError, ErrorBody};
use super::extract::{JsonBody, header_text};
use crate::grpc::auth::AuthApi;
use crate::proto::reply::auth_service_server::AuthService as _;
use crate::proto::v1 as pb;
use crate::service::authn::Authenticator;
use crate::service::{CallerIdentity, Core, ServiceError};
use axum::Json;
use axum::extract::{ConnectInfo, FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use subtle::ConstantTimeEq;
use utoipa::ToSchema;
use uuid::Uuid;

/// The access-token cookie.
pub const SESSION_COOKIE: &str = "gatekey_session";
/// The refresh-token cookie, sent to the session endpoints only.
pub const REFRESH_COOKIE: &str = "gatekey_refresh";
/// The header a cookie-authenticated change proves itself with.
pub const CSRF_HEADER: &str = "x-csrf-token";
const CSRF_LABEL: &[u8] = b"gatekey console csrf v1";

/// The value of cookie `name` in the request, if sent.
pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.trim())
        .filter(|v| !v.is_empty())
}

/// Mints and checks CSRF tokens.
pub struct Csrf {
    key: SecretString,
}

impl Csrf {
    /// The key is HMAC(pepper, label): the pepper itself is never used for two purposes.
    pub fn derived_from(pepper: &SecretString) -> Self {
        let key = hmac_b64(pepper.expose_secret().as_bytes(), CSRF_LABEL);
        Self {
            key: SecretString::from(key),
        }
    }

    /// The token of session `sid`.
    pub fn token(&self, sid: Uuid) -> String {
        hmac_b64(self.key.expose_secret().as_bytes(), sid.to_string().as_bytes())
    }

    /// Whether the request's `X-CSRF-Token` is the token of `sid`.
    fn check(&self, sid: Uuid, headers: &HeaderMap) -> Result<(), ApiError> {
        let presented = headers.get(CSRF_HEADER).map(HeaderValue::as_bytes).unwrap_or_default();
        let expected = self.token(sid);
        if bool::from(presented.ct_eq(expected.as_bytes())) {
            Ok(())
        } else {
            Err(ApiError::csrf())
        }
    }

    /// For a change made with the session cookie `jwt`. A signed token that no longer verifies
    /// (expired) needs no CSRF proof: the call fails authentication anyway, and says why.
    /// Anything else in the cookie (an API key planted by a sibling site, garbage) is refused
    /// outright, so the cookie can only ever carry a session.
    pub fn check_access_token(&self, core: &Core, jwt: &str, headers: &HeaderMap) -> Result<(), ApiError> {
        if let Some(sid) = core.jwt.verify(jwt).ok().and_then(|c| Uuid::parse_str(&c.sid).ok()) {
            return self.check(sid, headers);
        }
        match core.jwt.verify_signed(jwt) {
            Ok(_) => Ok(()),
            Err(_) => Err(ApiError::invalid_credential()),
        }
    }

    /// For the session endpoints, which must work with an expired access token: the token's
    /// signature names the session; without a signed token there is nothing to prove.
    fn check_session(&self, core: &Core, headers: &HeaderMap) -> Result<(), ApiError> {
        let sid = signed_session(core, headers).ok_or_else(ApiError::csrf)?;
        self.check(sid, headers)
    }
}

/// The session id the cookie's token names, if the token carries our signature (expired or not).
fn signed_session(core: &Core, headers: &HeaderMap) -> Option<Uuid> {
    cookie(headers, SESSION_COOKIE)
        .and_then(|jwt| core.jwt.verify_signed(jwt).ok())
        .and_then(|c| Uuid::parse_str(&c.sid).ok())
}

fn hmac_b64(key: &[u8], message: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(crate::domain::key_format::hmac_sha256(key, message))
}

/// The console's login form.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ConsoleLogin {
    #[serde(default)]
    #[schema(required = true, format = Email)]
    pub email: String,
    #[serde(default)]
    #[schema(required = true)]
    pub password: String,
}

/// Who is logged in, and the CSRF token their changes carry.
#[derive(Debug, Serialize, ToSchema)]
pub struct ConsoleSession {
    pub csrf_token: String,
    pub user: SessionUser,
}

/// The logged-in user.
#[derive(Debug, Serialize, ToSchema)]
pub struct SessionUser {
    pub id: String,
    pub email: String,
    pub role: Role,
    pub org_id: String,
}

/// The peer and User-Agent of a session call, with no credential (the cookies are read
/// explicitly, and a login must not trip over an old session's CSRF rule).
pub struct Browser {
    peer: Option<SocketAddr>,
    user_agent: Option<String>,
}

impl<S: Send + Sync> FromRequestParts<S> for Browser {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(Self {
            peer: parts.extensions.get::<ConnectInfo<SocketAddr>>().map(|c| c.0),
            user_agent: header_text(&parts.headers, header::USER_AGENT.as_str()),
        })
    }
}

impl Browser {
    fn request<T>(&self, message: T) -> tonic::Request<T> {
        let mut req = tonic::Request::new(message);
        if let Some(ua) = self
            .user_agent
            .as_deref()
            .and_then(|v| tonic::metadata::MetadataValue::try_from(v).ok())
        {
            req.metadata_mut().insert("user-agent", ua);
        }
        req.extensions_mut().insert(tonic::transport::server::TcpConnectInfo {
            local_addr: None,
            remote_addr: self.peer,
        });
        req
    }
}

/// Logs in and sets both cookies.
#[utoipa::path(post, path = "/console/session", tag = "console", request_body = ConsoleLogin,
    responses((status = 200, body = ConsoleSession), (status = "4XX", body = ErrorBody), (status = "5XX", body = ErrorBody)))]
pub async fn login(
    State(state): State<ApiState>,
    browser: Browser,
    JsonBody(body): JsonBody<ConsoleLogin>,
) -> Result<Response, ApiError> {
    let tokens = state
        .auth
        .login(browser.request(pb::LoginRequest {
            email: body.email,
            password: body.password,
            remember_me: false,
            user_agent: String::new(),
        }))
        .await?
        .into_inner();
    established(&state, tokens).await
}

/// The session of the cookie, with its CSRF token (a reloaded page recovers it here). When the
/// access token has expired, the 401 carries the CSRF token of its still-signed session in
/// `X-CSRF-Token`, so that a reloaded page can ask for a refresh; a same-origin script reads
/// it, another site cannot.
#[utoipa::path(get, path = "/console/session", tag = "console",
    responses((status = 200, body = ConsoleSession),
        (status = 401, body = ErrorBody, headers(("x-csrf-token" = String, description = "the CSRF token of an expired but refreshable session"))),
        (status = "4XX", body = ErrorBody), (status = "5XX", body = ErrorBody)))]
pub async fn current(State(state): State<ApiState>, headers: HeaderMap) -> Response {
    let jwt = cookie(&headers, SESSION_COOKIE);
    let error = match session_of(&state, jwt).await {
        Ok(session) => return Json(session).into_response(),
        Err(error) => error,
    };
    let expired = error.body.error.code == "CREDENTIAL_EXPIRED";
    let mut response = error.into_response();
    if let Some(sid) = signed_session(&state.core, &headers).filter(|_| expired)
        && let Ok(token) = HeaderValue::from_str(&state.csrf.token(sid))
    {
        response.headers_mut().insert(CSRF_HEADER, token);
    }
    response
}

/// Rotates the refresh token and re-sets both cookies.
#[utoipa::path(post, path = "/console/session/refresh", tag = "console",
    responses((status = 200, body = ConsoleSession), (status = "4XX", body = ErrorBody), (status = "5XX", body = ErrorBody)))]
pub async fn refresh(
    State(state): State<ApiState>,
    browser: Browser,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    state.csrf.check_session(&state.core, &headers)?;
    let token = cookie(&headers, REFRESH_COOKIE).unwrap_or_default().to_owned();
    let tokens = state
        .auth
        .refresh(browser.request(pb::RefreshRequest {
            refresh_token: token,
            user_agent: String::new(),
        }))
        .await?
        .into_inner();
    established(&state, tokens).await
}

/// Logs out (the refresh token is revoked) and clears both cookies.
#[utoipa::path(delete, path = "/console/session", tag = "console",
    responses((status = 204), (status = "4XX", body = ErrorBody), (status = "5XX", body = ErrorBody)))]
pub async fn logout(State(state): State<ApiState>, browser: Browser, headers: HeaderMap) -> Result<Response, ApiError> {
    state.csrf.check_session(&state.core, &headers)?;
    if let Some(token) = cookie(&headers, REFRESH_COOKIE) {
        let request = browser.request(pb::LogoutRequest {
            refresh_token: token.to_owned(),
        });
        if let Err(status) = AuthApi::logout(&state.auth, request).await {
            let mut response = ApiError::from(status).into_response();
            clear_cookies(&state, response.headers_mut());
            return Ok(response);
        }
    }
    let mut response = StatusCode::NO_CONTENT.into_response();
    clear_cookies(&state, response.headers_mut());
    Ok(response)
}

/// The answer to a login or refresh: the session, with both cookies set.
async fn established(state: &ApiState, tokens: pb::TokenResponse) -> Result<Response, ApiError> {
    let session = session_of(state, Some(&tokens.access_token)).await?;
    let max_age = tokens
        .refresh_token_expires_at
        .as_ref()
        .map_or(0, |t| t.seconds.saturating_sub(state.core.clock.now().0 / 1000).max(0));
    let mut response = Json(session).into_response();
    let headers = response.headers_mut();
    set_cookie(state, headers, SESSION_COOKIE, &tokens.access_token, "/", max_age);
    set_cookie(
        state,
        headers,
        REFRESH_COOKIE,
        &tokens.refresh_token,
        "/console/session",
        max_age,
    );
    Ok(response)
}

/// Authenticates `jwt` as the services do and describes its user.
async fn session_of(state: &ApiState, jwt: Option<&str>) -> Result<ConsoleSession, ApiError> {
    let status = |e: ServiceError| ApiError::from(tonic::Status::from(e));
    let identity = Authenticator::new(&state.core)
        .authenticate(jwt)
        .await
        .map_err(status)?;
    let CallerIdentity::User { id, org, session, .. } = identity else {
        // An API key is no console session.
        return Err(status(ServiceError::Unauthenticated(
            crate::service::AuthFailure::InvalidCredential,
        )));
    };
    let user = state
        .core
        .store
        .get_member(org, id)
        .await
        .map_err(|e| status(e.into()))?
        .ok_or_else(|| {
            status(ServiceError::Unauthenticated(
                crate::service::AuthFailure::InvalidCredential,
            ))
        })?;
    Ok(ConsoleSession {
        csrf_token: state.csrf.token(session.0),
        user: SessionUser {
            id: user.id.to_string(),
            email: user.email,
            role: Role::from_proto(crate::grpc::convert::role_to(user.role) as i32).unwrap_or(Role::Member),
            org_id: user.org_id.to_string(),
        },
    })
}

fn set_cookie(state: &ApiState, headers: &mut HeaderMap, name: &str, value: &str, path: &str, max_age: i64) {
    let secure = if state.secure_cookies { "; Secure" } else { "" };
    let line = format!("{name}={value}; Path={path}; Max-Age={max_age}; HttpOnly; SameSite=Strict{secure}");
    if let Ok(v) = HeaderValue::from_str(&line) {
        headers.append(header::SET_COOKIE, v);
    }
}

fn clear_cookies(state: &ApiState, headers: &mut HeaderMap) {
    set_cookie(state, headers, SESSION_COOKIE, "", "/", 0);
    set_cookie(state, headers, REFRESH_COOKIE, "", "/console/session", 0);
}
