//! The embedded backend: one SQLite file in WAL mode, shared safely by several function
//! processes. Every write runs in an IMMEDIATE transaction, so uniqueness checks and
//! version checks made inside it cannot race with another process.

mod accounts;
mod messages;

use std::path::Path;
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use async_trait::async_trait;
use rusqlite::types::Value as SqlValue;
use rusqlite::{
    params, Connection, ErrorCode, OptionalExtension, Row, Transaction, TransactionBehavior,
};
use serde_json::Value;
use uuid::Uuid;

use super::{CompanyChange, Store, StoreError, StoreResult};
use crate::domain::account::{
    AccessToken, ApiKey, ChannelAccount, ChannelChange, InboundEndpoint, NewApiKey,
    NewChannelAccount,
};
use crate::domain::company::{default_settings, name_key};
use crate::domain::conversation::{
    Channel, Conversation, ConversationChange, ConversationQuery, ConversationStatus,
    ConversationView, Message, NewMessage, StatusOutcome,
};
use crate::domain::idempotency::{Claim, StoredResponse};
use crate::domain::inbound::DeliveryStatus;
use crate::domain::lead::{
    Email, Lead, LeadChange, LeadEvent, LeadEventKind, LeadFields, LeadId, LeadQuery, LeadSort,
    LeadUpdate,
};
use crate::domain::page::{Order, Page};
use crate::domain::phone::Phone;
use crate::domain::rate_limit::{Decision, Limit};
use crate::domain::{Company, CompanyId, Timestamp};

const MIGRATIONS: &[&str] = &[
    include_str!("migrations/0001_init.sql"),
    include_str!("migrations/0002_accounts.sql"),
    include_str!("migrations/0003_channel_messages.sql"),
    include_str!("migrations/0004_inbound_endpoints.sql"),
];

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
        conn.query_row("PRAGMA journal_mode = WAL", [], |_| Ok(()))
            .map_err(map_err)?;
        conn.execute_batch("PRAGMA synchronous = NORMAL;")
            .map_err(map_err)?;
        migrate(&mut conn)?;
        Ok(SqliteStore {
            conn: Mutex::new(conn),
        })
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
}

fn migrate(conn: &mut Connection) -> StoreResult<()> {
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(map_err)?;
    let applied: usize = tx
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .map_err(map_err)?;
    if applied < MIGRATIONS.len() {
        for sql in &MIGRATIONS[applied..] {
            tx.execute_batch(sql).map_err(map_err)?;
        }
        tx.pragma_update(None, "user_version", MIGRATIONS.len())
            .map_err(map_err)?;
    }
    tx.commit().map_err(map_err)
}

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

const COMPANY_COLUMNS: &str = "id, name, domain, settings, created_at, updated_at";

type CompanyRow = (String, String, Option<String>, String, String, String);

fn company_row(r: &Row<'_>) -> rusqlite::Result<CompanyRow> {
    Ok((
        r.get(0)?,
        r.get(1)?,
        r.get(2)?,
        r.get(3)?,
        r.get(4)?,
        r.get(5)?,
    ))
}

fn company_from(row: CompanyRow) -> StoreResult<Company> {
    let (id, name, domain, settings, created_at, updated_at) = row;
    Ok(Company {
        id: CompanyId::new(id),
        name,
        domain,
        settings: json(&settings)?,
        created_at: ts(&created_at)?,
        updated_at: ts(&updated_at)?,
    })
}

const LEAD_COLUMNS: &str = "id, company_id, name, email, phone, company, source, pipeline, \
     status, score, custom_fields, notes, user_id, version, created_at, updated_at";

/// A lead as its columns hold it, before the domain types are rebuilt.
struct LeadRow {
    id: String,
    company_id: String,
    name: String,
    email: Option<String>,
    phone: Option<String>,
    company: Option<String>,
    source: Option<String>,
    pipeline: String,
    status: String,
    score: i64,
    custom_fields: String,
    notes: Option<String>,
    user_id: Option<String>,
    version: i64,
    created_at: String,
    updated_at: String,
}

fn lead_row(r: &Row<'_>) -> rusqlite::Result<LeadRow> {
    Ok(LeadRow {
        id: r.get(0)?,
        company_id: r.get(1)?,
        name: r.get(2)?,
        email: r.get(3)?,
        phone: r.get(4)?,
        company: r.get(5)?,
        source: r.get(6)?,
        pipeline: r.get(7)?,
        status: r.get(8)?,
        score: r.get(9)?,
        custom_fields: r.get(10)?,
        notes: r.get(11)?,
        user_id: r.get(12)?,
        version: r.get(13)?,
        created_at: r.get(14)?,
        updated_at: r.get(15)?,
    })
}

impl LeadRow {
    fn into_lead(self) -> StoreResult<Lead> {
        let custom_fields = match json(&self.custom_fields)? {
            Value::Object(m) => m,
            _ => return Err(corrupt("custom_fields")),
        };
        Ok(Lead {
            id: LeadId(uuid(&self.id)?),
            company_id: CompanyId::new(self.company_id),
            fields: LeadFields {
                name: self.name,
                email: self.email.map(Email::from_stored),
                phone: match self.phone {
                    Some(p) => Some(Phone::parse(&p).map_err(|_| corrupt("phone"))?),
                    None => None,
                },
                company: self.company,
                source: self.source,
                pipeline: self.pipeline,
                status: self.status,
                score: self.score,
                custom_fields,
                notes: self.notes,
                user_id: self.user_id,
            },
            created_at: ts(&self.created_at)?,
            updated_at: ts(&self.updated_at)?,
            version: self.version,
        })
    }
}

fn read_lead(conn: &Connection, company: &CompanyId, id: LeadId) -> StoreResult<Lead> {
    conn.query_row(
        &format!("SELECT {LEAD_COLUMNS} FROM leads WHERE company_id = ?1 AND id = ?2"),
        params![company.as_str(), id.0.to_string()],
        lead_row,
    )
    .optional()
    .map_err(map_err)?
    .ok_or(StoreError::NotFound)?
    .into_lead()
}

/// Refuses a phone or e-mail that another lead of the company already has.
fn check_unique(
    tx: &Transaction<'_>,
    company: &CompanyId,
    fields: &LeadFields,
    except: Option<LeadId>,
) -> StoreResult<()> {
    let except = except.map(|id| id.0.to_string()).unwrap_or_default();
    let keys = [
        (
            "phone",
            "phone_key",
            fields.phone.as_ref().map(Phone::dedupe_key),
        ),
        (
            "email",
            "email_key",
            fields.email.as_ref().map(Email::dedupe_key),
        ),
    ];
    for (field, column, key) in keys {
        let Some(key) = key else { continue };
        let existing: Option<String> = tx
            .query_row(
                &format!(
                    "SELECT id FROM leads WHERE company_id = ?1 AND {column} = ?2 AND id <> ?3"
                ),
                params![company.as_str(), key, except],
                |r| r.get(0),
            )
            .optional()
            .map_err(map_err)?;
        if let Some(existing_id) = existing {
            return Err(StoreError::Duplicate { field, existing_id });
        }
    }
    Ok(())
}

fn insert_event(
    tx: &Transaction<'_>,
    company: &CompanyId,
    lead: LeadId,
    change: &LeadChange,
    at: Timestamp,
    by: &str,
) -> StoreResult<()> {
    tx.execute(
        "INSERT INTO lead_events (id, company_id, lead_id, kind, from_value, to_value, at, by_user) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        params![
            Uuid::now_v7().to_string(),
            company.as_str(),
            lead.0.to_string(),
            change.kind.as_str(),
            change.from,
            change.to,
            at.as_string(),
            by
        ],
    )
    .map_err(map_err)?;
    Ok(())
}

/// The columns every lead write sets from its fields, with their values.
fn lead_values(fields: &LeadFields) -> StoreResult<[(&'static str, SqlValue); 15]> {
    let text = |v: Option<&str>| v.map_or(SqlValue::Null, |s| SqlValue::Text(s.to_string()));
    let custom = serde_json::to_string(&fields.custom_fields)
        .map_err(|e| StoreError::Internal(e.to_string()))?;
    Ok([
        ("name", SqlValue::Text(fields.name.clone())),
        ("email", text(fields.email.as_ref().map(Email::as_str))),
        (
            "email_key",
            text(fields.email.as_ref().map(Email::dedupe_key).as_deref()),
        ),
        ("phone", text(fields.phone.as_ref().map(Phone::as_str))),
        (
            "phone_key",
            text(fields.phone.as_ref().map(Phone::dedupe_key).as_deref()),
        ),
        ("company", text(fields.company.as_deref())),
        ("source", text(fields.source.as_deref())),
        ("pipeline", SqlValue::Text(fields.pipeline.clone())),
        ("status", SqlValue::Text(fields.status.clone())),
        ("score", SqlValue::Integer(fields.score)),
        ("custom_fields", SqlValue::Text(custom)),
        ("notes", text(fields.notes.as_deref())),
        ("user_id", text(fields.user_id.as_deref())),
        ("search_text", SqlValue::Text(fields.search_text())),
        ("sort_name", SqlValue::Text(fields.sort_name())),
    ])
}

fn sort_column(sort: LeadSort) -> &'static str {
    match sort {
        LeadSort::CreatedAt => "created_at",
        LeadSort::UpdatedAt => "updated_at",
        LeadSort::Name => "sort_name",
        LeadSort::Score => "score",
        LeadSort::Status => "status",
    }
}

fn like_pattern(s: &str) -> String {
    let mut p = String::with_capacity(s.len() + 2);
    p.push('%');
    for c in s.chars() {
        if matches!(c, '%' | '_' | '\\') {
            p.push('\\');
        }
        p.push(c);
    }
    p.push('%');
    p
}

const CONVERSATION_COLUMNS: &str = "id, company_id, lead_id, channel, status, metadata, \
     last_message_at, last_inbound_at, created_at, updated_at";

pub(super) fn read_conversation(
    conn: &Connection,
    company: &CompanyId,
    id: Uuid,
) -> StoreResult<Conversation> {
    let row = conn
        .query_row(
            &format!(
                "SELECT {CONVERSATION_COLUMNS} FROM conversations WHERE company_id = ?1 AND id = ?2"
            ),
            params![company.as_str(), id.to_string()],
            |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, String>(3)?,
                    r.get::<_, String>(4)?,
                    r.get::<_, String>(5)?,
                    r.get::<_, Option<String>>(6)?,
                    r.get::<_, Option<String>>(7)?,
                    r.get::<_, String>(8)?,
                    r.get::<_, String>(9)?,
                ))
            },
        )
        .optional()
        .map_err(map_err)?
        .ok_or(StoreError::NotFound)?;
    let opt_ts = |v: Option<String>| v.as_deref().map(ts).transpose();
    Ok(Conversation {
        id: uuid(&row.0)?,
        company_id: CompanyId::new(row.1),
        lead_id: LeadId(uuid(&row.2)?),
        channel: Channel::parse(&row.3).ok_or_else(|| corrupt("channel"))?,
        status: ConversationStatus::parse(&row.4).ok_or_else(|| corrupt("status"))?,
        metadata: json(&row.5)?,
        last_message_at: opt_ts(row.6)?,
        last_inbound_at: opt_ts(row.7)?,
        created_at: ts(&row.8)?,
        updated_at: ts(&row.9)?,
    })
}

#[async_trait]
impl Store for SqliteStore {
    async fn ping(&self) -> StoreResult<()> {
        self.conn()
            .query_row("SELECT 1", [], |_| Ok(()))
            .map_err(map_err)
    }

    async fn create_company(&self, name: &str) -> StoreResult<Company> {
        let now = Timestamp::now();
        let id = Uuid::now_v7().to_string();
        let key = name_key(name);
        self.write(|tx| {
            let existing: Option<String> = tx
                .query_row(
                    "SELECT id FROM companies WHERE name_key = ?1",
                    [&key],
                    |r| r.get(0),
                )
                .optional()
                .map_err(map_err)?;
            if let Some(existing_id) = existing {
                return Err(StoreError::Duplicate {
                    field: "name",
                    existing_id,
                });
            }
            tx.execute(
                "INSERT INTO companies (id, name, name_key, settings, created_at, updated_at) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?5)",
                params![
                    id,
                    name.trim(),
                    key,
                    default_settings().to_string(),
                    now.as_string()
                ],
            )
            .map_err(map_err)?;
            Ok(())
        })?;
        self.get_company(&CompanyId::new(id)).await
    }

    async fn find_company_by_name(&self, name: &str) -> StoreResult<Option<Company>> {
        let row = self
            .conn()
            .query_row(
                &format!("SELECT {COMPANY_COLUMNS} FROM companies WHERE name_key = ?1"),
                [name_key(name)],
                company_row,
            )
            .optional()
            .map_err(map_err)?;
        row.map(company_from).transpose()
    }

    async fn get_company(&self, id: &CompanyId) -> StoreResult<Company> {
        let row = self
            .conn()
            .query_row(
                &format!("SELECT {COMPANY_COLUMNS} FROM companies WHERE id = ?1"),
                [id.as_str()],
                company_row,
            )
            .optional()
            .map_err(map_err)?
            .ok_or(StoreError::NotFound)?;
        company_from(row)
    }

    async fn create_lead(
        &self,
        company: &CompanyId,
        fields: LeadFields,
        by: &str,
    ) -> StoreResult<Lead> {
        let id = LeadId(Uuid::now_v7());
        let now = Timestamp::now();
        let values = lead_values(&fields)?;
        self.write(|tx| {
            check_unique(tx, company, &fields, None)?;
            let names: Vec<&str> = values.iter().map(|(n, _)| *n).collect();
            let sql = format!(
                "INSERT INTO leads (id, company_id, version, created_at, updated_at, {}) \
                 VALUES (?, ?, 1, ?, ?, {})",
                names.join(", "),
                vec!["?"; names.len()].join(", ")
            );
            let mut args: Vec<SqlValue> = vec![
                SqlValue::Text(id.0.to_string()),
                SqlValue::Text(company.as_str().to_string()),
                SqlValue::Text(now.as_string()),
                SqlValue::Text(now.as_string()),
            ];
            args.extend(values.iter().map(|(_, v)| v.clone()));
            tx.execute(&sql, rusqlite::params_from_iter(args))
                .map_err(map_err)?;
            let created = LeadChange {
                kind: LeadEventKind::Created,
                from: None,
                to: Some(fields.status.clone()),
            };
            insert_event(tx, company, id, &created, now, by)?;
            read_lead(tx, company, id)
        })
    }

    async fn get_lead(&self, company: &CompanyId, id: LeadId) -> StoreResult<Lead> {
        read_lead(&self.conn(), company, id)
    }

    async fn list_leads(&self, company: &CompanyId, query: &LeadQuery) -> StoreResult<Page<Lead>> {
        let f = &query.filters;
        let mut clauses = vec!["company_id = ?".to_string()];
        let mut args: Vec<SqlValue> = vec![SqlValue::Text(company.as_str().to_string())];
        let exact = [
            ("status", &f.status),
            ("pipeline", &f.pipeline),
            ("source", &f.source),
            ("user_id", &f.user_id),
        ];
        for (column, value) in exact {
            if let Some(v) = value {
                clauses.push(format!("{column} = ?"));
                args.push(SqlValue::Text(v.clone()));
            }
        }
        if let Some(from) = f.created_from {
            clauses.push("created_at >= ?".into());
            args.push(SqlValue::Text(from.as_string()));
        }
        if let Some(to) = f.created_to {
            clauses.push("created_at <= ?".into());
            args.push(SqlValue::Text(to.as_string()));
        }
        if let Some(s) = &f.search {
            clauses.push("search_text LIKE ? ESCAPE '\\'".into());
            args.push(SqlValue::Text(like_pattern(s)));
        }

        let conn = self.conn();
        let total: i64 = conn
            .query_row(
                &format!("SELECT COUNT(*) FROM leads WHERE {}", clauses.join(" AND ")),
                rusqlite::params_from_iter(args.iter()),
                |r| r.get(0),
            )
            .map_err(map_err)?;

        let column = sort_column(query.sort);
        let (dir, cmp) = match query.page.order {
            Order::Asc => ("ASC", ">"),
            Order::Desc => ("DESC", "<"),
        };
        let page = &query.page;
        let offset = match &page.cursor {
            Some(c) => {
                clauses.push(format!(
                    "({column} {cmp} ? OR ({column} = ? AND id {cmp} ?))"
                ));
                let v = match &c.v {
                    Value::Number(n) => SqlValue::Integer(n.as_i64().unwrap_or_default()),
                    other => SqlValue::Text(other.as_str().unwrap_or_default().to_string()),
                };
                args.push(v.clone());
                args.push(v);
                args.push(SqlValue::Text(c.id.clone()));
                0
            }
            None => page.offset(),
        };
        let sql = format!(
            "SELECT {LEAD_COLUMNS} FROM leads WHERE {} ORDER BY {column} {dir}, id {dir} LIMIT {} OFFSET {offset}",
            clauses.join(" AND "),
            page.limit + 1
        );
        let mut stmt = conn.prepare_cached(&sql).map_err(map_err)?;
        let rows = stmt
            .query_map(rusqlite::params_from_iter(args.iter()), lead_row)
            .map_err(map_err)?;
        let mut items = Vec::with_capacity(page.limit as usize + 1);
        for row in rows {
            items.push(row.map_err(map_err)?.into_lead()?);
        }
        let has_more = items.len() > page.limit as usize;
        items.truncate(page.limit as usize);
        Ok(Page {
            items,
            total: u64::try_from(total).unwrap_or_default(),
            has_more,
        })
    }

    async fn update_lead(
        &self,
        company: &CompanyId,
        id: LeadId,
        update: LeadUpdate,
    ) -> StoreResult<Lead> {
        let now = Timestamp::now();
        let values = lead_values(&update.fields)?;
        self.write(|tx| {
            check_unique(tx, company, &update.fields, Some(id))?;
            let sets: Vec<String> = values.iter().map(|(n, _)| format!("{n} = ?")).collect();
            let sql = format!(
                "UPDATE leads SET {}, version = version + 1, updated_at = ? \
                 WHERE company_id = ? AND id = ? AND version = ?",
                sets.join(", ")
            );
            let mut args: Vec<SqlValue> = values.iter().map(|(_, v)| v.clone()).collect();
            args.extend([
                SqlValue::Text(now.as_string()),
                SqlValue::Text(company.as_str().to_string()),
                SqlValue::Text(id.0.to_string()),
                SqlValue::Integer(update.expected_version),
            ]);
            let changed = tx
                .execute(&sql, rusqlite::params_from_iter(args))
                .map_err(map_err)?;
            if changed == 0 {
                // Tell a stale write from a missing lead.
                read_lead(tx, company, id)?;
                return Err(StoreError::Conflict(
                    "The lead was changed by someone else; read it again and retry".into(),
                ));
            }
            for change in &update.changes {
                insert_event(tx, company, id, change, now, &update.by)?;
            }
            read_lead(tx, company, id)
        })
    }

    async fn delete_lead(&self, company: &CompanyId, id: LeadId) -> StoreResult<()> {
        let (c, l) = (company.as_str(), id.0.to_string());
        self.write(|tx| {
            let deleted = tx
                .execute(
                    "DELETE FROM leads WHERE company_id = ?1 AND id = ?2",
                    params![c, l],
                )
                .map_err(map_err)?;
            if deleted == 0 {
                return Err(StoreError::NotFound);
            }
            for sql in [
                "DELETE FROM messages WHERE company_id = ?1 AND conversation_id IN \
                 (SELECT id FROM conversations WHERE company_id = ?1 AND lead_id = ?2)",
                "DELETE FROM conversations WHERE company_id = ?1 AND lead_id = ?2",
                "DELETE FROM lead_events WHERE company_id = ?1 AND lead_id = ?2",
                "DELETE FROM lead_contacts WHERE company_id = ?1 AND lead_id = ?2",
            ] {
                tx.execute(sql, params![c, l]).map_err(map_err)?;
            }
            Ok(())
        })
    }

    async fn lead_history(&self, company: &CompanyId, id: LeadId) -> StoreResult<Vec<LeadEvent>> {
        let conn = self.conn();
        read_lead(&conn, company, id)?;
        let mut stmt = conn
            .prepare_cached(
                "SELECT id, kind, from_value, to_value, at, by_user FROM lead_events \
                 WHERE company_id = ?1 AND lead_id = ?2 ORDER BY at, id",
            )
            .map_err(map_err)?;
        let rows = stmt
            .query_map(params![company.as_str(), id.0.to_string()], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, Option<String>>(2)?,
                    r.get::<_, Option<String>>(3)?,
                    r.get::<_, String>(4)?,
                    r.get::<_, Option<String>>(5)?,
                ))
            })
            .map_err(map_err)?;
        let mut events = Vec::new();
        for row in rows {
            let (eid, kind, from, to, at, by) = row.map_err(map_err)?;
            events.push(LeadEvent {
                id: uuid(&eid)?,
                lead_id: id,
                kind: LeadEventKind::parse(&kind).ok_or_else(|| corrupt("event kind"))?,
                from,
                to,
                at: ts(&at)?,
                by,
            });
        }
        Ok(events)
    }

    async fn create_conversation(
        &self,
        company: &CompanyId,
        lead: LeadId,
        channel: Channel,
    ) -> StoreResult<Conversation> {
        let id = Uuid::now_v7();
        let now = Timestamp::now().as_string();
        self.write(|tx| {
            read_lead(tx, company, lead)?;
            let existing: Option<String> = tx
                .query_row(
                    "SELECT id FROM conversations WHERE company_id = ?1 AND lead_id = ?2 \
                     AND channel = ?3 AND status = 'active'",
                    params![company.as_str(), lead.0.to_string(), channel.as_str()],
                    |r| r.get(0),
                )
                .optional()
                .map_err(map_err)?;
            if let Some(existing_id) = existing {
                return Err(StoreError::Duplicate {
                    field: "conversation",
                    existing_id,
                });
            }
            tx.execute(
                "INSERT INTO conversations (id, company_id, lead_id, channel, status, metadata, \
                 created_at, updated_at) VALUES (?1, ?2, ?3, ?4, 'active', '{}', ?5, ?5)",
                params![
                    id.to_string(),
                    company.as_str(),
                    lead.0.to_string(),
                    channel.as_str(),
                    now
                ],
            )
            .map_err(map_err)?;
            read_conversation(tx, company, id)
        })
    }

    async fn get_conversation(&self, company: &CompanyId, id: Uuid) -> StoreResult<Conversation> {
        read_conversation(&self.conn(), company, id)
    }

    async fn add_message(
        &self,
        company: &CompanyId,
        conversation: Uuid,
        message: NewMessage,
    ) -> StoreResult<Message> {
        self.add_message_sync(company, conversation, message)
    }

    async fn list_messages(
        &self,
        company: &CompanyId,
        conversation: Uuid,
    ) -> StoreResult<Vec<Message>> {
        self.list_messages_sync(company, conversation)
    }

    async fn list_conversations(
        &self,
        company: &CompanyId,
        query: &ConversationQuery,
    ) -> StoreResult<Page<ConversationView>> {
        self.list_conversations_sync(company, query)
    }

    async fn update_conversation(
        &self,
        company: &CompanyId,
        id: Uuid,
        change: ConversationChange,
    ) -> StoreResult<Conversation> {
        self.update_conversation_sync(company, id, change)
    }

    async fn record_delivery(
        &self,
        company: &CompanyId,
        message: &Message,
        external_id: Option<&str>,
        status: DeliveryStatus,
        error: Option<Value>,
    ) -> StoreResult<Message> {
        self.record_delivery_sync(company, message, external_id, status, error.as_ref())
    }

    async fn apply_message_status(
        &self,
        company: &CompanyId,
        external_id: &str,
        status: DeliveryStatus,
        error: Option<Value>,
    ) -> StoreResult<StatusOutcome> {
        self.write(|tx| messages::apply_status(tx, company, external_id, status, error.as_ref()))
    }

    async fn find_contact(
        &self,
        company: &CompanyId,
        channel: Channel,
        user_id: &str,
    ) -> StoreResult<Option<LeadId>> {
        self.find_contact_sync(company, channel, user_id)
    }

    async fn contact_of(
        &self,
        company: &CompanyId,
        lead: LeadId,
        channel: Channel,
    ) -> StoreResult<Option<String>> {
        self.conn()
            .query_row(
                "SELECT user_id FROM lead_contacts WHERE company_id = ?1 AND lead_id = ?2 AND channel = ?3",
                params![company.as_str(), lead.to_string(), channel.as_str()],
                |r| r.get(0),
            )
            .optional()
            .map_err(map_err)
    }

    async fn conversation_of_message(
        &self,
        company: &CompanyId,
        external_id: &str,
    ) -> StoreResult<Option<Uuid>> {
        let id: Option<String> = self
            .conn()
            .query_row(
                "SELECT conversation_id FROM messages WHERE company_id = ?1 AND external_id = ?2",
                params![company.as_str(), external_id],
                |r| r.get(0),
            )
            .optional()
            .map_err(map_err)?;
        id.map(|i| uuid(&i)).transpose()
    }

    async fn claim_contact(
        &self,
        company: &CompanyId,
        channel: Channel,
        user_id: &str,
        lead: LeadId,
    ) -> StoreResult<()> {
        self.claim_contact_sync(company, channel, user_id, lead)
    }

    async fn update_company(&self, id: &CompanyId, change: CompanyChange) -> StoreResult<Company> {
        let now = Timestamp::now().as_string();
        self.write(|tx| {
            let settings = change.settings.as_ref().map(|s| s.to_string());
            let (set_domain, domain) = match &change.domain {
                Some(d) => (true, d.clone()),
                None => (false, None),
            };
            let key = change.name.as_deref().map(name_key);
            if let Some(key) = &key {
                let other: Option<String> = tx
                    .query_row("SELECT id FROM companies WHERE name_key = ?1 AND id <> ?2", params![key, id.as_str()], |r| r.get(0))
                    .optional()
                    .map_err(map_err)?;
                if let Some(existing_id) = other {
                    return Err(StoreError::Duplicate { field: "name", existing_id });
                }
            }
            let n = tx
                .execute(
                    "UPDATE companies SET name = COALESCE(?2, name), name_key = COALESCE(?3, name_key), \
                     domain = CASE WHEN ?4 THEN ?5 ELSE domain END, settings = COALESCE(?6, settings), \
                     updated_at = ?7 WHERE id = ?1",
                    params![id.as_str(), change.name.as_deref().map(str::trim), key, set_domain, domain, settings, now],
                )
                .map_err(map_err)?;
            if n == 0 {
                return Err(StoreError::NotFound);
            }
            Ok(())
        })?;
        self.get_company(id).await
    }

    async fn create_api_key(&self, company: &CompanyId, key: NewApiKey) -> StoreResult<ApiKey> {
        self.create_api_key_sync(company, key)
    }

    async fn list_api_keys(&self, company: &CompanyId) -> StoreResult<Vec<ApiKey>> {
        self.list_api_keys_sync(company)
    }

    async fn revoke_api_key(&self, company: &CompanyId, id: Uuid) -> StoreResult<()> {
        self.revoke_api_key_sync(company, id)
    }

    async fn find_api_key(&self, hash: &str) -> StoreResult<Option<ApiKey>> {
        self.find_api_key_sync(hash)
    }

    async fn touch_api_key(&self, company: &CompanyId, id: Uuid, at: Timestamp) -> StoreResult<()> {
        self.touch_api_key_sync(company, id, at)
    }

    async fn create_channel(
        &self,
        company: &CompanyId,
        channel: NewChannelAccount,
    ) -> StoreResult<ChannelAccount> {
        self.create_channel_sync(company, channel)
    }

    async fn list_channels(&self, company: &CompanyId) -> StoreResult<Vec<ChannelAccount>> {
        self.list_channels_sync(company)
    }

    async fn get_channel(&self, company: &CompanyId, id: Uuid) -> StoreResult<ChannelAccount> {
        self.get_channel_sync(company, id)
    }

    async fn update_channel(
        &self,
        company: &CompanyId,
        id: Uuid,
        change: ChannelChange,
    ) -> StoreResult<ChannelAccount> {
        self.update_channel_sync(company, id, change)
    }

    async fn delete_channel(&self, company: &CompanyId, id: Uuid) -> StoreResult<()> {
        self.delete_channel_sync(company, id)
    }

    async fn channel_token(&self, company: &CompanyId, id: Uuid) -> StoreResult<AccessToken> {
        self.channel_token_sync(company, id)
    }

    async fn find_channel(
        &self,
        channel: Channel,
        external_id: &str,
    ) -> StoreResult<Option<ChannelAccount>> {
        self.find_channel_sync(channel, external_id)
    }

    async fn create_inbound_endpoint(
        &self,
        company: &CompanyId,
        name: &str,
        client_id: &str,
        secret: &AccessToken,
    ) -> StoreResult<InboundEndpoint> {
        self.create_inbound_endpoint_sync(company, name, client_id, secret)
    }

    async fn list_inbound_endpoints(
        &self,
        company: &CompanyId,
    ) -> StoreResult<Vec<InboundEndpoint>> {
        self.list_inbound_endpoints_sync(company)
    }

    async fn delete_inbound_endpoint(&self, company: &CompanyId, id: Uuid) -> StoreResult<()> {
        self.delete_inbound_endpoint_sync(company, id)
    }

    async fn find_inbound_endpoint(
        &self,
        client_id: &str,
    ) -> StoreResult<Option<(InboundEndpoint, AccessToken)>> {
        self.find_inbound_endpoint_sync(client_id)
    }

    async fn take_rate_token(
        &self,
        key: &str,
        limit: &Limit,
        now_ms: i64,
    ) -> StoreResult<Decision> {
        self.take_rate_token_sync(key, limit, now_ms)
    }

    async fn claim_idempotency_key(
        &self,
        company: &CompanyId,
        key: &str,
        fingerprint: &str,
        now: Timestamp,
    ) -> StoreResult<Claim> {
        self.claim_idempotency_key_sync(company, key, fingerprint, now)
    }

    async fn finish_idempotency_key(
        &self,
        company: &CompanyId,
        key: &str,
        response: &StoredResponse,
    ) -> StoreResult<()> {
        self.finish_idempotency_key_sync(company, key, response)
    }

    async fn abandon_idempotency_key(&self, company: &CompanyId, key: &str) -> StoreResult<()> {
        self.abandon_idempotency_key_sync(company, key)
    }
}
