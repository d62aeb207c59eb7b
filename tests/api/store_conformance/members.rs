//! Issue 9: members (list, role changes, removal, password changes), service-account
//! deletion, and the audit log's actors and filters.

use super::fixtures::{
    Tenant, UA, at, change, changes_after, events, feed_end, first, issued_key, new_key, new_user, service_account,
    session, tenant, unique,
};
use gatekey::domain::audit::{Actor, AuditContext, action};
use gatekey::domain::fields::Name;
use gatekey::domain::ids::{ServiceAccountId, SessionId, UserId};
use gatekey::domain::role::Role;
use gatekey::store::{
    AuditFilter, ChangeKind, NewRefreshToken, NewUser, Precondition, ServiceAccount, Session, Store, StoreError,
};

/// A member of `t` with `role`, created at `at(offset)`.
async fn member(store: &dyn Store, t: &Tenant, role: Role, offset: i64) -> NewUser {
    let mut user = new_user(t.org, &format!("{}@example.com", unique("member")), role);
    user.created_at = at(offset);
    store.create_user(&t.ctx, &user).await.unwrap();
    user
}

/// A live session of `user` in `t`'s org, started at `at(offset)`.
async fn login(store: &dyn Store, t: &Tenant, user: UserId, offset: i64) -> Session {
    let s = Session {
        id: SessionId::generate(),
        org_id: t.org,
        user_id: user,
        user_agent: UA.to_owned(),
        remember_me: false,
        created_at: at(offset),
        revoked_at: None,
    };
    let token = NewRefreshToken {
        hash: rand::random(),
        session_id: s.id,
        created_at: at(offset),
        expires_at: at(offset + 3_600_000),
    };
    let ctx = AuditContext {
        actor: Actor::User(user),
        now: at(offset),
        ..t.ctx.clone()
    };
    store.create_session(&ctx, &s, &token).await.unwrap();
    s
}

fn precondition<T: std::fmt::Debug>(r: Result<T, StoreError>) -> Precondition {
    match r {
        Err(StoreError::Precondition(p)) => p,
        other => panic!("expected a precondition failure, got {other:?}"),
    }
}

pub(super) async fn members_are_listed_in_creation_order_with_their_last_login(store: &dyn Store) {
    let t = tenant(store).await;
    let other = tenant(store).await;
    let m = member(store, &t, Role::Operator, 1_000).await;
    let before = store.list_members(t.org, first(10)).await.unwrap();
    let ids: Vec<UserId> = before.items.iter().map(|u| u.id).collect();
    assert_eq!(ids, vec![t.owner, m.id]);
    assert!(before.items.iter().all(|u| u.last_login_at.is_none()));

    login(store, &t, m.id, 5_000).await;
    let page = store.list_members(t.org, first(1)).await.unwrap();
    assert_eq!(page.items.len(), 1);
    let rest = store
        .list_members(t.org, super::fixtures::after(1, page.next))
        .await
        .unwrap();
    assert_eq!(rest.items.len(), 1);
    assert_eq!((rest.items[0].id, rest.items[0].last_login_at), (m.id, Some(at(5_000))));
    assert_eq!(rest.items[0].role, Role::Operator);
    let foreign = store.list_members(other.org, first(10)).await.unwrap();
    assert_eq!(
        foreign.items.iter().map(|u| u.id).collect::<Vec<_>>(),
        vec![other.owner]
    );
}

pub(super) async fn a_role_change_is_audited_and_refused_above_the_caller_or_for_the_last_owner(store: &dyn Store) {
    let t = tenant(store).await;
    let other = tenant(store).await;
    let m = member(store, &t, Role::Member, 1_000).await;
    let ctx = t.ctx_at(at(2_000));

    let (changed, ended) = store
        .set_member_role(&ctx, m.id, Role::Admin, Role::Owner)
        .await
        .unwrap();
    assert!(ended.sessions.is_empty(), "a promotion ends no session");
    assert_eq!((changed.id, changed.role), (m.id, Role::Admin));
    assert_eq!(store.get_member(t.org, m.id).await.unwrap().unwrap().role, Role::Admin);
    let audited = events(store, t.org, action::USER_ROLE_CHANGED).await;
    assert_eq!(audited.len(), 1);
    assert_eq!(audited[0].target, format!("user:{}", m.id));
    assert_eq!(audited[0].details.get("from").map(String::as_str), Some("member"));
    assert_eq!(audited[0].details.get("to").map(String::as_str), Some("admin"));

    // The same role again changes and audits nothing.
    store
        .set_member_role(&ctx, m.id, Role::Admin, Role::Owner)
        .await
        .unwrap();
    assert_eq!(events(store, t.org, action::USER_ROLE_CHANGED).await.len(), 1);

    let outranked = store.set_member_role(&ctx, t.owner, Role::Member, Role::Admin).await;
    assert_eq!(precondition(outranked), Precondition::MemberOutranksCaller);
    let last = store.set_member_role(&ctx, t.owner, Role::Admin, Role::Owner).await;
    assert_eq!(precondition(last), Precondition::LastOwner);
    assert_eq!(
        store.get_member(t.org, t.owner).await.unwrap().unwrap().role,
        Role::Owner
    );
    assert!(matches!(
        store.set_member_role(&other.ctx, m.id, Role::Member, Role::Owner).await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        store
            .set_member_role(&ctx, UserId::generate(), Role::Member, Role::Owner)
            .await,
        Err(StoreError::NotFound)
    ));
}

pub(super) async fn demoting_the_last_two_owners_concurrently_leaves_one(store: &dyn Store) {
    let t = tenant(store).await;
    let second = member(store, &t, Role::Owner, 1_000).await;
    let ctx = t.ctx_at(at(2_000));
    let (a, b) = tokio::join!(
        store.set_member_role(&ctx, t.owner, Role::Admin, Role::Owner),
        store.set_member_role(&ctx, second.id, Role::Admin, Role::Owner),
    );
    let refused = [&a, &b]
        .iter()
        .filter(|r| matches!(r, Err(StoreError::Precondition(Precondition::LastOwner))))
        .count();
    assert_eq!((refused, a.is_ok() || b.is_ok()), (1, true), "{a:?} / {b:?}");
    let owners = store
        .list_members(t.org, first(10))
        .await
        .unwrap()
        .items
        .into_iter()
        .filter(|u| u.role == Role::Owner)
        .count();
    assert_eq!(owners, 1);
}

pub(super) async fn removing_a_member_ends_their_sessions_frees_the_email_and_keeps_them_in_the_log(store: &dyn Store) {
    let t = tenant(store).await;
    let m = member(store, &t, Role::Operator, 1_000).await;
    let s1 = login(store, &t, m.id, 2_000).await;
    let s2 = login(store, &t, m.id, 3_000).await;
    let (owner_session, _) = session(store, &t, false).await;
    let start = feed_end(store).await;

    let last = store.remove_member(&t.ctx_at(at(4_000)), t.owner, Role::Owner).await;
    assert_eq!(precondition(last), Precondition::LastOwner);
    let ended = store
        .remove_member(&t.ctx_at(at(5_000)), m.id, Role::Owner)
        .await
        .unwrap();
    assert_eq!(ended.sessions, vec![s1.id, s2.id]);
    assert_eq!(
        changes_after(store, start).await,
        vec![
            change(ChangeKind::Session, s1.id, at(5_000)),
            change(ChangeKind::Session, s2.id, at(5_000)),
        ]
    );
    for s in [s1.id, s2.id] {
        assert_eq!(store.get_session(s).await.unwrap().unwrap().revoked_at, Some(at(5_000)));
    }
    assert_eq!(
        store.get_session(owner_session.id).await.unwrap().unwrap().revoked_at,
        None
    );
    assert_eq!(store.get_member(t.org, m.id).await.unwrap(), None);
    assert!(store.find_login(&m.email).await.unwrap().is_none());
    assert!(matches!(
        store.remove_member(&t.ctx, m.id, Role::Owner).await,
        Err(StoreError::NotFound)
    ));
    let removed = events(store, t.org, action::USER_REMOVED).await;
    assert_eq!(removed.len(), 1);
    assert_eq!(removed[0].details.get("ended_sessions").map(String::as_str), Some("2"));

    // The removed user's own login events still show their email.
    let filter = AuditFilter {
        actor: Some(m.id.0),
        ..AuditFilter::default()
    };
    let theirs = store.list_audit_entries(t.org, &filter, first(10)).await.unwrap().items;
    assert_eq!(theirs.len(), 2, "two logins");
    assert!(theirs.iter().all(|e| e.actor_display == m.email.as_str()));

    // The email is free for a new user.
    let again = NewUser {
        id: UserId::generate(),
        ..new_user(t.org, m.email.as_str(), Role::Member)
    };
    store.create_user(&t.ctx, &again).await.unwrap();
    assert_eq!(store.find_login(&m.email).await.unwrap().unwrap().user.id, again.id);
}

pub(super) async fn a_password_change_ends_the_other_sessions_only_when_the_hash_is_still_current(store: &dyn Store) {
    let t = tenant(store).await;
    let m = member(store, &t, Role::Member, 1_000).await;
    let keep = login(store, &t, m.id, 2_000).await;
    let other = login(store, &t, m.id, 3_000).await;
    let ctx = AuditContext {
        actor: Actor::User(m.id),
        ..t.ctx_at(at(4_000))
    };
    let stale = store
        .change_password(&ctx, m.id, keep.id, "not-the-hash", "$argon2id$new")
        .await;
    assert_eq!(precondition(stale), Precondition::PasswordChanged);
    assert_eq!(store.get_session(other.id).await.unwrap().unwrap().revoked_at, None);

    let start = feed_end(store).await;
    let ended = store
        .change_password(&ctx, m.id, keep.id, &m.password_hash, "$argon2id$new")
        .await
        .unwrap();
    assert_eq!(ended.sessions, vec![other.id]);
    assert_eq!(
        changes_after(store, start).await,
        vec![change(ChangeKind::Session, other.id, at(4_000))]
    );
    assert_eq!(store.get_session(keep.id).await.unwrap().unwrap().revoked_at, None);
    let login = store.member_login(t.org, m.id).await.unwrap().unwrap();
    assert_eq!(login.password_hash, "$argon2id$new");
    let audited = events(store, t.org, action::PASSWORD_CHANGED).await;
    assert_eq!(audited.len(), 1);
    assert_eq!(audited[0].details.get("ended_sessions").map(String::as_str), Some("1"));
    assert!(!format!("{audited:?}").contains("argon2"), "no hash in the log");
}

pub(super) async fn deleting_a_service_account_revokes_its_keys_and_frees_its_name(store: &dyn Store) {
    let t = tenant(store).await;
    let other = tenant(store).await;
    let sa = service_account(store, &t, "ci").await;
    let (k1, k2) = (issued_key(store, &t, sa.id).await, issued_key(store, &t, sa.id).await);
    store.revoke_key(&t.ctx_at(at(1_000)), k1.id).await.unwrap();
    assert!(matches!(
        store.delete_service_account(&other.ctx, sa.id).await,
        Err(StoreError::NotFound)
    ));
    let start = feed_end(store).await;

    let ended = store.delete_service_account(&t.ctx_at(at(2_000)), sa.id).await.unwrap();
    assert_eq!(ended.keys, vec![(k2.id, true)]);
    assert_eq!(
        changes_after(store, start).await,
        vec![change(ChangeKind::Key, k2.id, at(2_000))]
    );
    let revoked = store.get_key(t.org, k2.id).await.unwrap().unwrap();
    assert_eq!(
        (revoked.revoked_at, revoked.revoked_by),
        (Some(at(2_000)), Some(t.ctx.actor))
    );
    assert_eq!(store.get_service_account(t.org, sa.id).await.unwrap(), None);
    let listed = store.list_service_accounts(t.org, first(10)).await.unwrap().items;
    assert!(listed.iter().all(|s| s.id != sa.id));
    assert!(matches!(
        store.delete_service_account(&t.ctx, sa.id).await,
        Err(StoreError::NotFound)
    ));
    let deleted = events(store, t.org, action::SERVICE_ACCOUNT_DELETED).await;
    assert_eq!(deleted.len(), 1);
    assert_eq!(deleted[0].details.get("name").map(String::as_str), Some("ci"));
    assert_eq!(deleted[0].details.get("revoked_keys").map(String::as_str), Some("1"));
    let again = ServiceAccount {
        id: ServiceAccountId::generate(),
        org_id: t.org,
        name: Name::parse("name", "ci").unwrap(),
        role: Role::Member,
        created_at: at(3_000),
    };
    store.create_service_account(&t.ctx, &again).await.unwrap();
    // No key is added to the deleted account afterwards (a late IssueKey loses to the delete).
    assert!(matches!(
        store.insert_key(&t.ctx, &new_key(&t, sa.id)).await,
        Err(StoreError::NotFound)
    ));
}

pub(super) async fn audit_entries_filter_by_actor_and_target_and_name_the_actor(store: &dyn Store) {
    let t = tenant(store).await;
    let sa = service_account(store, &t, "ci").await;
    let key = issued_key(store, &t, sa.id).await;
    let by_key = AuditContext {
        actor: Actor::Key(key.id),
        ..t.ctx_at(at(1_000))
    };
    store
        .append_audit(&by_key.event("test.by_key", format!("key:{}", key.id)))
        .await
        .unwrap();
    let system = AuditContext {
        actor: Actor::System,
        ..t.ctx_at(at(2_000))
    };
    store
        .append_audit(&system.event("test.by_system", String::new()))
        .await
        .unwrap();

    let all = store
        .list_audit_entries(t.org, &AuditFilter::default(), first(100))
        .await
        .unwrap()
        .items;
    let owner_email = store.get_member(t.org, t.owner).await.unwrap().unwrap().email;
    for entry in &all {
        let want = match entry.event.actor {
            Actor::User(_) => owner_email.clone(),
            Actor::Key(_) => key.display_prefix(),
            Actor::System | Actor::Anonymous => String::new(),
        };
        assert_eq!(entry.actor_display, want, "{entry:?}");
    }
    let filter = |actor, target| AuditFilter {
        actor,
        target,
        ..AuditFilter::default()
    };
    let keyed = store
        .list_audit_entries(t.org, &filter(Some(key.id.0), None), first(100))
        .await
        .unwrap()
        .items;
    assert_eq!(
        keyed.iter().map(|e| e.event.action.as_str()).collect::<Vec<_>>(),
        vec!["test.by_key"]
    );
    let on_key = store
        .list_audit_entries(t.org, &filter(None, Some(key.id.0)), first(100))
        .await
        .unwrap()
        .items;
    assert_eq!(
        on_key.iter().map(|e| e.event.action.as_str()).collect::<Vec<_>>(),
        vec!["test.by_key", action::KEY_ISSUED]
    );
    let both = store
        .list_audit_entries(t.org, &filter(Some(t.owner.0), Some(key.id.0)), first(100))
        .await
        .unwrap()
        .items;
    assert_eq!(
        both.iter().map(|e| e.event.action.as_str()).collect::<Vec<_>>(),
        vec![action::KEY_ISSUED]
    );
}
