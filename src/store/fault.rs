//! Which database failures say "try again" and which say "bug", and the eviction of pooled
//! connections that still point at a demoted primary.
//!
//! A caller can only act on the difference: `Unavailable` (gRPC `UNAVAILABLE`, retry later)
//! for anything a restart, failover, network cut or lock contention explains; `Internal` only
//! for what no retry can fix. Codes are read through `DatabaseError::code()` (a SQLSTATE on
//! PostgreSQL and MySQL, the extended result code on SQLite), plus MySQL's error number, which
//! is more precise than its SQLSTATE (`HY000` covers both a lock wait timeout and a bug).

use super::StoreError;
use sqlx::error::DatabaseError;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// What a driver error says about the database.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fault {
    /// The server refuses writes: it was demoted, so this pool's connections lead nowhere useful.
    ReadOnly,
    /// Lost connection, restart, lock contention, an exhausted pool: the call may succeed later.
    Transient,
    /// A bug, a corrupt row, a failed migration: retrying changes nothing.
    Permanent,
}

/// Classifies a driver error (see the module doc). A read-only answer also marks every
/// connection opened so far for eviction (see [`opened_since_last_read_only`]).
pub(super) fn store_error(e: sqlx::Error) -> StoreError {
    match fault_of(&e) {
        Fault::ReadOnly => {
            mark_read_only_now();
            StoreError::Unavailable(e)
        }
        Fault::Transient => StoreError::Unavailable(e),
        Fault::Permanent => StoreError::Internal(e.into()),
    }
}

fn fault_of(e: &sqlx::Error) -> Fault {
    match e {
        sqlx::Error::Database(d) => database_fault(d.as_ref()),
        // Protocol: a connection cut mid-message reads as garbage rather than as an I/O error.
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::Protocol(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed => Fault::Transient,
        _ => Fault::Permanent,
    }
}

fn database_fault(d: &dyn DatabaseError) -> Fault {
    let code = d.code();
    if d.try_downcast_ref::<sqlx::sqlite::SqliteError>().is_some() {
        return sqlite_fault(code.as_deref(), d.message());
    }
    mysql_number(d)
        .and_then(mysql_fault)
        .or_else(|| code.as_deref().and_then(sqlstate_fault))
        .unwrap_or(Fault::Permanent)
}

/// SQLSTATEs, shared by PostgreSQL and MySQL's `code()`.
fn sqlstate_fault(state: &str) -> Option<Fault> {
    match state {
        // read_only_sql_transaction: a demoted primary (or a standby behind the primary's name).
        "25006" => Some(Fault::ReadOnly),
        // serialization_failure, deadlock_detected, statement_completion_unknown.
        "40001" | "40P01" | "40003" => Some(Fault::Transient),
        // admin_shutdown, crash_shutdown, cannot_connect_now, idle_session_timeout.
        "57P01" | "57P02" | "57P03" | "57P05" => Some(Fault::Transient),
        // query_canceled (statement_timeout), lock_not_available, idle_in_transaction timeout.
        "57014" | "55P03" | "25P03" => Some(Fault::Transient),
        // Class 53, insufficient resources (too_many_connections, out of memory, disk full).
        s if s.starts_with("53") => Some(Fault::Transient),
        // Class 08, connection exception (MySQL's 08S01 included).
        s if s.starts_with("08") => Some(Fault::Transient),
        _ => None,
    }
}

/// MySQL error numbers whose SQLSTATE is too vague (mostly `HY000`) or not a class above.
fn mysql_fault(number: u16) -> Option<Fault> {
    match number {
        // ER_OPTION_PREVENTS_STATEMENT (--read-only), ER_CANT_EXECUTE_IN_READ_ONLY_TRANSACTION,
        // ER_READ_ONLY_MODE.
        1290 | 1792 | 1836 => Some(Fault::ReadOnly),
        // ER_LOCK_WAIT_TIMEOUT, ER_LOCK_DEADLOCK, ER_QUERY_TIMEOUT, MariaDB's
        // ER_STATEMENT_TIMEOUT, a group-replication rollback at commit, ER_LOCK_NOWAIT.
        1205 | 1213 | 3024 | 1969 | 3101 | 3572 => Some(Fault::Transient),
        // ER_CON_COUNT_ERROR, ER_SERVER_SHUTDOWN, ER_QUERY_INTERRUPTED, ER_CONNECTION_KILLED,
        // ER_CLIENT_INTERACTION_TIMEOUT.
        1040 | 1053 | 1317 | 1927 | 4031 => Some(Fault::Transient),
        // CR_CONNECTION_ERROR, CR_CONN_HOST_ERROR, CR_SERVER_GONE_ERROR, CR_SERVER_LOST.
        2002 | 2003 | 2006 | 2013 => Some(Fault::Transient),
        _ => None,
    }
}

/// SQLite: another connection (or process) holds the lock we need.
fn sqlite_fault(code: Option<&str>, message: &str) -> Fault {
    const SQLITE_BUSY: i32 = 5;
    const SQLITE_LOCKED: i32 = 6;
    // Extended codes keep the primary code in the low byte (SQLITE_BUSY_SNAPSHOT = 517).
    let primary = code.and_then(|c| c.parse::<i32>().ok()).map(|c| c & 0xff);
    let locked_message = message.contains("database is locked") || message.contains("database table is locked");
    if matches!(primary, Some(SQLITE_BUSY | SQLITE_LOCKED)) || locked_message {
        Fault::Transient
    } else {
        Fault::Permanent
    }
}

/// MySQL's error number (the SQLSTATE alone is too vague: `HY000` covers a lock wait timeout
/// and a bug alike).
fn mysql_number(d: &dyn DatabaseError) -> Option<u16> {
    d.try_downcast_ref::<sqlx::mysql::MySqlDatabaseError>()
        .map(|e| e.number())
}

/// When the newest read-only answer arrived, in nanoseconds after [`epoch`]; 0 means never.
///
/// Process-wide rather than per pool because errors are classified without a handle on the
/// pool they came from. A process has one store, so in production this is the same thing;
/// where several pools share a process (tests), the cost of a false eviction is a reconnect.
static LAST_READ_ONLY: AtomicU64 = AtomicU64::new(0);

fn epoch() -> Instant {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    *EPOCH.get_or_init(Instant::now)
}

fn nanos_since_epoch(at: Instant) -> u64 {
    u64::try_from(at.saturating_duration_since(epoch()).as_nanos()).unwrap_or(u64::MAX)
}

fn mark_read_only_now() {
    // At least 1, so that a mark set in the epoch's first nanosecond still counts.
    LAST_READ_ONLY.fetch_max(nanos_since_epoch(Instant::now()).max(1), Ordering::Relaxed);
}

/// The `before_acquire` test for a pool, given a connection's age: false (close it, open
/// another) for a connection opened before the last read-only answer. After a failover the
/// primary's name leads to the new primary, but pooled connections stay with the old one and
/// would fail every write until they age out.
pub(super) fn opened_since_last_read_only(age: Duration) -> bool {
    let mark = LAST_READ_ONLY.load(Ordering::Relaxed);
    if mark == 0 {
        return true;
    }
    match Instant::now().checked_sub(age) {
        Some(opened) => nanos_since_epoch(opened) > mark,
        None => false,
    }
}

#[cfg(test)]
#[allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "a test fails by panicking"
)]
mod tests {
    use super::*;
    use sqlx::error::ErrorKind;
    use sqlx::{Connection, Executor};
    use std::borrow::Cow;

    /// A driver error as PostgreSQL or MySQL would report it: `shown` is its `Display`.
    #[derive(Debug)]
    struct Reported {
        code: Option<&'static str>,
        shown: String,
    }

    impl std::fmt::Display for Reported {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str(&self.shown)
        }
    }

    impl std::error::Error for Reported {}

    impl DatabaseError for Reported {
        fn message(&self) -> &str {
            &self.shown
        }
        fn code(&self) -> Option<Cow<'_, str>> {
            self.code.map(Cow::Borrowed)
        }
        fn as_error(&self) -> &(dyn std::error::Error + Send + Sync + 'static) {
            self
        }
        fn as_error_mut(&mut self) -> &mut (dyn std::error::Error + Send + Sync + 'static) {
            self
        }
        fn into_error(self: Box<Self>) -> Box<dyn std::error::Error + Send + Sync + 'static> {
            self
        }
        fn kind(&self) -> ErrorKind {
            ErrorKind::Other
        }
    }

    /// PostgreSQL shows its message alone.
    fn postgres(state: &'static str, message: &str) -> sqlx::Error {
        sqlx::Error::Database(Box::new(Reported {
            code: Some(state),
            shown: message.to_owned(),
        }))
    }

    fn is_unavailable(e: sqlx::Error) -> bool {
        match store_error(e) {
            StoreError::Unavailable(_) => true,
            StoreError::Internal(_) => false,
            other => panic!("a driver error became {other:?}"),
        }
    }

    #[test]
    fn postgres_restarts_failovers_and_contention_are_unavailable() {
        for state in [
            "57P01", "57P02", "57P03", "08000", "08003", "08006", "08001", "08P01", "40001", "40P01", "53300", "55P03",
            "57014",
        ] {
            assert!(is_unavailable(postgres(state, "x")), "{state}");
        }
    }

    #[test]
    fn postgres_bugs_stay_internal() {
        // unique_violation (outside conflict_on), undefined_table, syntax_error, not_null_violation
        for state in ["23505", "42P01", "42601", "23502", "XX000"] {
            assert!(!is_unavailable(postgres(state, "x")), "{state}");
        }
    }

    #[test]
    fn mysql_numbers_decide_where_the_sqlstate_is_vague() {
        // The number is read from sqlx's MySqlDatabaseError, which only the driver builds; the
        // end-to-end path is covered by the MySQL conformance and API runs.
        for number in [1290, 1792, 1836] {
            assert_eq!(mysql_fault(number), Some(Fault::ReadOnly), "{number}");
        }
        for number in [1213, 1205, 1040, 1053, 1927, 3024, 2006, 2013] {
            assert_eq!(mysql_fault(number), Some(Fault::Transient), "{number}");
        }
        // ER_DUP_ENTRY, ER_PARSE_ERROR, ER_NO_SUCH_TABLE, and an unknown HY000: left to the
        // SQLSTATE, which makes them bugs.
        for number in [1062, 1064, 1146, 1105] {
            assert_eq!(mysql_fault(number), None, "{number}");
        }
    }

    #[test]
    fn lost_connections_and_pool_timeouts_are_unavailable_and_decoding_bugs_are_not() {
        let reset = std::io::Error::from(std::io::ErrorKind::ConnectionReset);
        assert!(is_unavailable(sqlx::Error::Io(reset)));
        assert!(is_unavailable(sqlx::Error::PoolTimedOut));
        assert!(is_unavailable(sqlx::Error::PoolClosed));
        assert!(!is_unavailable(sqlx::Error::RowNotFound));
        assert!(!is_unavailable(sqlx::Error::ColumnNotFound("id".into())));
    }

    #[test]
    fn a_read_only_answer_evicts_the_connections_opened_before_it() {
        // The only test that marks, so the others cannot move the mark under it.
        let hour = Duration::from_secs(3600);
        std::thread::sleep(Duration::from_millis(2));
        assert!(is_unavailable(postgres(
            "25006",
            "cannot execute INSERT in a read-only transaction"
        )));
        assert!(
            !opened_since_last_read_only(hour),
            "a connection from before the answer"
        );
        std::thread::sleep(Duration::from_millis(2));
        assert!(opened_since_last_read_only(Duration::ZERO), "a connection opened since");
    }

    #[tokio::test]
    async fn sqlite_busy_from_another_writer_is_unavailable() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}?mode=rwc", dir.path().join("busy.db").display());
        let mut holder = sqlx::SqliteConnection::connect(&url).await.unwrap();
        holder.execute("CREATE TABLE t (x INTEGER)").await.unwrap();
        holder.execute("BEGIN IMMEDIATE").await.unwrap();
        let mut waiter = sqlx::SqliteConnection::connect(&url).await.unwrap();
        waiter.execute("PRAGMA busy_timeout = 0").await.unwrap();
        let busy = waiter.execute("INSERT INTO t VALUES (1)").await.unwrap_err();
        assert!(is_unavailable(busy));
        holder.execute("COMMIT").await.unwrap();
        waiter.execute("INSERT INTO t VALUES (1)").await.unwrap();
    }
}
