//! What every check builds on: fixed times, tenants, service accounts, keys and sessions made
//! the way the use cases make them, and short ways to read back audit events and changes.

use gatekey::domain::api_key::{ApiKey, NewKey};
use gatekey::domain::audit::{Actor, AuditContext, AuditEvent};
use gatekey::domain::fields::{Email, KeyName, Metadata, Name};
use gatekey::domain::ids::{KeyId, OrgId, ServiceAccountId, SessionId, UserId};
use gatekey::domain::ip::IpAllowlist;
use gatekey::domain::key_format::{self, Environment, KeyKind};
use gatekey::domain::role::Role;
use gatekey::domain::scope::Scopes;
use gatekey::domain::time::UnixMs;
use gatekey::store::{
    ChangeKind, MAX_PAGE_SIZE, NewRefreshToken, NewUser, NextRefreshToken, Org, PageRequest, Precondition,
    RefreshOutcome, ServiceAccount, Session, Store, StoreError,
};
use secrecy::SecretString;
use std::time::Duration;
use uuid::Uuid;

/// 2026-01-01T00:00:00Z.
pub(super) const T0: UnixMs = UnixMs(1_767_225_600_000);
pub(super) const HOUR_MS: i64 = 3_600_000;
pub(super) const IP: &str = "192.0.2.1";
pub(super) const UA: &str = "gatekey-tests/1.0";

pub(super) fn at(offset_ms: i64) -> UnixMs {
    UnixMs(T0.0 + offset_ms)
}

pub(super) fn unique(stem: &str) -> String {
    format!("{stem}-{}", Uuid::new_v4().simple())
}

pub(super) fn first(size: u32) -> PageRequest {
    PageRequest { size, after: None }
}

pub(super) fn after(size: u32, cursor: Option<Uuid>) -> PageRequest {
    PageRequest { size, after: cursor }
}

pub(super) fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| (*s).to_owned()).collect()
}

pub(super) fn scopes(items: &[&str]) -> Scopes {
    Scopes::parse("scopes", &strings(items)).unwrap()
}

/// An org, its owner, and the context the owner acts in.
pub(super) struct Tenant {
    pub(super) org: OrgId,
    pub(super) owner: UserId,
    pub(super) ctx: AuditContext,
}

impl Tenant {
    pub(super) fn ctx_at(&self, now: UnixMs) -> AuditContext {
        AuditContext {
            now,
            ..self.ctx.clone()
        }
    }
}

pub(super) fn org(name: &str) -> Org {
    Org {
        id: OrgId::generate(),
        name: Name::parse("name", name).unwrap(),
        created_at: T0,
    }
}

pub(super) fn new_user(org: OrgId, email: &str, role: Role) -> NewUser {
    NewUser {
        id: UserId::generate(),
        org_id: org,
        email: Email::parse("email", email).unwrap(),
        password_hash: format!("$argon2id$v=19$m=19456,t=2,p=1${}", unique("hash")),
        role,
        created_at: T0,
    }
}

pub(super) async fn tenant(store: &dyn Store) -> Tenant {
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

pub(super) async fn service_account(store: &dyn Store, t: &Tenant, name: &str) -> ServiceAccount {
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

pub(super) fn new_key_of(t: &Tenant, sa: ServiceAccountId, kind: KeyKind, env: Environment) -> NewKey {
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
            pair_id: None,
            disabled_at: None,
        },
    }
}

pub(super) fn new_key(t: &Tenant, sa: ServiceAccountId) -> NewKey {
    new_key_of(t, sa, KeyKind::Secret, Environment::Live)
}

/// The key that replaces `old`, as the rotate use case builds it.
pub(super) fn successor(t: &Tenant, old: &ApiKey, now: UnixMs) -> NewKey {
    let mut next = new_key(t, old.service_account_id);
    next.key.name = old.name.rotated(&now.yymmdd());
    next.key.rotated_from = Some(old.id);
    next.key.created_at = now;
    next
}

pub(super) async fn issued_key(store: &dyn Store, t: &Tenant, sa: ServiceAccountId) -> ApiKey {
    let new = new_key(t, sa);
    store.insert_key(&t.ctx, &new).await.unwrap();
    new.key
}

pub(super) async fn key_of(store: &dyn Store, t: &Tenant, id: KeyId) -> Option<ApiKey> {
    store.get_key(t.org, id).await.unwrap()
}

/// Every event of `act` in `org`, newest first.
pub(super) async fn events(store: &dyn Store, org: OrgId, act: &str) -> Vec<AuditEvent> {
    let page = store
        .list_audit_events(org, Some(act), first(MAX_PAGE_SIZE))
        .await
        .unwrap();
    assert_eq!(page.next, None, "fixtures stay within one page");
    page.items
}

/// Lifetimes of the token a refresh hands out, without and with remember-me.
pub(super) const LIFETIME: Duration = Duration::from_secs(3_600);
pub(super) const REMEMBER_ME_LIFETIME: Duration = Duration::from_secs(30 * 24 * 3_600);

/// A session with its first refresh token, as login stores them.
pub(super) async fn session(store: &dyn Store, t: &Tenant, remember_me: bool) -> (Session, [u8; 32]) {
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

pub(super) fn next_token() -> NextRefreshToken {
    NextRefreshToken {
        hash: rand::random(),
        lifetime: LIFETIME,
        remember_me_lifetime: REMEMBER_ME_LIFETIME,
    }
}

/// What a successful refresh of `session` at `now` must return.
pub(super) fn rotated(session: &Session, now: UnixMs) -> RefreshOutcome {
    let lifetime = if session.remember_me {
        REMEMBER_ME_LIFETIME
    } else {
        LIFETIME
    };
    RefreshOutcome::Rotated {
        session: session.clone(),
        expires_at: now.plus(lifetime),
        // Fixture sessions belong to the tenant's owner.
        role: Role::Owner,
    }
}

/// Presents `token`; returns the outcome and the hash of the token handed out if it rotated.
pub(super) async fn refresh(store: &dyn Store, token: &[u8; 32], ua: &str, now: UnixMs) -> (RefreshOutcome, [u8; 32]) {
    let next = next_token();
    let outcome = store.refresh_session(token, ua, &next, IP, now).await.unwrap();
    (outcome, next.hash)
}

pub(super) fn is_not_found<T>(r: &Result<T, StoreError>) -> bool {
    matches!(r, Err(StoreError::NotFound))
}

pub(super) fn is_not_rotatable<T>(r: &Result<T, StoreError>) -> bool {
    matches!(r, Err(StoreError::Precondition(Precondition::KeyNotRotatable)))
}

/// A change as a check expects it (kind, subject, time); the feed's `seq` is the backend's.
pub(super) type Recorded = (ChangeKind, String, UnixMs);

pub(super) fn change(kind: ChangeKind, subject: impl ToString, now: UnixMs) -> Recorded {
    (kind, subject.to_string(), now)
}

/// Where the change feed ends now; a check reads what its own calls add after it.
pub(super) async fn feed_end(store: &dyn Store) -> i64 {
    store.latest_change_seq().await.unwrap()
}

/// Every change recorded after `seq`, in feed order.
pub(super) async fn changes_after(store: &dyn Store, seq: i64) -> Vec<Recorded> {
    let changes = store.changes_since(seq, 1_000).await.unwrap();
    assert!(changes.len() < 1_000, "fixtures stay within one read");
    changes.into_iter().map(|c| (c.kind, c.subject, c.created_at)).collect()
}
