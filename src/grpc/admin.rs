//! `gatekey.v1.AdminService`.

use super::convert::{self, Violations, audit_event_to, service_account_to, user_to};
use super::request::caller;
use crate::domain::fields::{Email, Name, Password};
use crate::domain::ids::KeyId;
use crate::domain::scope::Scopes;
use crate::proto::v1 as pb;
use crate::proto::v1::admin_service_server::AdminService;
use crate::service::Core;
use crate::service::paging::{next_token, page_request};
use crate::store::RateLimitTarget;
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
        let page = page_request(r.page_size, &r.page_token).map_err(crate::service::ServiceError::from)?;
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
        let page = v.check(page_request(r.page_size, &r.page_token));
        let (action, page) = v.finish(action.zip(page))?;
        let found = self.core.list_audit_events(&caller, action, page).await?;
        Ok(Response::new(pb::ListAuditEventsResponse {
            events: found.items.iter().map(audit_event_to).collect(),
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
    // TODO(issue 9): placeholders while the lifecycle is built on branches.
    async fn get_rate_limit(
        &self,
        _: Request<pb::GetRateLimitRequest>,
    ) -> Result<Response<pb::GetRateLimitResponse>, Status> {
        Err(Status::unimplemented("not yet"))
    }

    async fn list_role_scopes(
        &self,
        _: Request<pb::ListRoleScopesRequest>,
    ) -> Result<Response<pb::ListRoleScopesResponse>, Status> {
        Err(Status::unimplemented("not yet"))
    }

    async fn list_users(&self, _: Request<pb::ListUsersRequest>) -> Result<Response<pb::ListUsersResponse>, Status> {
        Err(Status::unimplemented("not yet"))
    }

    async fn set_user_role(
        &self,
        _: Request<pb::SetUserRoleRequest>,
    ) -> Result<Response<pb::SetUserRoleResponse>, Status> {
        Err(Status::unimplemented("not yet"))
    }

    async fn remove_user(&self, _: Request<pb::RemoveUserRequest>) -> Result<Response<pb::RemoveUserResponse>, Status> {
        Err(Status::unimplemented("not yet"))
    }

    async fn delete_service_account(
        &self,
        _: Request<pb::DeleteServiceAccountRequest>,
    ) -> Result<Response<pb::DeleteServiceAccountResponse>, Status> {
        Err(Status::unimplemented("not yet"))
    }
}
