//! `gatekey.v1.AuthService`.

use super::convert::{Violations, plain_text, timestamp_to};
use super::request::{caller, client_ip, user_agent};
use crate::domain::FieldViolation;
use crate::domain::fields::{Email, Password};
use crate::proto::reply::auth_service_server::AuthService;
use crate::proto::v1::{
    ChangePasswordRequest, ChangePasswordResponse, LoginRequest, LogoutRequest, LogoutResponse, RefreshRequest,
    TokenResponse,
};
use crate::service::Core;
use crate::service::auth::{LoginInput, Tokens};
use crate::sessions::refresh;
use crate::telemetry::logins;
use secrecy::{ExposeSecret, SecretString};
use std::sync::Arc;
use tonic::{Request, Response, Status};

const MAX_USER_AGENT: usize = 512;

/// The AuthService handlers.
pub struct AuthApi {
    core: Arc<Core>,
}

impl AuthApi {
    pub fn new(core: Arc<Core>) -> Self {
        Self { core }
    }
}

fn token_response(t: Tokens) -> TokenResponse {
    TokenResponse {
        access_token: t.access_token,
        refresh_token: t.refresh_token.expose_secret().to_owned(),
        access_token_expires_at: Some(timestamp_to(t.access_expires_at)),
        refresh_token_expires_at: Some(timestamp_to(t.refresh_expires_at)),
        token_type: "Bearer".to_owned(),
    }
}

/// The request's `user_agent`, or the call's `user-agent` metadata when it is empty.
fn effective_user_agent<T>(req: &Request<T>, field: &str) -> Result<String, FieldViolation> {
    let ua = if field.is_empty() {
        user_agent(req)
    } else {
        field.to_owned()
    };
    plain_text("user_agent", &ua, MAX_USER_AGENT)
}

/// The User-Agent of a refresh. One longer than any a login accepts cannot be the session's,
/// so it is a mismatch (audited by the store), not a malformed request; it reaches the store
/// as a placeholder one byte over the limit, unequal to every stored User-Agent by length.
fn refreshing_user_agent<T>(req: &Request<T>, field: &str) -> Result<String, FieldViolation> {
    let ua = if field.is_empty() {
        user_agent(req)
    } else {
        field.to_owned()
    };
    if ua.len() > MAX_USER_AGENT {
        return Ok("-".repeat(MAX_USER_AGENT + 1));
    }
    plain_text("user_agent", &ua, MAX_USER_AGENT)
}

/// Shape check only: an unknown but well-formed token is an authentication failure later.
fn refresh_token(raw: &str) -> Result<SecretString, FieldViolation> {
    if raw.is_empty() {
        return Err(FieldViolation::new("refresh_token", "is required"));
    }
    if raw.contains('\0') || raw.len() > refresh::MAX_LEN {
        return Err(FieldViolation::new("refresh_token", "is not a refresh token"));
    }
    Ok(SecretString::from(raw.to_owned()))
}

#[tonic::async_trait]
impl AuthService for AuthApi {
    async fn login(&self, req: Request<LoginRequest>) -> Result<Response<TokenResponse>, Status> {
        let mut v = Violations::default();
        let ua = v.check(effective_user_agent(&req, &req.get_ref().user_agent));
        let ip = client_ip(&req);
        let body = req.into_inner();
        let email = v.check(Email::parse("email", &body.email));
        let password = v.check(Password::presented("password", &body.password));
        let (email, password, user_agent) = match v.finish(email.zip(password).zip(ua).map(|((e, p), u)| (e, p, u))) {
            Ok(fields) => fields,
            Err(e) => {
                logins::record(Some(&e), None, &ip);
                return Err(Status::from(e));
            }
        };
        let shown_email = email.as_str().to_owned();
        let input = LoginInput {
            email,
            password,
            remember_me: body.remember_me,
            user_agent,
            client_ip: ip.clone(),
        };
        let result = self.core.login(input).await;
        logins::record(result.as_ref().err(), Some(&shown_email), &ip);
        Ok(Response::new(token_response(result?)))
    }

    async fn refresh(&self, req: Request<RefreshRequest>) -> Result<Response<TokenResponse>, Status> {
        let mut v = Violations::default();
        let ua = v.check(refreshing_user_agent(&req, &req.get_ref().user_agent));
        let token = v.check(refresh_token(&req.get_ref().refresh_token));
        let (ua, token) = v.finish(ua.zip(token))?;
        let tokens = self.core.refresh(&token, &ua, &client_ip(&req)).await?;
        Ok(Response::new(token_response(tokens)))
    }

    async fn logout(&self, req: Request<LogoutRequest>) -> Result<Response<LogoutResponse>, Status> {
        let token = refresh_token(&req.get_ref().refresh_token).map_err(crate::service::ServiceError::from)?;
        self.core.logout(&token, &client_ip(&req)).await?;
        Ok(Response::new(LogoutResponse {}))
    }

    async fn verify(
        &self,
        req: Request<crate::proto::v1::VerifyRequest>,
    ) -> Result<Response<super::reply::VerifyReply>, Status> {
        let response = super::verify::verify(&self.core.verifier, req.get_ref()).await?;
        Ok(Response::new(response))
    }

    async fn change_password(
        &self,
        req: Request<ChangePasswordRequest>,
    ) -> Result<Response<ChangePasswordResponse>, Status> {
        let caller = caller(&self.core, &req).await?;
        let r = req.get_ref();
        let mut v = Violations::default();
        let current = v.check(Password::presented("current_password", &r.current_password));
        let new = v.check(Password::new_password("new_password", &r.new_password));
        let (current, new) = v.finish(current.zip(new))?;
        let ended = self.core.change_password(&caller, current, new).await?;
        Ok(Response::new(ChangePasswordResponse {
            ended_sessions: u32::try_from(ended).unwrap_or(u32::MAX),
        }))
    }
}
