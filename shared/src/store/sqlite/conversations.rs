//! SQLite: conversations, and the Instagram/Messenger users (scoped ids) of leads.

use async_trait::async_trait;
use rusqlite::types::Value as SqlValue;
use rusqlite::{params, Connection, OptionalExtension};
use uuid::Uuid;

use super::events::enqueue;
use super::leads::read_lead;
use super::Cached;
use super::{corrupt, count, counted, json, map_err, ts, uuid, SqliteStore, FILTER_BUDGET};
use crate::domain::autoreply::ConversationAi;
use crate::domain::conversation::{
    Channel, Conversation, ConversationChange, ConversationQuery, ConversationStatus,
    ConversationView, LastMessage,
};
use crate::domain::event::OutboxEvent;
use crate::domain::lead::LeadId;
use crate::domain::page::Page;
use crate::domain::{CompanyId, Timestamp};
use crate::store::prelude::*;
use crate::store::{StoreError, StoreResult};

const CONVERSATION_COLUMNS: &str = "id, company_id, lead_id, channel, status, metadata, \
     last_message_at, last_inbound_at, created_at, updated_at, message_count, ai";

pub(super) fn read_conversation(
    conn: &Connection,
    company: &CompanyId,
    id: Uuid,
) -> StoreResult<Conversation> {
    let row = conn
        .row(
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
                    r.get::<_, i64>(10)?,
                    r.get::<_, String>(11)?,
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
        message_count: u64::try_from(row.10).unwrap_or_default(),
        ai: ConversationAi::from_stored(Some(&row.11)),
    })
}

#[async_trait]
impl ConversationStore for SqliteStore {
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
                .row(
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
            tx.run(
                "INSERT INTO conversations (id, company_id, lead_id, channel, status, metadata, \
                 created_at, updated_at, activity) VALUES (?1, ?2, ?3, ?4, 'active', '{}', ?5, ?5, ?5)",
                params![
                    id.to_string(),
                    company.as_str(),
                    lead.0.to_string(),
                    channel.as_str(),
                    now
                ],
            )
            .map_err(map_err)?;
            count(tx, company, "conversations", 1)?;
            let started = read_conversation(tx, company, id)?;
            enqueue(tx, &OutboxEvent::conversation_started(&started))?;
            Ok(started)
        })
    }

    async fn get_conversation(&self, company: &CompanyId, id: Uuid) -> StoreResult<Conversation> {
        read_conversation(&self.conn(), company, id)
    }

    async fn list_conversations(
        &self,
        company: &CompanyId,
        q: &ConversationQuery,
    ) -> StoreResult<Page<ConversationView>> {
        let mut clauses = vec!["c.company_id = ?".to_string()];
        let mut args: Vec<SqlValue> = vec![SqlValue::Text(company.as_str().to_string())];
        if let Some(s) = q.status {
            clauses.push("c.status = ?".into());
            args.push(SqlValue::Text(s.as_str().into()));
        }
        if let Some(ch) = q.channel {
            clauses.push("c.channel = ?".into());
            args.push(SqlValue::Text(ch.as_str().into()));
        }
        if let Some(l) = q.lead_id {
            clauses.push("c.lead_id = ?".into());
            args.push(SqlValue::Text(l.to_string()));
        }
        let filtered = clauses.len() > 1;
        // Newest activity first through the activity index; a filter looks only at the
        // newest FILTER_BUDGET conversations, and its total counts the matches among them.
        let (source, filter) = if filtered {
            (
                format!(
                    "(SELECT * FROM conversations WHERE company_id = ?1 \
                     ORDER BY activity DESC, id DESC LIMIT {FILTER_BUDGET})"
                ),
                clauses[1..].join(" AND "),
            )
        } else {
            ("conversations".to_string(), clauses.join(" AND "))
        };
        let conn = self.conn();
        let kept = counted(&conn, company, "conversations")?;
        let total: u64 = if filtered {
            let n: i64 = conn
                .row(
                    &format!("SELECT COUNT(*) FROM {source} c WHERE {filter}"),
                    rusqlite::params_from_iter(args.iter()),
                    |r| r.get(0),
                )
                .map_err(map_err)?;
            u64::try_from(n).unwrap_or_default()
        } else {
            kept
        };
        let ids: Vec<(String, String, Option<String>, Option<String>)> = {
            let sql = format!(
                "SELECT c.id, COALESCE(l.name, ''), \
                 (SELECT content FROM messages m WHERE m.company_id = c.company_id AND m.conversation_id = c.id ORDER BY m.created_at DESC, m.id DESC LIMIT 1), \
                 (SELECT created_at FROM messages m WHERE m.company_id = c.company_id AND m.conversation_id = c.id ORDER BY m.created_at DESC, m.id DESC LIMIT 1) \
                 FROM {source} c LEFT JOIN leads l ON l.company_id = c.company_id AND l.id = c.lead_id \
                 WHERE {filter} ORDER BY c.activity DESC, c.id DESC LIMIT {} OFFSET {}",
                q.page.limit + 1,
                q.page.offset()
            );
            let mut stmt = conn.prepare_cached(&sql).map_err(map_err)?;
            let rows = stmt
                .query_map(rusqlite::params_from_iter(args.iter()), |r| {
                    Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
                })
                .map_err(map_err)?;
            rows.collect::<Result<_, _>>().map_err(map_err)?
        };
        let mut items = Vec::with_capacity(ids.len());
        for (id, lead_name, content, at) in ids {
            let conversation = read_conversation(&conn, company, uuid(&id)?)?;
            let last_message = match (content, at) {
                (Some(content), Some(at)) => Some(LastMessage {
                    content,
                    timestamp: ts(&at)?,
                }),
                _ => None,
            };
            items.push(ConversationView {
                conversation,
                lead_name,
                last_message,
            });
        }
        let mut page = Page::of(items, q.page.limit, total);
        // Conversations past the budget may match too.
        page.has_more |= filtered && kept > FILTER_BUDGET;
        Ok(page)
    }

    async fn update_conversation(
        &self,
        company: &CompanyId,
        id: Uuid,
        change: ConversationChange,
    ) -> StoreResult<Conversation> {
        let now = Timestamp::now().as_string();
        self.write(|tx| {
            let current = read_conversation(tx, company, id)?;
            if let Some(why) = change.refusal(&current) {
                return Err(StoreError::Conflict(why));
            }
            let next = change.apply(&current);
            if next.status == ConversationStatus::Active && current.status != ConversationStatus::Active {
                let other: Option<String> = tx
                    .row(
                        "SELECT id FROM conversations WHERE company_id = ?1 AND lead_id = ?2 AND channel = ?3 \
                         AND status = 'active' AND id <> ?4",
                        params![company.as_str(), current.lead_id.to_string(), current.channel.as_str(), id.to_string()],
                        |r| r.get(0),
                    )
                    .optional()
                    .map_err(map_err)?;
                if let Some(other) = other {
                    return Err(StoreError::Conflict(format!(
                        "The lead already has an active conversation on this channel: {other}"
                    )));
                }
            }
            tx.run(
                "UPDATE conversations SET status = ?3, metadata = ?4, updated_at = ?5, ai = ?6 WHERE company_id = ?1 AND id = ?2",
                params![company.as_str(), id.to_string(), next.status.as_str(), next.metadata.to_string(), now, next.ai.to_stored()],
            )
            .map_err(map_err)?;
            let updated = read_conversation(tx, company, id)?;
            for event in OutboxEvent::of_conversation_change(&current, &updated, change.handoff.as_deref()) {
                enqueue(tx, &event)?;
            }
            Ok(updated)
        })
    }

    async fn find_contact(
        &self,
        company: &CompanyId,
        channel: Channel,
        user_id: &str,
    ) -> StoreResult<Option<LeadId>> {
        let id: Option<String> = self
            .conn()
            .row(
                "SELECT lead_id FROM lead_contacts WHERE company_id = ?1 AND channel = ?2 AND user_id = ?3",
                params![company.as_str(), channel.as_str(), user_id],
                |r| r.get(0),
            )
            .optional()
            .map_err(map_err)?;
        id.map(|i| uuid(&i).map(LeadId)).transpose()
    }

    async fn contact_of(
        &self,
        company: &CompanyId,
        lead: LeadId,
        channel: Channel,
    ) -> StoreResult<Option<String>> {
        self.conn()
            .row(
                "SELECT user_id FROM lead_contacts WHERE company_id = ?1 AND lead_id = ?2 AND channel = ?3",
                params![company.as_str(), lead.to_string(), channel.as_str()],
                |r| r.get(0),
            )
            .optional()
            .map_err(map_err)
    }

    async fn claim_contact(
        &self,
        company: &CompanyId,
        channel: Channel,
        user_id: &str,
        lead: LeadId,
    ) -> StoreResult<()> {
        self.write(|tx| {
            let existing: Option<String> = tx
                .row(
                    "SELECT lead_id FROM lead_contacts WHERE company_id = ?1 AND channel = ?2 AND user_id = ?3",
                    params![company.as_str(), channel.as_str(), user_id],
                    |r| r.get(0),
                )
                .optional()
                .map_err(map_err)?;
            if let Some(existing_id) = existing {
                return Err(StoreError::Duplicate { field: "contact", existing_id });
            }
            tx.run(
                "INSERT INTO lead_contacts (company_id, channel, user_id, lead_id) VALUES (?1, ?2, ?3, ?4)",
                params![company.as_str(), channel.as_str(), user_id, lead.to_string()],
            )
            .map_err(map_err)?;
            Ok(())
        })
    }
}
