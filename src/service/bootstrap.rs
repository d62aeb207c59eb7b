//! Creating an org and its first owner, for `gatekey bootstrap`.

use super::{ServiceError, ServiceResult};
use crate::domain::fields::{Email, Name, Password};
use crate::domain::ids::{OrgId, UserId};
use crate::domain::role::Role;
use crate::domain::time::SharedClock;
use crate::sessions::password::PasswordHasher;
use crate::store::{NewUser, Org, SharedStore};

/// Ids of what bootstrap created.
#[derive(Debug, Clone, Copy)]
pub struct Bootstrapped {
    pub org_id: OrgId,
    pub user_id: UserId,
}

/// Creates `org` with `email` as its owner; refuses a taken org name or email.
pub async fn bootstrap(
    store: &SharedStore,
    clock: &SharedClock,
    org: Name,
    email: Email,
    password: Password,
) -> ServiceResult<Bootstrapped> {
    let hasher = PasswordHasher::new().await.map_err(ServiceError::Internal)?;
    let password_hash = hasher.hash(&password).await.map_err(ServiceError::Internal)?;
    let now = clock.now();
    let org = Org {
        id: OrgId::generate(),
        name: org,
        created_at: now,
    };
    let owner = NewUser {
        id: UserId::generate(),
        org_id: org.id,
        email,
        password_hash,
        role: Role::Owner,
        created_at: now,
    };
    store.create_org_with_owner(&org, &owner).await?;
    Ok(Bootstrapped {
        org_id: org.id,
        user_id: owner.id,
    })
}
