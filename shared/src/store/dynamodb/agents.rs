//! DynamoDB: AI agents, and the spend and usage of AI calls.

use async_trait::async_trait;
use aws_sdk_dynamodb::types::AttributeValue;
use serde_json::Value;
use uuid::Uuid;

use super::items::{
    corrupt, get_json, get_n, get_s, get_ts, get_uuid, item, key, n, opt_s, s, Item,
};
use super::keys::{self, company_pk};
use super::{condition_failed, sdk_error, DynamoStore};
use crate::domain::agent::{Agent, AgentFields, AgentKind};
use crate::domain::ai::Usage;
use crate::domain::{CompanyId, Timestamp};
use crate::store::prelude::*;
use crate::store::{AiCall, AiUsageRow, StoreError, StoreResult};

fn agent_item(
    company: &CompanyId,
    id: Uuid,
    f: &AgentFields,
    created: &Timestamp,
    updated: &Timestamp,
) -> Item {
    item([
        ("pk", Some(s(company_pk(company)))),
        ("sk", Some(s(keys::agent_sk(id)))),
        ("id", Some(s(id.to_string()))),
        ("company_id", Some(s(company.as_str()))),
        ("name", Some(s(&f.name))),
        ("description", f.description.as_deref().map(s)),
        ("type", Some(s(f.kind.as_str()))),
        ("system_prompt", f.system_prompt.as_deref().map(s)),
        ("model", Some(s(&f.model))),
        (
            "temperature",
            Some(AttributeValue::N(f.temperature.to_string())),
        ),
        ("max_tokens", Some(n(i64::from(f.max_tokens)))),
        (
            "tools_config",
            Some(s(Value::Object(f.tools_config.clone()).to_string())),
        ),
        ("active", Some(AttributeValue::Bool(f.active))),
        ("created_at", Some(s(created.as_string()))),
        ("updated_at", Some(s(updated.as_string()))),
    ])
}

fn agent_from(i: &Item) -> StoreResult<Agent> {
    let tools_config = match get_json(i, "tools_config")? {
        Value::Object(m) => m,
        _ => Default::default(),
    };
    let temperature = match i.get("temperature") {
        Some(AttributeValue::N(t)) => t.parse().map_err(|_| corrupt("temperature"))?,
        _ => return Err(corrupt("temperature")),
    };
    Ok(Agent {
        id: get_uuid(i, "id")?,
        company_id: CompanyId::new(get_s(i, "company_id")?),
        fields: AgentFields {
            name: get_s(i, "name")?,
            description: opt_s(i, "description"),
            kind: AgentKind::parse(&get_s(i, "type")?).unwrap_or(AgentKind::Custom),
            system_prompt: opt_s(i, "system_prompt"),
            model: get_s(i, "model")?,
            temperature,
            max_tokens: u32::try_from(get_n(i, "max_tokens")?)
                .map_err(|_| corrupt("max_tokens"))?,
            tools_config,
            active: matches!(i.get("active"), Some(AttributeValue::Bool(true))),
        },
        created_at: get_ts(i, "created_at")?,
        updated_at: get_ts(i, "updated_at")?,
    })
}

#[async_trait]
impl AgentStore for DynamoStore {
    async fn create_agent(&self, company: &CompanyId, fields: AgentFields) -> StoreResult<Agent> {
        let id = Uuid::now_v7();
        let now = Timestamp::now();
        self.put_one(
            agent_item(company, id, &fields, &now, &now),
            "attribute_not_exists(pk)",
        )
        .await?;
        Ok(Agent {
            id,
            company_id: company.clone(),
            fields,
            created_at: now,
            updated_at: now,
        })
    }

    async fn get_agent(&self, company: &CompanyId, id: Uuid) -> StoreResult<Agent> {
        let i = self
            .get(company_pk(company), keys::agent_sk(id))
            .await?
            .ok_or(StoreError::NotFound)?;
        agent_from(&i)
    }

    async fn list_agents(&self, company: &CompanyId) -> StoreResult<Vec<Agent>> {
        // Ids are UUIDv7: key order is creation order.
        self.query_prefix(&company_pk(company), keys::AGENT_PREFIX)
            .await?
            .iter()
            .map(agent_from)
            .collect()
    }

    async fn update_agent(
        &self,
        company: &CompanyId,
        id: Uuid,
        fields: AgentFields,
    ) -> StoreResult<Agent> {
        let current = self.get_agent(company, id).await?;
        let now = Timestamp::now();
        self.put_one(
            agent_item(company, id, &fields, &current.created_at, &now),
            "attribute_exists(pk)",
        )
        .await?;
        Ok(Agent {
            fields,
            updated_at: now,
            ..current
        })
    }

    async fn delete_agent(&self, company: &CompanyId, id: Uuid) -> StoreResult<()> {
        let out = self
            .client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(key(company_pk(company), keys::agent_sk(id))))
            .condition_expression("attribute_exists(pk)")
            .send()
            .await;
        match out {
            Ok(_) => Ok(()),
            Err(e) if condition_failed(&e) => Err(StoreError::NotFound),
            Err(e) => Err(sdk_error(e)),
        }
    }
}

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
