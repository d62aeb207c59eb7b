//! What handlers read from a call besides its message: credential, client address, user agent.

use crate::domain::credential::Authorization;
use crate::service::authn::Authenticator;
use crate::service::{AuthFailure, Caller, Core, ServiceError};
use tonic::Request;

/// The credential after `Bearer `, `None` when the header is absent. A header in any other
/// scheme is an invalid credential, not a missing one.
pub fn bearer<T>(req: &Request<T>) -> Result<Option<&str>, ServiceError> {
    let Some(value) = req.metadata().get("authorization") else {
        return Ok(None);
    };
    let value = value
        .to_str()
        .map_err(|_| ServiceError::Unauthenticated(AuthFailure::InvalidCredential))?;
    match Authorization::parse(value) {
        Authorization::Bearer(token) => Ok(Some(token)),
        Authorization::Bare(_) | Authorization::Other | Authorization::Empty => {
            Err(ServiceError::Unauthenticated(AuthFailure::InvalidCredential))
        }
    }
}

/// The peer's IP address as text, empty when unknown.
pub fn client_ip<T>(req: &Request<T>) -> String {
    req.remote_addr().map(|a| a.ip().to_string()).unwrap_or_default()
}

/// The `user-agent` metadata, empty when absent.
pub fn user_agent<T>(req: &Request<T>) -> String {
    req.metadata()
        .get("user-agent")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned()
}

/// Authenticates the call's bearer credential.
pub async fn caller<T>(core: &Core, req: &Request<T>) -> Result<Caller, ServiceError> {
    let principal = Authenticator::new(core).authenticate(bearer(req)?).await?;
    // For the admin-call accounting: who a refusal refused.
    if let Some(slot) = req.extensions().get::<crate::telemetry::admin::ActorSlot>() {
        slot.set(principal.actor().to_string());
    }
    Ok(Caller {
        principal,
        client_ip: client_ip(req),
    })
}
