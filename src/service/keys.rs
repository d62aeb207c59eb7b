//! The API-key lifecycle: issue, list, get, rotate, revoke, delete.

use super::{Caller, CallerIdentity, Core, Resource, ServiceError, ServiceResult};
use crate::domain::FieldViolation;
use crate::domain::api_key::{ApiKey, NewKey};
use crate::domain::fields::{KeyName, Metadata};
use crate::domain::ids::{KeyId, ServiceAccountId};
use crate::domain::ip::IpAllowlist;
use crate::domain::key_format::{self, Environment, KeyKind};
use crate::domain::rate_limit::RateLimitPolicy;
use crate::domain::scope::Scopes;
use crate::domain::time::UnixMs;
use crate::service::Denial;
use crate::store::{Page, PageRequest};
use secrecy::SecretString;
use std::time::Duration;

/// Longest grace period a rotation may leave the old key valid for.
pub const MAX_GRACE: Duration = Duration::from_secs(30 * 86_400);

/// A validated IssueKey request.
#[derive(Debug)]
pub struct IssueKeyInput {
    pub service_account_id: ServiceAccountId,
    pub name: KeyName,
    pub kind: KeyKind,
    pub environment: Environment,
    pub scopes: Scopes,
    pub ip_allowlist: IpAllowlist,
    pub expires_at: Option<UnixMs>,
    pub rate_limit: Option<RateLimitPolicy>,
    pub metadata: Metadata,
}

/// A key and its secret, which is returned this once and never stored.
pub struct IssuedKey {
    pub key: ApiKey,
    pub secret: SecretString,
}

impl std::fmt::Debug for IssuedKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "IssuedKey({})", self.key.display_prefix())
    }
}

impl Core {
    pub async fn issue_key(&self, caller: &Caller, input: IssueKeyInput) -> ServiceResult<IssuedKey> {
        caller.principal.require_admin()?;
        let org = caller.principal.org();
        let now = self.clock.now();
        if input.kind == KeyKind::Publishable && !input.scopes.all_read_only() {
            return Err(FieldViolation::new(
                "scopes",
                "a publishable key may carry only read scopes (ending in `.read` or `:read`)",
            )
            .into());
        }
        if input.expires_at.is_some_and(|t| t <= now) {
            return Err(FieldViolation::new("expires_at", "must be in the future").into());
        }
        let sa = self
            .store
            .get_service_account(org, input.service_account_id)
            .await?
            .ok_or(ServiceError::NotFound(Resource::ServiceAccount))?;
        caller.principal.require_can_grant(sa.role)?;
        let generated = key_format::generate(input.kind, input.environment);
        let key = ApiKey {
            id: KeyId::generate(),
            org_id: org,
            service_account_id: sa.id,
            name: input.name,
            kind: input.kind,
            environment: input.environment,
            prefix: generated.prefix.to_owned(),
            start: generated.start.clone(),
            role: sa.role,
            scopes: input.scopes,
            ip_allowlist: input.ip_allowlist,
            expires_at: input.expires_at,
            rate_limit: input.rate_limit,
            metadata: input.metadata,
            created_at: now,
            created_by: caller.principal.actor(),
            last_used_at: None,
            revoked_at: None,
            revoked_by: None,
            rotated_from: None,
        };
        let new = self.new_key(key, &generated);
        self.store.insert_key(&caller.audit(now), &new).await?;
        tracing::info!(key_id = %new.key.id, key_prefix = %new.key.display_prefix(), "issued API key");
        Ok(IssuedKey {
            key: new.key,
            secret: generated.secret().clone(),
        })
    }

    fn new_key(&self, key: ApiKey, generated: &key_format::ParsedKey) -> NewKey {
        NewKey {
            hash: key_format::keyed_hash(&self.key_pepper, generated.secret()),
            pepper_version: self.key_pepper_version,
            key,
        }
    }

    /// Any member lists its org's keys; an API key lists only its own service account's.
    pub async fn list_keys(
        &self,
        caller: &Caller,
        service_account: Option<ServiceAccountId>,
        page: PageRequest,
    ) -> ServiceResult<Page<ApiKey>> {
        let filter = match caller.principal {
            CallerIdentity::Key {
                service_account: own, ..
            } => match service_account {
                Some(other) if other != own => {
                    return Err(ServiceError::PermissionDenied(Denial::ApiKeyNotAllowed));
                }
                _ => Some(own),
            },
            CallerIdentity::User { .. } => service_account,
        };
        Ok(self.store.list_keys(caller.principal.org(), filter, page).await?)
    }

    /// A key of the caller's org; for an API key caller, only its own service account's keys
    /// exist.
    pub async fn get_key(&self, caller: &Caller, id: KeyId) -> ServiceResult<ApiKey> {
        let key = self.store.get_key(caller.principal.org(), id).await?;
        let visible = key.filter(|k| match caller.principal {
            CallerIdentity::Key { service_account, .. } => k.service_account_id == service_account,
            CallerIdentity::User { .. } => true,
        });
        visible.ok_or(ServiceError::NotFound(Resource::Key))
    }

    /// Issues a replacement that copies the old key's policy, and retires the old key at once
    /// (`grace` zero) or at `now + grace`, never later than its own expiry.
    pub async fn rotate_key(&self, caller: &Caller, id: KeyId, grace: Duration) -> ServiceResult<(IssuedKey, ApiKey)> {
        caller.principal.require_admin()?;
        if grace > MAX_GRACE {
            return Err(FieldViolation::new("grace_period", "must be at most 30 days").into());
        }
        let now = self.clock.now();
        let old = self
            .store
            .get_key(caller.principal.org(), id)
            .await?
            .ok_or(ServiceError::NotFound(Resource::Key))?;
        caller.principal.require_can_grant(old.role)?;
        let generated = key_format::generate(old.kind, old.environment);
        let key = ApiKey {
            id: KeyId::generate(),
            name: old.name.rotated(&now.yymmdd()),
            prefix: generated.prefix.to_owned(),
            start: generated.start.clone(),
            created_at: now,
            created_by: caller.principal.actor(),
            last_used_at: None,
            revoked_at: None,
            revoked_by: None,
            rotated_from: Some(old.id),
            ..old.clone()
        };
        let old_expires_at = (!grace.is_zero()).then(|| {
            let end = now.plus(grace);
            old.expires_at.map_or(end, |own| own.min(end))
        });
        let new = self.new_key(key, &generated);
        let (new_key, old_key) = self
            .store
            .rotate_key(&caller.audit(now), id, &new, old_expires_at)
            .await
            .map_err(ServiceError::from_store(Resource::Key))?;
        self.verifier.forget_key(old_key.id);
        tracing::info!(old_key_id = %old_key.id, new_key_id = %new_key.id, "rotated API key");
        Ok((
            IssuedKey {
                key: new_key,
                secret: generated.secret().clone(),
            },
            old_key,
        ))
    }

    /// Instant and irreversible; repeating it returns the key as revoked the first time.
    pub async fn revoke_key(&self, caller: &Caller, id: KeyId) -> ServiceResult<ApiKey> {
        caller.principal.require_admin()?;
        let key = self
            .store
            .revoke_key(&caller.audit(self.clock.now()), id)
            .await
            .map_err(ServiceError::from_store(Resource::Key))?;
        self.verifier.forget_key(key.id);
        tracing::info!(key_id = %key.id, key_prefix = %key.display_prefix(), "revoked API key");
        Ok(key)
    }

    /// Deletes a revoked key; its audit history stays.
    pub async fn delete_key(&self, caller: &Caller, id: KeyId) -> ServiceResult<()> {
        caller.principal.require_admin()?;
        self.store
            .delete_key(&caller.audit(self.clock.now()), id)
            .await
            .map_err(ServiceError::from_store(Resource::Key))?;
        self.verifier.forget_key(id);
        tracing::info!(key_id = %id, "deleted API key");
        Ok(())
    }
}
