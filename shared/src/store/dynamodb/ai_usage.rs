//! DynamoDB: the spend and usage of AI calls.

use async_trait::async_trait;

use super::items::{get_n, get_s, key, n, s};
use super::keys::{self, company_pk};
use super::{condition_failed, sdk_error, DynamoStore};
use crate::domain::ai::Usage;
use crate::domain::CompanyId;
use crate::store::prelude::*;
use crate::store::{AiCall, AiUsageRow, StoreError, StoreResult};

#[async_trait]
impl AiUsageStore for DynamoStore {
    async fn reserve_ai_spend(
        &self,
        company: &CompanyId,
        month: &str,
        amount: i64,
        budget: Option<i64>,
    ) -> StoreResult<bool> {
        // One conditional update: the check and the reservation cannot be split by
        // another caller's. `committed` is spent + reserved, kept by every update, since a
        // condition cannot add two attributes.
        let mut update = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(company_pk(company), keys::ai_spend_sk(month))))
            .update_expression("ADD reserved :amount, committed :amount")
            .expression_attribute_values(":amount", n(amount));
        if let Some(budget) = budget {
            update = update
                .condition_expression(
                    "(attribute_not_exists(committed) AND :amount <= :budget) OR committed <= :room",
                )
                .expression_attribute_values(":budget", n(budget))
                .expression_attribute_values(":room", n(budget - amount));
        }
        match update.send().await {
            Ok(_) => Ok(true),
            Err(e) if condition_failed(&e) => Ok(false),
            Err(e) => Err(sdk_error(e)),
        }
    }

    async fn settle_ai_call(
        &self,
        company: &CompanyId,
        reserved: i64,
        call: &AiCall,
    ) -> StoreResult<()> {
        let u = call.usage;
        let spend = aws_sdk_dynamodb::types::Update::builder()
            .table_name(&self.table)
            .set_key(Some(key(
                company_pk(company),
                keys::ai_spend_sk(&call.month),
            )))
            .update_expression("ADD spent :cost, reserved :release, committed :delta")
            .expression_attribute_values(":cost", n(call.cost_nano))
            .expression_attribute_values(":release", n(-reserved))
            .expression_attribute_values(":delta", n(call.cost_nano - reserved))
            .build()
            .map_err(super::built)?;
        let usage = aws_sdk_dynamodb::types::Update::builder()
            .table_name(&self.table)
            .set_key(Some(key(
                company_pk(company),
                keys::ai_usage_sk(&call.day, &call.agent_id, &call.model),
            )))
            .update_expression(
                "SET #day = :day, agent_id = :agent, model = :model ADD calls :one, prompt_tokens :p, \
                 completion_tokens :c, cached_tokens :k, reasoning_tokens :r, cost :cost, estimated_calls :e",
            )
            .expression_attribute_names("#day", "day")
            .expression_attribute_values(":day", s(&call.day))
            .expression_attribute_values(":agent", s(&call.agent_id))
            .expression_attribute_values(":model", s(&call.model))
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":p", n(u.prompt_tokens))
            .expression_attribute_values(":c", n(u.completion_tokens))
            .expression_attribute_values(":k", n(u.cached_tokens))
            .expression_attribute_values(":r", n(u.reasoning_tokens))
            .expression_attribute_values(":cost", n(call.cost_nano))
            .expression_attribute_values(":e", n(i64::from(call.estimated)))
            .build()
            .map_err(super::built)?;
        use aws_sdk_dynamodb::types::TransactWriteItem;
        self.transact(vec![
            TransactWriteItem::builder().update(spend).build(),
            TransactWriteItem::builder().update(usage).build(),
        ])
        .await
        .map_err(|e| match e {
            super::TxError::Store(e) => e,
            super::TxError::Conditions(_) => StoreError::Conflict("AI usage not recorded".into()),
        })
    }

    async fn release_ai_spend(
        &self,
        company: &CompanyId,
        month: &str,
        reserved: i64,
    ) -> StoreResult<()> {
        self.client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(company_pk(company), keys::ai_spend_sk(month))))
            .update_expression("ADD reserved :release, committed :release")
            .expression_attribute_values(":release", n(-reserved))
            .send()
            .await
            .map_err(sdk_error)?;
        Ok(())
    }

    async fn ai_spend(&self, company: &CompanyId, month: &str) -> StoreResult<(i64, i64)> {
        Ok(
            match self
                .get(company_pk(company), keys::ai_spend_sk(month))
                .await?
            {
                Some(i) => (
                    get_n(&i, "spent").unwrap_or(0),
                    get_n(&i, "reserved").unwrap_or(0).max(0),
                ),
                None => (0, 0),
            },
        )
    }

    async fn ai_usage(
        &self,
        company: &CompanyId,
        from: &str,
        to: &str,
    ) -> StoreResult<Vec<AiUsageRow>> {
        let prefix = keys::AI_USAGE_PREFIX;
        // `$` sorts after `#`: every agent and model of the last day.
        let items = self
            .query_between(
                &company_pk(company),
                &format!("{prefix}{from}"),
                &format!("{prefix}{to}$"),
            )
            .await?;
        items
            .iter()
            .map(|i| {
                Ok(AiUsageRow {
                    day: get_s(i, "day")?,
                    agent_id: get_s(i, "agent_id")?,
                    model: get_s(i, "model")?,
                    calls: get_n(i, "calls")?,
                    usage: Usage {
                        prompt_tokens: get_n(i, "prompt_tokens")?,
                        completion_tokens: get_n(i, "completion_tokens")?,
                        cached_tokens: get_n(i, "cached_tokens")?,
                        reasoning_tokens: get_n(i, "reasoning_tokens")?,
                    },
                    cost_nano: get_n(i, "cost")?,
                    estimated_calls: get_n(i, "estimated_calls")?,
                })
            })
            .collect()
    }
}
