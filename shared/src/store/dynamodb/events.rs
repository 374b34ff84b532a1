//! DynamoDB: the outbox. Events are put by the other aggregates' transactions
//! ([`DynamoStore::enqueue`]) in one partition, read in order and deleted here.

use async_trait::async_trait;
use aws_sdk_dynamodb::types::TransactWriteItem;

use super::items::{corrupt, get_json, get_s, get_ts, key_of, keyed, opt_s, s, Item};
use super::keys;
use super::{sdk_error, DynamoStore};
use crate::domain::event::OutboxEvent;
use crate::domain::lead::LeadId;
use crate::domain::CompanyId;
use crate::store::prelude::*;
use crate::store::StoreResult;

fn event_from(i: &Item) -> StoreResult<OutboxEvent> {
    Ok(OutboxEvent {
        id: get_s(i, "sk")?,
        company_id: CompanyId::new(get_s(i, "company_id")?),
        kind: get_s(i, "kind")?,
        lead_id: opt_s(i, "lead_id")
            .map(|l| {
                uuid::Uuid::parse_str(&l)
                    .map(LeadId)
                    .map_err(|_| corrupt("lead_id"))
            })
            .transpose()?,
        data: get_json(i, "data")?,
        at: get_ts(i, "at")?,
    })
}

impl DynamoStore {
    /// The put of `event`, for the transaction of the change it reports.
    pub(super) fn enqueue(&self, event: &OutboxEvent) -> StoreResult<TransactWriteItem> {
        let stored = keyed(
            keys::outbox_key(&event.id),
            [
                ("company_id", Some(s(event.company_id.as_str()))),
                ("kind", Some(s(&event.kind))),
                ("lead_id", event.lead_id.map(|l| s(l.0.to_string()))),
                ("data", Some(s(event.data.to_string()))),
                ("at", Some(s(event.at.as_string()))),
            ],
        );
        self.put(stored, None)
    }

    /// The keys of the pending events about `lead`: they carry its data, and go with it.
    pub(super) async fn pending_of_lead(&self, lead: LeadId) -> StoreResult<Vec<Item>> {
        let id = lead.0.to_string();
        Ok(self
            .query_prefix(keys::OUTBOX, "evt_")
            .await?
            .iter()
            .filter(|i| opt_s(i, "lead_id").as_deref() == Some(id.as_str()))
            .filter_map(|i| opt_s(i, "sk").map(|sk| key_of(keys::outbox_key(&sk))))
            .collect())
    }
}

#[async_trait]
impl EventStore for DynamoStore {
    async fn pending_events(&self, limit: u32) -> StoreResult<Vec<OutboxEvent>> {
        let out = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("pk = :pk")
            .expression_attribute_values(":pk", s(keys::OUTBOX))
            .consistent_read(true)
            .limit(i32::try_from(limit.min(1000)).unwrap_or(1000))
            .send()
            .await
            .map_err(sdk_error)?;
        out.items().iter().map(event_from).collect()
    }

    async fn ack_event(&self, event: &OutboxEvent) -> StoreResult<()> {
        self.client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(key_of(keys::outbox_key(&event.id))))
            .send()
            .await
            .map_err(sdk_error)?;
        Ok(())
    }
}
