//! Key pairs: a publishable (`pk_`) and a secret (`sk_`) key issued together under one pair
//! id. Rotating either key rotates the pair (see `Core::rotate_key`); revoking, disabling or
//! deleting one key acts on that key alone.

use super::keys::{IssueKeyInput, IssuedKey, check_publishable_scopes};
use super::{Caller, Core, ServiceError, ServiceResult};
use crate::domain::api_key::{ApiKey, KeyStatus};
use crate::domain::fields::{KeyName, Metadata};
use crate::domain::ids::{KeyPairId, ServiceAccountId};
use crate::domain::ip::IpAllowlist;
use crate::domain::key_format::{Environment, KeyKind};
use crate::domain::rate_limit::RateLimitPolicy;
use crate::domain::scope::Scopes;
use crate::domain::time::UnixMs;
use crate::store::Precondition;

/// A validated IssueKeyPair request. Both keys share everything but their names, kinds and
/// scopes.
#[derive(Debug)]
pub struct IssueKeyPairInput {
    pub service_account_id: ServiceAccountId,
    /// `<name> (publishable)`, see [`KeyName::pair`].
    pub publishable_name: KeyName,
    /// `<name> (secret)`.
    pub secret_name: KeyName,
    pub environment: Environment,
    /// The secret key's scopes.
    pub scopes: Scopes,
    /// The publishable key's scopes; read scopes only.
    pub publishable_scopes: Scopes,
    pub ip_allowlist: IpAllowlist,
    pub expires_at: Option<UnixMs>,
    pub rate_limit: Option<RateLimitPolicy>,
    pub metadata: Metadata,
}

/// Both keys of a new pair, each with its secret, returned this once.
#[derive(Debug)]
pub struct IssuedPair {
    pub pair_id: KeyPairId,
    pub publishable: IssuedKey,
    pub secret: IssuedKey,
}

impl Core {
    /// Issues both keys in one transaction (two `service_account.key_issued` events, each
    /// naming the pair), so a pair is never half there.
    pub async fn issue_key_pair(&self, caller: &Caller, input: IssueKeyPairInput) -> ServiceResult<IssuedPair> {
        caller.principal.require_admin()?;
        check_publishable_scopes("publishable_scopes", &input.publishable_scopes)?;
        let now = self.clock.now();
        let sa = self
            .issuing_account(caller, input.service_account_id, input.expires_at, now)
            .await?;
        let pair_id = KeyPairId::generate();
        let half = |kind, name, scopes| IssueKeyInput {
            service_account_id: sa.id,
            name,
            kind,
            environment: input.environment,
            scopes,
            ip_allowlist: input.ip_allowlist.clone(),
            expires_at: input.expires_at,
            rate_limit: input.rate_limit,
            metadata: input.metadata.clone(),
        };
        let publishable = half(
            KeyKind::Publishable,
            input.publishable_name.clone(),
            input.publishable_scopes.clone(),
        );
        let secret = half(KeyKind::Secret, input.secret_name.clone(), input.scopes.clone());
        let (pk, pk_secret) = self.prepare_key(caller, &sa, publishable, Some(pair_id), now);
        let (sk, sk_secret) = self.prepare_key(caller, &sa, secret, Some(pair_id), now);
        self.store.insert_key_pair(&caller.audit(now), &pk, &sk).await?;
        tracing::info!(%pair_id, publishable_key_id = %pk.key.id, secret_key_id = %sk.key.id, "issued key pair");
        Ok(IssuedPair {
            pair_id,
            publishable: IssuedKey {
                key: pk.key,
                secret: pk_secret,
            },
            secret: IssuedKey {
                key: sk.key,
                secret: sk_secret,
            },
        })
    }

    /// The key a rotation of `key` must rotate with it: the newest key of the other kind in
    /// its pair. `None` when that key is revoked or expired (it is gone for good, so `key` is
    /// rotated alone); `KeyNotRotatable` when it is disabled.
    pub(super) async fn pair_partner(&self, key: &ApiKey, pair: KeyPairId) -> ServiceResult<Option<ApiKey>> {
        let keys = self.store.list_pair_keys(key.org_id, pair).await?;
        let partner = keys.into_iter().rev().find(|k| k.kind != key.kind && k.id != key.id);
        let Some(partner) = partner else { return Ok(None) };
        match partner.status(self.clock.now()) {
            KeyStatus::Active => Ok(Some(partner)),
            KeyStatus::Revoked | KeyStatus::Expired => Ok(None),
            KeyStatus::Disabled => Err(ServiceError::FailedPrecondition(Precondition::KeyNotRotatable)),
        }
    }
}
