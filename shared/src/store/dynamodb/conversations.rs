//! DynamoDB: conversations (one active per lead and channel) and the Instagram/Messenger
//! users of leads.

use async_trait::async_trait;
use aws_sdk_dynamodb::types::{Put, TransactWriteItem};
use uuid::Uuid;

use super::items::*;
use super::keys::{self, active_sk, company_pk, conversation_sk, lead_sk};
use super::{built, sdk_error, DynamoStore, TxError};
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

pub fn conversation_item(c: &Conversation) -> Item {
    item([
        ("pk", Some(s(company_pk(&c.company_id)))),
        ("sk", Some(s(conversation_sk(c.id)))),
        ("kind", Some(s("conversation"))),
        ("id", Some(s(c.id.to_string()))),
        ("company_id", Some(s(c.company_id.as_str()))),
        ("lead_id", Some(s(c.lead_id.to_string()))),
        ("channel", Some(s(c.channel.as_str()))),
        ("status", Some(s(c.status.as_str()))),
        ("metadata", Some(s(c.metadata.to_string()))),
        (
            "last_message_at",
            c.last_message_at.map(|t| s(t.as_string())),
        ),
        (
            "last_inbound_at",
            c.last_inbound_at.map(|t| s(t.as_string())),
        ),
        ("created_at", Some(s(c.created_at.as_string()))),
        ("updated_at", Some(s(c.updated_at.as_string()))),
        (
            "message_count",
            Some(n(i64::try_from(c.message_count).unwrap_or(i64::MAX))),
        ),
        ("ai", Some(s(c.ai.to_stored()))),
        (
            keys::ACTIVITY_INDEX.1,
            Some(s(keys::activity_key(
                &c.last_message_at.unwrap_or(c.created_at).as_string(),
                c.id,
            ))),
        ),
    ])
}

pub fn conversation_from(i: &Item) -> StoreResult<Conversation> {
    Ok(Conversation {
        id: get_uuid(i, "id")?,
        company_id: CompanyId::new(get_s(i, "company_id")?),
        lead_id: LeadId(get_uuid(i, "lead_id")?),
        channel: Channel::parse(&get_s(i, "channel")?).ok_or_else(|| corrupt("channel"))?,
        status: ConversationStatus::parse(&get_s(i, "status")?).ok_or_else(|| corrupt("status"))?,
        metadata: get_json(i, "metadata")?,
        last_message_at: opt_ts(i, "last_message_at")?,
        last_inbound_at: opt_ts(i, "last_inbound_at")?,
        created_at: get_ts(i, "created_at")?,
        updated_at: get_ts(i, "updated_at")?,
        message_count: get_n(i, "message_count")
            .ok()
            .and_then(|c| u64::try_from(c).ok())
            .unwrap_or_default(),
        ai: ConversationAi::from_stored(opt_s(i, "ai").as_deref()),
    })
}

/// The most conversations a filtered list reads per call (`docs/architecture.md`, "Store").
const FILTER_BUDGET: usize = 500;

#[async_trait]
impl ConversationStore for DynamoStore {
    async fn create_conversation(
        &self,
        company: &CompanyId,
        lead: LeadId,
        channel: Channel,
    ) -> StoreResult<Conversation> {
        let pk = company_pk(company);
        let now = Timestamp::now();
        let conversation = Conversation {
            id: Uuid::now_v7(),
            company_id: company.clone(),
            lead_id: lead,
            channel,
            status: ConversationStatus::Active,
            metadata: serde_json::json!({}),
            last_message_at: None,
            last_inbound_at: None,
            message_count: 0,
            created_at: now,
            updated_at: now,
            ai: ConversationAi::default(),
        };
        let active = active_sk(lead, channel);
        let items = vec![
            self.exists(key(pk.clone(), lead_sk(lead)))?,
            self.create(item([
                ("pk", Some(s(&pk))),
                ("sk", Some(s(&active))),
                ("conversation_id", Some(s(conversation.id.to_string()))),
            ]))?,
            self.create(conversation_item(&conversation))?,
            self.create(key(
                pk.clone(),
                keys::lead_conversation_sk(lead, conversation.id),
            ))?,
            self.count(company, keys::CONVERSATION_COUNT, 1)?,
            self.enqueue(&OutboxEvent::conversation_started(&conversation))?,
        ];
        match self.transact(items).await {
            Ok(()) => Ok(conversation),
            Err(TxError::Conditions(failed)) if failed.contains(&0) => Err(StoreError::NotFound),
            Err(TxError::Conditions(_)) => {
                Err(self.claimant(company, active, "conversation").await)
            }
            Err(TxError::Store(e)) => Err(e),
        }
    }

    async fn get_conversation(&self, company: &CompanyId, id: Uuid) -> StoreResult<Conversation> {
        let item = self
            .get(company_pk(company), conversation_sk(id))
            .await?
            .ok_or(StoreError::NotFound)?;
        conversation_from(&item)
    }

    async fn list_conversations(
        &self,
        company: &CompanyId,
        query: &ConversationQuery,
    ) -> StoreResult<Page<ConversationView>> {
        // Newest activity first from the activity index: conversation items only, each
        // carrying its last message, so no message is read.
        let filtered = query.status.is_some() || query.channel.is_some() || query.lead_id.is_some();
        let skip = usize::try_from(query.page.offset()).unwrap_or(usize::MAX);
        let limit = query.page.limit as usize;
        // A filter reads at most this many conversations per call, and counts what it found.
        let mut budget = if filtered {
            FILTER_BUDGET
        } else {
            skip + limit
        };
        let mut matches = Vec::new();
        let mut start = None;
        let mut exhausted = false;
        while budget > 0 {
            let out = self
                .client
                .query()
                .table_name(&self.table)
                .index_name(keys::ACTIVITY_INDEX.0)
                .key_condition_expression("pk = :pk")
                .expression_attribute_values(":pk", s(company_pk(company)))
                .scan_index_forward(false)
                .limit(i32::try_from(budget).unwrap_or(i32::MAX))
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(sdk_error)?;
            budget = budget.saturating_sub(out.items().len());
            for i in out.items() {
                let c = conversation_from(i)?;
                if query.matches(&c) {
                    matches.push((c, opt_s(i, "last_message_content")));
                }
            }
            match out.last_evaluated_key {
                Some(k) if !k.is_empty() => start = Some(k),
                _ => {
                    exhausted = true;
                    break;
                }
            }
        }
        let total = if filtered {
            matches.len() as u64
        } else {
            self.counted(company, keys::CONVERSATION_COUNT).await?
        };
        let shown = matches.len().saturating_sub(skip).min(limit);
        let has_more = if filtered {
            matches.len() > skip + limit || !exhausted
        } else {
            ((skip + shown) as u64) < total
        };
        let mut items = Vec::with_capacity(limit);
        for (conversation, content) in matches.into_iter().skip(skip).take(limit) {
            let lead_name = match self.read_lead(company, conversation.lead_id).await {
                Ok(l) => l.fields.name,
                Err(StoreError::NotFound) => String::new(),
                Err(e) => return Err(e),
            };
            let last_message = match (content, conversation.last_message_at) {
                (Some(content), Some(timestamp)) => Some(LastMessage { content, timestamp }),
                _ => None,
            };
            items.push(ConversationView {
                conversation,
                lead_name,
                last_message,
            });
        }
        Ok(Page {
            items,
            total,
            has_more,
            resume: None,
        })
    }

    async fn update_conversation(
        &self,
        company: &CompanyId,
        id: Uuid,
        change: ConversationChange,
    ) -> StoreResult<Conversation> {
        let pk = company_pk(company);
        let current = self.get_conversation(company, id).await?;
        if let Some(why) = change.refusal(&current) {
            return Err(StoreError::Conflict(why));
        }
        let mut next = change.apply(&current);
        next.updated_at = Timestamp::now();
        let updated_at = current.updated_at.as_string();
        let put = Put::builder()
            .table_name(&self.table)
            .set_item(Some(conversation_item(&next)))
            // Also unchanged in count: a message added meanwhile is not overwritten.
            .condition_expression(
                "updated_at = :seen AND (message_count = :count OR attribute_not_exists(message_count))",
            )
            .expression_attribute_values(":seen", s(updated_at))
            .expression_attribute_values(
                ":count",
                n(i64::try_from(current.message_count).unwrap_or(i64::MAX)),
            )
            .build()
            .map_err(built)?;
        let mut items = vec![TransactWriteItem::builder().put(put).build()];
        let active = active_sk(current.lead_id, current.channel);
        let was = current.status == ConversationStatus::Active;
        let is = next.status == ConversationStatus::Active;
        if was && !is {
            items.push(self.delete_if_owned_by(
                key(pk.clone(), active.clone()),
                "conversation_id",
                &id.to_string(),
            )?);
        }
        for event in OutboxEvent::of_conversation_change(&current, &next, change.handoff.as_deref())
        {
            items.push(self.enqueue(&event)?);
        }
        if is && !was {
            items.push(self.create(item([
                ("pk", Some(s(&pk))),
                ("sk", Some(s(&active))),
                ("conversation_id", Some(s(id.to_string()))),
            ]))?);
        }
        match self.transact(items).await {
            Ok(()) => Ok(next),
            Err(TxError::Conditions(failed)) if failed.contains(&0) => Err(StoreError::Conflict(
                "The conversation changed meanwhile; read it again and retry".into(),
            )),
            Err(TxError::Conditions(_)) => Err(StoreError::Conflict(
                "The lead already has an active conversation on this channel".into(),
            )),
            Err(TxError::Store(e)) => Err(e),
        }
    }

    async fn find_contact(
        &self,
        company: &CompanyId,
        channel: Channel,
        user_id: &str,
    ) -> StoreResult<Option<LeadId>> {
        let claim = self
            .get(
                company_pk(company),
                keys::contact_sk(&keys::contact(channel, user_id)),
            )
            .await?;
        claim
            .map(|c| {
                get_s(&c, "lead_id").and_then(|id| {
                    Uuid::parse_str(&id)
                        .map(LeadId)
                        .map_err(|_| StoreError::Internal("unreadable lead_id".into()))
                })
            })
            .transpose()
    }

    async fn contact_of(
        &self,
        company: &CompanyId,
        lead: LeadId,
        channel: Channel,
    ) -> StoreResult<Option<String>> {
        let prefix = keys::lead_contact_sk(lead, &keys::contact(channel, ""));
        let links = self.query_prefix(&company_pk(company), &prefix).await?;
        Ok(links
            .first()
            .and_then(|l| opt_s(l, "sk"))
            .and_then(|sk| sk.strip_prefix(&prefix).map(str::to_string)))
    }

    async fn claim_contact(
        &self,
        company: &CompanyId,
        channel: Channel,
        user_id: &str,
        lead: LeadId,
    ) -> StoreResult<()> {
        let pk = company_pk(company);
        let contact = keys::contact(channel, user_id);
        let items = vec![
            self.exists(key(pk.clone(), lead_sk(lead)))?,
            self.create(item([
                ("pk", Some(s(&pk))),
                ("sk", Some(s(keys::contact_sk(&contact)))),
                ("lead_id", Some(s(lead.to_string()))),
            ]))?,
            self.create(key(pk.clone(), keys::lead_contact_sk(lead, &contact)))?,
        ];
        match self.transact(items).await {
            Ok(()) => Ok(()),
            Err(TxError::Conditions(failed)) if failed.contains(&0) => Err(StoreError::NotFound),
            Err(TxError::Conditions(_)) => Err(self
                .claimant(company, keys::contact_sk(&contact), "contact")
                .await),
            Err(TxError::Store(e)) => Err(e),
        }
    }
}
