//! PostgreSQL: AI agents (the seed's `ai_agents`, with the model and an active flag).

use async_trait::async_trait;
use serde_json::Value;
use tokio_postgres::Row;
use uuid::Uuid;

use super::leads::ensure_company;
use super::{get, PgStore};
use crate::domain::agent::{Agent, AgentFields, AgentKind, DEFAULT_TEMPERATURE};
use crate::domain::{CompanyId, Timestamp};
use crate::store::prelude::*;
use crate::store::StoreResult;

/// The seed's nullable columns read as its defaults; its DECIMAL temperature as a float.
const AGENT_COLUMNS: &str = "id, company_id, name, description, COALESCE(type, 'custom'), \
     system_prompt, model, temperature::float8, COALESCE(max_tokens, 1000), \
     COALESCE(tools_config, '{}'), active, COALESCE(created_at, now()), \
     COALESCE(updated_at, created_at, now())";

fn agent_from(r: &Row) -> StoreResult<Agent> {
    let company: Uuid = get(r, 1)?;
    let kind: String = get(r, 4)?;
    Ok(Agent {
        id: get(r, 0)?,
        company_id: CompanyId::new(company.to_string()),
        fields: AgentFields {
            name: get(r, 2)?,
            description: get(r, 3)?,
            kind: AgentKind::parse(&kind).unwrap_or(AgentKind::Custom),
            system_prompt: get(r, 5)?,
            model: get(r, 6)?,
            temperature: get::<Option<f64>>(r, 7)?.unwrap_or(DEFAULT_TEMPERATURE),
            max_tokens: u32::try_from(get::<i32>(r, 8)?).unwrap_or_default(),
            tools_config: match get(r, 9)? {
                Value::Object(m) => m,
                _ => Default::default(),
            },
            active: get(r, 10)?,
        },
        created_at: Timestamp::from_datetime(get(r, 11)?),
        updated_at: Timestamp::from_datetime(get(r, 12)?),
    })
}

impl PgStore {
    async fn agent(&self, company: &CompanyId, id: Uuid) -> StoreResult<Agent> {
        let (mut tx, c) = self.read(company).await?;
        let row = tx
            .one(
                &format!("SELECT {AGENT_COLUMNS} FROM ai_agents WHERE company_id = $1 AND id = $2"),
                &[&c, &id],
            )
            .await?;
        tx.commit().await?;
        agent_from(&row)
    }
}

#[async_trait]
impl AgentStore for PgStore {
    async fn create_agent(&self, company: &CompanyId, f: AgentFields) -> StoreResult<Agent> {
        let id = Uuid::now_v7();
        let now = Timestamp::now().inner();
        let (mut tx, c) = self.write(company).await?;
        ensure_company(&mut tx, c).await?;
        tx.exec(
            "INSERT INTO ai_agents (id, company_id, name, description, type, system_prompt, model, \
             temperature, max_tokens, tools_config, active, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8::float8, $9, $10, $11, $12, $12)",
            &[
                &id,
                &c,
                &f.name,
                &f.description,
                &f.kind.as_str(),
                &f.system_prompt,
                &f.model,
                &f.temperature,
                &i32::try_from(f.max_tokens).unwrap_or(i32::MAX),
                &Value::Object(f.tools_config.clone()),
                &f.active,
                &now,
            ],
        )
        .await?;
        tx.commit().await?;
        self.agent(company, id).await
    }

    async fn get_agent(&self, company: &CompanyId, id: Uuid) -> StoreResult<Agent> {
        self.agent(company, id).await
    }

    async fn list_agents(&self, company: &CompanyId) -> StoreResult<Vec<Agent>> {
        let (mut tx, c) = self.read(company).await?;
        let rows = tx
            .query(
                &format!(
                    "SELECT {AGENT_COLUMNS} FROM ai_agents WHERE company_id = $1 ORDER BY created_at, id"
                ),
                &[&c],
            )
            .await?;
        tx.commit().await?;
        rows.iter().map(agent_from).collect()
    }

    async fn update_agent(
        &self,
        company: &CompanyId,
        id: Uuid,
        f: AgentFields,
    ) -> StoreResult<Agent> {
        let now = Timestamp::now().inner();
        let (mut tx, c) = self.write(company).await?;
        let changed = tx
            .exec(
                "UPDATE ai_agents SET name = $3, description = $4, type = $5, system_prompt = $6, \
                 model = $7, temperature = $8::float8, max_tokens = $9, tools_config = $10, \
                 active = $11, updated_at = $12 WHERE company_id = $1 AND id = $2",
                &[
                    &c,
                    &id,
                    &f.name,
                    &f.description,
                    &f.kind.as_str(),
                    &f.system_prompt,
                    &f.model,
                    &f.temperature,
                    &i32::try_from(f.max_tokens).unwrap_or(i32::MAX),
                    &Value::Object(f.tools_config.clone()),
                    &f.active,
                    &now,
                ],
            )
            .await?;
        if changed == 0 {
            return Err(crate::store::StoreError::NotFound);
        }
        tx.commit().await?;
        self.agent(company, id).await
    }

    async fn delete_agent(&self, company: &CompanyId, id: Uuid) -> StoreResult<()> {
        self.change_one(
            "DELETE FROM ai_agents WHERE company_id = $1 AND id = $2",
            company,
            id,
        )
        .await
    }
}
