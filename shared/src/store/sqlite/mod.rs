//! The embedded backend: one SQLite file in WAL mode, shared safely by several function
//! processes. Every write runs in an IMMEDIATE transaction, so uniqueness checks and
//! version checks made inside it cannot race with another process. One file per aggregate
//! (`docs/architecture.md`, "Store").

mod accounts;
mod agents;
mod ai_usage;
mod analytics;
mod conversations;
mod events;
mod guard;
mod leads;
mod messages;
mod turns;
mod webhooks;

use std::path::Path;
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use async_trait::async_trait;
use rusqlite::{params, Connection, ErrorCode, Params, Row, Transaction, TransactionBehavior};
use serde_json::Value;
use uuid::Uuid;

use super::{Store, StoreError, StoreResult};
use crate::domain::{CompanyId, Timestamp};

const MIGRATIONS: &[&str] = &[
    include_str!("migrations/0001_init.sql"),
    include_str!("migrations/0002_accounts.sql"),
    include_str!("migrations/0003_channel_messages.sql"),
    include_str!("migrations/0004_inbound_endpoints.sql"),
    include_str!("migrations/0005_lead_marks.sql"),
    include_str!("migrations/0006_message_counts.sql"),
    include_str!("migrations/0007_counts.sql"),
    include_str!("migrations/0008_ai.sql"),
    include_str!("migrations/0009_webhooks.sql"),
    include_str!("migrations/0010_outbox.sql"),
    include_str!("migrations/0011_retries.sql"),
    include_str!("migrations/0012_delivery_leads.sql"),
    include_str!("migrations/0013_webhook_health.sql"),
    include_str!("migrations/0014_auto_reply.sql"),
    include_str!("migrations/0015_analytics.sql"),
];

/// The WAL is copied back into the database once it holds this many pages (SQLite's
/// default is 1 000). A process that opens the database first after another was killed
/// (every cold start on Lambda, where processes are frozen and killed, never closed)
/// rebuilds the WAL's index by reading every page the WAL holds, so a long WAL is paid
/// at every init; 256 pages bound that read to 1 MiB. Fewer would checkpoint (two fsyncs)
/// every other webhook batch: 64 pages made a 10-message batch 60% slower in `make bench`.
const WAL_CHECKPOINT_PAGES: u32 = 256;

/// Statements kept prepared per connection: more than the store has, so that none is
/// parsed twice in a process's life.
const STATEMENT_CACHE: usize = 256;

/// How long a writer waits for another process's transaction before giving up with 503.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

pub struct SqliteStore {
    conn: Mutex<Connection>,
}

impl SqliteStore {
    pub fn open(path: &Path) -> StoreResult<Self> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| {
                StoreError::Unavailable(format!("cannot create {}: {e}", dir.display()))
            })?;
        }
        let mut conn = Connection::open(path).map_err(map_err)?;
        conn.busy_timeout(BUSY_TIMEOUT).map_err(map_err)?;
        conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
        conn.query_row("PRAGMA journal_mode = WAL", [], |_| Ok(()))
            .map_err(map_err)?;
        conn.execute_batch(&format!(
            "PRAGMA synchronous = NORMAL; PRAGMA wal_autocheckpoint = {WAL_CHECKPOINT_PAGES};"
        ))
        .map_err(map_err)?;
        migrate(&mut conn)?;
        Ok(SqliteStore {
            conn: Mutex::new(conn),
        })
    }

    /// Counts the work SQLite does from now on, in steps of 100 virtual-machine
    /// instructions: the measure of what a request reads, for tests and benchmarks.
    pub fn count_work(&self) -> std::sync::Arc<std::sync::atomic::AtomicU64> {
        let steps = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
        let counter = steps.clone();
        self.conn().progress_handler(
            100,
            Some(move || {
                counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                false
            }),
        );
        steps
    }

    pub(super) fn conn(&self) -> MutexGuard<'_, Connection> {
        // A panic while holding the lock leaves no transaction open (rusqlite rolls back on
        // drop), so the connection is still good.
        self.conn.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Runs `f` in an IMMEDIATE transaction and commits it when `f` succeeds.
    pub(super) fn write<T>(
        &self,
        f: impl FnOnce(&Transaction<'_>) -> StoreResult<T>,
    ) -> StoreResult<T> {
        let mut conn = self.conn();
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(map_err)?;
        let out = f(&tx)?;
        tx.commit().map_err(map_err)?;
        Ok(out)
    }

    /// Runs `sql` (company as `?1`, id as `?2`) on exactly one row of the company, or
    /// answers NotFound.
    fn change_one(&self, sql: &str, company: &CompanyId, id: Uuid) -> StoreResult<()> {
        self.write(|tx| {
            let changed = tx
                .run(sql, params![company.as_str(), id.to_string()])
                .map_err(map_err)?;
            if changed == 0 {
                return Err(StoreError::NotFound);
            }
            Ok(())
        })
    }
}

fn migrate(conn: &mut Connection) -> StoreResult<()> {
    // The common case, an up-to-date database, is a read: no write lock at init.
    if schema_version(conn)? == MIGRATIONS.len() {
        return Ok(());
    }
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(map_err)?;
    let applied = schema_version(&tx)?;
    if applied < MIGRATIONS.len() {
        for sql in &MIGRATIONS[applied..] {
            tx.execute_batch(sql).map_err(map_err)?;
        }
        tx.pragma_update(None, "user_version", MIGRATIONS.len())
            .map_err(map_err)?;
    }
    tx.commit().map_err(map_err)
}

fn schema_version(conn: &Connection) -> StoreResult<usize> {
    conn.query_row("PRAGMA user_version", [], |r| r.get(0))
        .map_err(map_err)
}

/// Every statement of the store goes through the connection's cache: parsing and planning
/// a statement costs more than running the store's small ones, and a process runs the same
/// few over and over (a webhook batch runs dozens).
pub(super) trait Cached {
    /// `execute`, prepared once.
    fn run<P: Params>(&self, sql: &str, params: P) -> rusqlite::Result<usize>;
    /// `query_row`, prepared once.
    fn row<T, P, F>(&self, sql: &str, params: P, f: F) -> rusqlite::Result<T>
    where
        P: Params,
        F: FnOnce(&Row<'_>) -> rusqlite::Result<T>;
}

impl Cached for Connection {
    fn run<P: Params>(&self, sql: &str, params: P) -> rusqlite::Result<usize> {
        self.prepare_cached(sql)?.execute(params)
    }

    fn row<T, P, F>(&self, sql: &str, params: P, f: F) -> rusqlite::Result<T>
    where
        P: Params,
        F: FnOnce(&Row<'_>) -> rusqlite::Result<T>,
    {
        self.prepare_cached(sql)?.query_row(params, f)
    }
}

/// Moves the company's kept count `name` by `delta`, inside the transaction that changes
/// what it counts.
pub(super) fn count(
    tx: &Transaction<'_>,
    company: &CompanyId,
    name: &str,
    delta: i64,
) -> StoreResult<()> {
    tx.run(
        "INSERT INTO counts (company_id, name, n) VALUES (?1, ?2, ?3) \
         ON CONFLICT (company_id, name) DO UPDATE SET n = n + excluded.n",
        params![company.as_str(), name, delta],
    )
    .map_err(map_err)?;
    Ok(())
}

/// The company's kept count `name` (0 when nothing was counted yet).
pub(super) fn counted(conn: &Connection, company: &CompanyId, name: &str) -> StoreResult<u64> {
    let n: i64 = conn
        .row(
            "SELECT COALESCE((SELECT n FROM counts WHERE company_id = ?1 AND name = ?2), 0)",
            params![company.as_str(), name],
            |r| r.get(0),
        )
        .map_err(map_err)?;
    Ok(u64::try_from(n).unwrap_or_default())
}

pub(super) use super::sql::FILTER_BUDGET;

pub(super) fn map_err(e: rusqlite::Error) -> StoreError {
    match e.sqlite_error_code() {
        Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked | ErrorCode::CannotOpen) => {
            StoreError::Unavailable(e.to_string())
        }
        Some(ErrorCode::DiskFull | ErrorCode::SystemIoFailure | ErrorCode::ReadOnly) => {
            StoreError::Unavailable(e.to_string())
        }
        // The unique indexes back the explicit checks up: hitting one is a lost race.
        Some(ErrorCode::ConstraintViolation) => {
            StoreError::Conflict("a record with the same unique value already exists".into())
        }
        _ => StoreError::Internal(e.to_string()),
    }
}

pub(super) fn corrupt(what: &str) -> StoreError {
    StoreError::Internal(format!("unreadable {what} in the database"))
}

pub(super) fn ts(s: &str) -> StoreResult<Timestamp> {
    Timestamp::parse(s).ok_or_else(|| corrupt("timestamp"))
}

pub(super) fn uuid(s: &str) -> StoreResult<Uuid> {
    Uuid::parse_str(s).map_err(|_| corrupt("id"))
}

pub(super) fn json(s: &str) -> StoreResult<Value> {
    serde_json::from_str(s).map_err(|_| corrupt("JSON"))
}

#[async_trait]
impl Store for SqliteStore {
    async fn ping(&self) -> StoreResult<()> {
        self.conn()
            .query_row("SELECT 1", [], |_| Ok(()))
            .map_err(map_err)
    }
}
