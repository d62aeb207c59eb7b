//! `gatekey.v1.KeyService`.

use super::convert::{self, Violations, api_key_to};
use super::request::caller;
use crate::domain::fields::{KeyName, Metadata};
use crate::domain::ids::{KeyId, ServiceAccountId};
use crate::domain::ip::IpAllowlist;
use crate::domain::scope::Scopes;
use crate::domain::time::UnixMs;
use crate::proto::v1 as pb;
use crate::proto::v1::key_service_server::KeyService;
use crate::service::key_pairs::IssueKeyPairInput;
use crate::service::keys::{IssueKeyInput, Rotated};
use crate::service::paging::{next_token, page_request};
use crate::service::{Core, ServiceError};
use secrecy::ExposeSecret;
use std::sync::Arc;
use std::time::Duration;
use tonic::{Request, Response, Status};

/// The KeyService handlers.
pub struct KeyApi {
    core: Arc<Core>,
}

impl KeyApi {
    pub fn new(core: Arc<Core>) -> Self {
        Self { core }
    }
}

fn key_id(raw: &str) -> Result<KeyId, ServiceError> {
    Ok(KeyId::parse("key_id", raw)?)
}

fn issue_input(r: pb::IssueKeyRequest, now: UnixMs) -> Result<IssueKeyInput, ServiceError> {
    let mut v = Violations::default();
    let service_account_id = v.check(ServiceAccountId::parse("service_account_id", &r.service_account_id));
    let name = v.check(KeyName::parse("name", &r.name));
    let kind = v.check(convert::kind_from(r.kind));
    let environment = v.check(convert::environment_from(r.environment));
    let scopes = v.check(Scopes::parse("scopes", &r.scopes));
    let ip_allowlist = v.check(IpAllowlist::parse("ip_allowlist", &r.ip_allowlist));
    let expires_at = v.check(
        r.expires_at
            .as_ref()
            .map(|t| convert::expiry_from("expires_at", t, now))
            .transpose(),
    );
    let rate_limit = v.check(
        r.rate_limit
            .as_ref()
            .map(|p| convert::policy_from("rate_limit", p))
            .transpose(),
    );
    let metadata = v.check(Metadata::parse("metadata", r.metadata.iter()));
    let input = (|| {
        Some(IssueKeyInput {
            service_account_id: service_account_id?,
            name: name?,
            kind: kind?,
            environment: environment?,
            scopes: scopes?,
            ip_allowlist: ip_allowlist?,
            expires_at: expires_at?,
            rate_limit: rate_limit?,
            metadata: metadata?,
        })
    })();
    v.finish(input)
}

fn issue_pair_input(r: pb::IssueKeyPairRequest, now: UnixMs) -> Result<IssueKeyPairInput, ServiceError> {
    let mut v = Violations::default();
    let service_account_id = v.check(ServiceAccountId::parse("service_account_id", &r.service_account_id));
    let names = v.check(KeyName::pair("name", &r.name));
    let environment = v.check(convert::environment_from(r.environment));
    let scopes = v.check(Scopes::parse("scopes", &r.scopes));
    let publishable_scopes = v.check(Scopes::parse("publishable_scopes", &r.publishable_scopes));
    let ip_allowlist = v.check(IpAllowlist::parse("ip_allowlist", &r.ip_allowlist));
    let expires_at = v.check(
        r.expires_at
            .as_ref()
            .map(|t| convert::expiry_from("expires_at", t, now))
            .transpose(),
    );
    let rate_limit = v.check(
        r.rate_limit
            .as_ref()
            .map(|p| convert::policy_from("rate_limit", p))
            .transpose(),
    );
    let metadata = v.check(Metadata::parse("metadata", r.metadata.iter()));
    let input = (|| {
        let (publishable_name, secret_name) = names?;
        Some(IssueKeyPairInput {
            service_account_id: service_account_id?,
            publishable_name,
            secret_name,
            environment: environment?,
            scopes: scopes?,
            publishable_scopes: publishable_scopes?,
            ip_allowlist: ip_allowlist?,
            expires_at: expires_at?,
            rate_limit: rate_limit?,
            metadata: metadata?,
        })
    })();
    v.finish(input)
}

/// The new and old key of a rotation, and the new secret, as RotateKeyResponse fields.
fn rotated_to(r: Option<&Rotated>, now: UnixMs) -> (Option<pb::ApiKey>, String, Option<pb::ApiKey>) {
    match r {
        Some(r) => (
            Some(api_key_to(&r.new.key, now)),
            r.new.secret.expose_secret().to_owned(),
            Some(api_key_to(&r.old, now)),
        ),
        None => (None, String::new(), None),
    }
}

#[tonic::async_trait]
impl KeyService for KeyApi {
    async fn issue_key(&self, req: Request<pb::IssueKeyRequest>) -> Result<Response<pb::IssueKeyResponse>, Status> {
        let caller = caller(&self.core, &req).await?;
        let now = self.core.clock.now();
        let input = issue_input(req.into_inner(), now)?;
        let issued = self.core.issue_key(&caller, input).await?;
        Ok(Response::new(pb::IssueKeyResponse {
            key: Some(api_key_to(&issued.key, now)),
            secret: issued.secret.expose_secret().to_owned(),
        }))
    }

    async fn list_keys(&self, req: Request<pb::ListKeysRequest>) -> Result<Response<pb::ListKeysResponse>, Status> {
        let caller = caller(&self.core, &req).await?;
        let r = req.get_ref();
        let mut v = Violations::default();
        let sa = v.check(
            (!r.service_account_id.is_empty())
                .then(|| ServiceAccountId::parse("service_account_id", &r.service_account_id))
                .transpose(),
        );
        let page = v.check(page_request(r.page_size, &r.page_token));
        let (sa, page) = v.finish(sa.zip(page))?;
        let found = self.core.list_keys(&caller, sa, page).await?;
        let now = self.core.clock.now();
        Ok(Response::new(pb::ListKeysResponse {
            keys: found.items.iter().map(|k| api_key_to(k, now)).collect(),
            next_page_token: next_token(found.next),
        }))
    }

    async fn get_key(&self, req: Request<pb::GetKeyRequest>) -> Result<Response<pb::GetKeyResponse>, Status> {
        let caller = caller(&self.core, &req).await?;
        let key = self.core.get_key(&caller, key_id(&req.get_ref().key_id)?).await?;
        Ok(Response::new(pb::GetKeyResponse {
            key: Some(api_key_to(&key, self.core.clock.now())),
        }))
    }

    async fn rotate_key(&self, req: Request<pb::RotateKeyRequest>) -> Result<Response<pb::RotateKeyResponse>, Status> {
        let caller = caller(&self.core, &req).await?;
        let r = req.get_ref();
        let mut v = Violations::default();
        let id = v.check(KeyId::parse("key_id", &r.key_id));
        let grace = v.check(
            r.grace_period
                .as_ref()
                .map(|d| convert::duration_from("grace_period", d))
                .transpose()
                .map(|g| g.unwrap_or(Duration::ZERO)),
        );
        let (id, grace) = v.finish(id.zip(grace))?;
        let done = self.core.rotate_key(&caller, id, grace).await?;
        let now = self.core.clock.now();
        let (new_key, secret, old_key) = rotated_to(Some(&done.key), now);
        let (paired_new_key, paired_secret, paired_old_key) = rotated_to(done.paired.as_ref(), now);
        Ok(Response::new(pb::RotateKeyResponse {
            new_key,
            secret,
            old_key,
            paired_new_key,
            paired_secret,
            paired_old_key,
        }))
    }

    async fn revoke_key(&self, req: Request<pb::RevokeKeyRequest>) -> Result<Response<pb::RevokeKeyResponse>, Status> {
        let caller = caller(&self.core, &req).await?;
        let key = self.core.revoke_key(&caller, key_id(&req.get_ref().key_id)?).await?;
        Ok(Response::new(pb::RevokeKeyResponse {
            key: Some(api_key_to(&key, self.core.clock.now())),
        }))
    }

    async fn delete_key(&self, req: Request<pb::DeleteKeyRequest>) -> Result<Response<pb::DeleteKeyResponse>, Status> {
        let caller = caller(&self.core, &req).await?;
        self.core.delete_key(&caller, key_id(&req.get_ref().key_id)?).await?;
        Ok(Response::new(pb::DeleteKeyResponse {}))
    }

    async fn disable_key(
        &self,
        req: Request<pb::DisableKeyRequest>,
    ) -> Result<Response<pb::DisableKeyResponse>, Status> {
        let caller = caller(&self.core, &req).await?;
        let key = self.core.disable_key(&caller, key_id(&req.get_ref().key_id)?).await?;
        Ok(Response::new(pb::DisableKeyResponse {
            key: Some(api_key_to(&key, self.core.clock.now())),
        }))
    }

    async fn enable_key(&self, req: Request<pb::EnableKeyRequest>) -> Result<Response<pb::EnableKeyResponse>, Status> {
        let caller = caller(&self.core, &req).await?;
        let key = self.core.enable_key(&caller, key_id(&req.get_ref().key_id)?).await?;
        Ok(Response::new(pb::EnableKeyResponse {
            key: Some(api_key_to(&key, self.core.clock.now())),
        }))
    }

    async fn issue_key_pair(
        &self,
        req: Request<pb::IssueKeyPairRequest>,
    ) -> Result<Response<pb::IssueKeyPairResponse>, Status> {
        let caller = caller(&self.core, &req).await?;
        let now = self.core.clock.now();
        let input = issue_pair_input(req.into_inner(), now)?;
        let pair = self.core.issue_key_pair(&caller, input).await?;
        Ok(Response::new(pb::IssueKeyPairResponse {
            pair_id: pair.pair_id.to_string(),
            publishable_key: Some(api_key_to(&pair.publishable.key, now)),
            publishable_secret: pair.publishable.secret.expose_secret().to_owned(),
            secret_key: Some(api_key_to(&pair.secret.key, now)),
            secret: pair.secret.secret.expose_secret().to_owned(),
        }))
    }
}
