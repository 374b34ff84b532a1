//! SQLite: channel messages (one per channel id) and their delivery statuses, which only
//! move forward and wait for their message when they arrive first.

use async_trait::async_trait;
use rusqlite::types::Value as SqlValue;
use rusqlite::{params, OptionalExtension, Transaction};
use serde_json::Value;
use uuid::Uuid;

use super::conversations::read_conversation;
use super::events::enqueue;
use super::Cached;
use super::{corrupt, json, map_err, ts, uuid, SqliteStore};
use crate::domain::conversation::{Message, NewMessage, Role, StatusOutcome};
use crate::domain::event::OutboxEvent;
use crate::domain::inbound::DeliveryStatus;
use crate::domain::page::{Page, PageRequest};
use crate::domain::{CompanyId, Timestamp};
use crate::store::prelude::*;
use crate::store::{StoreError, StoreResult, RECENT_MESSAGES};

/// Moves the message with this channel id forward, or keeps the status for when it comes.
pub(super) fn apply_status(
    tx: &Transaction<'_>,
    company: &CompanyId,
    external_id: &str,
    status: DeliveryStatus,
    error: Option<&Value>,
) -> StoreResult<StatusOutcome> {
    let current: Option<(i64, Option<String>)> = tx
        .row(
            "SELECT status_rank, status FROM messages WHERE company_id = ?1 AND external_id = ?2",
            params![company.as_str(), external_id],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()
        .map_err(map_err)?;
    let error = error.map(Value::to_string);
    match current {
        Some((rank, _)) if rank >= status.rank() || rank == DeliveryStatus::Failed.rank() => {
            Ok(StatusOutcome::Unchanged)
        }
        Some((_, previous)) => {
            let previous = previous.as_deref().and_then(DeliveryStatus::parse);
            tx.run(
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
            let id: String = tx
                .row(
                    "SELECT id FROM messages WHERE company_id = ?1 AND external_id = ?2",
                    params![company.as_str(), external_id],
                    |r| r.get(0),
                )
                .map_err(map_err)?;
            tell_delivery(tx, company, &read_message(tx, company, &id)?, previous)?;
            Ok(StatusOutcome::Applied)
        }
        None => {
            tx.run(
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
        .row(
            &format!("SELECT {MESSAGE_COLUMNS} FROM messages WHERE company_id = ?1 AND id = ?2"),
            params![company.as_str(), id],
            message_row,
        )
        .map_err(map_err)?;
    message_from(row)
}

/// Writes the event a message's new delivery status (from `previous`) tells, in the same
/// transaction.
fn tell_delivery(
    tx: &Transaction<'_>,
    company: &CompanyId,
    m: &Message,
    previous: Option<DeliveryStatus>,
) -> StoreResult<()> {
    let lead = read_conversation(tx, company, m.conversation_id)?.lead_id;
    match OutboxEvent::of_delivery(company, lead, m, previous) {
        Some(event) => enqueue(tx, &event),
        None => Ok(()),
    }
}

/// Applies (and forgets) a status that arrived for `external` before its message was known.
fn apply_pending(tx: &Transaction<'_>, company: &CompanyId, external: &str) -> StoreResult<()> {
    let pending: Option<(String, Option<String>)> = tx
        .row(
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

#[async_trait]
impl MessageStore for SqliteStore {
    async fn add_message(
        &self,
        company: &CompanyId,
        conversation: Uuid,
        message: NewMessage,
    ) -> StoreResult<Message> {
        let id = Uuid::now_v7().to_string();
        let at = message.created_at.unwrap_or_else(Timestamp::now);
        self.write(|tx| {
            let conv = read_conversation(tx, company, conversation)?;
            if let Some(external) = &message.external_id {
                let existing: Option<String> = tx
                    .row(
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
            tx.run(
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
            tx.run(
                "UPDATE conversations SET last_message_at = MAX(COALESCE(last_message_at, ''), ?1), \
                 activity = MAX(COALESCE(last_message_at, ''), ?1), \
                 last_inbound_at = CASE WHEN ?2 THEN MAX(COALESCE(last_inbound_at, ''), ?1) \
                 ELSE last_inbound_at END, updated_at = ?1, message_count = message_count + 1 \
                 WHERE company_id = ?3 AND id = ?4",
                params![at.as_string(), inbound, company.as_str(), conversation.to_string()],
            )
            .map_err(map_err)?;
            if let Some(external) = &message.external_id {
                apply_pending(tx, company, external)?;
            }
            let stored = read_message(tx, company, &id)?;
            if stored.role == Role::User {
                enqueue(tx, &OutboxEvent::message_received(company, conv.lead_id, &stored))?;
            }
            Ok(stored)
        })
    }

    async fn list_messages(
        &self,
        company: &CompanyId,
        conversation: Uuid,
        page: &PageRequest,
    ) -> StoreResult<Page<Message>> {
        let conn = self.conn();
        let total = read_conversation(&conn, company, conversation)?.message_count;
        let mut args = vec![
            SqlValue::Text(company.as_str().to_string()),
            SqlValue::Text(conversation.to_string()),
        ];
        let (after, offset) = match &page.cursor {
            Some(c) => {
                let at = c.value.as_str().unwrap_or_default().to_string();
                args.extend([
                    SqlValue::Text(at.clone()),
                    SqlValue::Text(at),
                    SqlValue::Text(c.id.clone()),
                ]);
                (" AND (created_at > ? OR (created_at = ? AND id > ?))", 0)
            }
            None => ("", page.offset()),
        };
        let sql = format!(
            "SELECT {MESSAGE_COLUMNS} FROM messages WHERE company_id = ? AND conversation_id = ?{after} \
             ORDER BY created_at, id LIMIT {} OFFSET {offset}",
            page.limit + 1
        );
        let mut stmt = conn.prepare_cached(&sql).map_err(map_err)?;
        let rows = stmt
            .query_map(rusqlite::params_from_iter(args.iter()), message_row)
            .map_err(map_err)?;
        let items = rows
            .map(|r| r.map_err(map_err).and_then(message_from))
            .collect::<StoreResult<Vec<_>>>()?;
        Ok(Page::of(items, page.limit, total))
    }

    async fn recent_messages(
        &self,
        company: &CompanyId,
        conversation: Uuid,
        limit: u32,
    ) -> StoreResult<Vec<Message>> {
        let conn = self.conn();
        read_conversation(&conn, company, conversation)?;
        let mut stmt = conn
            .prepare_cached(&format!(
                "SELECT {MESSAGE_COLUMNS} FROM messages WHERE company_id = ?1 AND conversation_id = ?2 \
                 ORDER BY created_at DESC, id DESC LIMIT ?3"
            ))
            .map_err(map_err)?;
        let rows = stmt
            .query_map(
                rusqlite::params![company.as_str(), conversation.to_string(), limit.min(100)],
                message_row,
            )
            .map_err(map_err)?;
        rows.map(|r| r.map_err(map_err).and_then(message_from))
            .collect()
    }

    async fn last_inbound_message(
        &self,
        company: &CompanyId,
        conversation: Uuid,
    ) -> StoreResult<Option<Message>> {
        let conn = self.conn();
        read_conversation(&conn, company, conversation)?;
        let row = conn
            .row(
                &format!(
                    "SELECT {MESSAGE_COLUMNS} FROM (SELECT * FROM messages WHERE company_id = ?1 \
                     AND conversation_id = ?2 ORDER BY created_at DESC, id DESC LIMIT {RECENT_MESSAGES}) \
                     WHERE role = 'user' AND external_id IS NOT NULL ORDER BY created_at DESC, id DESC LIMIT 1"
                ),
                params![company.as_str(), conversation.to_string()],
                message_row,
            )
            .optional()
            .map_err(map_err)?;
        row.map(message_from).transpose()
    }

    async fn record_delivery(
        &self,
        company: &CompanyId,
        message: &Message,
        external_id: Option<&str>,
        status: DeliveryStatus,
        error: Option<Value>,
    ) -> StoreResult<Message> {
        let id = message.id.to_string();
        self.write(|tx| {
            let previous: Option<Option<String>> = tx
                .row(
                    "SELECT status FROM messages WHERE company_id = ?1 AND id = ?2",
                    params![company.as_str(), id],
                    |r| r.get(0),
                )
                .optional()
                .map_err(map_err)?;
            let previous = previous
                .ok_or(StoreError::NotFound)?
                .as_deref()
                .and_then(DeliveryStatus::parse);
            let changed = tx
                .run(
                    "UPDATE messages SET external_id = COALESCE(?3, external_id), status = ?4, status_rank = ?5, \
                     error = ?6 WHERE company_id = ?1 AND id = ?2",
                    params![company.as_str(), id, external_id, status.as_str(), status.rank(), error.as_ref().map(Value::to_string)],
                )
                .map_err(map_err)?;
            if changed == 0 {
                return Err(StoreError::NotFound);
            }
            tell_delivery(tx, company, &read_message(tx, company, &id)?, previous)?;
            if let Some(external) = external_id {
                apply_pending(tx, company, external)?;
            }
            read_message(tx, company, &id)
        })
    }

    async fn apply_message_status(
        &self,
        company: &CompanyId,
        external_id: &str,
        status: DeliveryStatus,
        error: Option<Value>,
    ) -> StoreResult<StatusOutcome> {
        self.write(|tx| apply_status(tx, company, external_id, status, error.as_ref()))
    }

    async fn conversation_of_message(
        &self,
        company: &CompanyId,
        external_id: &str,
    ) -> StoreResult<Option<Uuid>> {
        let id: Option<String> = self
            .conn()
            .row(
                "SELECT conversation_id FROM messages WHERE company_id = ?1 AND external_id = ?2",
                params![company.as_str(), external_id],
                |r| r.get(0),
            )
            .optional()
            .map_err(map_err)?;
        id.map(|i| uuid(&i)).transpose()
    }
}
