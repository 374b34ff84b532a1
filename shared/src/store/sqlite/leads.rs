//! SQLite: leads, their history, and the erasure of everything a lead owns.

use async_trait::async_trait;
use rusqlite::types::Value as SqlValue;
use rusqlite::{params, Connection, OptionalExtension, Row, Transaction};
use serde_json::Value;
use uuid::Uuid;

use super::events::enqueue;
use super::Cached;
use super::{corrupt, count, counted, json, map_err, ts, uuid, SqliteStore, FILTER_BUDGET};
use crate::domain::event::OutboxEvent;
use crate::domain::lead::{
    Email, Lead, LeadChange, LeadEvent, LeadEventKind, LeadFields, LeadId, LeadQuery, LeadUpdate,
};
use crate::domain::page::{Order, Page};
use crate::domain::phone::Phone;
use crate::domain::{CompanyId, Timestamp};
use crate::store::prelude::*;
use crate::store::sql::{like_pattern, sort_column, walked_page};
use crate::store::{StoreError, StoreResult};

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

pub(super) fn read_lead(conn: &Connection, company: &CompanyId, id: LeadId) -> StoreResult<Lead> {
    conn.row(
        &format!("SELECT {LEAD_COLUMNS} FROM leads WHERE company_id = ?1 AND id = ?2"),
        params![company.as_str(), id.0.to_string()],
        lead_row,
    )
    .optional()
    .map_err(map_err)?
    .ok_or(StoreError::NotFound)?
    .into_lead()
}

/// Everything a lead owns, erased in the transaction that deletes it (company `?1`, lead
/// `?2`). A new table that holds a lead's data belongs here: the erasure test reads every
/// table after an erasure and fails on any row that still mentions the lead.
const OWNED_BY_A_LEAD: &[&str] = &[
    "DELETE FROM messages WHERE company_id = ?1 AND conversation_id IN \
     (SELECT id FROM conversations WHERE company_id = ?1 AND lead_id = ?2)",
    "DELETE FROM conversations WHERE company_id = ?1 AND lead_id = ?2",
    "DELETE FROM lead_events WHERE company_id = ?1 AND lead_id = ?2",
    "DELETE FROM lead_contacts WHERE company_id = ?1 AND lead_id = ?2",
    "DELETE FROM lead_marks WHERE company_id = ?1 AND lead_id = ?2",
    // Pending events carry the lead's data; `lead.deleted` (its id alone) is written after.
    "DELETE FROM outbox WHERE company_id = ?1 AND lead_id = ?2",
    "DELETE FROM webhook_deliveries WHERE company_id = ?1 AND lead_id = ?2",
    "DELETE FROM webhook_retries WHERE company_id = ?1 AND lead_id = ?2",
    "DELETE FROM ai_turns WHERE company_id = ?1 AND lead_id = ?2",
];

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
            .row(
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
    tx.run(
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

#[async_trait]
impl LeadStore for SqliteStore {
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
            tx.run(&sql, rusqlite::params_from_iter(args))
                .map_err(map_err)?;
            let created = LeadChange {
                kind: LeadEventKind::Created,
                from: None,
                to: Some(fields.status.clone()),
            };
            insert_event(tx, company, id, &created, now, by)?;
            count(tx, company, "leads", 1)?;
            let lead = read_lead(tx, company, id)?;
            enqueue(tx, &OutboxEvent::lead_created(&lead))?;
            Ok(lead)
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

        let filters = clauses.len() - 1;
        let conn = self.conn();
        // The company's lead count is kept; only a filter has to count what it matches.
        let total: u64 = if clauses.len() == 1 {
            counted(&conn, company, "leads")?
        } else {
            let n: i64 = conn
                .row(
                    &format!(
                        "SELECT COUNT(*) FROM (SELECT * FROM leads WHERE company_id = ? \
                         ORDER BY created_at DESC, id DESC LIMIT {FILTER_BUDGET}) WHERE {}",
                        clauses[1..].join(" AND ")
                    ),
                    rusqlite::params_from_iter(args.iter()),
                    |r| r.get(0),
                )
                .map_err(map_err)?;
            u64::try_from(n).unwrap_or_default()
        };

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
                let v = match &c.value {
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
        if filters == 0 {
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
            return Ok(Page::of(items, page.limit, total));
        }
        // A filter reads at most FILTER_BUDGET leads in the page's order: the company's
        // leads are walked by the sort index, each row saying whether it matches.
        let (filter, filter_args) = (
            clauses[1..=filters].join(" AND "),
            args[1..=filters].to_vec(),
        );
        let mut walk: Vec<String> = vec![clauses[0].clone()];
        walk.extend(clauses[filters + 1..].iter().cloned());
        let mut walk_args = vec![args[0].clone()];
        walk_args.extend(args[filters + 1..].iter().cloned());
        let sql = format!(
            "SELECT {LEAD_COLUMNS}, COALESCE(({filter}), 0) FROM leads WHERE {} ORDER BY {column} {dir}, id {dir} LIMIT {FILTER_BUDGET}",
            walk.join(" AND ")
        );
        let mut stmt = conn.prepare_cached(&sql).map_err(map_err)?;
        let all_args: Vec<SqlValue> = filter_args.into_iter().chain(walk_args).collect();
        let rows = stmt
            .query_map(rusqlite::params_from_iter(all_args.iter()), |r| {
                Ok((lead_row(r)?, r.get::<_, bool>(16)?))
            })
            .map_err(map_err)?;
        let walk = rows.map(|row| {
            let (row, hit) = row.map_err(map_err)?;
            Ok((row.into_lead()?, hit))
        });
        walked_page(walk, page.limit, offset, total)
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
                .run(&sql, rusqlite::params_from_iter(args))
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
            let lead = read_lead(tx, company, id)?;
            for event in OutboxEvent::lead_updated(&lead, &update.changes) {
                enqueue(tx, &event)?;
            }
            Ok(lead)
        })
    }

    async fn delete_lead(&self, company: &CompanyId, id: LeadId) -> StoreResult<()> {
        let (c, l) = (company.as_str(), id.0.to_string());
        self.write(|tx| {
            let deleted = tx
                .run(
                    "DELETE FROM leads WHERE company_id = ?1 AND id = ?2",
                    params![c, l],
                )
                .map_err(map_err)?;
            if deleted == 0 {
                return Err(StoreError::NotFound);
            }
            let conversations: i64 = tx
                .row(
                    "SELECT COUNT(*) FROM conversations WHERE company_id = ?1 AND lead_id = ?2",
                    params![c, l],
                    |r| r.get(0),
                )
                .map_err(map_err)?;
            for sql in OWNED_BY_A_LEAD {
                tx.run(sql, params![c, l]).map_err(map_err)?;
            }
            count(tx, company, "leads", -1)?;
            count(tx, company, "conversations", -conversations)?;
            enqueue(tx, &OutboxEvent::lead_deleted(company, id))?;
            Ok(())
        })
    }

    async fn add_lead_event(
        &self,
        company: &CompanyId,
        lead: LeadId,
        change: &LeadChange,
        by: &str,
    ) -> StoreResult<()> {
        self.write(|tx| {
            read_lead(tx, company, lead)?;
            insert_event(tx, company, lead, change, Timestamp::now(), by)
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

    async fn advance_lead_mark(
        &self,
        company: &CompanyId,
        lead: LeadId,
        source: &str,
        at: i64,
    ) -> StoreResult<bool> {
        self.write(|tx| {
            read_lead(tx, company, lead)?;
            let changed = tx
                .run(
                    "INSERT INTO lead_marks (company_id, lead_id, source, at) VALUES (?1, ?2, ?3, ?4) \
                     ON CONFLICT (company_id, lead_id, source) DO UPDATE SET at = excluded.at \
                     WHERE lead_marks.at <= excluded.at",
                    params![company.as_str(), lead.to_string(), source, at],
                )
                .map_err(map_err)?;
            Ok(changed > 0)
        })
    }
}
