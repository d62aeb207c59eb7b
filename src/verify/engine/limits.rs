//! Rate limits as the engine applies them: the org and key policies it caches (with the
//! absence of an org remembered too) and the charge of a bucket, for Verify and for the
//! rate-limit service.

use super::Verifier;
use crate::domain::ids::{KeyId, OrgId};
use crate::domain::rate_limit::RateLimitPolicy;
use crate::domain::time::UnixMs;
use crate::ratelimit::Bucket;
use crate::verify::{RateLimitOutcome, VerifyError};

impl Verifier {
    /// Charges `cost` units of `bucket` under `policy` now: the rate-limit service's entry.
    pub async fn charge(&self, bucket: Bucket, policy: RateLimitPolicy, cost: u32) -> RateLimitOutcome {
        self.rate_limit(bucket, policy, cost, self.clock.now()).await
    }

    /// The bucket and policy Verify charges for key `key` of `org`: its override, else its
    /// org's; `None` when the org has no such key. Only keys that exist are cached, with their
    /// org, so a key id paired with another org never borrows the key's entry.
    pub async fn key_limit(&self, org: OrgId, key: KeyId) -> Result<Option<(Bucket, RateLimitPolicy)>, VerifyError> {
        let own = match self.key_limits.get(&key) {
            Some((owner, own)) if owner == org => own,
            Some(_) => return Ok(None),
            None => {
                let generation = self.generation();
                let Some(stored) = self.bounded(self.store.get_key(org, key)).await? else {
                    return Ok(None);
                };
                self.cache_if_current(
                    generation,
                    || self.key_limits.insert(key, (org, stored.rate_limit)),
                    || self.key_limits.invalidate(&key),
                );
                stored.rate_limit
            }
        };
        Ok(match own {
            Some(policy) => Some((Bucket::Key(key), policy)),
            None => self.org_limit(org).await?.map(|p| (Bucket::Org(org), p)),
        })
    }

    pub(super) async fn rate_limit(
        &self,
        bucket: Bucket,
        policy: RateLimitPolicy,
        cost: u32,
        now: UnixMs,
    ) -> RateLimitOutcome {
        let verdict = self
            .limiter
            .check(bucket, &policy, cost, now.0.saturating_mul(1_000_000))
            .await;
        RateLimitOutcome {
            bucket,
            policy,
            verdict,
        }
    }

    /// The policy of an org a credential belongs to (so it exists).
    pub(super) async fn org_policy(&self, org: OrgId) -> Result<RateLimitPolicy, VerifyError> {
        Ok(self.org_limit(org).await?.unwrap_or(RateLimitPolicy::DEFAULT))
    }

    /// The org's policy, `None` when there is no such org; cached (the absence too, so a
    /// stream of made-up org ids costs one lookup each at most once per TTL) until the change
    /// feed says it changed.
    pub async fn org_limit(&self, org: OrgId) -> Result<Option<RateLimitPolicy>, VerifyError> {
        if let Some(p) = self.org_limits.get(&org) {
            return Ok(p);
        }
        let generation = self.generation();
        let stored = self.bounded(self.store.get_org_rate_limit(org)).await?;
        let policy = stored.map(|own| own.unwrap_or(RateLimitPolicy::DEFAULT));
        self.cache_if_current(
            generation,
            || self.org_limits.insert(org, policy),
            || self.org_limits.invalidate(&org),
        );
        Ok(policy)
    }
}
