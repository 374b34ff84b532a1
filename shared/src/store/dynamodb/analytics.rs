//! DynamoDB: the company's daily tallies, one item per day (`DAY#{day}`, a number per
//! metric), and the events counted in them (`TALLIED#{event}`, expiring after a week).

use std::collections::{BTreeMap, HashMap};

use async_trait::async_trait;
use aws_sdk_dynamodb::types::{AttributeValue, TransactWriteItem, Update};

use super::items::{key, keyed, n};
use super::keys::{self, company_pk};
use super::schema::TTL_ATTRIBUTE;
use super::{built, DynamoStore, TxError};
use crate::domain::analytics::{DayTallies, Tally};
use crate::domain::CompanyId;
use crate::store::prelude::*;
use crate::store::{StoreResult, COUNTED_FOR_MS};

#[async_trait]
impl AnalyticsStore for DynamoStore {
    async fn add_tallies(
        &self,
        company: &CompanyId,
        event_id: &str,
        tallies: &[Tally],
    ) -> StoreResult<bool> {
        let expires = (chrono::Utc::now().timestamp_millis() + COUNTED_FOR_MS) / 1000;
        let marker = keyed(
            (company_pk(company), keys::tallied_sk(event_id)),
            [(TTL_ATTRIBUTE, Some(n(expires)))],
        );
        let mut items = vec![self.create(marker)?];
        let mut by_day: BTreeMap<&str, Vec<&Tally>> = BTreeMap::new();
        for t in tallies {
            by_day.entry(t.day.as_str()).or_default().push(t);
        }
        for (day, list) in by_day {
            let mut names = HashMap::new();
            let mut values = HashMap::new();
            let mut adds = Vec::new();
            for (i, t) in list.iter().enumerate() {
                names.insert(format!("#m{i}"), t.metric.clone());
                values.insert(format!(":d{i}"), n(t.delta));
                adds.push(format!("#m{i} :d{i}"));
            }
            let update = Update::builder()
                .table_name(&self.table)
                .set_key(Some(key(company_pk(company), keys::day_sk(day))))
                .update_expression(format!("ADD {}", adds.join(", ")))
                .set_expression_attribute_names(Some(names))
                .set_expression_attribute_values(Some(values))
                .build()
                .map_err(built)?;
            items.push(TransactWriteItem::builder().update(update).build());
        }
        match self.transact(items).await {
            Ok(()) => Ok(true),
            // Only the marker has a condition: the event was counted already.
            Err(TxError::Conditions(_)) => Ok(false),
            Err(TxError::Store(e)) => Err(e),
        }
    }

    async fn day_tallies(
        &self,
        company: &CompanyId,
        from: &str,
        to: &str,
    ) -> StoreResult<BTreeMap<String, DayTallies>> {
        let items = self
            .query_between(&company_pk(company), &keys::day_sk(from), &keys::day_sk(to))
            .await?;
        let mut days = BTreeMap::new();
        for item in items {
            let Some(AttributeValue::S(sk)) = item.get("sk") else {
                continue;
            };
            let day = sk.trim_start_matches(keys::DAY_PREFIX).to_string();
            let tallies: DayTallies = item
                .iter()
                .filter_map(|(k, v)| match v {
                    AttributeValue::N(x) if k != "pk" && k != "sk" => {
                        x.parse().ok().map(|x| (k.clone(), x))
                    }
                    _ => None,
                })
                .collect();
            days.insert(day, tallies);
        }
        Ok(days)
    }
}
