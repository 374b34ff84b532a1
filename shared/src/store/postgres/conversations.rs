//! PostgreSQL: conversations (the seed's table, with its company), and the
//! Instagram/Messenger users (scoped ids) of leads.

use async_trait::async_trait;
use tokio_postgres::Row;
use uuid::Uuid;

use super::events::enqueue;
use super::leads::read_lead;
use super::{corrupt, count, counted, get, Args, PgStore, Tx, FILTER_BUDGET};
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

const CONVERSATION_COLUMNS: &str = "c.id, c.company_id, c.lead_id, c.channel, \
     COALESCE(c.status, 'active'), COALESCE(c.metadata, '{}'), c.last_message_at, \
     c.last_inbound_at, COALESCE(c.created_at, now()), COALESCE(c.updated_at, c.created_at, now()), \
     c.message_count, c.ai";

fn conversation_from(r: &Row) -> StoreResult<Conversation> {
    let company: Uuid = get(r, 1)?;
    let lead: Option<Uuid> = get(r, 2)?;
    let channel: String = get(r, 3)?;
    let status: String = get(r, 4)?;
    let ai: String = get(r, 11)?;
    let opt_ts = |i| {
        get::<Option<chrono::DateTime<chrono::Utc>>>(r, i).map(|t| t.map(Timestamp::from_datetime))
    };
    Ok(Conversation {
        id: get(r, 0)?,
        company_id: CompanyId::new(company.to_string()),
        lead_id: LeadId(lead.ok_or_else(|| corrupt("lead_id"))?),
        channel: Channel::parse(&channel).ok_or_else(|| corrupt("channel"))?,
        status: ConversationStatus::parse(&status).ok_or_else(|| corrupt("status"))?,
        metadata: get(r, 5)?,
        last_message_at: opt_ts(6)?,
        last_inbound_at: opt_ts(7)?,
        created_at: Timestamp::from_datetime(get(r, 8)?),
        updated_at: Timestamp::from_datetime(get(r, 9)?),
        message_count: u64::try_from(get::<i64>(r, 10)?).unwrap_or_default(),
        ai: ConversationAi::from_stored(Some(&ai)),
    })
}

pub(super) async fn read_conversation(
    tx: &mut Tx<'_>,
    company: Uuid,
    id: Uuid,
) -> StoreResult<Conversation> {
    let row = tx
        .one(
            &format!(
                "SELECT {CONVERSATION_COLUMNS} FROM conversations c WHERE c.company_id = $1 AND c.id = $2"
            ),
            &[&company, &id],
        )
        .await?;
    conversation_from(&row)
}

/// The lead's active conversation on `channel` other than `except`, if it has one.
async fn active_other(
    tx: &mut Tx<'_>,
    company: Uuid,
    lead: LeadId,
    channel: Channel,
    except: Uuid,
) -> StoreResult<Option<Uuid>> {
    let row = tx
        .opt(
            "SELECT id FROM conversations WHERE company_id = $1 AND lead_id = $2 AND channel = $3 \
             AND status = 'active' AND id <> $4 LIMIT 1",
            &[&company, &lead.0, &channel.as_str(), &except],
        )
        .await?;
    row.map(|r| get(&r, 0)).transpose()
}

#[async_trait]
impl ConversationStore for PgStore {
    async fn create_conversation(
        &self,
        company: &CompanyId,
        lead: LeadId,
        channel: Channel,
    ) -> StoreResult<Conversation> {
        let id = Uuid::now_v7();
        let now = Timestamp::now().inner();
        let (mut tx, c) = self.write(company).await?;
        read_lead(&mut tx, c, lead).await?;
        if let Some(existing) = active_other(&mut tx, c, lead, channel, id).await? {
            return Err(StoreError::Duplicate {
                field: "conversation",
                existing_id: existing.to_string(),
            });
        }
        tx.exec(
            "INSERT INTO conversations (id, company_id, lead_id, channel, status, metadata, \
             created_at, updated_at, activity) VALUES ($1, $2, $3, $4, 'active', '{}', $5, $5, $5)",
            &[&id, &c, &lead.0, &channel.as_str(), &now],
        )
        .await?;
        count(&mut tx, c, "conversations", 1).await?;
        let started = read_conversation(&mut tx, c, id).await?;
        enqueue(&mut tx, &OutboxEvent::conversation_started(&started)).await?;
        tx.commit().await?;
        Ok(started)
    }

    async fn get_conversation(&self, company: &CompanyId, id: Uuid) -> StoreResult<Conversation> {
        let (mut tx, c) = self.read(company).await?;
        let found = read_conversation(&mut tx, c, id).await?;
        tx.commit().await?;
        Ok(found)
    }

    async fn list_conversations(
        &self,
        company: &CompanyId,
        q: &ConversationQuery,
    ) -> StoreResult<Page<ConversationView>> {
        let (mut tx, c) = self.read(company).await?;
        let mut args = Args::default();
        let cp = args.push(c);
        let mut filters = Vec::new();
        if let Some(s) = q.status {
            filters.push(format!("c.status = {}", args.push(s.as_str().to_string())));
        }
        if let Some(ch) = q.channel {
            filters.push(format!(
                "c.channel = {}",
                args.push(ch.as_str().to_string())
            ));
        }
        if let Some(l) = q.lead_id {
            filters.push(format!("c.lead_id = {}", args.push(l.0)));
        }
        let filtered = !filters.is_empty();
        // Newest activity first through the activity index; a filter looks only at the
        // newest FILTER_BUDGET conversations, and its total counts the matches among them.
        let (source, filter) = if filtered {
            (
                format!(
                    "(SELECT * FROM conversations WHERE company_id = {cp} \
                     ORDER BY activity DESC, id DESC LIMIT {FILTER_BUDGET})"
                ),
                filters.join(" AND "),
            )
        } else {
            ("conversations".to_string(), format!("c.company_id = {cp}"))
        };
        let kept = counted(&mut tx, c, "conversations").await?;
        let total = if filtered {
            let row = tx
                .one(
                    &format!("SELECT COUNT(*) FROM {source} c WHERE {filter}"),
                    &args.refs(),
                )
                .await?;
            u64::try_from(get::<i64>(&row, 0)?).unwrap_or_default()
        } else {
            kept
        };
        let sql = format!(
            "SELECT {CONVERSATION_COLUMNS}, COALESCE(l.name, ''), m.content, m.created_at \
             FROM {source} c LEFT JOIN leads l ON l.company_id = c.company_id AND l.id = c.lead_id \
             LEFT JOIN LATERAL (SELECT content, created_at FROM messages m \
               WHERE m.company_id = c.company_id AND m.conversation_id = c.id \
               ORDER BY m.created_at DESC, m.id DESC LIMIT 1) m ON true \
             WHERE {filter} ORDER BY c.activity DESC, c.id DESC LIMIT {} OFFSET {}",
            q.page.limit + 1,
            q.page.offset()
        );
        let rows = tx.query(&sql, &args.refs()).await?;
        tx.commit().await?;
        let mut items = Vec::with_capacity(rows.len());
        for r in &rows {
            let content: Option<String> = get(r, 13)?;
            let at: Option<chrono::DateTime<chrono::Utc>> = get(r, 14)?;
            items.push(ConversationView {
                conversation: conversation_from(r)?,
                lead_name: get(r, 12)?,
                last_message: match (content, at) {
                    (Some(content), Some(at)) => Some(LastMessage {
                        content,
                        timestamp: Timestamp::from_datetime(at),
                    }),
                    _ => None,
                },
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
        let now = Timestamp::now().inner();
        let (mut tx, c) = self.write(company).await?;
        let current = read_conversation(&mut tx, c, id).await?;
        if let Some(why) = change.refusal(&current) {
            return Err(StoreError::Conflict(why));
        }
        let next = change.apply(&current);
        if next.status == ConversationStatus::Active && current.status != ConversationStatus::Active
        {
            if let Some(other) =
                active_other(&mut tx, c, current.lead_id, current.channel, id).await?
            {
                return Err(StoreError::Conflict(format!(
                    "The lead already has an active conversation on this channel: {other}"
                )));
            }
        }
        tx.exec(
            "UPDATE conversations SET status = $3, metadata = $4, updated_at = $5, ai = $6 \
             WHERE company_id = $1 AND id = $2",
            &[
                &c,
                &id,
                &next.status.as_str(),
                &next.metadata,
                &now,
                &next.ai.to_stored(),
            ],
        )
        .await?;
        let updated = read_conversation(&mut tx, c, id).await?;
        for event in
            OutboxEvent::of_conversation_change(&current, &updated, change.handoff.as_deref())
        {
            enqueue(&mut tx, &event).await?;
        }
        tx.commit().await?;
        Ok(updated)
    }

    async fn find_contact(
        &self,
        company: &CompanyId,
        channel: Channel,
        user_id: &str,
    ) -> StoreResult<Option<LeadId>> {
        let (mut tx, c) = self.read(company).await?;
        let row = tx
            .opt(
                "SELECT lead_id FROM lead_contacts WHERE company_id = $1 AND channel = $2 AND user_id = $3",
                &[&c, &channel.as_str(), &user_id],
            )
            .await?;
        tx.commit().await?;
        row.map(|r| get(&r, 0).map(LeadId)).transpose()
    }

    async fn contact_of(
        &self,
        company: &CompanyId,
        lead: LeadId,
        channel: Channel,
    ) -> StoreResult<Option<String>> {
        let (mut tx, c) = self.read(company).await?;
        let row = tx
            .opt(
                "SELECT user_id FROM lead_contacts WHERE company_id = $1 AND lead_id = $2 AND channel = $3",
                &[&c, &lead.0, &channel.as_str()],
            )
            .await?;
        tx.commit().await?;
        row.map(|r| get(&r, 0)).transpose()
    }

    async fn claim_contact(
        &self,
        company: &CompanyId,
        channel: Channel,
        user_id: &str,
        lead: LeadId,
    ) -> StoreResult<()> {
        let (mut tx, c) = self.write(company).await?;
        let existing = tx
            .opt(
                "SELECT lead_id FROM lead_contacts WHERE company_id = $1 AND channel = $2 AND user_id = $3",
                &[&c, &channel.as_str(), &user_id],
            )
            .await?;
        if let Some(r) = existing {
            let existing_id: Uuid = get(&r, 0)?;
            return Err(StoreError::Duplicate {
                field: "contact",
                existing_id: existing_id.to_string(),
            });
        }
        tx.exec(
            "INSERT INTO lead_contacts (company_id, channel, user_id, lead_id) VALUES ($1, $2, $3, $4)",
            &[&c, &channel.as_str(), &user_id, &lead.0],
        )
        .await?;
        tx.commit().await
    }
}
