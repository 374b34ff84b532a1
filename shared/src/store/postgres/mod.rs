//! The PostgreSQL backend, on the seed's own schema (`docs/architecture.md`, "Store"): a
//! team that ran the product's first, Supabase, version points the functions at its
//! database and keeps its rows and its web app.
//!
//! - **Migrations** are versioned, forward-only, recorded in `wiizo_migrations`, applied
//!   under an advisory lock (safe twice and from two processes at once), and only add:
//!   the seed's tables when absent, then columns and tables of their own.
//! - **Tenancy twice**: every company-scoped query filters by company like the other
//!   backends, and runs in a transaction that took the role `wiizo_app` with the company
//!   set (`SET LOCAL`), under policies that show that role one company's rows: a query
//!   that forgot its filter still cannot read another company's data. The few lookups
//!   that find the company (an API key's hash, a channel's id) and the worker's queues run
//!   as the connecting role.
//! - **Writes of a company are serialized** by a transaction-scoped advisory lock on the
//!   company, so that uniqueness checks (phone, e-mail, active conversation) and counts
//!   cannot race, as SQLite's IMMEDIATE transactions do; companies do not wait for each
//!   other.
//! - **One connection per process**, made when first needed and made again after it
//!   broke; statements are prepared once per connection.

mod accounts;
mod agents;
mod ai_usage;
mod analytics;
mod conversations;
mod events;
mod guard;
pub mod iam;
mod leads;
mod messages;
mod turns;
mod webhooks;

use std::collections::HashMap;
use std::path::Path;

use async_trait::async_trait;
use std::sync::Arc;

use tokio::sync::{Mutex, OwnedMutexGuard};
use tokio_postgres::types::{FromSql, ToSql};
use tokio_postgres::{Client, Row, Statement};
use uuid::Uuid;

use super::{Store, StoreError, StoreResult};
use crate::domain::company::name_key;
use crate::domain::lead::Email;
use crate::domain::phone::Phone;
use crate::domain::text::fold;
use crate::domain::CompanyId;

/// The migrations, in order: a name applied once, and its SQL.
const MIGRATIONS: &[(&str, &str)] = &[
    ("0001_seed", include_str!("migrations/0001_seed.sql")),
    ("0002_wiizo", include_str!("migrations/0002_wiizo.sql")),
];

/// The advisory lock the migrations hold (any number: the same in every process).
const MIGRATION_LOCK: i64 = 0x5749_495a_4f00_0001;

/// The most prepared statements a connection keeps; past it they are forgotten.
const STATEMENTS: usize = 512;

type Param<'a> = &'a (dyn ToSql + Sync);

/// The process's connection and what it prepared.
#[derive(Default)]
pub(super) struct Conn {
    client: Option<Client>,
    statements: HashMap<String, Statement>,
    /// A transaction was left open (an error or a cancelled request): rolled back first.
    unfinished: bool,
}

/// A PostgreSQL database at `url`, through one connection per process.
pub struct PgStore {
    url: String,
    tls: tls::Connector,
    conn: Arc<Mutex<Conn>>,
    /// Apply the migrations on the first connection of the process (a store opened by
    /// [`PgStore::open`]); until then they have not been checked.
    migrate_first: bool,
    migrated: std::sync::atomic::AtomicBool,
    /// Authenticate with an RDS IAM token instead of the URL's password.
    iam: bool,
}

/// One transaction on the process's connection; rolled back unless committed.
pub(super) struct Tx<'a> {
    conn: Option<OwnedMutexGuard<Conn>>,
    /// `BEGIN` and the scope, not sent yet: they go with the first statement, in the same
    /// round trip.
    setup: Option<String>,
    open: bool,
    _store: std::marker::PhantomData<&'a PgStore>,
}

impl Drop for Tx<'_> {
    /// A transaction left open (an error, an early answer, a cancelled request) is rolled
    /// back at once, by a task that holds the connection until it is done: it may hold a
    /// company's write lock, which another process is waiting for.
    fn drop(&mut self) {
        let Some(mut conn) = self.conn.take().filter(|_| self.open) else {
            return;
        };
        if let Some(setup) = self.setup.take() {
            // Never begun: only a rollback still owed by an earlier one is kept.
            conn.unfinished |= setup.starts_with("ROLLBACK");
            return;
        }
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => {
                runtime.spawn(async move {
                    let done = match conn.client.as_ref() {
                        Some(client) => client.batch_execute("ROLLBACK").await.is_ok(),
                        None => true,
                    };
                    conn.unfinished = !done;
                });
            }
            Err(_) => conn.unfinished = true,
        }
    }
}

pub(super) fn store_error(e: tokio_postgres::Error) -> StoreError {
    match e.as_db_error() {
        Some(db) => {
            let code = db.code().code();
            match code {
                // A unique index backs an explicit check up: hitting one is a lost race.
                "23505" => StoreError::Conflict(
                    "a record with the same unique value already exists".into(),
                ),
                "40001" | "40P01" | "55P03" | "57014" => {
                    StoreError::Unavailable(format!("{code}: {}", db.message()))
                }
                _ => StoreError::Internal(format!("{code}: {}", db.message())),
            }
        }
        None => StoreError::Unavailable(e.to_string()),
    }
}

pub(super) fn corrupt(what: &str) -> StoreError {
    StoreError::Internal(format!("unreadable {what} in the database"))
}

/// Column `i` of `row`, or an error naming it when it does not hold a `T`.
pub(super) fn get<'a, T: FromSql<'a>>(row: &'a Row, i: usize) -> StoreResult<T> {
    row.try_get(i)
        .map_err(|_| corrupt(row.columns().get(i).map_or("column", |c| c.name())))
}

/// The company's id as the database holds it; an id that is no UUID names no company.
pub(super) fn company_uuid(company: &CompanyId) -> StoreResult<Uuid> {
    Uuid::parse_str(company.as_str()).map_err(|_| StoreError::NotFound)
}

impl Tx<'_> {
    fn conn(&mut self) -> StoreResult<&mut Conn> {
        self.conn
            .as_deref_mut()
            .ok_or_else(|| StoreError::Unavailable("no PostgreSQL connection".into()))
    }

    fn client(&self) -> StoreResult<&Client> {
        self.conn
            .as_deref()
            .and_then(|c| c.client.as_ref())
            .ok_or_else(|| StoreError::Unavailable("no PostgreSQL connection".into()))
    }

    async fn statement(&mut self, sql: &str) -> StoreResult<Statement> {
        if let Some(s) = self.conn()?.statements.get(sql) {
            return Ok(s.clone());
        }
        let statement = self.client()?.prepare(sql).await.map_err(store_error)?;
        let conn = self.conn()?;
        if conn.statements.len() >= STATEMENTS {
            conn.statements.clear();
        }
        conn.statements.insert(sql.to_string(), statement.clone());
        Ok(statement)
    }

    pub(super) async fn query(&mut self, sql: &str, params: &[Param<'_>]) -> StoreResult<Vec<Row>> {
        let statement = self.statement(sql).await?;
        let setup = self.setup.take();
        let client = self.client()?;
        after(setup, client, client.query(&statement, params)).await
    }

    pub(super) async fn opt(
        &mut self,
        sql: &str,
        params: &[Param<'_>],
    ) -> StoreResult<Option<Row>> {
        let statement = self.statement(sql).await?;
        let setup = self.setup.take();
        let client = self.client()?;
        after(setup, client, client.query_opt(&statement, params)).await
    }

    pub(super) async fn one(&mut self, sql: &str, params: &[Param<'_>]) -> StoreResult<Row> {
        self.opt(sql, params).await?.ok_or(StoreError::NotFound)
    }

    pub(super) async fn exec(&mut self, sql: &str, params: &[Param<'_>]) -> StoreResult<u64> {
        let statement = self.statement(sql).await?;
        let setup = self.setup.take();
        let client = self.client()?;
        after(setup, client, client.execute(&statement, params)).await
    }

    pub(super) async fn commit(mut self) -> StoreResult<()> {
        // A transaction that ran nothing was never begun.
        if self.setup.take().is_none() {
            self.client()?
                .batch_execute("COMMIT")
                .await
                .map_err(store_error)?;
        }
        self.open = false;
        Ok(())
    }
}

/// Runs `work` after the transaction's `setup` when it has not been sent yet, both in one
/// round trip: the setup is sent first (`biased`), and a setup that failed leaves the
/// transaction aborted, so `work` fails too rather than run outside its scope.
async fn after<T>(
    setup: Option<String>,
    client: &Client,
    work: impl std::future::Future<Output = Result<T, tokio_postgres::Error>>,
) -> StoreResult<T> {
    match setup {
        Some(setup) => {
            let (begun, out) = tokio::join!(biased; client.batch_execute(&setup), work);
            begun.map_err(store_error)?;
            out.map_err(store_error)
        }
        None => work.await.map_err(store_error),
    }
}

impl PgStore {
    /// A store on the database at `url` (`postgres://…`, `?sslmode=require` for TLS),
    /// trusting `ca_file`'s certificates (else the public roots) when it uses TLS. Nothing
    /// is connected until it is first used; [`PgStore::migrate`] applies the migrations.
    pub fn with_ca(url: impl Into<String>, ca_file: Option<&Path>) -> StoreResult<PgStore> {
        Ok(PgStore {
            url: url.into(),
            tls: tls::connector(ca_file)?,
            conn: Arc::new(Mutex::new(Conn::default())),
            migrate_first: false,
            migrated: Default::default(),
            iam: false,
        })
    }

    pub fn new(url: impl Into<String>) -> StoreResult<PgStore> {
        PgStore::with_ca(url, None)
    }

    /// The store the functions use: nothing is connected until the first request, whose
    /// connection applies the migrations not applied yet (once per process).
    pub fn open_with_ca(url: &str, ca_file: Option<&Path>) -> StoreResult<PgStore> {
        Ok(PgStore {
            migrate_first: true,
            ..PgStore::with_ca(url, ca_file)?
        })
    }

    pub fn open(url: &str) -> StoreResult<PgStore> {
        PgStore::open_with_ca(url, None)
    }

    /// Connects with an RDS IAM authentication token (made from the process's AWS
    /// credentials for the URL's host, port and user) instead of a password.
    pub fn with_iam(self, iam: bool) -> PgStore {
        PgStore { iam, ..self }
    }

    /// The connection: the open one, or a new one when there is none or it has closed.
    async fn conn(&self) -> StoreResult<OwnedMutexGuard<Conn>> {
        use std::sync::atomic::Ordering;
        let mut conn = self.conn.clone().lock_owned().await;
        if conn.client.as_ref().is_none_or(Client::is_closed) {
            let mut client = tls::connect(&self.url, &self.tls, self.iam).await?;
            if self.migrate_first && !self.migrated.load(Ordering::Acquire) {
                migrate_on(&mut client).await?;
                self.migrated.store(true, Ordering::Release);
            }
            *conn = Conn {
                client: Some(client),
                ..Conn::default()
            };
        }
        Ok(conn)
    }

    /// A transaction with `setup`, begun with its first statement.
    async fn begin(&self, setup: &str) -> StoreResult<Tx<'_>> {
        let mut conn = self.conn().await?;
        let rollback = if conn.unfinished { "ROLLBACK; " } else { "" };
        conn.unfinished = false;
        Ok(Tx {
            conn: Some(conn),
            setup: Some(format!("{rollback}BEGIN; {setup}")),
            open: true,
            _store: std::marker::PhantomData,
        })
    }

    /// A transaction that sees `company`'s rows only.
    pub(super) async fn read(&self, company: &CompanyId) -> StoreResult<(Tx<'_>, Uuid)> {
        let id = company_uuid(company)?;
        let tx = self.begin(&scoped(id)).await?;
        Ok((tx, id))
    }

    /// A transaction that sees `company`'s rows only and holds the company's write lock.
    pub(super) async fn write(&self, company: &CompanyId) -> StoreResult<(Tx<'_>, Uuid)> {
        let id = company_uuid(company)?;
        let tx = self
            .begin(&format!(
                "SELECT pg_advisory_xact_lock(hashtextextended('{id}', 0)); {}",
                scoped(id)
            ))
            .await?;
        Ok((tx, id))
    }

    /// A transaction as the connecting role, for what finds the company or spans them all.
    pub(super) async fn unscoped(&self) -> StoreResult<Tx<'_>> {
        self.begin("").await
    }

    /// Runs `sql` (company `$1`, id `$2`) on exactly one row of the company, or answers
    /// NotFound.
    async fn change_one(&self, sql: &str, company: &CompanyId, id: Uuid) -> StoreResult<()> {
        let (mut tx, c) = self.write(company).await?;
        if tx.exec(sql, &[&c, &id]).await? == 0 {
            return Err(StoreError::NotFound);
        }
        tx.commit().await
    }

    /// Applies the migrations not applied yet, then gives rows written by other software
    /// the keys this store compares; the names of the migrations it applied.
    pub async fn migrate(&self) -> StoreResult<Vec<String>> {
        let mut conn = self.conn().await?;
        let client = conn
            .client
            .as_mut()
            .ok_or_else(|| StoreError::Unavailable("no PostgreSQL connection".into()))?;
        migrate_on(client).await
    }

    /// Runs `sql` as a company-scoped request would, without any filter of its own, and
    /// returns how many rows it saw: what row-level security lets through. For the test
    /// that proves the wall (`tests/suite/postgres.rs`); nothing else calls it.
    pub async fn count_as_company(&self, company: &CompanyId, sql: &str) -> StoreResult<i64> {
        let (mut tx, _) = self.read(company).await?;
        let row = tx.one(sql, &[]).await?;
        let n = get(&row, 0)?;
        tx.commit().await?;
        Ok(n)
    }
}

/// The statements that make a transaction company-scoped. The id is a parsed UUID, so it
/// is safe to write into the text.
fn scoped(company: Uuid) -> String {
    format!("SET LOCAL ROLE wiizo_app; SET LOCAL wiizo.company_id = '{company}';")
}

/// Applies the migrations on `client` under the migrations' advisory lock.
async fn migrate_on(client: &mut Client) -> StoreResult<Vec<String>> {
    client
        .execute("SELECT pg_advisory_lock($1)", &[&MIGRATION_LOCK])
        .await
        .map_err(store_error)?;
    let applied = apply(client).await;
    let keyed = match applied {
        Ok(_) => backfill(client).await,
        Err(_) => Ok(()),
    };
    // Released whatever happened; a connection that broke releases it by itself.
    let _ = client
        .execute("SELECT pg_advisory_unlock($1)", &[&MIGRATION_LOCK])
        .await;
    keyed?;
    applied
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
        .map(|row| get(row, 0))
        .collect::<StoreResult<_>>()?;
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

/// Gives leads and companies that another program wrote (the seed's rows, its web app's)
/// what this store compares and sorts by, computed by the same rules as its own writes.
async fn backfill(client: &mut Client) -> StoreResult<()> {
    let tx = client.transaction().await.map_err(store_error)?;
    let leads = tx
        .query(
            "SELECT id, name, email, phone, company FROM leads WHERE search_text IS NULL",
            &[],
        )
        .await
        .map_err(store_error)?;
    for row in &leads {
        let id: Uuid = get(row, 0)?;
        let name: String = get(row, 1)?;
        let email: Option<String> = get(row, 2)?;
        let phone: Option<String> = get(row, 3)?;
        let company: Option<String> = get(row, 4)?;
        let phone_key = phone
            .as_deref()
            .and_then(|p| Phone::parse(p).ok())
            .map(|p| p.dedupe_key());
        let email_key = email.clone().map(|e| Email::from_stored(e).dedupe_key());
        let search = fold(
            &[
                Some(name.as_str()),
                email.as_deref(),
                phone.as_deref(),
                company.as_deref(),
            ]
            .into_iter()
            .flatten()
            .collect::<Vec<_>>()
            .join("\u{1f}"),
        );
        tx.execute(
            "UPDATE leads SET search_text = $2, sort_name = $3, phone_key = $4, email_key = $5, \
             pipeline = COALESCE(pipeline, 'novos-leads'), status = COALESCE(status, 'novo'), \
             score = COALESCE(score, 0), custom_fields = COALESCE(custom_fields, '{}'), \
             created_at = COALESCE(created_at, now()), updated_at = COALESCE(updated_at, created_at, now()) \
             WHERE id = $1",
            &[&id, &search, &fold(&name), &phone_key, &email_key],
        )
        .await
        .map_err(store_error)?;
    }
    let companies = tx
        .query("SELECT id, name FROM companies WHERE name_key IS NULL", &[])
        .await
        .map_err(store_error)?;
    for row in &companies {
        let id: Uuid = get(row, 0)?;
        let name: String = get(row, 1)?;
        tx.execute(
            "UPDATE companies SET name_key = $2, settings = COALESCE(settings, '{}'), \
             created_at = COALESCE(created_at, now()), updated_at = COALESCE(updated_at, now()) \
             WHERE id = $1",
            &[&id, &name_key(&name)],
        )
        .await
        .map_err(store_error)?;
    }
    tx.commit().await.map_err(store_error)
}

/// Moves the company's kept count `name` by `delta`, inside the transaction that changes
/// what it counts.
pub(super) async fn count(
    tx: &mut Tx<'_>,
    company: Uuid,
    name: &str,
    delta: i64,
) -> StoreResult<()> {
    tx.exec(
        "INSERT INTO counts (company_id, name, n) VALUES ($1, $2, $3) \
         ON CONFLICT (company_id, name) DO UPDATE SET n = counts.n + excluded.n",
        &[&company, &name, &delta],
    )
    .await?;
    Ok(())
}

/// The company's kept count `name` (0 when nothing was counted yet).
pub(super) async fn counted(tx: &mut Tx<'_>, company: Uuid, name: &str) -> StoreResult<u64> {
    let row = tx
        .opt(
            "SELECT n FROM counts WHERE company_id = $1 AND name = $2",
            &[&company, &name],
        )
        .await?;
    let n: i64 = match row {
        Some(r) => get(&r, 0)?,
        None => 0,
    };
    Ok(u64::try_from(n).unwrap_or_default())
}

pub(super) use super::sql::FILTER_BUDGET;

#[async_trait]
impl Store for PgStore {
    async fn ping(&self) -> StoreResult<()> {
        let mut tx = self.unscoped().await?;
        tx.one("SELECT 1", &[]).await?;
        tx.commit().await
    }
}

/// Connecting, in plain text or TLS as the URL's `sslmode` asks (`require`: TLS, the
/// server's certificate verified against the public roots or the CA bundle given).
mod tls {
    use std::path::Path;
    use std::sync::Arc;

    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::CertificateDer;
    use tokio_postgres::Client;
    use tokio_postgres_rustls::MakeRustlsConnect;

    use super::{StoreError, StoreResult};

    pub(super) type Connector = MakeRustlsConnect;

    /// TLS that trusts `ca_file`'s certificates (a PEM bundle: RDS's, Supabase's), or the
    /// public web roots without one.
    pub(super) fn connector(ca_file: Option<&Path>) -> StoreResult<Connector> {
        let mut roots = rustls::RootCertStore::empty();
        match ca_file {
            Some(path) => {
                let certs = CertificateDer::pem_file_iter(path)
                    .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
                    .map_err(|e| {
                        StoreError::Unavailable(format!(
                            "cannot read the CA bundle {}: {e}",
                            path.display()
                        ))
                    })?;
                let (added, _) = roots.add_parsable_certificates(certs);
                if added == 0 {
                    return Err(StoreError::Unavailable(format!(
                        "the CA bundle {} holds no certificate",
                        path.display()
                    )));
                }
            }
            None => roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned()),
        }
        let config = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .map_err(|e| StoreError::Internal(format!("TLS: {e}")))?
        .with_root_certificates(roots)
        .with_no_client_auth();
        Ok(MakeRustlsConnect::new(config))
    }

    /// Connects to `url`; with `iam`, the password is an RDS IAM token made now.
    pub(super) async fn connect(url: &str, tls: &Connector, iam: bool) -> StoreResult<Client> {
        let mut config: tokio_postgres::Config = url
            .parse()
            .map_err(|e| StoreError::Unavailable(format!("DATABASE_URL is not usable: {e}")))?;
        if iam {
            let host = match config.get_hosts().first() {
                Some(tokio_postgres::config::Host::Tcp(h)) => h.clone(),
                _ => {
                    return Err(StoreError::Unavailable(
                        "IAM authentication needs the database's host name in DATABASE_URL".into(),
                    ))
                }
            };
            let port = config.get_ports().first().copied().unwrap_or(5432);
            let user = config.get_user().unwrap_or_default().to_string();
            config.password(super::iam::token_now(&host, port, &user).await?);
        }
        let (client, connection) = config
            .connect(tls.clone())
            .await
            .map_err(|e| StoreError::Unavailable(format!("cannot reach PostgreSQL: {e}")))?;
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::warn!(error = %e, "the PostgreSQL connection ended");
            }
        });
        Ok(client)
    }
}

/// The parameters of a statement built from parts (filters, a cursor), each pushed where
/// its placeholder is written.
#[derive(Default)]
pub(super) struct Args {
    values: Vec<Box<dyn ToSql + Sync + Send>>,
}

impl Args {
    /// Adds a value; its placeholder (`$n`).
    pub(super) fn push(&mut self, v: impl ToSql + Sync + Send + 'static) -> String {
        self.values.push(Box::new(v));
        format!("${}", self.values.len())
    }

    pub(super) fn refs(&self) -> Vec<Param<'_>> {
        self.values
            .iter()
            .map(|v| v.as_ref() as Param<'_>)
            .collect()
    }
}
