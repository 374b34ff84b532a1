//! DynamoDB: channel messages, claimed once by their channel id, and their delivery
//! statuses (forward only; kept as `PENDING#` items when they arrive first).

use async_trait::async_trait;
use uuid::Uuid;

use super::items::*;
use super::keys::{self, company_pk, conversation_sk, message_sk};
use super::schema::TTL_ATTRIBUTE;

use super::{built, condition_failed, sdk_error, DynamoStore, TxError};
use crate::domain::conversation::{Message, NewMessage, Role, StatusOutcome};
use crate::domain::event::OutboxEvent;
use crate::domain::inbound::DeliveryStatus;
use crate::domain::page::{Page, PageRequest};
use crate::domain::{CompanyId, Timestamp};
use crate::store::prelude::*;
use crate::store::{StoreError, StoreResult, RECENT_MESSAGES};
use aws_sdk_dynamodb::types::{TransactWriteItem, Update};

/// The claim that makes a channel id belong to one message, and leads statuses to it.
pub fn message_claim(company: &CompanyId, m: &Message, external_id: &str) -> Item {
    item([
        ("pk", Some(s(company_pk(company)))),
        ("sk", Some(s(keys::message_id_sk(external_id)))),
        ("message_id", Some(s(m.id.to_string()))),
        ("message_sk", Some(s(message_sk(m)))),
    ])
}

pub fn message_item(company: &CompanyId, m: &Message) -> Item {
    item([
        ("pk", Some(s(company_pk(company)))),
        ("sk", Some(s(message_sk(m)))),
        ("external_id", m.external_id.as_deref().map(s)),
        ("status", m.status.map(|st| s(st.as_str()))),
        ("status_rank", m.status.map(|st| n(st.rank()))),
        ("error", m.error.as_ref().map(|e| s(e.to_string()))),
        ("id", Some(s(m.id.to_string()))),
        ("conversation_id", Some(s(m.conversation_id.to_string()))),
        ("role", Some(s(m.role.as_str()))),
        ("content", Some(s(&m.content))),
        ("type", Some(s(&m.kind))),
        ("metadata", Some(s(m.metadata.to_string()))),
        ("created_at", Some(s(m.created_at.as_string()))),
    ])
}

pub fn message_from(i: &Item) -> StoreResult<Message> {
    Ok(Message {
        id: get_uuid(i, "id")?,
        conversation_id: get_uuid(i, "conversation_id")?,
        role: Role::parse(&get_s(i, "role")?).ok_or_else(|| corrupt("role"))?,
        content: get_s(i, "content")?,
        kind: get_s(i, "type")?,
        metadata: get_json(i, "metadata")?,
        created_at: get_ts(i, "created_at")?,
        external_id: opt_s(i, "external_id"),
        status: opt_s(i, "status")
            .as_deref()
            .and_then(DeliveryStatus::parse),
        error: opt_s(i, "error").and_then(|e| serde_json::from_str(&e).ok()),
    })
}

impl DynamoStore {
    /// Applies (and forgets) a status that arrived for `external` before its message.
    async fn apply_pending(
        &self,
        company: &CompanyId,
        external: &str,
    ) -> StoreResult<Option<(DeliveryStatus, Option<serde_json::Value>)>> {
        let pk = company_pk(company);
        let Some(pending) = self
            .get(pk.clone(), keys::pending_status_sk(external))
            .await?
        else {
            return Ok(None);
        };
        let status =
            DeliveryStatus::parse(&get_s(&pending, "status")?).unwrap_or(DeliveryStatus::Sent);
        let error: Option<serde_json::Value> =
            opt_s(&pending, "error").and_then(|e| serde_json::from_str(&e).ok());
        self.apply_message_status(company, external, status, error.clone())
            .await?;
        self.batch_delete(vec![key(pk, keys::pending_status_sk(external))])
            .await?;
        Ok(Some((status, error)))
    }
}

#[async_trait]
impl MessageStore for DynamoStore {
    async fn add_message(
        &self,
        company: &CompanyId,
        conversation: Uuid,
        message: NewMessage,
    ) -> StoreResult<Message> {
        let pk = company_pk(company);
        let stored = Message {
            id: Uuid::now_v7(),
            conversation_id: conversation,
            role: message.role,
            content: message.content,
            kind: message.kind,
            metadata: message.metadata,
            created_at: message.created_at.unwrap_or_else(Timestamp::now),
            external_id: message.external_id,
            status: message.status,
            error: None,
        };
        // The conversation must exist, and counts its messages in the same transaction.
        let counted = Update::builder()
            .table_name(&self.table)
            .set_key(Some(key(pk.clone(), conversation_sk(conversation))))
            .update_expression("ADD message_count :one")
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_values(":one", n(1))
            .build()
            .map_err(built)?;
        let mut items = vec![
            TransactWriteItem::builder().update(counted).build(),
            self.create(message_item(company, &stored))?,
        ];
        if let Some(external) = &stored.external_id {
            items.push(self.create(message_claim(company, &stored, external))?);
        }
        if stored.role == Role::User {
            // The event names the lead: the conversation says whose it is.
            let lead = self.get_conversation(company, conversation).await?.lead_id;
            items.push(self.enqueue(&OutboxEvent::message_received(company, lead, &stored))?);
        }
        match self.transact(items).await {
            Ok(()) => {}
            Err(TxError::Conditions(failed)) if failed.contains(&0) => {
                return Err(StoreError::NotFound)
            }
            Err(TxError::Conditions(_)) => {
                let external = stored.external_id.clone().unwrap_or_default();
                let claim = self.get(pk.clone(), keys::message_id_sk(&external)).await?;
                return Err(match claim.as_ref().and_then(|c| opt_s(c, "message_id")) {
                    Some(existing_id) => StoreError::Duplicate {
                        field: "external_id",
                        existing_id,
                    },
                    None => StoreError::Conflict("the message is being stored; retry".into()),
                });
            }
            Err(TxError::Store(e)) => return Err(e),
        }
        let mut stored = stored;
        if let Some(external) = stored.external_id.clone() {
            if let Some((status, error)) = self.apply_pending(company, &external).await? {
                if stored.status.is_none_or(|s| s < status) {
                    stored.status = Some(status);
                    stored.error = error;
                }
            }
        }
        // Move the conversation's clocks forward only: messages arrive out of order.
        let mut clocks = vec!["last_message_at"];
        if stored.role == Role::User {
            clocks.push("last_inbound_at");
        }
        for attribute in clocks {
            // The last message also moves the conversation in the activity index and is
            // what a conversation list shows of it.
            let (extra, activity) = if attribute == "last_message_at" {
                (
                    ", activity_sk = :activity, last_message_content = :content",
                    Some(keys::activity_key(
                        &stored.created_at.as_string(),
                        conversation,
                    )),
                )
            } else {
                ("", None)
            };
            let mut update = self
                .client
                .update_item()
                .table_name(&self.table)
                .set_key(Some(key(pk.clone(), conversation_sk(conversation))))
                .update_expression(format!("SET #a = :t, updated_at = :t{extra}"))
                .condition_expression(
                    "attribute_exists(pk) AND (attribute_not_exists(#a) OR #a < :t)",
                )
                .expression_attribute_names("#a", attribute)
                .expression_attribute_values(":t", s(stored.created_at.as_string()));
            if let Some(activity) = activity {
                update = update
                    .expression_attribute_values(":activity", s(activity))
                    .expression_attribute_values(":content", s(&stored.content));
            }
            let result = update.send().await;
            match result {
                Ok(_) => {}
                Err(e) if condition_failed(&e) => {}
                Err(e) => return Err(sdk_error(e)),
            }
        }
        Ok(stored)
    }

    async fn list_messages(
        &self,
        company: &CompanyId,
        conversation: Uuid,
        page: &PageRequest,
    ) -> StoreResult<Page<Message>> {
        let total = self
            .get_conversation(company, conversation)
            .await?
            .message_count;
        let pk = company_pk(company);
        // A cursor starts the query after its message; an offset is read and skipped
        // (bounded by `MAX_PAGE`).
        let (start, skip) = match &page.cursor {
            Some(c) => {
                let sk =
                    keys::message_sk_at(conversation, c.value.as_str().unwrap_or_default(), &c.id);
                (Some(key(pk.clone(), sk)), 0)
            }
            None => (None, usize::try_from(page.offset()).unwrap_or(usize::MAX)),
        };
        let want = page.limit as usize;
        let out = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("pk = :pk AND begins_with(sk, :prefix)")
            .expression_attribute_values(":pk", s(&pk))
            .expression_attribute_values(
                ":prefix",
                s(format!(
                    "{}{}",
                    conversation_sk(conversation),
                    keys::MESSAGES
                )),
            )
            .set_exclusive_start_key(start)
            .limit(i32::try_from(skip + want).unwrap_or(i32::MAX))
            .consistent_read(true)
            .send()
            .await
            .map_err(sdk_error)?;
        let items = out
            .items()
            .iter()
            .skip(skip)
            .map(message_from)
            .collect::<StoreResult<Vec<_>>>()?;
        // Whether more follow, without reading one more message: from the count on an
        // offset page, from where the query stopped on a keyset page.
        let has_more = match page.cursor.as_ref().map(|c| c.position) {
            Some(None) => items.len() == want && out.last_evaluated_key.is_some(),
            Some(Some(before)) => before + (items.len() as u64) < total,
            None => page.offset() + (items.len() as u64) < total,
        };
        Ok(Page {
            items,
            total,
            has_more,
            resume: None,
        })
    }

    async fn recent_messages(
        &self,
        company: &CompanyId,
        conversation: Uuid,
        limit: u32,
    ) -> StoreResult<Vec<Message>> {
        self.get_conversation(company, conversation).await?;
        let prefix = format!("{}{}", conversation_sk(conversation), keys::MESSAGES);
        self.query_newest(&company_pk(company), &prefix, limit)
            .await?
            .iter()
            .map(message_from)
            .collect()
    }

    async fn last_inbound_message(
        &self,
        company: &CompanyId,
        conversation: Uuid,
    ) -> StoreResult<Option<Message>> {
        Ok(self
            .recent_messages(company, conversation, RECENT_MESSAGES)
            .await?
            .into_iter()
            .find(|m| m.role == Role::User && m.external_id.is_some()))
    }

    async fn record_delivery(
        &self,
        company: &CompanyId,
        message: &Message,
        external_id: Option<&str>,
        status: DeliveryStatus,
        error: Option<serde_json::Value>,
    ) -> StoreResult<Message> {
        let mut next = message.clone();
        if let Some(external) = external_id {
            next.external_id = Some(external.to_string());
        }
        next.status = Some(status);
        next.error = error;
        let mut items = vec![self.put(message_item(company, &next), Some("attribute_exists(pk)"))?];
        if let (Some(external), None) = (external_id, &message.external_id) {
            items.push(self.create(message_claim(company, &next, external))?);
        }
        let lead = self
            .get_conversation(company, message.conversation_id)
            .await?
            .lead_id;
        if let Some(event) = OutboxEvent::of_delivery(company, lead, &next, message.status) {
            items.push(self.enqueue(&event)?);
        }
        match self.transact(items).await {
            Ok(()) => {}
            Err(TxError::Conditions(failed)) if failed.contains(&0) => {
                return Err(StoreError::NotFound)
            }
            Err(TxError::Conditions(_)) => {
                return Err(StoreError::Conflict(
                    "another message has this channel id".into(),
                ))
            }
            Err(TxError::Store(e)) => return Err(e),
        }
        if let Some(external) = external_id {
            if let Some((pending, error)) = self.apply_pending(company, external).await? {
                if next.status.is_none_or(|s| s < pending)
                    && next.status != Some(DeliveryStatus::Failed)
                {
                    next.status = Some(pending);
                    next.error = error.or(next.error);
                }
            }
        }
        Ok(next)
    }

    async fn apply_message_status(
        &self,
        company: &CompanyId,
        external_id: &str,
        status: DeliveryStatus,
        error: Option<serde_json::Value>,
    ) -> StoreResult<StatusOutcome> {
        let pk = company_pk(company);
        let error = error.map(|e| e.to_string());
        let Some(claim) = self
            .get(pk.clone(), keys::message_id_sk(external_id))
            .await?
        else {
            // Not stored yet: keep the furthest status for when it is (a week at most).
            let expires = Timestamp::now().inner().timestamp() + 7 * 86_400;
            let pending = item([
                ("pk", Some(s(&pk))),
                ("sk", Some(s(keys::pending_status_sk(external_id)))),
                ("status", Some(s(status.as_str()))),
                ("status_rank", Some(n(status.rank()))),
                ("error", error.map(s)),
                (TTL_ATTRIBUTE, Some(n(expires))),
            ]);
            let result = self
                .client
                .put_item()
                .table_name(&self.table)
                .set_item(Some(pending))
                .condition_expression("attribute_not_exists(pk) OR status_rank < :rank")
                .expression_attribute_values(":rank", n(status.rank()))
                .send()
                .await;
            return match result {
                Ok(_) => Ok(StatusOutcome::Pending),
                Err(e) if condition_failed(&e) => Ok(StatusOutcome::Pending),
                Err(e) => Err(sdk_error(e)),
            };
        };
        let message_key = key(pk.clone(), get_s(&claim, "message_sk")?);
        // Read, then written only if no other status came meanwhile: the event says which
        // status the message left (a race reads again).
        for _ in 0..3 {
            let Some(stored) = self.get(pk.clone(), get_s(&claim, "message_sk")?).await? else {
                return Ok(StatusOutcome::Unchanged);
            };
            let mut next = message_from(&stored)?;
            let previous = next.status;
            let seen = get_n(&stored, "status_rank").ok();
            if seen.is_some_and(|r| r >= status.rank() || r == DeliveryStatus::Failed.rank()) {
                return Ok(StatusOutcome::Unchanged);
            }
            next.status = Some(status);
            if let Some(e) = &error {
                next.error = serde_json::from_str(e).ok();
            }
            let mut update = Update::builder()
                .table_name(&self.table)
                .set_key(Some(message_key.clone()))
                .update_expression(if error.is_some() {
                    "SET #status = :status, status_rank = :rank, #error = :error"
                } else {
                    "SET #status = :status, status_rank = :rank"
                })
                .expression_attribute_names("#status", "status")
                .expression_attribute_values(":status", s(status.as_str()))
                .expression_attribute_values(":rank", n(status.rank()));
            update = match seen {
                Some(rank) => update
                    .condition_expression("attribute_exists(pk) AND status_rank = :seen")
                    .expression_attribute_values(":seen", n(rank)),
                None => update.condition_expression(
                    "attribute_exists(pk) AND attribute_not_exists(status_rank)",
                ),
            };
            if let Some(e) = &error {
                update = update
                    .expression_attribute_names("#error", "error")
                    .expression_attribute_values(":error", s(e));
            }
            let mut items = vec![TransactWriteItem::builder()
                .update(update.build().map_err(built)?)
                .build()];
            let lead = self
                .get_conversation(company, next.conversation_id)
                .await?
                .lead_id;
            if let Some(event) = OutboxEvent::of_delivery(company, lead, &next, previous) {
                items.push(self.enqueue(&event)?);
            }
            // The status and the event it tells, together.
            match self.transact(items).await {
                Ok(()) => return Ok(StatusOutcome::Applied),
                Err(TxError::Conditions(_)) => continue,
                Err(TxError::Store(e)) => return Err(e),
            }
        }
        Ok(StatusOutcome::Unchanged)
    }

    async fn conversation_of_message(
        &self,
        company: &CompanyId,
        external_id: &str,
    ) -> StoreResult<Option<Uuid>> {
        let claim = self
            .get(company_pk(company), keys::message_id_sk(external_id))
            .await?;
        Ok(claim
            .and_then(|c| opt_s(&c, "message_sk"))
            .and_then(|sk| {
                sk.strip_prefix(keys::CONVERSATION_PREFIX)
                    .and_then(|rest| rest.split('#').next())
                    .map(str::to_string)
            })
            .and_then(|id| Uuid::parse_str(&id).ok()))
    }
}
