//! PostgreSQL (being built: issue 17), on the seed's own schema. So far its connection and
//! its migrations: versioned, forward-only, recorded in `wiizo_migrations`, safe to run
//! twice and from two processes at once (a session advisory lock), and adding only what is
//! missing, so that a database that already holds the seed's tables keeps every row. It is
//! not a [`super::Store`] yet.

use tokio::sync::{Mutex, MutexGuard};
use tokio_postgres::{Client, NoTls};

use super::{StoreError, StoreResult};

/// The migrations, in order: a name applied once, and its SQL.
const MIGRATIONS: &[(&str, &str)] = &[("0001_seed", include_str!("migrations/0001_seed.sql"))];

/// The advisory lock the migrations hold (any number: the same in every process).
const MIGRATION_LOCK: i64 = 0x5749_495a_4f00_0001;

/// A PostgreSQL database at `url`, through one connection per process, made when first
/// needed and made again once after it broke.
pub struct PgStore {
    url: String,
    client: Mutex<Option<Client>>,
}

fn store_error(e: tokio_postgres::Error) -> StoreError {
    match e.as_db_error() {
        Some(db) => StoreError::Internal(format!("{}: {}", db.code().code(), db.message())),
        None => StoreError::Unavailable(e.to_string()),
    }
}

impl PgStore {
    pub fn new(url: impl Into<String>) -> PgStore {
        PgStore {
            url: url.into(),
            client: Mutex::new(None),
        }
    }

    /// The connection: the open one, or a new one when there is none or it has closed.
    async fn client(&self) -> StoreResult<MutexGuard<'_, Option<Client>>> {
        let mut slot = self.client.lock().await;
        if slot.as_ref().is_none_or(Client::is_closed) {
            let (client, connection) = tokio_postgres::connect(&self.url, NoTls)
                .await
                .map_err(|e| StoreError::Unavailable(format!("cannot reach PostgreSQL: {e}")))?;
            tokio::spawn(async move {
                if let Err(e) = connection.await {
                    tracing::warn!(error = %e, "the PostgreSQL connection ended");
                }
            });
            *slot = Some(client);
        }
        Ok(slot)
    }

    /// Applies the migrations not applied yet; the names it applied.
    pub async fn migrate(&self) -> StoreResult<Vec<String>> {
        let mut slot = self.client().await?;
        let client = slot
            .as_mut()
            .ok_or_else(|| StoreError::Unavailable("no PostgreSQL connection".into()))?;
        client
            .execute("SELECT pg_advisory_lock($1)", &[&MIGRATION_LOCK])
            .await
            .map_err(store_error)?;
        let applied = apply(client).await;
        // Released whatever happened; a connection that broke releases it by itself.
        let _ = client
            .execute("SELECT pg_advisory_unlock($1)", &[&MIGRATION_LOCK])
            .await;
        applied
    }
}

async fn apply(client: &mut Client) -> StoreResult<Vec<String>> {
    client
        .batch_execute(
            "CREATE TABLE IF NOT EXISTS wiizo_migrations (\
               name TEXT PRIMARY KEY, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())",
        )
        .await
        .map_err(store_error)?;
    let done: Vec<String> = client
        .query("SELECT name FROM wiizo_migrations", &[])
        .await
        .map_err(store_error)?
        .iter()
        .map(|row| row.get(0))
        .collect();
    let mut applied = Vec::new();
    for (name, sql) in MIGRATIONS
        .iter()
        .filter(|(n, _)| !done.iter().any(|d| d == n))
    {
        let tx = client.transaction().await.map_err(store_error)?;
        tx.batch_execute(sql).await.map_err(store_error)?;
        tx.execute("INSERT INTO wiizo_migrations (name) VALUES ($1)", &[name])
            .await
            .map_err(store_error)?;
        tx.commit().await.map_err(store_error)?;
        applied.push(name.to_string());
    }
    Ok(applied)
}
