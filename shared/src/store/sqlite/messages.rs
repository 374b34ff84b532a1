//! SQLite: channel messages (one per channel id), their delivery statuses, and the
//! Instagram/Messenger users of leads.

use rusqlite::{params, OptionalExtension, Transaction};
use serde_json::Value;
use uuid::Uuid;

use super::{corrupt, json, map_err, read_conversation, ts, uuid, SqliteStore};
use crate::domain::conversation::{
    Channel, Conversation, ConversationChange, ConversationQuery, ConversationStatus,
    ConversationView, LastMessage, Message, NewMessage, Role, StatusOutcome,
};
use crate::domain::inbound::DeliveryStatus;
use crate::domain::lead::LeadId;
use crate::domain::page::Page;
use crate::domain::{CompanyId, Timestamp};
use crate::store::{StoreError, StoreResult};
use rusqlite::types::Value as SqlValue;

/// Moves the message with this channel id forward, or keeps the status for when it comes.
pub(super) fn apply_status(
    tx: &Transaction<'_>,
    company: &CompanyId,
    external_id: &str,
    status: DeliveryStatus,
    error: Option<&Value>,
) -> StoreResult<StatusOutcome> {
    let current: Option<i64> = tx
        .query_row(
            "SELECT status_rank FROM messages WHERE company_id = ?1 AND external_id = ?2",
            params![company.as_str(), external_id],
            |r| r.get(0),
        )
        .optional()
        .map_err(map_err)?;
    let error = error.map(Value::to_string);
    match current {
        Some(rank) if rank >= status.rank() || rank == DeliveryStatus::Failed.rank() => {
            Ok(StatusOutcome::Unchanged)
        }
        Some(_) => {
            tx.execute(
                "UPDATE messages SET status = ?3, status_rank = ?4, error = COALESCE(?5, error) \
                 WHERE company_id = ?1 AND external_id = ?2",
                params![
                    company.as_str(),
                    external_id,
                    status.as_str(),
                    status.rank(),
                    error
                ],
            )
            .map_err(map_err)?;
            Ok(StatusOutcome::Applied)
        }
        None => {
            tx.execute(
                "INSERT INTO pending_statuses (company_id, external_id, status, status_rank, error) \
                 VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (company_id, external_id) DO UPDATE SET \
                 status = excluded.status, status_rank = excluded.status_rank, \
                 error = COALESCE(excluded.error, pending_statuses.error) \
                 WHERE excluded.status_rank > pending_statuses.status_rank",
                params![company.as_str(), external_id, status.as_str(), status.rank(), error],
            )
            .map_err(map_err)?;
            Ok(StatusOutcome::Pending)
        }
    }
}

const MESSAGE_COLUMNS: &str =
    "id, conversation_id, role, content, kind, metadata, created_at, external_id, status, error";

type MessageRow = (
    String,
    String,
    String,
    String,
    String,
    String,
    String,
    Option<String>,
    Option<String>,
    Option<String>,
);

fn message_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<MessageRow> {
    Ok((
        r.get(0)?,
        r.get(1)?,
        r.get(2)?,
        r.get(3)?,
        r.get(4)?,
        r.get(5)?,
        r.get(6)?,
        r.get(7)?,
        r.get(8)?,
        r.get(9)?,
    ))
}

fn message_from(row: MessageRow) -> StoreResult<Message> {
    let (id, conversation, role, content, kind, metadata, at, external_id, status, error) = row;
    Ok(Message {
        id: uuid(&id)?,
        conversation_id: uuid(&conversation)?,
        role: Role::parse(&role).ok_or_else(|| corrupt("role"))?,
        content,
        kind,
        metadata: json(&metadata)?,
        created_at: ts(&at)?,
        external_id,
        status: status.as_deref().and_then(DeliveryStatus::parse),
        error: error.as_deref().map(json).transpose()?,
    })
}

fn read_message(tx: &Transaction<'_>, company: &CompanyId, id: &str) -> StoreResult<Message> {
    let row = tx
        .query_row(
            &format!("SELECT {MESSAGE_COLUMNS} FROM messages WHERE company_id = ?1 AND id = ?2"),
            params![company.as_str(), id],
            message_row,
        )
        .map_err(map_err)?;
    message_from(row)
}

impl SqliteStore {
    pub(super) fn add_message_sync(
        &self,
        company: &CompanyId,
        conversation: Uuid,
        message: NewMessage,
    ) -> StoreResult<Message> {
        let id = Uuid::now_v7().to_string();
        let at = message.created_at.unwrap_or_else(Timestamp::now);
        self.write(|tx| {
            read_conversation(tx, company, conversation)?;
            if let Some(external) = &message.external_id {
                let existing: Option<String> = tx
                    .query_row(
                        "SELECT id FROM messages WHERE company_id = ?1 AND external_id = ?2",
                        params![company.as_str(), external],
                        |r| r.get(0),
                    )
                    .optional()
                    .map_err(map_err)?;
                if let Some(existing_id) = existing {
                    return Err(StoreError::Duplicate { field: "external_id", existing_id });
                }
            }
            tx.execute(
                "INSERT INTO messages (id, company_id, conversation_id, role, content, kind, metadata, created_at, \
                 external_id, status, status_rank) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
                params![
                    id,
                    company.as_str(),
                    conversation.to_string(),
                    message.role.as_str(),
                    message.content,
                    message.kind,
                    message.metadata.to_string(),
                    at.as_string(),
                    message.external_id,
                    message.status.map(|s| s.as_str()),
                    message.status.map_or(-1, |s| s.rank()),
                ],
            )
            .map_err(map_err)?;
            let inbound = message.role == Role::User;
            tx.execute(
                "UPDATE conversations SET last_message_at = MAX(COALESCE(last_message_at, ''), ?1), \
                 last_inbound_at = CASE WHEN ?2 THEN MAX(COALESCE(last_inbound_at, ''), ?1) \
                 ELSE last_inbound_at END, updated_at = ?1 WHERE company_id = ?3 AND id = ?4",
                params![at.as_string(), inbound, company.as_str(), conversation.to_string()],
            )
            .map_err(map_err)?;
            if let Some(external) = &message.external_id {
                apply_pending(tx, company, external)?;
            }
            read_message(tx, company, &id)
        })
    }

    pub(super) fn list_messages_sync(
        &self,
        company: &CompanyId,
        conversation: Uuid,
    ) -> StoreResult<Vec<Message>> {
        let conn = self.conn();
        read_conversation(&conn, company, conversation)?;
        let mut stmt = conn
            .prepare_cached(&format!(
                "SELECT {MESSAGE_COLUMNS} FROM messages WHERE company_id = ?1 AND conversation_id = ?2 ORDER BY created_at, id"
            ))
            .map_err(map_err)?;
        let rows = stmt
            .query_map(
                params![company.as_str(), conversation.to_string()],
                message_row,
            )
            .map_err(map_err)?;
        rows.map(|r| r.map_err(map_err).and_then(message_from))
            .collect()
    }

    pub(super) fn find_contact_sync(
        &self,
        company: &CompanyId,
        channel: Channel,
        user_id: &str,
    ) -> StoreResult<Option<LeadId>> {
        let id: Option<String> = self
            .conn()
            .query_row(
                "SELECT lead_id FROM lead_contacts WHERE company_id = ?1 AND channel = ?2 AND user_id = ?3",
                params![company.as_str(), channel.as_str(), user_id],
                |r| r.get(0),
            )
            .optional()
            .map_err(map_err)?;
        id.map(|i| uuid(&i).map(LeadId)).transpose()
    }

    pub(super) fn claim_contact_sync(
        &self,
        company: &CompanyId,
        channel: Channel,
        user_id: &str,
        lead: LeadId,
    ) -> StoreResult<()> {
        self.write(|tx| {
            let existing: Option<String> = tx
                .query_row(
                    "SELECT lead_id FROM lead_contacts WHERE company_id = ?1 AND channel = ?2 AND user_id = ?3",
                    params![company.as_str(), channel.as_str(), user_id],
                    |r| r.get(0),
                )
                .optional()
                .map_err(map_err)?;
            if let Some(existing_id) = existing {
                return Err(StoreError::Duplicate { field: "contact", existing_id });
            }
            tx.execute(
                "INSERT INTO lead_contacts (company_id, channel, user_id, lead_id) VALUES (?1, ?2, ?3, ?4)",
                params![company.as_str(), channel.as_str(), user_id, lead.to_string()],
            )
            .map_err(map_err)?;
            Ok(())
        })
    }
}

impl SqliteStore {
    pub(super) fn list_conversations_sync(
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
        let filter = clauses.join(" AND ");
        let conn = self.conn();
        let total: i64 = conn
            .query_row(
                &format!("SELECT COUNT(*) FROM conversations c WHERE {filter}"),
                rusqlite::params_from_iter(args.iter()),
                |r| r.get(0),
            )
            .map_err(map_err)?;
        let ids: Vec<(String, String, Option<String>, Option<String>)> = {
            let sql = format!(
                "SELECT c.id, COALESCE(l.name, ''), \
                 (SELECT content FROM messages m WHERE m.company_id = c.company_id AND m.conversation_id = c.id ORDER BY m.created_at DESC, m.id DESC LIMIT 1), \
                 (SELECT created_at FROM messages m WHERE m.company_id = c.company_id AND m.conversation_id = c.id ORDER BY m.created_at DESC, m.id DESC LIMIT 1) \
                 FROM conversations c LEFT JOIN leads l ON l.company_id = c.company_id AND l.id = c.lead_id \
                 WHERE {filter} ORDER BY COALESCE(c.last_message_at, c.created_at) DESC, c.id DESC LIMIT {} OFFSET {}",
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
        let has_more = items.len() > q.page.limit as usize;
        items.truncate(q.page.limit as usize);
        Ok(Page {
            items,
            total: u64::try_from(total).unwrap_or_default(),
            has_more,
        })
    }

    pub(super) fn update_conversation_sync(
        &self,
        company: &CompanyId,
        id: Uuid,
        change: ConversationChange,
    ) -> StoreResult<Conversation> {
        let now = Timestamp::now().as_string();
        self.write(|tx| {
            let current = read_conversation(tx, company, id)?;
            let next = change.apply(&current);
            if next.status == ConversationStatus::Active && current.status != ConversationStatus::Active {
                let other: Option<String> = tx
                    .query_row(
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
            tx.execute(
                "UPDATE conversations SET status = ?3, metadata = ?4, updated_at = ?5 WHERE company_id = ?1 AND id = ?2",
                params![company.as_str(), id.to_string(), next.status.as_str(), next.metadata.to_string(), now],
            )
            .map_err(map_err)?;
            read_conversation(tx, company, id)
        })
    }
}

impl SqliteStore {
    pub(super) fn record_delivery_sync(
        &self,
        company: &CompanyId,
        message: &Message,
        external_id: Option<&str>,
        status: DeliveryStatus,
        error: Option<&Value>,
    ) -> StoreResult<Message> {
        let id = message.id.to_string();
        self.write(|tx| {
            let changed = tx
                .execute(
                    "UPDATE messages SET external_id = COALESCE(?3, external_id), status = ?4, status_rank = ?5, \
                     error = ?6 WHERE company_id = ?1 AND id = ?2",
                    params![company.as_str(), id, external_id, status.as_str(), status.rank(), error.map(Value::to_string)],
                )
                .map_err(map_err)?;
            if changed == 0 {
                return Err(StoreError::NotFound);
            }
            if let Some(external) = external_id {
                apply_pending(tx, company, external)?;
            }
            read_message(tx, company, &id)
        })
    }
}

/// Applies (and forgets) a status that arrived for `external` before its message was known.
fn apply_pending(tx: &Transaction<'_>, company: &CompanyId, external: &str) -> StoreResult<()> {
    let pending: Option<(String, Option<String>)> = tx
        .query_row(
            "DELETE FROM pending_statuses WHERE company_id = ?1 AND external_id = ?2 RETURNING status, error",
            params![company.as_str(), external],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()
        .map_err(map_err)?;
    if let Some((status, error)) = pending {
        let status = DeliveryStatus::parse(&status).ok_or_else(|| corrupt("status"))?;
        let error = error.as_deref().map(json).transpose()?;
        apply_status(tx, company, external, status, error.as_ref())?;
    }
    Ok(())
}
