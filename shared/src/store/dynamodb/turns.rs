//! DynamoDB: customer turns waiting for quiet, in one partition sorted by when they are due.

use async_trait::async_trait;

use super::items::{get_n, get_s, get_uuid, key_of, keyed, n, opt_s, s, Item};
use super::keys;
use super::{sdk_error, DynamoStore};
use crate::domain::autoreply::Turn;
use crate::domain::lead::LeadId;
use crate::domain::CompanyId;
use crate::store::prelude::*;
use crate::store::StoreResult;

impl DynamoStore {
    /// The keys of a lead's waiting turns, erased with it.
    pub(super) async fn turns_of_lead(&self, lead: LeadId) -> StoreResult<Vec<Item>> {
        let id = lead.0.to_string();
        Ok(self
            .query_between(keys::TURNS, "0", "~")
            .await?
            .iter()
            .filter(|i| opt_s(i, "lead_id").as_deref() == Some(id.as_str()))
            .filter_map(|i| opt_s(i, "sk").map(|sk| key_of(keys::turn_key(&sk))))
            .collect())
    }
}

#[async_trait]
impl TurnStore for DynamoStore {
    async fn schedule_turn(&self, t: &Turn) -> StoreResult<()> {
        let stored = keyed(
            keys::turn_key(&t.id),
            [
                ("company_id", Some(s(t.company_id.as_str()))),
                ("conversation_id", Some(s(t.conversation_id.to_string()))),
                ("lead_id", Some(s(t.lead_id.0.to_string()))),
                ("due_ms", Some(n(t.due_ms))),
            ],
        );
        // The same turn again writes the same item: kept once.
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(stored))
            .send()
            .await
            .map(|_| ())
            .map_err(sdk_error)
    }

    async fn due_turns(&self, now: i64, limit: u32) -> StoreResult<Vec<Turn>> {
        // Ids start with the due time: everything up to `now`, then `~`, is due.
        self.query_between(keys::TURNS, "0", &format!("{:013}~", now.max(0)))
            .await?
            .iter()
            .take(limit as usize)
            .map(|i| {
                Ok(Turn {
                    id: get_s(i, "sk")?,
                    company_id: CompanyId::new(get_s(i, "company_id")?),
                    conversation_id: get_uuid(i, "conversation_id")?,
                    lead_id: LeadId(get_uuid(i, "lead_id")?),
                    due_ms: get_n(i, "due_ms")?,
                })
            })
            .collect()
    }

    async fn drop_turn(&self, t: &Turn) -> StoreResult<()> {
        self.batch_delete(vec![key_of(keys::turn_key(&t.id))]).await
    }
}
