//! PostgreSQL: messages (the seed's table) with their channel ids (one message per id) and
//! delivery statuses, which only move forward and wait for their message when they arrive
//! first.

use async_trait::async_trait;
use serde_json::Value;
use tokio_postgres::Row;
use uuid::Uuid;

use super::conversations::read_conversation;
use super::events::enqueue;
use super::{corrupt, get, Args, PgStore, Tx};
use crate::domain::conversation::{Message, NewMessage, Role, StatusOutcome};
use crate::domain::event::OutboxEvent;
use crate::domain::inbound::DeliveryStatus;
use crate::domain::page::{Page, PageRequest};
use crate::domain::{CompanyId, Timestamp};
use crate::store::prelude::*;
use crate::store::{StoreError, StoreResult, RECENT_MESSAGES};

const MESSAGE_COLUMNS: &str = "id, conversation_id, role, content, kind, \
     COALESCE(metadata, '{}'), COALESCE(created_at, now()), external_id, status, error";

fn message_from(r: &Row) -> StoreResult<Message> {
    let role: String = get(r, 2)?;
    let status: Option<String> = get(r, 8)?;
    Ok(Message {
        id: get(r, 0)?,
        conversation_id: get(r, 1)?,
        role: Role::parse(&role).ok_or_else(|| corrupt("role"))?,
        content: get(r, 3)?,
        kind: get(r, 4)?,
        metadata: get(r, 5)?,
        created_at: Timestamp::from_datetime(get(r, 6)?),
        external_id: get(r, 7)?,
        status: status.as_deref().and_then(DeliveryStatus::parse),
        error: get(r, 9)?,
    })
}

async fn read_message(tx: &mut Tx<'_>, company: Uuid, id: Uuid) -> StoreResult<Message> {
    let row = tx
        .one(
            &format!("SELECT {MESSAGE_COLUMNS} FROM messages WHERE company_id = $1 AND id = $2"),
            &[&company, &id],
        )
        .await?;
    message_from(&row)
}

/// Writes the event a message's new delivery status (from `previous`) tells, in the same
/// transaction.
async fn tell_delivery(
    tx: &mut Tx<'_>,
    company: &CompanyId,
    c: Uuid,
    m: &Message,
    previous: Option<DeliveryStatus>,
) -> StoreResult<()> {
    let lead = read_conversation(tx, c, m.conversation_id).await?.lead_id;
    match OutboxEvent::of_delivery(company, lead, m, previous) {
        Some(event) => enqueue(tx, &event).await,
        None => Ok(()),
    }
}

/// Moves the message with this channel id forward, or keeps the status for when it comes.
async fn apply_status(
    tx: &mut Tx<'_>,
    company: &CompanyId,
    c: Uuid,
    external_id: &str,
    status: DeliveryStatus,
    error: Option<&Value>,
) -> StoreResult<StatusOutcome> {
    let current = tx
        .opt(
            "SELECT id, status_rank, status FROM messages WHERE company_id = $1 AND external_id = $2",
            &[&c, &external_id],
        )
        .await?;
    let rank = i32::try_from(status.rank()).unwrap_or_default();
    let failed = i32::try_from(DeliveryStatus::Failed.rank()).unwrap_or_default();
    match current {
        Some(row) => {
            let (id, current_rank): (Uuid, i32) = (get(&row, 0)?, get(&row, 1)?);
            if current_rank >= rank || current_rank == failed {
                return Ok(StatusOutcome::Unchanged);
            }
            let previous = get::<Option<String>>(&row, 2)?
                .as_deref()
                .and_then(DeliveryStatus::parse);
            tx.exec(
                "UPDATE messages SET status = $3, status_rank = $4, error = COALESCE($5, error) \
                 WHERE company_id = $1 AND id = $2",
                &[&c, &id, &status.as_str(), &rank, &error],
            )
            .await?;
            let m = read_message(tx, c, id).await?;
            tell_delivery(tx, company, c, &m, previous).await?;
            Ok(StatusOutcome::Applied)
        }
        None => {
            tx.exec(
                "INSERT INTO pending_statuses (company_id, external_id, status, status_rank, error) \
                 VALUES ($1, $2, $3, $4, $5) ON CONFLICT (company_id, external_id) DO UPDATE SET \
                 status = excluded.status, status_rank = excluded.status_rank, \
                 error = COALESCE(excluded.error, pending_statuses.error) \
                 WHERE excluded.status_rank > pending_statuses.status_rank",
                &[&c, &external_id, &status.as_str(), &rank, &error],
            )
            .await?;
            Ok(StatusOutcome::Pending)
        }
    }
}

/// Applies (and forgets) a status that arrived for `external` before its message was known.
async fn apply_pending(
    tx: &mut Tx<'_>,
    company: &CompanyId,
    c: Uuid,
    external: &str,
) -> StoreResult<()> {
    let pending = tx
        .opt(
            "DELETE FROM pending_statuses WHERE company_id = $1 AND external_id = $2 \
             RETURNING status, error",
            &[&c, &external],
        )
        .await?;
    if let Some(row) = pending {
        let status: String = get(&row, 0)?;
        let error: Option<Value> = get(&row, 1)?;
        let status = DeliveryStatus::parse(&status).ok_or_else(|| corrupt("status"))?;
        apply_status(tx, company, c, external, status, error.as_ref()).await?;
    }
    Ok(())
}

#[async_trait]
impl MessageStore for PgStore {
    async fn add_message(
        &self,
        company: &CompanyId,
        conversation: Uuid,
        message: NewMessage,
    ) -> StoreResult<Message> {
        let id = Uuid::now_v7();
        let at = message.created_at.unwrap_or_else(Timestamp::now).inner();
        let (mut tx, c) = self.write(company).await?;
        let conv = read_conversation(&mut tx, c, conversation).await?;
        if let Some(external) = &message.external_id {
            let existing = tx
                .opt(
                    "SELECT id FROM messages WHERE company_id = $1 AND external_id = $2",
                    &[&c, external],
                )
                .await?;
            if let Some(r) = existing {
                let existing_id: Uuid = get(&r, 0)?;
                return Err(StoreError::Duplicate {
                    field: "external_id",
                    existing_id: existing_id.to_string(),
                });
            }
        }
        let rank = message
            .status
            .map_or(-1, |s| i32::try_from(s.rank()).unwrap_or_default());
        tx.exec(
            "INSERT INTO messages (id, company_id, conversation_id, role, content, kind, metadata, \
             created_at, external_id, status, status_rank) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
            &[
                &id,
                &c,
                &conversation,
                &message.role.as_str(),
                &message.content,
                &message.kind,
                &message.metadata,
                &at,
                &message.external_id,
                &message.status.map(|s| s.as_str()),
                &rank,
            ],
        )
        .await?;
        let inbound = message.role == Role::User;
        tx.exec(
            "UPDATE conversations SET last_message_at = GREATEST(last_message_at, $1), \
             activity = GREATEST(last_message_at, $1), \
             last_inbound_at = CASE WHEN $2 THEN GREATEST(last_inbound_at, $1) ELSE last_inbound_at END, \
             updated_at = $1, message_count = message_count + 1 \
             WHERE company_id = $3 AND id = $4",
            &[&at, &inbound, &c, &conversation],
        )
        .await?;
        if let Some(external) = &message.external_id {
            apply_pending(&mut tx, company, c, external).await?;
        }
        let stored = read_message(&mut tx, c, id).await?;
        if stored.role == Role::User {
            enqueue(
                &mut tx,
                &OutboxEvent::message_received(company, conv.lead_id, &stored),
            )
            .await?;
        }
        tx.commit().await?;
        Ok(stored)
    }

    async fn list_messages(
        &self,
        company: &CompanyId,
        conversation: Uuid,
        page: &PageRequest,
    ) -> StoreResult<Page<Message>> {
        let (mut tx, c) = self.read(company).await?;
        let total = read_conversation(&mut tx, c, conversation)
            .await?
            .message_count;
        let mut args = Args::default();
        let (cp, vp) = (args.push(c), args.push(conversation));
        let (after, offset) = match &page.cursor {
            Some(cur) => {
                let at = cur
                    .value
                    .as_str()
                    .and_then(Timestamp::parse)
                    .map(|t| t.inner())
                    .unwrap_or_default();
                let (atp, idp) = (
                    args.push(at),
                    args.push(Uuid::parse_str(&cur.id).unwrap_or_default()),
                );
                (
                    format!(" AND (created_at > {atp} OR (created_at = {atp} AND id > {idp}))"),
                    0,
                )
            }
            None => (String::new(), page.offset()),
        };
        let sql = format!(
            "SELECT {MESSAGE_COLUMNS} FROM messages WHERE company_id = {cp} AND conversation_id = {vp}{after} \
             ORDER BY created_at, id LIMIT {} OFFSET {offset}",
            page.limit + 1
        );
        let rows = tx.query(&sql, &args.refs()).await?;
        tx.commit().await?;
        let items = rows
            .iter()
            .map(message_from)
            .collect::<StoreResult<Vec<_>>>()?;
        Ok(Page::of(items, page.limit, total))
    }

    async fn recent_messages(
        &self,
        company: &CompanyId,
        conversation: Uuid,
        limit: u32,
    ) -> StoreResult<Vec<Message>> {
        let (mut tx, c) = self.read(company).await?;
        read_conversation(&mut tx, c, conversation).await?;
        let rows = tx
            .query(
                &format!(
                    "SELECT {MESSAGE_COLUMNS} FROM messages WHERE company_id = $1 AND conversation_id = $2 \
                     ORDER BY created_at DESC, id DESC LIMIT $3"
                ),
                &[&c, &conversation, &i64::from(limit.min(100))],
            )
            .await?;
        tx.commit().await?;
        rows.iter().map(message_from).collect()
    }

    async fn last_inbound_message(
        &self,
        company: &CompanyId,
        conversation: Uuid,
    ) -> StoreResult<Option<Message>> {
        let (mut tx, c) = self.read(company).await?;
        read_conversation(&mut tx, c, conversation).await?;
        let row = tx
            .opt(
                &format!(
                    "SELECT {MESSAGE_COLUMNS} FROM (SELECT * FROM messages WHERE company_id = $1 \
                     AND conversation_id = $2 ORDER BY created_at DESC, id DESC LIMIT {RECENT_MESSAGES}) m \
                     WHERE role = 'user' AND external_id IS NOT NULL ORDER BY created_at DESC, id DESC LIMIT 1"
                ),
                &[&c, &conversation],
            )
            .await?;
        tx.commit().await?;
        row.as_ref().map(message_from).transpose()
    }

    async fn record_delivery(
        &self,
        company: &CompanyId,
        message: &Message,
        external_id: Option<&str>,
        status: DeliveryStatus,
        error: Option<Value>,
    ) -> StoreResult<Message> {
        let (mut tx, c) = self.write(company).await?;
        let row = tx
            .one(
                "SELECT status FROM messages WHERE company_id = $1 AND id = $2",
                &[&c, &message.id],
            )
            .await?;
        let previous = get::<Option<String>>(&row, 0)?
            .as_deref()
            .and_then(DeliveryStatus::parse);
        tx.exec(
            "UPDATE messages SET external_id = COALESCE($3, external_id), status = $4, \
             status_rank = $5, error = $6 WHERE company_id = $1 AND id = $2",
            &[
                &c,
                &message.id,
                &external_id,
                &status.as_str(),
                &i32::try_from(status.rank()).unwrap_or_default(),
                &error,
            ],
        )
        .await?;
        let m = read_message(&mut tx, c, message.id).await?;
        tell_delivery(&mut tx, company, c, &m, previous).await?;
        if let Some(external) = external_id {
            apply_pending(&mut tx, company, c, external).await?;
        }
        let m = read_message(&mut tx, c, message.id).await?;
        tx.commit().await?;
        Ok(m)
    }

    async fn apply_message_status(
        &self,
        company: &CompanyId,
        external_id: &str,
        status: DeliveryStatus,
        error: Option<Value>,
    ) -> StoreResult<StatusOutcome> {
        let (mut tx, c) = self.write(company).await?;
        let outcome =
            apply_status(&mut tx, company, c, external_id, status, error.as_ref()).await?;
        tx.commit().await?;
        Ok(outcome)
    }

    async fn conversation_of_message(
        &self,
        company: &CompanyId,
        external_id: &str,
    ) -> StoreResult<Option<Uuid>> {
        let (mut tx, c) = self.read(company).await?;
        let row = tx
            .opt(
                "SELECT conversation_id FROM messages WHERE company_id = $1 AND external_id = $2",
                &[&c, &external_id],
            )
            .await?;
        tx.commit().await?;
        row.map(|r| get(&r, 0)).transpose()
    }
}
