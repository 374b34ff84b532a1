//! DynamoDB: AI agents.

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
use crate::domain::{CompanyId, Timestamp};
use crate::store::prelude::*;
use crate::store::{StoreError, StoreResult};

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
