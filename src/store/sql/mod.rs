//! What the SQL backends share: one body of SQL per aggregate, compiled once per backend.
//!
//! The aggregate modules in this directory (`orgs.rs`, `keys.rs`, `sessions.rs`, ...) are not
//! children of this module. Each backend file (`postgres.rs`, `sqlite.rs`, `mysql.rs`) declares
//! them with `#[path]` after naming its driver (`Db`) and its store type (`Backend`), so the same
//! source is type-checked against each concrete sqlx driver. sqlx's generic executor bounds do
//! not survive `async_trait`'s `Send` futures, and a macro body is never formatted or read by
//! tools; this keeps plain, formatted Rust with concrete types.
//!
//! The schemas share column names, Unix-millisecond integers and JSON text, and the SQL is
//! written with `?` placeholders, so one statement serves every backend. What differs by
//! dialect sits behind [`Dialect`]. Races are settled by conditional `UPDATE … WHERE <state>`
//! plus a `rows_affected` check, which behaves the same under row locks and a single writer.

use super::{PageRequest, StoreError, Taken};
use crate::domain::api_key::ApiKey;
use crate::domain::audit::{AuditContext, AuditEvent};
use std::borrow::Cow;

/// The few statements that differ between backends.
pub(super) trait Dialect {
    /// The statement text with `?` placeholders turned into the backend's own.
    fn sql(text: &str) -> Cow<'_, str>;

    /// The statement that opens a write transaction, where plain `BEGIN` is not enough.
    const BEGIN_WRITE: Option<&'static str>;

    /// Run inside a change's transaction to wake followers on commit, where the backend can.
    const NOTIFY_CHANGE: Option<&'static str>;

    /// Inserts `(org_id, role, scopes, updated_at)` into `role_scopes`, replacing an existing row.
    const UPSERT_ROLE_SCOPES: &'static str;

    /// Appended to a `SELECT` to lock the rows it reads until the transaction ends; empty where
    /// the write transaction already holds the whole database (SQLite).
    const FOR_UPDATE: &'static str;

    /// Raises `api_keys.last_used_at` from `rows` pairs of `(id, time)` placeholders, keeping
    /// the later of stored and new, in one statement.
    fn touch_keys_sql(rows: usize) -> String;
}

/// `text` with its `?` placeholders numbered `$1`, `$2`, … (PostgreSQL). The statements hold no
/// `?` other than placeholders: values are always bound, never written into the text.
pub(super) fn numbered_placeholders(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 16);
    let mut n = 0;
    for c in text.chars() {
        if c == '?' {
            n += 1;
            out.push('$');
            out.push_str(&n.to_string());
        } else {
            out.push(c);
        }
    }
    out
}

/// Classifies a driver error: retryable (`Unavailable`) or a failure (`Internal`); see `fault`.
pub(super) fn db_err(e: sqlx::Error) -> StoreError {
    super::fault::store_error(e)
}

/// A unique violation becomes `Conflict(field)`; anything else as [`db_err`].
pub(super) fn conflict_on(field: Taken) -> impl Fn(sqlx::Error) -> StoreError {
    move |e| match &e {
        sqlx::Error::Database(d) if d.is_unique_violation() => StoreError::Conflict(field),
        _ => db_err(e),
    }
}

/// The row limit for a page: one extra row tells whether more exist. The use cases have
/// already bounded `size` (see `service::paging`).
pub(super) fn fetch_limit(page: PageRequest) -> i64 {
    i64::from(page.size) + 1
}

/// The audit event of a change to `key`, with what identifies the key to a reader.
pub(super) fn key_event(ctx: &AuditContext, act: &str, key: &ApiKey) -> AuditEvent {
    let mut e = ctx.event(act, format!("key:{}", key.id));
    e.key_prefix = key.display_prefix();
    e.details
        .insert("service_account_id".into(), key.service_account_id.to_string());
    e.details.insert("name".into(), key.name.as_str().to_owned());
    if let Some(pair) = key.pair_id {
        e.details.insert("pair_id".into(), pair.to_string());
    }
    e
}

#[cfg(test)]
mod tests {
    use super::numbered_placeholders;

    #[test]
    fn placeholders_are_numbered_in_order() {
        assert_eq!(
            numbered_placeholders("SELECT a FROM t WHERE b = ? AND (? IS NULL OR c > ?) LIMIT ?"),
            "SELECT a FROM t WHERE b = $1 AND ($2 IS NULL OR c > $3) LIMIT $4"
        );
        assert_eq!(numbered_placeholders("SELECT 1"), "SELECT 1");
    }
}
