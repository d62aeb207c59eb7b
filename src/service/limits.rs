//! Rate-limit policies and role scopes: what Verify enforces, set by owners and admins.

use super::{Caller, Core, Resource, ServiceError, ServiceResult};
use crate::domain::FieldViolation;
use crate::domain::ids::KeyId;
use crate::domain::rate_limit::RateLimitPolicy;
use crate::domain::role::Role;
use crate::domain::scope::Scopes;
use crate::store::RateLimitTarget;

impl Core {
    /// Sets the org default (a policy is required) or a key's override (`None` removes it).
    /// Returns the policy now in force for what was addressed.
    pub async fn set_rate_limit(
        &self,
        caller: &Caller,
        target: RateLimitTarget,
        policy: Option<RateLimitPolicy>,
    ) -> ServiceResult<RateLimitPolicy> {
        caller.principal.require_admin()?;
        let org = caller.principal.org();
        if target == RateLimitTarget::Org && policy.is_none() {
            return Err(FieldViolation::new("policy", "is required for the org default").into());
        }
        self.store
            .set_rate_limit(&caller.audit(self.clock.now()), target, policy)
            .await
            .map_err(ServiceError::from_store(Resource::Key))?;
        match target {
            RateLimitTarget::Org => self.verifier.forget_org(org),
            RateLimitTarget::Key(id) => self.verifier.forget_key(id),
        }
        tracing::info!(org_id = %org, ?target, "rate limit set");
        match policy {
            Some(p) => Ok(p),
            None => Ok(self
                .store
                .get_org_rate_limit(org)
                .await?
                .flatten()
                .unwrap_or(RateLimitPolicy::DEFAULT)),
        }
    }

    /// Sets what `role` grants in the caller's org; nobody changes a role above their own.
    pub async fn set_role_scopes(&self, caller: &Caller, role: Role, scopes: Scopes) -> ServiceResult<Scopes> {
        caller.principal.require_admin()?;
        caller.principal.require_can_grant(role)?;
        self.store
            .set_role_scopes(&caller.audit(self.clock.now()), role, &scopes)
            .await?;
        self.verifier.forget_org(caller.principal.org());
        Ok(scopes)
    }
}

// Issue 9, the reads.

/// Where the policy in force comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RateLimitSource {
    /// The key's own override.
    Key,
    /// The org default an admin set.
    Org,
    /// [`RateLimitPolicy::DEFAULT`]: the org never set one.
    BuiltIn,
}

impl Core {
    /// The policy in force for a key (`Some`) or the org default (`None`). Any member reads
    /// it; an API key only for its own service account's keys, as with `get_key`.
    pub async fn get_rate_limit(
        &self,
        caller: &Caller,
        key: Option<KeyId>,
    ) -> ServiceResult<(RateLimitPolicy, RateLimitSource)> {
        if let Some(id) = key
            && let Some(policy) = self.get_key(caller, id).await?.rate_limit
        {
            return Ok((policy, RateLimitSource::Key));
        }
        let org = self.store.get_org_rate_limit(caller.principal.org()).await?.flatten();
        Ok(match org {
            Some(policy) => (policy, RateLimitSource::Org),
            None => (RateLimitPolicy::DEFAULT, RateLimitSource::BuiltIn),
        })
    }

    /// What each role grants in the caller's org, configured or by default, lowest role first.
    pub async fn list_role_scopes(&self, caller: &Caller) -> ServiceResult<Vec<(Role, Scopes)>> {
        let configured = self.store.role_scopes(caller.principal.org()).await?;
        let scopes = crate::verify::tokens::RoleScopes::with(configured);
        Ok(Role::ALL
            .into_iter()
            .map(|role| (role, scopes.of(role).clone()))
            .collect())
    }
}
