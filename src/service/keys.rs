//! The API-key lifecycle: issue, list, get, rotate, revoke, disable, enable, delete. Pairs are
//! in `key_pairs`.

use super::{Caller, CallerIdentity, Core, Resource, ServiceError, ServiceResult};
use crate::domain::FieldViolation;
use crate::domain::api_key::{ApiKey, KeyRotation, NewKey, future_expiry};
use crate::domain::fields::{KeyName, Metadata};
use crate::domain::ids::{KeyId, KeyPairId, ServiceAccountId};
use crate::domain::ip::IpAllowlist;
use crate::domain::key_format::{self, Environment, KeyKind};
use crate::domain::rate_limit::RateLimitPolicy;
use crate::domain::scope::Scopes;
use crate::domain::time::UnixMs;
use crate::service::Denial;
use crate::store::{Page, PageRequest, ServiceAccount};
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

/// A rotated key: its replacement (with the secret) and the old key as it now stands.
#[derive(Debug)]
pub struct Rotated {
    pub new: IssuedKey,
    pub old: ApiKey,
}

/// What RotateKey did: the key asked for, and the other key of its pair when it was rotated
/// with it.
#[derive(Debug)]
pub struct RotatedKeys {
    pub key: Rotated,
    pub paired: Option<Rotated>,
}

/// A publishable key carries read scopes only; `field` names the request field that holds them.
pub(super) fn check_publishable_scopes(field: &str, scopes: &Scopes) -> Result<(), FieldViolation> {
    if scopes.all_read_only() {
        return Ok(());
    }
    Err(FieldViolation::new(
        field,
        "a publishable key may carry only read scopes (ending in `.read` or `:read`)",
    ))
}

impl Core {
    pub async fn issue_key(&self, caller: &Caller, input: IssueKeyInput) -> ServiceResult<IssuedKey> {
        caller.principal.require_admin()?;
        let now = self.clock.now();
        if input.kind == KeyKind::Publishable {
            check_publishable_scopes("scopes", &input.scopes)?;
        }
        let sa = self
            .issuing_account(caller, input.service_account_id, input.expires_at, now)
            .await?;
        let (new, secret) = self.prepare_key(caller, &sa, input, None, now);
        self.store.insert_key(&caller.audit(now), &new).await?;
        tracing::info!(key_id = %new.key.id, key_prefix = %new.key.display_prefix(), "issued API key");
        Ok(IssuedKey { key: new.key, secret })
    }

    /// The service account a new key is issued for, once the expiry is known to be in the
    /// future and the caller may grant the account's role.
    pub(super) async fn issuing_account(
        &self,
        caller: &Caller,
        id: ServiceAccountId,
        expires_at: Option<UnixMs>,
        now: UnixMs,
    ) -> ServiceResult<ServiceAccount> {
        if let Some(at) = expires_at {
            future_expiry("expires_at", at, now)?;
        }
        let sa = self
            .store
            .get_service_account(caller.principal.org(), id)
            .await?
            .ok_or(ServiceError::NotFound(Resource::ServiceAccount))?;
        caller.principal.require_can_grant(sa.role)?;
        Ok(sa)
    }

    /// A new key of `sa` as `input` describes it, with its secret; nothing is stored yet.
    pub(super) fn prepare_key(
        &self,
        caller: &Caller,
        sa: &ServiceAccount,
        input: IssueKeyInput,
        pair_id: Option<KeyPairId>,
        now: UnixMs,
    ) -> (NewKey, SecretString) {
        let generated = key_format::generate(input.kind, input.environment);
        let key = ApiKey {
            id: KeyId::generate(),
            org_id: sa.org_id,
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
            pair_id,
            disabled_at: None,
        };
        (self.new_key(key, &generated), generated.secret().clone())
    }

    fn new_key(&self, key: ApiKey, generated: &key_format::ParsedKey) -> NewKey {
        NewKey {
            hash: key_format::keyed_hash(&self.key_pepper, generated.secret()),
            pepper_version: self.key_pepper_version,
            key,
        }
    }

    /// Any member lists its org's keys, or one service account's: an account the org never
    /// had (foreign or made up) is NOT_FOUND, while a deleted one still lists its revoked keys.
    /// An API key lists only its own service account's.
    pub async fn list_keys(
        &self,
        caller: &Caller,
        service_account: Option<ServiceAccountId>,
        page: PageRequest,
    ) -> ServiceResult<Page<ApiKey>> {
        let org = caller.principal.org();
        let (filter, named) = match caller.principal {
            CallerIdentity::Key {
                service_account: own, ..
            } => match service_account {
                Some(other) if other != own => {
                    return Err(ServiceError::PermissionDenied(Denial::ApiKeyNotAllowed));
                }
                _ => (Some(own), None),
            },
            CallerIdentity::User { .. } => (service_account, service_account),
        };
        let first_page = page.after.is_none();
        let found = self.store.list_keys(org, filter, page).await?;
        // Only an empty first page can mean "no such account": one with keys exists or existed.
        // A deleted account without keys answers NOT_FOUND too; nothing of it is left to list.
        if let Some(id) = named
            && first_page
            && found.items.is_empty()
            && self.store.get_service_account(org, id).await?.is_none()
        {
            return Err(ServiceError::NotFound(Resource::ServiceAccount));
        }
        Ok(found)
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
    /// (`grace` zero) or at `now + grace`, never later than its own expiry. A key of a pair is
    /// rotated with the other key of its pair, in one transaction, unless that one is revoked
    /// or expired; a disabled key, or one whose partner is disabled, is not rotatable (the
    /// replacement would silently lift the suspension).
    pub async fn rotate_key(&self, caller: &Caller, id: KeyId, grace: Duration) -> ServiceResult<RotatedKeys> {
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
        let partner = match old.pair_id {
            Some(pair) => self.pair_partner(&old, pair).await?,
            None => None,
        };
        let (rotation, secret) = self.replacement(caller, &old, grace, now);
        let ctx = caller.audit(now);
        let done = match partner {
            None => {
                let (new, old) = self
                    .store
                    .rotate_key(&ctx, id, &rotation.new, rotation.old_expires_at)
                    .await
                    .map_err(ServiceError::from_store(Resource::Key))?;
                RotatedKeys {
                    key: Rotated {
                        new: IssuedKey { key: new, secret },
                        old,
                    },
                    paired: None,
                }
            }
            Some(partner) => {
                let (paired_rotation, paired_secret) = self.replacement(caller, &partner, grace, now);
                let [(new, old), (paired_new, paired_old)] = self
                    .store
                    .rotate_key_pair(&ctx, &rotation, &paired_rotation)
                    .await
                    .map_err(ServiceError::from_store(Resource::Key))?;
                RotatedKeys {
                    key: Rotated {
                        new: IssuedKey { key: new, secret },
                        old,
                    },
                    paired: Some(Rotated {
                        new: IssuedKey {
                            key: paired_new,
                            secret: paired_secret,
                        },
                        old: paired_old,
                    }),
                }
            }
        };
        for r in std::iter::once(&done.key).chain(&done.paired) {
            self.verifier.forget_key(r.old.id);
            tracing::info!(old_key_id = %r.old.id, new_key_id = %r.new.key.id, "rotated API key");
        }
        Ok(done)
    }

    /// The replacement of `old` (same policy, pair and service account, a new secret) and how
    /// `old` ends.
    fn replacement(&self, caller: &Caller, old: &ApiKey, grace: Duration, now: UnixMs) -> (KeyRotation, SecretString) {
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
            disabled_at: None,
            ..old.clone()
        };
        let old_expires_at = (!grace.is_zero()).then(|| {
            let end = now.plus(grace);
            old.expires_at.map_or(end, |own| own.min(end))
        });
        let rotation = KeyRotation {
            old: old.id,
            new: self.new_key(key, &generated),
            old_expires_at,
        };
        (rotation, generated.secret().clone())
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

    /// Suspends a key until [`Core::enable_key`]: Verify answers DISABLED at once on this
    /// replica and, through the change feed, on every other. Repeating it returns the key as
    /// it is. Any kind of key; never one whose role is above the caller's own.
    pub async fn disable_key(&self, caller: &Caller, id: KeyId) -> ServiceResult<ApiKey> {
        let key = self.manageable_key(caller, id).await?;
        let key = self
            .store
            .disable_key(&caller.audit(self.clock.now()), key.id)
            .await
            .map_err(ServiceError::from_store(Resource::Key))?;
        self.verifier.forget_key(key.id);
        tracing::info!(key_id = %key.id, key_prefix = %key.display_prefix(), "disabled API key");
        Ok(key)
    }

    /// Lifts a suspension; repeating it returns the key as it is.
    pub async fn enable_key(&self, caller: &Caller, id: KeyId) -> ServiceResult<ApiKey> {
        let key = self.manageable_key(caller, id).await?;
        let key = self
            .store
            .enable_key(&caller.audit(self.clock.now()), key.id)
            .await
            .map_err(ServiceError::from_store(Resource::Key))?;
        // A replica that cached the disabled key would otherwise deny it until the entry ages out.
        self.verifier.forget_key(key.id);
        tracing::info!(key_id = %key.id, key_prefix = %key.display_prefix(), "enabled API key");
        Ok(key)
    }

    /// A key of the caller's org that the caller (an owner or admin) may manage: not one
    /// acting with a role above the caller's own.
    async fn manageable_key(&self, caller: &Caller, id: KeyId) -> ServiceResult<ApiKey> {
        caller.principal.require_admin()?;
        let key = self
            .store
            .get_key(caller.principal.org(), id)
            .await?
            .ok_or(ServiceError::NotFound(Resource::Key))?;
        caller.principal.require_can_grant(key.role)?;
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
