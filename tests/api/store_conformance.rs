//! The contract of `gatekey::store::Store`, proved on every backend.
//!
//! Each check below is one documented contract written against `&dyn Store`; `conformance!`
//! turns it into `sqlite::<check>` and `postgres::<check>`, as OpenFGA's `RunAllTests` does,
//! so neither backend can pass by being tested less. Every test gets a database of its own.
//! Times are fixed offsets from `T0`, so expiry edges are exact to the millisecond.

use gatekey::domain::api_key::{ApiKey, NewKey};
use gatekey::domain::audit::{Actor, AuditContext, AuditEvent, action};
use gatekey::domain::fields::{Email, KeyName, Metadata, Name};
use gatekey::domain::ids::{EventId, KeyId, OrgId, ServiceAccountId, SessionId, UserId};
use gatekey::domain::ip::IpAllowlist;
use gatekey::domain::key_format::{self, Environment, KeyKind};
use gatekey::domain::rate_limit::RateLimitPolicy;
use gatekey::domain::role::Role;
use gatekey::domain::scope::Scopes;
use gatekey::domain::time::UnixMs;
use gatekey::store::{
    MAX_PAGE_SIZE, NewRefreshToken, NewUser, NextRefreshToken, Org, PageRequest, Precondition, RefreshOutcome,
    ServiceAccount, Session, SigningKeyRecord, Store, StoreError, User,
};
use secrecy::SecretString;
use std::collections::BTreeMap;
use std::time::Duration;
use uuid::Uuid;

/// One `#[tokio::test]` per check and backend. The PostgreSQL twin is skipped (loudly) only
/// when `GATEKEY_TEST_POSTGRES_URL` is unset; once it is set, any failure fails the test.
macro_rules! conformance {
    ($($check:ident),+ $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test]
                async fn $check() {
                    let (store, _dir) = crate::support::db::sqlite_store().await;
                    super::$check(&*store).await;
                    store.close().await;
                }
            )+
        }

        mod postgres {
            $(
                #[tokio::test]
                async fn $check() {
                    let Some((store, db)) = crate::support::db::postgres_store().await else {
                        eprintln!(
                            "skipped {}: {} is unset",
                            stringify!($check),
                            crate::support::db::POSTGRES_URL_VAR,
                        );
                        return;
                    };
                    super::$check(&*store).await;
                    store.close().await;
                    drop(db);
                }
            )+
        }
    };
}

conformance! {
    migrating_again_changes_nothing,
    creating_an_org_audits_the_org_and_its_owner,
    a_taken_org_name_conflicts_and_creates_nothing,
    a_taken_owner_email_conflicts_and_creates_nothing,
    a_login_is_found_by_the_parsed_email_with_hash_and_role,
    a_member_of_another_org_is_not_found,
    creating_a_user_adds_a_member_and_a_taken_email_conflicts,
    a_service_account_name_is_unique_within_its_org_only,
    a_service_account_of_another_org_is_not_found,
    service_accounts_are_listed_in_creation_order_a_page_at_a_time,
    an_inserted_key_reads_back_with_every_field,
    a_key_of_another_org_is_not_found,
    a_key_is_found_by_its_hash_in_any_org_and_state,
    keys_are_listed_in_creation_order_per_service_account_a_page_at_a_time,
    revoking_a_key_records_who_and_when_exactly_once,
    another_orgs_key_cannot_be_revoked_rotated_or_deleted,
    rotating_without_overlap_revokes_the_old_key_at_once,
    rotating_with_overlap_expires_the_old_key_at_the_given_time,
    a_revoked_expired_or_rotated_key_cannot_be_rotated,
    rotating_a_key_twice_concurrently_succeeds_once,
    only_a_revoked_key_can_be_deleted_and_its_history_stays,
    starting_a_session_stores_it_and_audits_the_login,
    a_rotated_token_lives_as_long_as_the_session_asked_for,
    a_refresh_token_is_single_use_and_its_reuse_revokes_the_session,
    a_refresh_from_another_user_agent_is_refused_without_consuming_the_token,
    a_refresh_token_is_expired_from_its_expiry_millisecond_on,
    an_unknown_refresh_token_is_not_found,
    refreshing_twice_concurrently_with_one_token_rotates_once,
    logging_out_revokes_the_session_once_and_an_unknown_token_is_none,
    audit_events_are_listed_newest_first_by_action_a_page_at_a_time,
    an_audit_event_without_an_org_is_kept_but_listed_under_no_org,
    signing_keys_are_listed_oldest_first,
}

// ---------------------------------------------------------------------------------------------
// Fixtures

/// 2026-01-01T00:00:00Z.
const T0: UnixMs = UnixMs(1_767_225_600_000);
const HOUR_MS: i64 = 3_600_000;
const IP: &str = "192.0.2.1";
const UA: &str = "gatekey-tests/1.0";

fn at(offset_ms: i64) -> UnixMs {
    UnixMs(T0.0 + offset_ms)
}

fn unique(stem: &str) -> String {
    format!("{stem}-{}", Uuid::new_v4().simple())
}

fn first(size: u32) -> PageRequest {
    PageRequest { size, after: None }
}

fn after(size: u32, cursor: Option<Uuid>) -> PageRequest {
    PageRequest { size, after: cursor }
}

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| (*s).to_owned()).collect()
}

/// An org, its owner, and the context the owner acts in.
struct Tenant {
    org: OrgId,
    owner: UserId,
    ctx: AuditContext,
}

impl Tenant {
    fn ctx_at(&self, now: UnixMs) -> AuditContext {
        AuditContext {
            now,
            ..self.ctx.clone()
        }
    }
}

fn org(name: &str) -> Org {
    Org {
        id: OrgId::generate(),
        name: Name::parse("name", name).unwrap(),
        created_at: T0,
    }
}

fn new_user(org: OrgId, email: &str, role: Role) -> NewUser {
    NewUser {
        id: UserId::generate(),
        org_id: org,
        email: Email::parse("email", email).unwrap(),
        password_hash: format!("$argon2id$v=19$m=19456,t=2,p=1${}", unique("hash")),
        role,
        created_at: T0,
    }
}

async fn tenant(store: &dyn Store) -> Tenant {
    let org = org(&unique("org"));
    let owner = new_user(org.id, &format!("{}@example.com", unique("owner")), Role::Owner);
    store.create_org_with_owner(&org, &owner).await.unwrap();
    Tenant {
        org: org.id,
        owner: owner.id,
        ctx: AuditContext {
            org_id: org.id,
            actor: Actor::User(owner.id),
            client_ip: IP.to_owned(),
            now: T0,
        },
    }
}

async fn service_account(store: &dyn Store, t: &Tenant, name: &str) -> ServiceAccount {
    let sa = ServiceAccount {
        id: ServiceAccountId::generate(),
        org_id: t.org,
        name: Name::parse("name", name).unwrap(),
        role: Role::Member,
        created_at: T0,
    };
    store.create_service_account(&t.ctx, &sa).await.unwrap();
    sa
}

fn new_key_of(t: &Tenant, sa: ServiceAccountId, kind: KeyKind, env: Environment) -> NewKey {
    let secret = key_format::generate(kind, env);
    let pepper = SecretString::from("conformance-pepper");
    NewKey {
        hash: key_format::keyed_hash(&pepper, secret.secret()),
        pepper_version: 1,
        key: ApiKey {
            id: KeyId::generate(),
            org_id: t.org,
            service_account_id: sa,
            name: KeyName::parse("name", "ci").unwrap(),
            kind,
            environment: env,
            prefix: secret.prefix.to_owned(),
            start: secret.start.clone(),
            role: Role::Member,
            scopes: Scopes::default(),
            ip_allowlist: IpAllowlist::default(),
            expires_at: None,
            rate_limit: None,
            metadata: Metadata::default(),
            created_at: T0,
            created_by: t.ctx.actor,
            last_used_at: None,
            revoked_at: None,
            revoked_by: None,
            rotated_from: None,
        },
    }
}

fn new_key(t: &Tenant, sa: ServiceAccountId) -> NewKey {
    new_key_of(t, sa, KeyKind::Secret, Environment::Live)
}

/// The key that replaces `old`, as the rotate use case builds it.
fn successor(t: &Tenant, old: &ApiKey, now: UnixMs) -> NewKey {
    let mut next = new_key(t, old.service_account_id);
    next.key.name = old.name.rotated(&now.yymmdd());
    next.key.rotated_from = Some(old.id);
    next.key.created_at = now;
    next
}

async fn issued_key(store: &dyn Store, t: &Tenant, sa: ServiceAccountId) -> ApiKey {
    let new = new_key(t, sa);
    store.insert_key(&t.ctx, &new).await.unwrap();
    new.key
}

async fn key_of(store: &dyn Store, t: &Tenant, id: KeyId) -> Option<ApiKey> {
    store.get_key(t.org, id).await.unwrap()
}

/// Every event of `act` in `org`, newest first.
async fn events(store: &dyn Store, org: OrgId, act: &str) -> Vec<AuditEvent> {
    let page = store
        .list_audit_events(org, Some(act), first(MAX_PAGE_SIZE))
        .await
        .unwrap();
    assert_eq!(page.next, None, "fixtures stay within one page");
    page.items
}

/// Lifetimes of the token a refresh hands out, without and with remember-me.
const LIFETIME: Duration = Duration::from_secs(3_600);
const REMEMBER_ME_LIFETIME: Duration = Duration::from_secs(30 * 24 * 3_600);

/// A session with its first refresh token, as login stores them.
async fn session(store: &dyn Store, t: &Tenant, remember_me: bool) -> (Session, [u8; 32]) {
    let session = Session {
        id: SessionId::generate(),
        org_id: t.org,
        user_id: t.owner,
        user_agent: UA.to_owned(),
        remember_me,
        created_at: T0,
        revoked_at: None,
    };
    let initial = NewRefreshToken {
        hash: rand::random(),
        session_id: session.id,
        created_at: T0,
        expires_at: T0.plus(LIFETIME),
    };
    store.create_session(&t.ctx, &session, &initial).await.unwrap();
    (session, initial.hash)
}

fn next_token() -> NextRefreshToken {
    NextRefreshToken {
        hash: rand::random(),
        lifetime: LIFETIME,
        remember_me_lifetime: REMEMBER_ME_LIFETIME,
    }
}

/// What a successful refresh of `session` at `now` must return.
fn rotated(session: &Session, now: UnixMs) -> RefreshOutcome {
    let lifetime = if session.remember_me {
        REMEMBER_ME_LIFETIME
    } else {
        LIFETIME
    };
    RefreshOutcome::Rotated {
        session: session.clone(),
        expires_at: now.plus(lifetime),
    }
}

/// Presents `token`; returns the outcome and the hash of the token handed out if it rotated.
async fn refresh(store: &dyn Store, token: &[u8; 32], ua: &str, now: UnixMs) -> (RefreshOutcome, [u8; 32]) {
    let next = next_token();
    let outcome = store.refresh_session(token, ua, &next, IP, now).await.unwrap();
    (outcome, next.hash)
}

fn is_not_rotatable<T>(r: &Result<T, StoreError>) -> bool {
    matches!(r, Err(StoreError::Precondition(Precondition::KeyNotRotatable)))
}

// ---------------------------------------------------------------------------------------------
// Lifecycle, orgs and users

async fn migrating_again_changes_nothing(store: &dyn Store) {
    let t = tenant(store).await;
    store.migrate().await.unwrap();
    store.ping().await.unwrap();
    assert!(store.get_member(t.org, t.owner).await.unwrap().is_some());
}

async fn creating_an_org_audits_the_org_and_its_owner(store: &dyn Store) {
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

async fn a_taken_org_name_conflicts_and_creates_nothing(store: &dyn Store) {
    let name = unique("acme");
    let taken = org(&name);
    let first_owner = new_user(taken.id, &format!("{}@example.com", unique("a")), Role::Owner);
    store.create_org_with_owner(&taken, &first_owner).await.unwrap();

    let again = org(&name);
    let owner = new_user(again.id, &format!("{}@example.com", unique("b")), Role::Owner);
    let r = store.create_org_with_owner(&again, &owner).await;
    assert!(matches!(r, Err(StoreError::Conflict("org name"))), "{r:?}");

    assert!(
        store.find_login(&owner.email).await.unwrap().is_none(),
        "no owner is created"
    );
    let audit = store.list_audit_events(again.id, None, first(10)).await.unwrap();
    assert!(audit.items.is_empty(), "nothing is audited: {:?}", audit.items);
}

async fn a_taken_owner_email_conflicts_and_creates_nothing(store: &dyn Store) {
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
    assert!(matches!(r, Err(StoreError::Conflict("email"))), "{r:?}");

    let audit = store.list_audit_events(newcomer.id, None, first(10)).await.unwrap();
    assert!(audit.items.is_empty(), "nothing is audited: {:?}", audit.items);
    let login = store.find_login(&owner.email).await.unwrap().unwrap();
    assert_eq!(login.user.org_id, existing.id, "the email keeps its org");
    // The org was not created either: its name and id are still free.
    let owner = new_user(newcomer.id, &format!("{}@example.com", unique("c")), Role::Owner);
    store.create_org_with_owner(&newcomer, &owner).await.unwrap();
}

async fn a_login_is_found_by_the_parsed_email_with_hash_and_role(store: &dyn Store) {
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
    };
    assert_eq!(login.user, expected);

    let nobody = Email::parse("email", "nobody@example.com").unwrap();
    assert!(store.find_login(&nobody).await.unwrap().is_none());
}

async fn a_member_of_another_org_is_not_found(store: &dyn Store) {
    let a = tenant(store).await;
    let b = tenant(store).await;
    let member = store.get_member(a.org, a.owner).await.unwrap();
    assert_eq!(member.map(|u| u.id), Some(a.owner));
    assert_eq!(store.get_member(b.org, a.owner).await.unwrap(), None);
    assert_eq!(store.get_member(a.org, UserId::generate()).await.unwrap(), None);
}

async fn creating_a_user_adds_a_member_and_a_taken_email_conflicts(store: &dyn Store) {
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
    assert!(matches!(r, Err(StoreError::Conflict("email"))), "{r:?}");
    assert_eq!(store.get_member(b.org, again.id).await.unwrap(), None);
    assert_eq!(
        events(store, b.org, action::USER_CREATED).await.len(),
        1,
        "only the owner"
    );
}

// ---------------------------------------------------------------------------------------------
// Service accounts

async fn a_service_account_name_is_unique_within_its_org_only(store: &dyn Store) {
    let a = tenant(store).await;
    let b = tenant(store).await;
    let ci = service_account(store, &a, "ci").await;

    let twin = ServiceAccount {
        id: ServiceAccountId::generate(),
        ..ci.clone()
    };
    let r = store.create_service_account(&a.ctx, &twin).await;
    assert!(matches!(r, Err(StoreError::Conflict("service account name"))), "{r:?}");
    assert_eq!(store.get_service_account(a.org, twin.id).await.unwrap(), None);
    assert_eq!(events(store, a.org, action::SERVICE_ACCOUNT_CREATED).await.len(), 1);

    let elsewhere = service_account(store, &b, "ci").await;
    assert_eq!(
        store.get_service_account(b.org, elsewhere.id).await.unwrap(),
        Some(elsewhere)
    );
}

async fn a_service_account_of_another_org_is_not_found(store: &dyn Store) {
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

async fn service_accounts_are_listed_in_creation_order_a_page_at_a_time(store: &dyn Store) {
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

// ---------------------------------------------------------------------------------------------
// Keys

async fn an_inserted_key_reads_back_with_every_field(store: &dyn Store) {
    let t = tenant(store).await;
    let sa = service_account(store, &t, "camera-fleet").await;
    let metadata: BTreeMap<String, String> =
        [("team".into(), "vision".into()), ("note".into(), "ünïcode ✓".into())].into();
    let mut new = new_key_of(&t, sa.id, KeyKind::Publishable, Environment::Test);
    new.pepper_version = 3;
    let k = &mut new.key;
    k.name = KeyName::parse("name", "  カメラ ingest  ").unwrap();
    k.role = Role::Operator;
    k.scopes = Scopes::parse("scopes", &strings(&["cameras.read", "billing:read"])).unwrap();
    k.ip_allowlist = IpAllowlist::parse(
        "ip_allowlist",
        &strings(&["10.1.2.3/8", "192.168.1.7", "2001:db8::/32"]),
    )
    .unwrap();
    k.expires_at = Some(at(90 * 24 * HOUR_MS + 1));
    k.rate_limit = Some(RateLimitPolicy::new("rate_limit", 120, Duration::from_millis(1_500), 7).unwrap());
    k.metadata = Metadata::parse("metadata", metadata.iter()).unwrap();
    k.created_at = at(5);
    k.created_by = Actor::Key(KeyId::generate());
    k.rotated_from = Some(KeyId::generate());
    store.insert_key(&t.ctx, &new).await.unwrap();

    assert_eq!(key_of(store, &t, new.key.id).await, Some(new.key.clone()));
    assert_eq!(store.find_key_by_hash(&new.hash).await.unwrap(), Some(new.key.clone()));
    let issued = events(store, t.org, action::KEY_ISSUED).await;
    assert_eq!(issued.len(), 1);
    assert_eq!(issued[0].target, format!("key:{}", new.key.id));
    assert_eq!(issued[0].key_prefix, new.key.display_prefix());
    assert_eq!(issued[0].actor, t.ctx.actor);
}

async fn a_key_of_another_org_is_not_found(store: &dyn Store) {
    let a = tenant(store).await;
    let b = tenant(store).await;
    let sa = service_account(store, &a, "ci").await;
    let key = issued_key(store, &a, sa.id).await;
    assert_eq!(store.get_key(b.org, key.id).await.unwrap(), None);
    assert!(store.list_keys(b.org, None, first(10)).await.unwrap().items.is_empty());
    assert!(
        store
            .list_keys(b.org, Some(sa.id), first(10))
            .await
            .unwrap()
            .items
            .is_empty()
    );
}

async fn a_key_is_found_by_its_hash_in_any_org_and_state(store: &dyn Store) {
    let a = tenant(store).await;
    let b = tenant(store).await;
    let sa_a = service_account(store, &a, "ci").await;
    let sa_b = service_account(store, &b, "ci").await;
    let in_a = new_key(&a, sa_a.id);
    let in_b = new_key(&b, sa_b.id);
    store.insert_key(&a.ctx, &in_a).await.unwrap();
    store.insert_key(&b.ctx, &in_b).await.unwrap();

    assert_eq!(
        store.find_key_by_hash(&in_a.hash).await.unwrap(),
        Some(in_a.key.clone())
    );
    assert_eq!(
        store.find_key_by_hash(&in_b.hash).await.unwrap(),
        Some(in_b.key.clone())
    );
    let revoked = store.revoke_key(&b.ctx_at(at(1_000)), in_b.key.id).await.unwrap();
    assert_eq!(store.find_key_by_hash(&in_b.hash).await.unwrap(), Some(revoked));
    assert_eq!(store.find_key_by_hash(&rand::random()).await.unwrap(), None);
}

async fn keys_are_listed_in_creation_order_per_service_account_a_page_at_a_time(store: &dyn Store) {
    let t = tenant(store).await;
    let other = tenant(store).await;
    let ci = service_account(store, &t, "ci").await;
    let deploy = service_account(store, &t, "deploy").await;
    let noise = service_account(store, &other, "ci").await;
    let mut keys = Vec::new();
    for i in 0..6 {
        let sa = if i % 2 == 0 { ci.id } else { deploy.id };
        keys.push(issued_key(store, &t, sa).await);
        issued_key(store, &other, noise.id).await;
    }
    let of =
        |sa: ServiceAccountId| -> Vec<ApiKey> { keys.iter().filter(|k| k.service_account_id == sa).cloned().collect() };

    let all = store.list_keys(t.org, None, first(100)).await.unwrap();
    assert_eq!(all.items, keys);
    assert_eq!(all.next, None);

    let ci_keys = of(ci.id);
    let page = store.list_keys(t.org, Some(ci.id), first(2)).await.unwrap();
    assert_eq!(page.items, ci_keys[..2]);
    assert_eq!(page.next, Some(ci_keys[1].id.0));
    let page = store.list_keys(t.org, Some(ci.id), after(2, page.next)).await.unwrap();
    assert_eq!(page.items, ci_keys[2..]);
    assert_eq!(page.next, None);

    // A page that holds exactly the rest says there is no more.
    let page = store.list_keys(t.org, Some(deploy.id), first(3)).await.unwrap();
    assert_eq!(page.items, of(deploy.id));
    assert_eq!(page.next, None);
}

async fn revoking_a_key_records_who_and_when_exactly_once(store: &dyn Store) {
    let t = tenant(store).await;
    let sa = service_account(store, &t, "ci").await;
    let key = issued_key(store, &t, sa.id).await;

    let revoked = store.revoke_key(&t.ctx_at(at(1_000)), key.id).await.unwrap();
    let expected = ApiKey {
        revoked_at: Some(at(1_000)),
        revoked_by: Some(t.ctx.actor),
        ..key.clone()
    };
    assert_eq!(revoked, expected);
    assert_eq!(key_of(store, &t, key.id).await, Some(expected.clone()));
    let audited = events(store, t.org, action::KEY_REVOKED).await;
    assert_eq!(audited.len(), 1);
    assert_eq!(audited[0].target, format!("key:{}", key.id));
    assert_eq!(audited[0].key_prefix, key.display_prefix());
    assert_eq!(audited[0].actor, t.ctx.actor);
    assert_eq!(audited[0].occurred_at, at(1_000));

    let later_by_someone_else = AuditContext {
        actor: Actor::System,
        ..t.ctx_at(at(5_000))
    };
    let again = store.revoke_key(&later_by_someone_else, key.id).await.unwrap();
    assert_eq!(again, expected, "a second revoke changes nothing");
    assert_eq!(key_of(store, &t, key.id).await, Some(expected));
    assert_eq!(events(store, t.org, action::KEY_REVOKED).await.len(), 1);
}

async fn another_orgs_key_cannot_be_revoked_rotated_or_deleted(store: &dyn Store) {
    let a = tenant(store).await;
    let b = tenant(store).await;
    let sa = service_account(store, &a, "ci").await;
    let key = issued_key(store, &a, sa.id).await;
    let intruder = b.ctx_at(at(1_000));

    let r = store.revoke_key(&intruder, key.id).await;
    assert!(matches!(r, Err(StoreError::NotFound)), "{r:?}");
    let replacement = successor(&b, &key, at(1_000));
    let r = store.rotate_key(&intruder, key.id, &replacement, None).await;
    assert!(matches!(r, Err(StoreError::NotFound)), "{r:?}");
    let r = store.delete_key(&intruder, key.id).await;
    assert!(matches!(r, Err(StoreError::NotFound)), "{r:?}");
    let r = store.revoke_key(&a.ctx, KeyId::generate()).await;
    assert!(matches!(r, Err(StoreError::NotFound)), "an unknown key: {r:?}");

    assert_eq!(key_of(store, &a, key.id).await, Some(key));
    assert_eq!(store.get_key(b.org, replacement.key.id).await.unwrap(), None);
    for org in [a.org, b.org] {
        for act in [action::KEY_REVOKED, action::KEY_ROTATED, action::KEY_DELETED] {
            assert!(events(store, org, act).await.is_empty(), "{act} in {org}");
        }
    }
}

async fn rotating_without_overlap_revokes_the_old_key_at_once(store: &dyn Store) {
    let t = tenant(store).await;
    let sa = service_account(store, &t, "ci").await;
    let old = issued_key(store, &t, sa.id).await;
    let now = at(1_000);
    let next = successor(&t, &old, now);

    let (new, old_after) = store.rotate_key(&t.ctx_at(now), old.id, &next, None).await.unwrap();
    assert_eq!(new, next.key);
    let expected_old = ApiKey {
        revoked_at: Some(now),
        revoked_by: Some(t.ctx.actor),
        ..old.clone()
    };
    assert_eq!(old_after, expected_old);
    assert_eq!(key_of(store, &t, old.id).await, Some(expected_old));
    assert_eq!(key_of(store, &t, new.id).await, Some(next.key.clone()));
    assert_eq!(store.find_key_by_hash(&next.hash).await.unwrap(), Some(next.key));
    let rotated = events(store, t.org, action::KEY_ROTATED).await;
    assert_eq!(rotated.len(), 1);
    assert_eq!(rotated[0].target, format!("key:{}", old.id));
}

async fn rotating_with_overlap_expires_the_old_key_at_the_given_time(store: &dyn Store) {
    let t = tenant(store).await;
    let sa = service_account(store, &t, "ci").await;
    let old = issued_key(store, &t, sa.id).await;
    let now = at(1_000);
    let grace_until = at(1_000 + 24 * HOUR_MS);
    let next = successor(&t, &old, now);

    let (new, old_after) = store
        .rotate_key(&t.ctx_at(now), old.id, &next, Some(grace_until))
        .await
        .unwrap();
    assert_eq!(new, next.key);
    let expected_old = ApiKey {
        expires_at: Some(grace_until),
        ..old.clone()
    };
    assert_eq!(old_after, expected_old, "not revoked, only expiring");
    assert_eq!(key_of(store, &t, old.id).await, Some(expected_old));
    assert_eq!(key_of(store, &t, new.id).await, Some(next.key));
}

async fn a_revoked_expired_or_rotated_key_cannot_be_rotated(store: &dyn Store) {
    let t = tenant(store).await;
    let sa = service_account(store, &t, "ci").await;
    let now = at(10_000);

    let revoked = issued_key(store, &t, sa.id).await;
    store.revoke_key(&t.ctx_at(at(1_000)), revoked.id).await.unwrap();

    let rotated = issued_key(store, &t, sa.id).await;
    let first_successor = successor(&t, &rotated, at(1_000));
    let overlap = Some(at(1_000 + HOUR_MS));
    store
        .rotate_key(&t.ctx_at(at(1_000)), rotated.id, &first_successor, overlap)
        .await
        .unwrap();

    // Expired from the exact millisecond `now >= expires_at`.
    let mut expiring = new_key(&t, sa.id);
    expiring.key.expires_at = Some(now);
    store.insert_key(&t.ctx, &expiring).await.unwrap();

    for (what, old) in [("revoked", &revoked), ("rotated", &rotated), ("expired", &expiring.key)] {
        for old_expires_at in [None, Some(at(20_000))] {
            let before = key_of(store, &t, old.id).await;
            let next = successor(&t, old, now);
            let r = store.rotate_key(&t.ctx_at(now), old.id, &next, old_expires_at).await;
            assert!(is_not_rotatable(&r), "{what} key, overlap {old_expires_at:?}: {r:?}");
            assert_eq!(
                key_of(store, &t, next.key.id).await,
                None,
                "no successor for the {what} key"
            );
            assert_eq!(key_of(store, &t, old.id).await, before, "the {what} key is unchanged");
        }
    }
    assert_eq!(events(store, t.org, action::KEY_ROTATED).await.len(), 1);
}

async fn rotating_a_key_twice_concurrently_succeeds_once(store: &dyn Store) {
    let t = tenant(store).await;
    let sa = service_account(store, &t, "ci").await;
    let ctx = t.ctx_at(at(1_000));
    // Several rounds, both rotation modes: a race that is lost only sometimes still shows.
    for round in 0..4 {
        let overlap = (round % 2 == 1).then(|| at(1_000 + HOUR_MS));
        let old = issued_key(store, &t, sa.id).await;
        let (one, two) = (successor(&t, &old, ctx.now), successor(&t, &old, ctx.now));
        let (r1, r2) = tokio::join!(
            store.rotate_key(&ctx, old.id, &one, overlap),
            store.rotate_key(&ctx, old.id, &two, overlap),
        );
        assert_eq!(
            usize::from(r1.is_ok()) + usize::from(r2.is_ok()),
            1,
            "round {round}: {r1:?} / {r2:?}"
        );
        assert!(r1.is_ok() || is_not_rotatable(&r1), "round {round}: {r1:?}");
        assert!(r2.is_ok() || is_not_rotatable(&r2), "round {round}: {r2:?}");
        let stored = [
            key_of(store, &t, one.key.id).await.is_some(),
            key_of(store, &t, two.key.id).await.is_some(),
        ];
        assert_eq!(
            stored,
            [r1.is_ok(), r2.is_ok()],
            "round {round}: only the winner's key exists"
        );
    }
    assert_eq!(events(store, t.org, action::KEY_ROTATED).await.len(), 4);
}

async fn only_a_revoked_key_can_be_deleted_and_its_history_stays(store: &dyn Store) {
    let t = tenant(store).await;
    let sa = service_account(store, &t, "ci").await;
    let new = new_key(&t, sa.id);
    store.insert_key(&t.ctx, &new).await.unwrap();
    let id = new.key.id;

    let r = store.delete_key(&t.ctx_at(at(1_000)), id).await;
    assert!(
        matches!(r, Err(StoreError::Precondition(Precondition::KeyNotRevoked))),
        "{r:?}"
    );
    assert_eq!(key_of(store, &t, id).await, Some(new.key.clone()));

    store.revoke_key(&t.ctx_at(at(2_000)), id).await.unwrap();
    store.delete_key(&t.ctx_at(at(3_000)), id).await.unwrap();
    assert_eq!(key_of(store, &t, id).await, None);
    assert_eq!(store.find_key_by_hash(&new.hash).await.unwrap(), None);
    assert!(store.list_keys(t.org, None, first(10)).await.unwrap().items.is_empty());
    let r = store.delete_key(&t.ctx_at(at(4_000)), id).await;
    assert!(matches!(r, Err(StoreError::NotFound)), "deleting again: {r:?}");

    let audit = store.list_audit_events(t.org, None, first(100)).await.unwrap();
    let history: Vec<&str> = audit
        .items
        .iter()
        .filter(|e| e.target == format!("key:{id}"))
        .map(|e| e.action.as_str())
        .collect();
    assert_eq!(history, [action::KEY_DELETED, action::KEY_REVOKED, action::KEY_ISSUED]);
}

// ---------------------------------------------------------------------------------------------
// Sessions

async fn starting_a_session_stores_it_and_audits_the_login(store: &dyn Store) {
    let t = tenant(store).await;
    let (s, _) = session(store, &t, false).await;
    assert_eq!(store.get_session(s.id).await.unwrap(), Some(s.clone()));
    let logins = events(store, t.org, action::LOGIN_SUCCEEDED).await;
    assert_eq!(logins.len(), 1);
    assert_eq!(logins[0].target, format!("session:{}", s.id));
    assert_eq!(store.get_session(SessionId::generate()).await.unwrap(), None);
}

async fn a_rotated_token_lives_as_long_as_the_session_asked_for(store: &dyn Store) {
    let t = tenant(store).await;
    for remember_me in [false, true] {
        let (s, token) = session(store, &t, remember_me).await;
        let (out, second) = refresh(store, &token, UA, at(1_000)).await;
        assert_eq!(out, rotated(&s, at(1_000)), "remember_me {remember_me}");
        let RefreshOutcome::Rotated { expires_at, .. } = out else {
            unreachable!()
        };
        // The new token is stored with that expiry: refused from that millisecond on.
        let (out, _) = refresh(store, &second, UA, expires_at).await;
        assert_eq!(out, RefreshOutcome::Expired, "remember_me {remember_me}");
        let just_before = UnixMs(expires_at.0 - 1);
        let (out, _) = refresh(store, &second, UA, just_before).await;
        assert_eq!(out, rotated(&s, just_before), "remember_me {remember_me}");
    }
}

async fn a_refresh_token_is_single_use_and_its_reuse_revokes_the_session(store: &dyn Store) {
    let t = tenant(store).await;
    let (s, first_token) = session(store, &t, true).await;

    let (out, second) = refresh(store, &first_token, UA, at(1_000)).await;
    assert_eq!(out, rotated(&s, at(1_000)));
    let (out, third) = refresh(store, &second, UA, at(2_000)).await;
    assert_eq!(out, rotated(&s, at(2_000)), "the token handed out works");

    let (out, thief) = refresh(store, &first_token, UA, at(3_000)).await;
    assert!(matches!(&out, RefreshOutcome::Reused(r) if r.id == s.id), "{out:?}");
    let revoked = store.get_session(s.id).await.unwrap().unwrap();
    assert_eq!(revoked.revoked_at, Some(at(3_000)));
    let reused = events(store, t.org, action::REFRESH_TOKEN_REUSED).await;
    assert_eq!(reused.len(), 1);
    assert_eq!(reused[0].target, format!("session:{}", s.id));

    // The whole session is gone, the newest token included; the thief got nothing stored.
    let (out, _) = refresh(store, &third, UA, at(4_000)).await;
    assert_eq!(out, RefreshOutcome::SessionRevoked);
    let (out, _) = refresh(store, &thief, UA, at(4_000)).await;
    assert_eq!(out, RefreshOutcome::NotFound);
}

async fn a_refresh_from_another_user_agent_is_refused_without_consuming_the_token(store: &dyn Store) {
    let t = tenant(store).await;
    let (s, token) = session(store, &t, false).await;

    let (out, not_issued) = refresh(store, &token, "curl/8.0", at(1_000)).await;
    assert_eq!(out, RefreshOutcome::UserAgentMismatch);
    let (out, _) = refresh(store, &not_issued, UA, at(1_500)).await;
    assert_eq!(out, RefreshOutcome::NotFound, "nothing was issued");

    let (out, _) = refresh(store, &token, UA, at(2_000)).await;
    assert_eq!(out, rotated(&s, at(2_000)));
    assert_eq!(store.get_session(s.id).await.unwrap(), Some(s));
}

async fn a_refresh_token_is_expired_from_its_expiry_millisecond_on(store: &dyn Store) {
    let t = tenant(store).await;
    let (s, token) = session(store, &t, false).await;
    let expiry = T0.plus(LIFETIME);

    let (out, _) = refresh(store, &token, UA, expiry).await;
    assert_eq!(out, RefreshOutcome::Expired);
    assert_eq!(
        store.get_session(s.id).await.unwrap(),
        Some(s.clone()),
        "the session stays"
    );
    // Refused, not consumed: a millisecond earlier the same token still rotates.
    let just_before = UnixMs(expiry.0 - 1);
    let (out, _) = refresh(store, &token, UA, just_before).await;
    assert_eq!(out, rotated(&s, just_before));
}

async fn an_unknown_refresh_token_is_not_found(store: &dyn Store) {
    let t = tenant(store).await;
    let (s, _) = session(store, &t, false).await;
    let (out, _) = refresh(store, &rand::random(), UA, at(1_000)).await;
    assert_eq!(out, RefreshOutcome::NotFound);
    assert_eq!(store.get_session(s.id).await.unwrap(), Some(s));
}

async fn refreshing_twice_concurrently_with_one_token_rotates_once(store: &dyn Store) {
    let t = tenant(store).await;
    let now = at(1_000);
    for round in 0..4 {
        let (_, token) = session(store, &t, false).await;
        let (one, two) = (next_token(), next_token());
        let (r1, r2) = tokio::join!(
            store.refresh_session(&token, UA, &one, IP, now),
            store.refresh_session(&token, UA, &two, IP, now),
        );
        let outcomes = [r1.unwrap(), r2.unwrap()];
        let rotated = outcomes.iter().filter(|o| matches!(o, RefreshOutcome::Rotated { .. }));
        assert_eq!(rotated.count(), 1, "round {round}: {outcomes:?}");
        // The loser presented a token that had just been exchanged: the policy's reuse case.
        let reused = outcomes.iter().filter(|o| matches!(o, RefreshOutcome::Reused(_)));
        assert_eq!(reused.count(), 1, "round {round}: {outcomes:?}");
    }
}

async fn logging_out_revokes_the_session_once_and_an_unknown_token_is_none(store: &dyn Store) {
    let t = tenant(store).await;
    let (s, token) = session(store, &t, false).await;

    assert_eq!(
        store.revoke_session_by_token(&token, IP, at(1_000)).await.unwrap(),
        Some(s.id)
    );
    let revoked = Session {
        revoked_at: Some(at(1_000)),
        ..s.clone()
    };
    assert_eq!(store.get_session(s.id).await.unwrap(), Some(revoked.clone()));
    let audited = events(store, t.org, action::SESSION_REVOKED).await;
    assert_eq!(audited.len(), 1);
    assert_eq!(audited[0].target, format!("session:{}", s.id));

    assert_eq!(
        store.revoke_session_by_token(&token, IP, at(2_000)).await.unwrap(),
        Some(s.id)
    );
    assert_eq!(store.get_session(s.id).await.unwrap(), Some(revoked), "left as it was");
    assert_eq!(events(store, t.org, action::SESSION_REVOKED).await.len(), 1);

    assert_eq!(
        store
            .revoke_session_by_token(&rand::random(), IP, at(3_000))
            .await
            .unwrap(),
        None
    );
    let (out, _) = refresh(store, &token, UA, at(4_000)).await;
    assert_eq!(out, RefreshOutcome::SessionRevoked);
}

// ---------------------------------------------------------------------------------------------
// Audit and signing keys

async fn audit_events_are_listed_newest_first_by_action_a_page_at_a_time(store: &dyn Store) {
    let a = tenant(store).await;
    let b = tenant(store).await;
    let baseline = store.list_audit_events(a.org, None, first(100)).await.unwrap().items;
    let mut appended = Vec::new();
    for i in 0..5 {
        let act = if i % 2 == 0 { "test.even" } else { "test.odd" };
        let mut e = a.ctx_at(at(i)).event(act, format!("thing:{i}"));
        e.key_prefix = format!("sk_test_{i:04}");
        e.details.insert("i".into(), i.to_string());
        store.append_audit(&e).await.unwrap();
        appended.push(e);
    }

    let all = store.list_audit_events(a.org, None, first(100)).await.unwrap();
    let newest_first: Vec<AuditEvent> = appended.iter().rev().chain(&baseline).cloned().collect();
    assert_eq!(all.items, newest_first, "every field read back, newest first");
    assert_eq!(all.next, None);

    let page = store
        .list_audit_events(a.org, Some("test.even"), first(2))
        .await
        .unwrap();
    assert_eq!(page.items, [appended[4].clone(), appended[2].clone()]);
    assert_eq!(page.next, Some(appended[2].id.0));
    let page = store
        .list_audit_events(a.org, Some("test.even"), after(2, page.next))
        .await
        .unwrap();
    assert_eq!(page.items, [appended[0].clone()]);
    assert_eq!(page.next, None);

    assert!(events(store, b.org, "test.even").await.is_empty());
    let foreign = store.list_audit_events(b.org, None, first(100)).await.unwrap().items;
    assert!(foreign.iter().all(|e| e.org_id == Some(b.org)), "{foreign:?}");
}

async fn an_audit_event_without_an_org_is_kept_but_listed_under_no_org(store: &dyn Store) {
    let t = tenant(store).await;
    let failed_login = AuditEvent {
        id: EventId::generate(),
        org_id: None,
        actor: Actor::Anonymous,
        action: action::LOGIN_FAILED.to_owned(),
        target: String::new(),
        key_prefix: String::new(),
        client_ip: "198.51.100.7".to_owned(),
        occurred_at: at(1_000),
        details: [("email".to_owned(), "nobody@example.com".to_owned())].into(),
    };
    store.append_audit(&failed_login).await.unwrap();
    assert!(events(store, t.org, action::LOGIN_FAILED).await.is_empty());
}

async fn signing_keys_are_listed_oldest_first(store: &dyn Store) {
    assert!(store.list_signing_keys().await.unwrap().is_empty());
    let record = |kid: &str, created: i64| SigningKeyRecord {
        kid: kid.to_owned(),
        public_key: rand::random::<[u8; 32]>().to_vec(),
        created_at: at(created),
        activates_at: at(created + HOUR_MS),
    };
    let (early, middle, late) = (record("k-early", 0), record("k-middle", 1_000), record("k-late", 2_000));
    for key in [&late, &early, &middle] {
        store.insert_signing_key(key).await.unwrap();
    }
    assert_eq!(store.list_signing_keys().await.unwrap(), [early, middle, late]);
}
