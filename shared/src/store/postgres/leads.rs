//! PostgreSQL: leads (the seed's `leads` table), their history, and the erasure of
//! everything a lead owns.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde_json::Value;
use tokio_postgres::Row;
use uuid::Uuid;

use super::events::enqueue;
use super::{corrupt, count, counted, get, Args, PgStore, Tx, FILTER_BUDGET};
use crate::domain::event::OutboxEvent;
use crate::domain::lead::{
    Email, Lead, LeadChange, LeadEvent, LeadEventKind, LeadFields, LeadId, LeadQuery, LeadSort,
    LeadUpdate,
};
use crate::domain::page::{Order, Page};
use crate::domain::phone::Phone;
use crate::domain::{CompanyId, Timestamp};
use crate::store::prelude::*;
use crate::store::sql::{like_pattern, sort_column, walked_page};
use crate::store::{StoreError, StoreResult};

/// The seed's columns may hold NULL where this API never writes one: read as the seed's
/// defaults.
const LEAD_COLUMNS: &str = "id, company_id, name, email, phone, company, source, \
     COALESCE(pipeline, 'novos-leads'), COALESCE(status, 'novo'), COALESCE(score, 0), \
     COALESCE(custom_fields, '{}'), notes, COALESCE(owner, user_id::text), version, \
     COALESCE(created_at, now()), COALESCE(updated_at, created_at, now())";

pub(super) fn lead_from(r: &Row) -> StoreResult<Lead> {
    let custom_fields = match get::<Value>(r, 10)? {
        Value::Object(m) => m,
        _ => Default::default(),
    };
    let phone: Option<String> = get(r, 4)?;
    let company: Uuid = get(r, 1)?;
    Ok(Lead {
        id: LeadId(get(r, 0)?),
        company_id: CompanyId::new(company.to_string()),
        fields: LeadFields {
            name: get(r, 2)?,
            email: get::<Option<String>>(r, 3)?.map(Email::from_stored),
            // A phone another program stored in a form this API would refuse is shown as
            // absent rather than failing the read.
            phone: phone.as_deref().and_then(|p| Phone::parse(p).ok()),
            company: get(r, 5)?,
            source: get(r, 6)?,
            pipeline: get(r, 7)?,
            status: get(r, 8)?,
            score: i64::from(get::<i32>(r, 9)?),
            custom_fields,
            notes: get(r, 11)?,
            user_id: get(r, 12)?,
        },
        created_at: Timestamp::from_datetime(get(r, 14)?),
        updated_at: Timestamp::from_datetime(get(r, 15)?),
        version: get(r, 13)?,
    })
}

pub(super) async fn read_lead(tx: &mut Tx<'_>, company: Uuid, id: LeadId) -> StoreResult<Lead> {
    let row = tx
        .one(
            &format!("SELECT {LEAD_COLUMNS} FROM leads WHERE company_id = $1 AND id = $2"),
            &[&company, &id.0],
        )
        .await?;
    lead_from(&row)
}

/// Everything a lead owns, erased in the transaction that deletes it (company `$1`, lead
/// `$2`), children before parents (the seed's foreign keys). A new table that holds a
/// lead's data belongs here: the erasure test reads every table after an erasure.
const OWNED_BY_A_LEAD: &[&str] = &[
    "DELETE FROM messages WHERE company_id = $1 AND conversation_id IN \
     (SELECT id FROM conversations WHERE company_id = $1 AND lead_id = $2)",
    "DELETE FROM conversations WHERE company_id = $1 AND lead_id = $2",
    "DELETE FROM lead_events WHERE company_id = $1 AND lead_id = $2",
    "DELETE FROM lead_contacts WHERE company_id = $1 AND lead_id = $2",
    "DELETE FROM lead_marks WHERE company_id = $1 AND lead_id = $2",
    // Pending events carry the lead's data; `lead.deleted` (its id alone) is written after.
    "DELETE FROM outbox WHERE company_id = $1 AND lead_id = $2",
    "DELETE FROM webhook_deliveries WHERE company_id = $1 AND lead_id = $2",
    "DELETE FROM webhook_retries WHERE company_id = $1 AND lead_id = $2",
    "DELETE FROM ai_turns WHERE company_id = $1 AND lead_id = $2",
];

/// Refuses a phone or e-mail that another lead of the company already has (the company's
/// write lock is held, so no other write can slip in between).
async fn check_unique(
    tx: &mut Tx<'_>,
    company: Uuid,
    fields: &LeadFields,
    except: Option<LeadId>,
) -> StoreResult<()> {
    let except = except.map(|id| id.0).unwrap_or_default();
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
        let existing = tx
            .opt(
                &format!(
                    "SELECT id FROM leads WHERE company_id = $1 AND {column} = $2 AND id <> $3 LIMIT 1"
                ),
                &[&company, &key, &except],
            )
            .await?;
        if let Some(row) = existing {
            let existing_id: Uuid = get(&row, 0)?;
            return Err(StoreError::Duplicate {
                field,
                existing_id: existing_id.to_string(),
            });
        }
    }
    Ok(())
}

async fn insert_event(
    tx: &mut Tx<'_>,
    company: Uuid,
    lead: LeadId,
    change: &LeadChange,
    at: Timestamp,
    by: &str,
) -> StoreResult<()> {
    tx.exec(
        "INSERT INTO lead_events (id, company_id, lead_id, kind, from_value, to_value, at, by_user) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        &[
            &Uuid::now_v7(),
            &company,
            &lead.0,
            &change.kind.as_str(),
            &change.from,
            &change.to,
            &at.inner(),
            &by,
        ],
    )
    .await?;
    Ok(())
}

/// The columns every lead write sets from its fields, each with its placeholder in `args`.
fn lead_values(fields: &LeadFields, args: &mut Args) -> Vec<(&'static str, String)> {
    let owner = args.push(fields.user_id.clone());
    vec![
        ("name", args.push(fields.name.clone())),
        (
            "email",
            args.push(fields.email.as_ref().map(|e| e.as_str().to_string())),
        ),
        (
            "email_key",
            args.push(fields.email.as_ref().map(Email::dedupe_key)),
        ),
        (
            "phone",
            args.push(fields.phone.as_ref().map(|p| p.as_str().to_string())),
        ),
        (
            "phone_key",
            args.push(fields.phone.as_ref().map(Phone::dedupe_key)),
        ),
        ("company", args.push(fields.company.clone())),
        ("source", args.push(fields.source.clone())),
        ("pipeline", args.push(fields.pipeline.clone())),
        ("status", args.push(fields.status.clone())),
        (
            "score",
            args.push(i32::try_from(fields.score).unwrap_or_default()),
        ),
        (
            "custom_fields",
            args.push(Value::Object(fields.custom_fields.clone())),
        ),
        ("notes", args.push(fields.notes.clone())),
        // The seed's user_id references users: set when the owner is one of them.
        (
            "user_id",
            format!("(SELECT id FROM users WHERE id::text = {owner})"),
        ),
        ("owner", owner),
        ("search_text", args.push(fields.search_text())),
        ("sort_name", args.push(fields.sort_name())),
    ]
}

/// A cursor's sort value as the column's type.
fn push_sort_value(args: &mut Args, sort: LeadSort, v: &Value) -> String {
    match sort {
        LeadSort::CreatedAt | LeadSort::UpdatedAt => {
            let at: DateTime<Utc> = v
                .as_str()
                .and_then(Timestamp::parse)
                .map(|t| t.inner())
                .unwrap_or_default();
            args.push(at)
        }
        LeadSort::Score => args.push(
            v.as_i64()
                .and_then(|n| i32::try_from(n).ok())
                .unwrap_or_default(),
        ),
        LeadSort::Name | LeadSort::Status => args.push(v.as_str().unwrap_or_default().to_string()),
    }
}

#[async_trait]
impl LeadStore for PgStore {
    async fn create_lead(
        &self,
        company: &CompanyId,
        fields: LeadFields,
        by: &str,
    ) -> StoreResult<Lead> {
        let id = LeadId(Uuid::now_v7());
        let now = Timestamp::now();
        let (mut tx, c) = self.write(company).await?;
        check_unique(&mut tx, c, &fields, None).await?;
        ensure_company(&mut tx, c).await?;
        let mut args = Args::default();
        let (idp, cp, atp) = (args.push(id.0), args.push(c), args.push(now.inner()));
        let values = lead_values(&fields, &mut args);
        let sql = format!(
            "INSERT INTO leads (id, company_id, version, created_at, updated_at, {}) \
             VALUES ({idp}, {cp}, 1, {atp}, {atp}, {})",
            values
                .iter()
                .map(|(n, _)| *n)
                .collect::<Vec<_>>()
                .join(", "),
            values
                .iter()
                .map(|(_, p)| p.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        );
        tx.exec(&sql, &args.refs()).await?;
        let created = LeadChange {
            kind: LeadEventKind::Created,
            from: None,
            to: Some(fields.status.clone()),
        };
        insert_event(&mut tx, c, id, &created, now, by).await?;
        count(&mut tx, c, "leads", 1).await?;
        let lead = read_lead(&mut tx, c, id).await?;
        enqueue(&mut tx, &OutboxEvent::lead_created(&lead)).await?;
        tx.commit().await?;
        Ok(lead)
    }

    async fn get_lead(&self, company: &CompanyId, id: LeadId) -> StoreResult<Lead> {
        let (mut tx, c) = self.read(company).await?;
        let lead = read_lead(&mut tx, c, id).await?;
        tx.commit().await?;
        Ok(lead)
    }

    async fn list_leads(&self, company: &CompanyId, query: &LeadQuery) -> StoreResult<Page<Lead>> {
        let (mut tx, c) = self.read(company).await?;
        let f = &query.filters;
        let mut args = Args::default();
        let cp = args.push(c);
        let mut filters: Vec<String> = Vec::new();
        let exact = [
            ("status", &f.status),
            ("pipeline", &f.pipeline),
            ("source", &f.source),
            ("COALESCE(owner, user_id::text)", &f.user_id),
        ];
        for (column, value) in exact {
            if let Some(v) = value {
                filters.push(format!("{column} = {}", args.push(v.clone())));
            }
        }
        if let Some(from) = f.created_from {
            filters.push(format!("created_at >= {}", args.push(from.inner())));
        }
        if let Some(to) = f.created_to {
            filters.push(format!("created_at <= {}", args.push(to.inner())));
        }
        if let Some(s) = &f.search {
            filters.push(format!(
                "search_text LIKE {} ESCAPE '\\'",
                args.push(like_pattern(s))
            ));
        }
        // The company's lead count is kept; only a filter has to count what it matches.
        let total: u64 = if filters.is_empty() {
            counted(&mut tx, c, "leads").await?
        } else {
            let row = tx
                .one(
                    &format!(
                        "SELECT COUNT(*) FROM (SELECT * FROM leads WHERE company_id = {cp} \
                         ORDER BY created_at DESC, id DESC LIMIT {FILTER_BUDGET}) l WHERE {}",
                        filters.join(" AND ")
                    ),
                    &args.refs(),
                )
                .await?;
            u64::try_from(get::<i64>(&row, 0)?).unwrap_or_default()
        };

        let column = sort_column(query.sort);
        let (dir, cmp) = match query.page.order {
            Order::Asc => ("ASC", ">"),
            Order::Desc => ("DESC", "<"),
        };
        let page = &query.page;
        let mut walk = vec![format!("company_id = {cp}")];
        let offset = match &page.cursor {
            Some(cur) => {
                let v = push_sort_value(&mut args, query.sort, &cur.value);
                let id = args.push(Uuid::parse_str(&cur.id).unwrap_or_default());
                walk.push(format!(
                    "({column} {cmp} {v} OR ({column} = {v} AND id {cmp} {id}))"
                ));
                0
            }
            None => page.offset(),
        };
        if filters.is_empty() {
            let sql = format!(
                "SELECT {LEAD_COLUMNS} FROM leads WHERE {} ORDER BY {column} {dir}, id {dir} \
                 LIMIT {} OFFSET {offset}",
                walk.join(" AND "),
                page.limit + 1
            );
            let rows = tx.query(&sql, &args.refs()).await?;
            tx.commit().await?;
            let items = rows
                .iter()
                .map(lead_from)
                .collect::<StoreResult<Vec<_>>>()?;
            return Ok(Page::of(items, page.limit, total));
        }
        // A filter reads at most FILTER_BUDGET leads in the page's order: the company's
        // leads are walked by the sort index, each row saying whether it matches.
        let sql = format!(
            "SELECT {LEAD_COLUMNS}, COALESCE(({}), false) FROM leads WHERE {} \
             ORDER BY {column} {dir}, id {dir} LIMIT {FILTER_BUDGET}",
            filters.join(" AND "),
            walk.join(" AND ")
        );
        let rows = tx.query(&sql, &args.refs()).await?;
        tx.commit().await?;
        let walk = rows
            .iter()
            .map(|row| Ok((lead_from(row)?, get::<bool>(row, 16)?)));
        walked_page(walk, page.limit, offset, total)
    }

    async fn update_lead(
        &self,
        company: &CompanyId,
        id: LeadId,
        update: LeadUpdate,
    ) -> StoreResult<Lead> {
        let now = Timestamp::now();
        let (mut tx, c) = self.write(company).await?;
        check_unique(&mut tx, c, &update.fields, Some(id)).await?;
        let mut args = Args::default();
        let values = lead_values(&update.fields, &mut args);
        let sql = format!(
            "UPDATE leads SET {}, version = version + 1, updated_at = {} \
             WHERE company_id = {} AND id = {} AND version = {}",
            values
                .iter()
                .map(|(n, p)| format!("{n} = {p}"))
                .collect::<Vec<_>>()
                .join(", "),
            args.push(now.inner()),
            args.push(c),
            args.push(id.0),
            args.push(update.expected_version)
        );
        if tx.exec(&sql, &args.refs()).await? == 0 {
            // Tell a stale write from a missing lead.
            read_lead(&mut tx, c, id).await?;
            return Err(StoreError::Conflict(
                "The lead was changed by someone else; read it again and retry".into(),
            ));
        }
        for change in &update.changes {
            insert_event(&mut tx, c, id, change, now, &update.by).await?;
        }
        let lead = read_lead(&mut tx, c, id).await?;
        for event in OutboxEvent::lead_updated(&lead, &update.changes) {
            enqueue(&mut tx, &event).await?;
        }
        tx.commit().await?;
        Ok(lead)
    }

    async fn delete_lead(&self, company: &CompanyId, id: LeadId) -> StoreResult<()> {
        let (mut tx, c) = self.write(company).await?;
        read_lead(&mut tx, c, id).await?;
        let row = tx
            .one(
                "SELECT COUNT(*) FROM conversations WHERE company_id = $1 AND lead_id = $2",
                &[&c, &id.0],
            )
            .await?;
        let conversations: i64 = get(&row, 0)?;
        for sql in OWNED_BY_A_LEAD {
            tx.exec(sql, &[&c, &id.0]).await?;
        }
        tx.exec(
            "DELETE FROM leads WHERE company_id = $1 AND id = $2",
            &[&c, &id.0],
        )
        .await?;
        count(&mut tx, c, "leads", -1).await?;
        count(&mut tx, c, "conversations", -conversations).await?;
        enqueue(&mut tx, &OutboxEvent::lead_deleted(company, id)).await?;
        tx.commit().await
    }

    async fn add_lead_event(
        &self,
        company: &CompanyId,
        lead: LeadId,
        change: &LeadChange,
        by: &str,
    ) -> StoreResult<()> {
        let (mut tx, c) = self.write(company).await?;
        read_lead(&mut tx, c, lead).await?;
        insert_event(&mut tx, c, lead, change, Timestamp::now(), by).await?;
        tx.commit().await
    }

    async fn lead_history(&self, company: &CompanyId, id: LeadId) -> StoreResult<Vec<LeadEvent>> {
        let (mut tx, c) = self.read(company).await?;
        read_lead(&mut tx, c, id).await?;
        let rows = tx
            .query(
                "SELECT id, kind, from_value, to_value, at, by_user FROM lead_events \
                 WHERE company_id = $1 AND lead_id = $2 ORDER BY at, id",
                &[&c, &id.0],
            )
            .await?;
        tx.commit().await?;
        rows.iter()
            .map(|r| {
                let kind: String = get(r, 1)?;
                Ok(LeadEvent {
                    id: get(r, 0)?,
                    lead_id: id,
                    kind: LeadEventKind::parse(&kind).ok_or_else(|| corrupt("event kind"))?,
                    from: get(r, 2)?,
                    to: get(r, 3)?,
                    at: Timestamp::from_datetime(get(r, 4)?),
                    by: get(r, 5)?,
                })
            })
            .collect()
    }

    async fn advance_lead_mark(
        &self,
        company: &CompanyId,
        lead: LeadId,
        source: &str,
        at: i64,
    ) -> StoreResult<bool> {
        let (mut tx, c) = self.write(company).await?;
        read_lead(&mut tx, c, lead).await?;
        let changed = tx
            .exec(
                "INSERT INTO lead_marks (company_id, lead_id, source, at) VALUES ($1, $2, $3, $4) \
                 ON CONFLICT (company_id, lead_id, source) DO UPDATE SET at = excluded.at \
                 WHERE lead_marks.at <= excluded.at",
                &[&c, &lead.0, &source, &at],
            )
            .await?;
        tx.commit().await?;
        Ok(changed > 0)
    }
}

/// The seed's leads and agents reference `companies`: a company known only from its
/// tokens gets its row (named by its id) with its first such record.
pub(super) async fn ensure_company(tx: &mut Tx<'_>, company: Uuid) -> StoreResult<()> {
    tx.exec(
        "INSERT INTO companies (id, name, settings) VALUES ($1, $2, '{}') \
         ON CONFLICT (id) DO NOTHING",
        &[&company, &company.to_string()],
    )
    .await?;
    Ok(())
}
