//! `gatekey.v1.AdminService`.

use super::convert::{self, Violations, audit_entry_to, service_account_to, user_to};
use super::request::caller;
use crate::domain::fields::{Email, Name, Password};
use crate::domain::ids::{KeyId, ServiceAccountId, UserId};
use crate::domain::scope::Scopes;
use crate::proto::v1 as pb;
use crate::proto::v1::admin_service_server::AdminService;
use crate::service::paging::{next_token, page_request};
use crate::service::{Core, ServiceError};
use crate::store::{AuditFilter, RateLimitTarget};
use std::sync::Arc;
use tonic::{Request, Response, Status};

/// The AdminService handlers.
pub struct AdminApi {
    core: Arc<Core>,
}

impl AdminApi {
    pub fn new(core: Arc<Core>) -> Self {
        Self { core }
    }
}

#[tonic::async_trait]
impl AdminService for AdminApi {
    async fn create_service_account(
        &self,
        req: Request<pb::CreateServiceAccountRequest>,
    ) -> Result<Response<pb::CreateServiceAccountResponse>, Status> {
        let caller = caller(&self.core, &req).await?;
        let r = req.get_ref();
        let mut v = Violations::default();
        let name = v.check(Name::parse("name", &r.name));
        let role = v.check(convert::role_from("role", r.role));
        let (name, role) = v.finish(name.zip(role))?;
        let sa = self.core.create_service_account(&caller, name, role).await?;
        Ok(Response::new(pb::CreateServiceAccountResponse {
            service_account: Some(service_account_to(&sa)),
        }))
    }

    async fn list_service_accounts(
        &self,
        req: Request<pb::ListServiceAccountsRequest>,
    ) -> Result<Response<pb::ListServiceAccountsResponse>, Status> {
        let caller = caller(&self.core, &req).await?;
        let r = req.get_ref();
        let page = page_request(r.page_size, &r.page_token).map_err(ServiceError::from)?;
        let found = self.core.list_service_accounts(&caller, page).await?;
        Ok(Response::new(pb::ListServiceAccountsResponse {
            service_accounts: found.items.iter().map(service_account_to).collect(),
            next_page_token: next_token(found.next),
        }))
    }

    async fn create_user(
        &self,
        req: Request<pb::CreateUserRequest>,
    ) -> Result<Response<pb::CreateUserResponse>, Status> {
        let caller = caller(&self.core, &req).await?;
        let r = req.get_ref();
        let mut v = Violations::default();
        let email = v.check(Email::parse("email", &r.email));
        let password = v.check(Password::new_password("password", &r.password));
        let role = v.check(convert::role_from("role", r.role));
        let (email, password, role) = v.finish(email.zip(password).zip(role).map(|((e, p), r)| (e, p, r)))?;
        let user = self.core.create_user(&caller, email, password, role).await?;
        Ok(Response::new(pb::CreateUserResponse {
            user: Some(user_to(&user)),
        }))
    }

    async fn list_audit_events(
        &self,
        req: Request<pb::ListAuditEventsRequest>,
    ) -> Result<Response<pb::ListAuditEventsResponse>, Status> {
        let caller = caller(&self.core, &req).await?;
        let r = req.get_ref();
        let mut v = Violations::default();
        let action = v.check(convert::action_filter(&r.action));
        let actor = v.check(convert::id_filter("actor", &r.actor));
        let target = v.check(convert::id_filter("target", &r.target));
        let page = v.check(page_request(r.page_size, &r.page_token));
        let ((action, (actor, target)), page) = v.finish(action.zip(actor.zip(target)).zip(page))?;
        let filter = AuditFilter {
            action: action.map(str::to_owned),
            actor,
            target,
        };
        let found = self.core.list_audit_events(&caller, &filter, page).await?;
        Ok(Response::new(pb::ListAuditEventsResponse {
            events: found.items.iter().map(audit_entry_to).collect(),
            next_page_token: next_token(found.next),
        }))
    }

    async fn set_rate_limit(
        &self,
        req: Request<pb::SetRateLimitRequest>,
    ) -> Result<Response<pb::SetRateLimitResponse>, Status> {
        let caller = caller(&self.core, &req).await?;
        let r = req.get_ref();
        let mut v = Violations::default();
        let target = v.check(if r.key_id.is_empty() {
            Ok(RateLimitTarget::Org)
        } else {
            KeyId::parse("key_id", &r.key_id).map(RateLimitTarget::Key)
        });
        let policy = v.check(r.policy.as_ref().map(|p| convert::policy_from("policy", p)).transpose());
        let (target, policy) = v.finish(target.zip(policy))?;
        let in_force = self.core.set_rate_limit(&caller, target, policy).await?;
        Ok(Response::new(pb::SetRateLimitResponse {
            policy: Some(convert::policy_to(&in_force)),
        }))
    }

    async fn set_role_scopes(
        &self,
        req: Request<pb::SetRoleScopesRequest>,
    ) -> Result<Response<pb::SetRoleScopesResponse>, Status> {
        let caller = caller(&self.core, &req).await?;
        let r = req.get_ref();
        let mut v = Violations::default();
        let role = v.check(convert::role_from("role", r.role));
        let scopes = v.check(Scopes::parse("scopes", &r.scopes));
        let (role, scopes) = v.finish(role.zip(scopes))?;
        let scopes = self.core.set_role_scopes(&caller, role, scopes).await?;
        Ok(Response::new(pb::SetRoleScopesResponse {
            role: convert::role_to(role) as i32,
            scopes: scopes.to_strings(),
        }))
    }

    // Issue 9, members, service-account deletion and the policy reads.

    async fn get_rate_limit(
        &self,
        req: Request<pb::GetRateLimitRequest>,
    ) -> Result<Response<pb::GetRateLimitResponse>, Status> {
        let caller = caller(&self.core, &req).await?;
        let r = req.get_ref();
        let key = if r.key_id.is_empty() {
            None
        } else {
            Some(KeyId::parse("key_id", &r.key_id).map_err(ServiceError::from)?)
        };
        let (policy, source) = self.core.get_rate_limit(&caller, key).await?;
        Ok(Response::new(pb::GetRateLimitResponse {
            policy: Some(convert::policy_to(&policy)),
            source: convert::rate_limit_source_to(source) as i32,
        }))
    }

    async fn list_role_scopes(
        &self,
        req: Request<pb::ListRoleScopesRequest>,
    ) -> Result<Response<pb::ListRoleScopesResponse>, Status> {
        let caller = caller(&self.core, &req).await?;
        let roles = self.core.list_role_scopes(&caller).await?;
        Ok(Response::new(pb::ListRoleScopesResponse {
            roles: roles
                .into_iter()
                .map(|(role, scopes)| pb::RoleScopes {
                    role: convert::role_to(role) as i32,
                    scopes: scopes.to_strings(),
                })
                .collect(),
        }))
    }

    async fn list_users(&self, req: Request<pb::ListUsersRequest>) -> Result<Response<pb::ListUsersResponse>, Status> {
        let caller = caller(&self.core, &req).await?;
        let r = req.get_ref();
        let page = page_request(r.page_size, &r.page_token).map_err(ServiceError::from)?;
        let found = self.core.list_users(&caller, page).await?;
        Ok(Response::new(pb::ListUsersResponse {
            users: found.items.iter().map(user_to).collect(),
            next_page_token: next_token(found.next),
        }))
    }

    async fn set_user_role(
        &self,
        req: Request<pb::SetUserRoleRequest>,
    ) -> Result<Response<pb::SetUserRoleResponse>, Status> {
        let caller = caller(&self.core, &req).await?;
        let r = req.get_ref();
        let mut v = Violations::default();
        let user = v.check(UserId::parse("user_id", &r.user_id));
        let role = v.check(convert::role_from("role", r.role));
        let (user, role) = v.finish(user.zip(role))?;
        let member = self.core.set_user_role(&caller, user, role).await?;
        Ok(Response::new(pb::SetUserRoleResponse {
            user: Some(user_to(&member)),
        }))
    }

    async fn remove_user(
        &self,
        req: Request<pb::RemoveUserRequest>,
    ) -> Result<Response<pb::RemoveUserResponse>, Status> {
        let caller = caller(&self.core, &req).await?;
        let user = UserId::parse("user_id", &req.get_ref().user_id).map_err(ServiceError::from)?;
        self.core.remove_user(&caller, user).await?;
        Ok(Response::new(pb::RemoveUserResponse {}))
    }

    async fn delete_service_account(
        &self,
        req: Request<pb::DeleteServiceAccountRequest>,
    ) -> Result<Response<pb::DeleteServiceAccountResponse>, Status> {
        let caller = caller(&self.core, &req).await?;
        let id = ServiceAccountId::parse("service_account_id", &req.get_ref().service_account_id)
            .map_err(ServiceError::from)?;
        let revoked = self.core.delete_service_account(&caller, id).await?;
        Ok(Response::new(pb::DeleteServiceAccountResponse {
            revoked_keys: u32::try_from(revoked).unwrap_or(u32::MAX),
        }))
    }
}
