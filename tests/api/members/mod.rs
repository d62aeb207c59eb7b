//! Issue 9 over gRPC: members (list, role changes, removal), one's own password, service
//! account deletion, the audit log's actors and filters, and the policy reads.

mod audit;
mod password;
mod reads;
mod roles;
mod service_accounts;

use crate::support::app::{TestApp, authed};
use gatekey::proto::v1 as pb;
use tonic::Status;

/// The org's members as ListUsers shows them to `token`.
async fn users(app: &TestApp, token: &str) -> Result<Vec<pb::User>, Status> {
    app.admin()
        .list_users(authed(token, pb::ListUsersRequest::default()))
        .await
        .map(|r| r.into_inner().users)
}

async fn set_role(app: &TestApp, token: &str, user: &str, role: pb::Role) -> Result<pb::User, Status> {
    app.admin()
        .set_user_role(authed(
            token,
            pb::SetUserRoleRequest {
                user_id: user.into(),
                role: role as i32,
            },
        ))
        .await
        .map(|r| r.into_inner().user.expect("user"))
}

async fn remove(app: &TestApp, token: &str, user: &str) -> Result<(), Status> {
    app.admin()
        .remove_user(authed(token, pb::RemoveUserRequest { user_id: user.into() }))
        .await
        .map(|_| ())
}

/// The id of the member with `email`, as the owner sees it.
async fn id_of(app: &TestApp, token: &str, email: &str) -> String {
    users(app, token)
        .await
        .expect("list users")
        .into_iter()
        .find(|u| u.email == email)
        .expect("member listed")
        .id
}

/// What Verify says of `credential` (no scopes, no IP).
async fn verify(app: &TestApp, credential: &str) -> pb::VerifyResponse {
    app.auth()
        .verify(pb::VerifyRequest {
            credential: credential.into(),
            ..Default::default()
        })
        .await
        .expect("verify")
        .into_inner()
}
