//! The audit log and the signing keys' public halves. Compiled once per backend (see
//! `store/sql/mod.rs`).

use super::Backend;
use super::tx;
use crate::domain::audit::{Actor, AuditEvent};
use crate::domain::ids::{KeyId, OrgId, UserId};
use crate::domain::time::UnixMs;
use crate::store::codec::{AuditRow, paginate};
use crate::store::sql::{Dialect, db_err, fetch_limit};
use crate::store::text::Text;
use crate::store::{
    AuditEntry, AuditFilter, AuditLog, AuditReads, Page, PageRequest, SigningKeyReads, SigningKeyRecord, SigningKeys,
    StoreResult,
};
use async_trait::async_trait;
use std::collections::{BTreeSet, HashMap};
use uuid::Uuid;

#[derive(sqlx::FromRow)]
struct SigningKeyRow {
    #[sqlx(try_from = "Text")]
    kid: String,
    public_key: Vec<u8>,
    created_at: i64,
    activates_at: i64,
}

#[async_trait]
impl AuditLog for Backend {
    #[tracing::instrument(name = "store.append_audit", level = "debug", skip_all)]
    async fn append_audit(&self, event: &AuditEvent) -> StoreResult<()> {
        let mut tx = tx::begin(self).await?;
        tx::insert_audit(&mut tx, event).await?;
        tx::commit(tx).await
    }
}

#[async_trait]
impl AuditReads for Backend {
    #[tracing::instrument(name = "store.list_audit_events", level = "debug", skip_all)]
    async fn list_audit_events(
        &self,
        org: OrgId,
        action: Option<&str>,
        page: PageRequest,
    ) -> StoreResult<Page<AuditEvent>> {
        let filter = AuditFilter {
            action: action.map(str::to_owned),
            ..AuditFilter::default()
        };
        events(self, org, &filter, page).await
    }

    #[tracing::instrument(name = "store.list_audit_entries", level = "debug", skip_all)]
    async fn list_audit_entries(
        &self,
        org: OrgId,
        filter: &AuditFilter,
        page: PageRequest,
    ) -> StoreResult<Page<AuditEntry>> {
        let found = events(self, org, filter, page).await?;
        let names = actor_names(self, org, &found.items).await?;
        let items = found
            .items
            .into_iter()
            .map(|event| AuditEntry {
                actor_display: names.get(&event.actor).cloned().unwrap_or_default(),
                event,
            })
            .collect();
        Ok(Page {
            items,
            next: found.next,
        })
    }
}

async fn events(store: &Backend, org: OrgId, filter: &AuditFilter, page: PageRequest) -> StoreResult<Page<AuditEvent>> {
    // An actor id matches the user or the key of that id; a target id matches any kind.
    let as_user = filter.actor.map(|id| format!("user:{id}"));
    let as_key = filter.actor.map(|id| format!("key:{id}"));
    let target = filter.target.map(|id| format!("%:{id}"));
    let rows: Vec<AuditRow> = sqlx::query_as(&Backend::sql(
        "SELECT id, org_id, actor, action, target, key_prefix, client_ip, occurred_at, details \
         FROM audit_events WHERE org_id = ? AND (? IS NULL OR action = ?) \
         AND (? IS NULL OR actor = ? OR actor = ?) AND (? IS NULL OR target LIKE ?) \
         AND (? IS NULL OR id < ?) ORDER BY id DESC LIMIT ?",
    ))
    .bind(org.0)
    .bind(filter.action.as_deref())
    .bind(filter.action.as_deref())
    .bind(as_user.as_deref())
    .bind(as_user.as_deref())
    .bind(as_key.as_deref())
    .bind(target.as_deref())
    .bind(target.as_deref())
    .bind(page.after)
    .bind(page.after)
    .bind(fetch_limit(page))
    .fetch_all(store.reader())
    .await
    .map_err(db_err)?;
    paginate(rows, page, |e: &AuditEvent| e.id.0)
}

/// The acting users' emails (also of removed users) and the acting keys' display prefixes,
/// read in one statement each for the whole page. The ids come from `org`'s own events, written
/// by the server; keys are still looked up within `org`, users (who may belong to several orgs,
/// and whose membership a removal deletes) by id alone.
async fn actor_names(store: &Backend, org: OrgId, events: &[AuditEvent]) -> StoreResult<HashMap<Actor, String>> {
    let mut users = BTreeSet::new();
    let mut keys = BTreeSet::new();
    for e in events {
        match e.actor {
            Actor::User(id) => users.insert(id.0),
            Actor::Key(id) => keys.insert(id.0),
            Actor::System | Actor::Anonymous => false,
        };
    }
    let mut names = HashMap::new();
    if !users.is_empty() {
        let sql = format!(
            "SELECT id, COALESCE(removed_email, email) FROM users WHERE id IN ({})",
            placeholders(users.len())
        );
        let sql = Backend::sql(&sql).into_owned();
        let mut query = sqlx::query_as::<_, (Uuid, Text)>(&sql);
        for id in &users {
            query = query.bind(*id);
        }
        let found = query.fetch_all(store.reader()).await.map_err(db_err)?;
        names.extend(
            found
                .into_iter()
                .map(|(id, Text(email))| (Actor::User(UserId(id)), email)),
        );
    }
    if !keys.is_empty() {
        let sql = format!(
            "SELECT id, prefix, start FROM api_keys WHERE org_id = ? AND id IN ({})",
            placeholders(keys.len())
        );
        let sql = Backend::sql(&sql).into_owned();
        let mut query = sqlx::query_as::<_, (Uuid, Text, Text)>(&sql).bind(org.0);
        for id in &keys {
            query = query.bind(*id);
        }
        let found = query.fetch_all(store.reader()).await.map_err(db_err)?;
        // The same text as `ApiKey::display_prefix`.
        names.extend(
            found
                .into_iter()
                .map(|(id, Text(prefix), Text(start))| (Actor::Key(KeyId(id)), format!("{prefix}{start}"))),
        );
    }
    Ok(names)
}

/// `n` comma-separated `?` placeholders (the values are always bound).
fn placeholders(n: usize) -> String {
    vec!["?"; n].join(", ")
}

#[async_trait]
impl SigningKeyReads for Backend {
    #[tracing::instrument(name = "store.list_signing_keys", level = "debug", skip_all)]
    async fn list_signing_keys(&self) -> StoreResult<Vec<SigningKeyRecord>> {
        let rows: Vec<SigningKeyRow> = sqlx::query_as(
            "SELECT kid, public_key, created_at, activates_at FROM signing_keys ORDER BY created_at, kid",
        )
        .fetch_all(self.reader())
        .await
        .map_err(db_err)?;
        Ok(rows
            .into_iter()
            .map(|r| SigningKeyRecord {
                kid: r.kid,
                public_key: r.public_key,
                created_at: UnixMs(r.created_at),
                activates_at: UnixMs(r.activates_at),
            })
            .collect())
    }
}

#[async_trait]
impl SigningKeys for Backend {
    #[tracing::instrument(name = "store.insert_signing_key", level = "debug", skip_all)]
    async fn insert_signing_key(&self, key: &SigningKeyRecord) -> StoreResult<()> {
        sqlx::query(&Backend::sql(
            "INSERT INTO signing_keys (kid, public_key, created_at, activates_at) VALUES (?, ?, ?, ?)",
        ))
        .bind(&key.kid)
        .bind(&key.public_key)
        .bind(key.created_at.0)
        .bind(key.activates_at.0)
        .execute(self.writer())
        .await
        .map_err(db_err)?;
        Ok(())
    }
}
