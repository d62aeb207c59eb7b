//! GetRateLimit and ListRoleScopes.

use crate::support::app::{TestApp, assert_error, authed, spawn_app};
use gatekey::proto::v1 as pb;
use tonic::{Code, Status};

fn policy(limit: u32) -> pb::RateLimitPolicy {
    pb::RateLimitPolicy {
        limit,
        window: Some(prost_types::Duration { seconds: 60, nanos: 0 }),
        burst: 1,
    }
}

async fn get(app: &TestApp, token: &str, key_id: &str) -> Result<(u32, pb::RateLimitSource), Status> {
    let r = app
        .admin()
        .get_rate_limit(authed(token, pb::GetRateLimitRequest { key_id: key_id.into() }))
        .await?
        .into_inner();
    Ok((r.policy.expect("policy").limit, r.source()))
}

async fn set(app: &TestApp, token: &str, key_id: &str, limit: u32) {
    app.admin()
        .set_rate_limit(authed(
            token,
            pb::SetRateLimitRequest {
                key_id: key_id.into(),
                policy: Some(policy(limit)),
            },
        ))
        .await
        .expect("set rate limit");
}

#[tokio::test]
async fn the_rate_limit_in_force_is_read_with_where_it_comes_from() {
    let app = spawn_app().await;
    let org = app.org("acme").await;
    let member = app.member(&org.owner_token, "m@acme.test", pb::Role::Member).await;
    let sa = app.service_account(&org.owner_token, "ci", pb::Role::Member).await;
    let other_sa = app.service_account(&org.owner_token, "other", pb::Role::Member).await;
    let issued = app.issue(&org.owner_token, &sa, &[]).await;
    let key_id = issued.key.as_ref().unwrap().id.clone();
    let foreign_key = app.issue(&org.owner_token, &other_sa, &[]).await.key.unwrap().id;

    let built_in = gatekey::domain::rate_limit::RateLimitPolicy::DEFAULT.limit;
    assert_eq!(
        get(&app, &member, "").await.unwrap(),
        (built_in, pb::RateLimitSource::BuiltIn)
    );
    set(&app, &org.owner_token, "", 500).await;
    assert_eq!(get(&app, &member, "").await.unwrap(), (500, pb::RateLimitSource::Org));
    assert_eq!(
        get(&app, &member, &key_id).await.unwrap(),
        (500, pb::RateLimitSource::Org)
    );
    set(&app, &org.owner_token, &key_id, 7).await;
    assert_eq!(
        get(&app, &member, &key_id).await.unwrap(),
        (7, pb::RateLimitSource::Key)
    );

    // A key reads its own service account's keys and the org default, nothing else.
    assert_eq!(
        get(&app, &issued.secret, &key_id).await.unwrap(),
        (7, pb::RateLimitSource::Key)
    );
    assert_eq!(get(&app, &issued.secret, "").await.unwrap().0, 500);
    assert_error(
        get(&app, &issued.secret, &foreign_key).await,
        Code::NotFound,
        "KEY_NOT_FOUND",
    );

    let other = app.org("globex").await;
    assert_error(
        get(&app, &other.owner_token, &key_id).await,
        Code::NotFound,
        "KEY_NOT_FOUND",
    );
    assert_error(
        get(&app, &member, "nope").await,
        Code::InvalidArgument,
        "INVALID_ARGUMENT",
    );
}

#[tokio::test]
async fn every_member_reads_the_scopes_each_role_grants() {
    let app = spawn_app().await;
    let org = app.org("acme").await;
    let member = app.member(&org.owner_token, "m@acme.test", pb::Role::Member).await;
    let list = |token: String| {
        let app = &app;
        async move {
            app.admin()
                .list_role_scopes(authed(&token, pb::ListRoleScopesRequest {}))
                .await
                .expect("list role scopes")
                .into_inner()
                .roles
                .into_iter()
                .map(|r| (r.role, r.scopes))
                .collect::<Vec<_>>()
        }
    };
    let star = vec!["*".to_owned()];
    assert_eq!(
        list(member.clone()).await,
        vec![
            (pb::Role::Member as i32, vec![]),
            (pb::Role::Operator as i32, vec![]),
            (pb::Role::Admin as i32, star.clone()),
            (pb::Role::Owner as i32, star.clone()),
        ]
    );
    app.admin()
        .set_role_scopes(authed(
            &org.owner_token,
            pb::SetRoleScopesRequest {
                role: pb::Role::Operator as i32,
                scopes: vec!["cameras.read".into()],
            },
        ))
        .await
        .expect("set role scopes");
    let after = list(member).await;
    assert_eq!(after[1], (pb::Role::Operator as i32, vec!["cameras.read".to_owned()]));
}
