//! Lifecycle, orgs, users and service accounts.

use super::fixtures::{T0, after, at, events, first, new_user, org, service_account, tenant, unique};
use gatekey::domain::audit::action;
use gatekey::domain::fields::Email;
use gatekey::domain::ids::{ServiceAccountId, UserId};
use gatekey::domain::role::Role;
use gatekey::store::{ServiceAccount, Store, StoreError, User};

pub(super) async fn migrating_again_changes_nothing(store: &dyn Store) {
    let t = tenant(store).await;
    store.migrate().await.unwrap();
    store.ping().await.unwrap();
    assert!(store.get_member(t.org, t.owner).await.unwrap().is_some());
}

pub(super) async fn creating_an_org_audits_the_org_and_its_owner(store: &dyn Store) {
    let t = tenant(store).await;
    let owner = store.get_member(t.org, t.owner).await.unwrap().unwrap();
    assert_eq!(owner.role, Role::Owner);
    let org_created = events(store, t.org, action::ORG_CREATED).await;
    assert_eq!(org_created.len(), 1);
    assert_eq!(org_created[0].target, format!("org:{}", t.org));
    let user_created = events(store, t.org, action::USER_CREATED).await;
    assert_eq!(user_created.len(), 1);
    assert_eq!(user_created[0].target, format!("user:{}", t.owner));
}

pub(super) async fn a_taken_org_name_conflicts_and_creates_nothing(store: &dyn Store) {
    let name = unique("acme");
    let taken = org(&name);
    let first_owner = new_user(taken.id, &format!("{}@example.com", unique("a")), Role::Owner);
    store.create_org_with_owner(&taken, &first_owner).await.unwrap();

    let again = org(&name);
    let owner = new_user(again.id, &format!("{}@example.com", unique("b")), Role::Owner);
    let r = store.create_org_with_owner(&again, &owner).await;
    assert!(
        matches!(r, Err(StoreError::Conflict(gatekey::store::Taken::OrgName))),
        "{r:?}"
    );

    assert!(
        store.find_login(&owner.email).await.unwrap().is_none(),
        "no owner is created"
    );
    let audit = store.list_audit_events(again.id, None, first(10)).await.unwrap();
    assert!(audit.items.is_empty(), "nothing is audited: {:?}", audit.items);
}

pub(super) async fn a_taken_owner_email_conflicts_and_creates_nothing(store: &dyn Store) {
    let existing = org(&unique("acme"));
    let email = format!("{}@example.com", unique("taken"));
    store
        .create_org_with_owner(&existing, &new_user(existing.id, &email, Role::Owner))
        .await
        .unwrap();

    let newcomer = org(&unique("globex"));
    let same_email_other_case = email.to_uppercase();
    let owner = new_user(newcomer.id, &same_email_other_case, Role::Owner);
    let r = store.create_org_with_owner(&newcomer, &owner).await;
    assert!(
        matches!(r, Err(StoreError::Conflict(gatekey::store::Taken::Email))),
        "{r:?}"
    );

    let audit = store.list_audit_events(newcomer.id, None, first(10)).await.unwrap();
    assert!(audit.items.is_empty(), "nothing is audited: {:?}", audit.items);
    let login = store.find_login(&owner.email).await.unwrap().unwrap();
    assert_eq!(login.user.org_id, existing.id, "the email keeps its org");
    // The org was not created either: its name and id are still free.
    let owner = new_user(newcomer.id, &format!("{}@example.com", unique("c")), Role::Owner);
    store.create_org_with_owner(&newcomer, &owner).await.unwrap();
}

pub(super) async fn a_login_is_found_by_the_parsed_email_with_hash_and_role(store: &dyn Store) {
    let o = org(&unique("acme"));
    let local = unique("Grace.Hopper");
    let owner = new_user(o.id, &format!("  {local}@Example.COM "), Role::Owner);
    store.create_org_with_owner(&o, &owner).await.unwrap();

    let stored_email = format!("{}@example.com", local.to_lowercase());
    let email = Email::parse("email", &stored_email).unwrap();
    let login = store.find_login(&email).await.unwrap().unwrap();
    assert_eq!(login.password_hash, owner.password_hash);
    let expected = User {
        id: owner.id,
        org_id: o.id,
        email: stored_email,
        role: Role::Owner,
        created_at: T0,
        last_login_at: None,
    };
    assert_eq!(login.user, expected);

    let nobody = Email::parse("email", "nobody@example.com").unwrap();
    assert!(store.find_login(&nobody).await.unwrap().is_none());
}

pub(super) async fn a_member_of_another_org_is_not_found(store: &dyn Store) {
    let a = tenant(store).await;
    let b = tenant(store).await;
    let member = store.get_member(a.org, a.owner).await.unwrap();
    assert_eq!(member.map(|u| u.id), Some(a.owner));
    assert_eq!(store.get_member(b.org, a.owner).await.unwrap(), None);
    assert_eq!(store.get_member(a.org, UserId::generate()).await.unwrap(), None);
}

pub(super) async fn creating_a_user_adds_a_member_and_a_taken_email_conflicts(store: &dyn Store) {
    let a = tenant(store).await;
    let b = tenant(store).await;
    let local = unique("dev");
    let user = new_user(a.org, &format!("{local}@example.com"), Role::Admin);
    let created = store.create_user(&a.ctx_at(at(1_000)), &user).await.unwrap();
    let expected = User {
        id: user.id,
        org_id: a.org,
        email: user.email.as_str().to_owned(),
        role: Role::Admin,
        created_at: T0,
        last_login_at: None,
    };
    assert_eq!(created, expected);
    assert_eq!(store.get_member(a.org, user.id).await.unwrap(), Some(expected));
    let audited = events(store, a.org, action::USER_CREATED).await;
    assert!(
        audited.iter().any(|e| e.target == format!("user:{}", user.id)),
        "{audited:?}"
    );

    let again = new_user(b.org, &format!("{}@EXAMPLE.com", local.to_uppercase()), Role::Member);
    let r = store.create_user(&b.ctx, &again).await;
    assert!(
        matches!(r, Err(StoreError::Conflict(gatekey::store::Taken::Email))),
        "{r:?}"
    );
    assert_eq!(store.get_member(b.org, again.id).await.unwrap(), None);
    assert_eq!(
        events(store, b.org, action::USER_CREATED).await.len(),
        1,
        "only the owner"
    );
}

// ---------------------------------------------------------------------------------------------
// Service accounts

pub(super) async fn a_service_account_name_is_unique_within_its_org_only(store: &dyn Store) {
    let a = tenant(store).await;
    let b = tenant(store).await;
    let ci = service_account(store, &a, "ci").await;

    let twin = ServiceAccount {
        id: ServiceAccountId::generate(),
        ..ci.clone()
    };
    let r = store.create_service_account(&a.ctx, &twin).await;
    assert!(
        matches!(r, Err(StoreError::Conflict(gatekey::store::Taken::ServiceAccountName))),
        "{r:?}"
    );
    assert_eq!(store.get_service_account(a.org, twin.id).await.unwrap(), None);
    assert_eq!(events(store, a.org, action::SERVICE_ACCOUNT_CREATED).await.len(), 1);

    let elsewhere = service_account(store, &b, "ci").await;
    assert_eq!(
        store.get_service_account(b.org, elsewhere.id).await.unwrap(),
        Some(elsewhere)
    );
}

pub(super) async fn a_service_account_of_another_org_is_not_found(store: &dyn Store) {
    let a = tenant(store).await;
    let b = tenant(store).await;
    let sa = service_account(store, &a, "deploy").await;
    assert_eq!(store.get_service_account(a.org, sa.id).await.unwrap(), Some(sa.clone()));
    assert_eq!(store.get_service_account(b.org, sa.id).await.unwrap(), None);
    assert!(
        store
            .list_service_accounts(b.org, first(10))
            .await
            .unwrap()
            .items
            .is_empty()
    );
}

pub(super) async fn service_accounts_are_listed_in_creation_order_a_page_at_a_time(store: &dyn Store) {
    let a = tenant(store).await;
    let b = tenant(store).await;
    let mut created = Vec::new();
    for i in 0..5 {
        created.push(service_account(store, &a, &format!("sa-{i}")).await);
        service_account(store, &b, &format!("other-{i}")).await;
    }

    let page = store.list_service_accounts(a.org, first(2)).await.unwrap();
    assert_eq!(page.items, created[0..2]);
    assert_eq!(page.next, Some(created[1].id.0));
    let page = store.list_service_accounts(a.org, after(2, page.next)).await.unwrap();
    assert_eq!(page.items, created[2..4]);
    assert_eq!(page.next, Some(created[3].id.0));
    let page = store.list_service_accounts(a.org, after(2, page.next)).await.unwrap();
    assert_eq!(page.items, created[4..]);
    assert_eq!(page.next, None);
}
