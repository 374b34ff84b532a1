//! SQLite: AI agents.

use async_trait::async_trait;
use rusqlite::{params, OptionalExtension, Row};
use uuid::Uuid;

use super::Cached;
use super::{json, map_err, ts, uuid, SqliteStore};
use crate::domain::agent::{Agent, AgentFields, AgentKind};
use crate::domain::{CompanyId, Timestamp};
use crate::store::prelude::*;
use crate::store::{StoreError, StoreResult};

const AGENT_COLUMNS: &str = "id, company_id, name, description, type, system_prompt, model, \
     temperature, max_tokens, tools_config, active, created_at, updated_at";

fn agent_from(r: &Row<'_>) -> rusqlite::Result<StoreResult<Agent>> {
    let id: String = r.get(0)?;
    let company: String = r.get(1)?;
    let kind: String = r.get(4)?;
    let tools: String = r.get(9)?;
    let created: String = r.get(11)?;
    let updated: String = r.get(12)?;
    let fields = |tools_config| AgentFields {
        name: r.get(2).unwrap_or_default(),
        description: r.get(3).unwrap_or_default(),
        kind: AgentKind::parse(&kind).unwrap_or(AgentKind::Custom),
        system_prompt: r.get(5).unwrap_or_default(),
        model: r.get(6).unwrap_or_default(),
        temperature: r.get(7).unwrap_or_default(),
        max_tokens: r.get(8).unwrap_or_default(),
        tools_config,
        active: r.get(10).unwrap_or(true),
    };
    Ok((|| {
        let tools_config = match json(&tools)? {
            serde_json::Value::Object(m) => m,
            _ => Default::default(),
        };
        Ok(Agent {
            id: uuid(&id)?,
            company_id: CompanyId::new(company),
            fields: fields(tools_config),
            created_at: ts(&created)?,
            updated_at: ts(&updated)?,
        })
    })())
}

impl SqliteStore {
    fn agent(&self, company: &CompanyId, id: Uuid) -> StoreResult<Agent> {
        self.conn()
            .row(
                &format!("SELECT {AGENT_COLUMNS} FROM ai_agents WHERE company_id = ?1 AND id = ?2"),
                params![company.as_str(), id.to_string()],
                agent_from,
            )
            .optional()
            .map_err(map_err)?
            .ok_or(StoreError::NotFound)?
    }
}

#[async_trait]
impl AgentStore for SqliteStore {
    async fn create_agent(&self, company: &CompanyId, f: AgentFields) -> StoreResult<Agent> {
        let id = Uuid::now_v7();
        let now = Timestamp::now().as_string();
        self.write(|tx| {
            tx.run(
                &format!("INSERT INTO ai_agents ({AGENT_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?12)"),
                params![
                    id.to_string(), company.as_str(), f.name, f.description, f.kind.as_str(),
                    f.system_prompt, f.model, f.temperature, f.max_tokens,
                    serde_json::Value::Object(f.tools_config.clone()).to_string(), f.active, now
                ],
            )
            .map_err(map_err)?;
            Ok(())
        })?;
        self.agent(company, id)
    }

    async fn get_agent(&self, company: &CompanyId, id: Uuid) -> StoreResult<Agent> {
        self.agent(company, id)
    }

    async fn list_agents(&self, company: &CompanyId) -> StoreResult<Vec<Agent>> {
        let conn = self.conn();
        let mut stmt = conn
            .prepare_cached(&format!(
                "SELECT {AGENT_COLUMNS} FROM ai_agents WHERE company_id = ?1 ORDER BY created_at, id"
            ))
            .map_err(map_err)?;
        let rows = stmt
            .query_map(params![company.as_str()], agent_from)
            .map_err(map_err)?;
        rows.map(|r| r.map_err(map_err)?).collect()
    }

    async fn update_agent(
        &self,
        company: &CompanyId,
        id: Uuid,
        f: AgentFields,
    ) -> StoreResult<Agent> {
        let now = Timestamp::now().as_string();
        self.write(|tx| {
            let changed = tx
                .run(
                    "UPDATE ai_agents SET name = ?3, description = ?4, type = ?5, system_prompt = ?6, \
                     model = ?7, temperature = ?8, max_tokens = ?9, tools_config = ?10, active = ?11, \
                     updated_at = ?12 WHERE company_id = ?1 AND id = ?2",
                    params![
                        company.as_str(), id.to_string(), f.name, f.description, f.kind.as_str(),
                        f.system_prompt, f.model, f.temperature, f.max_tokens,
                        serde_json::Value::Object(f.tools_config.clone()).to_string(), f.active, now
                    ],
                )
                .map_err(map_err)?;
            if changed == 0 {
                return Err(StoreError::NotFound);
            }
            Ok(())
        })?;
        self.agent(company, id)
    }

    async fn delete_agent(&self, company: &CompanyId, id: Uuid) -> StoreResult<()> {
        self.change_one(
            "DELETE FROM ai_agents WHERE company_id = ?1 AND id = ?2",
            company,
            id,
        )
    }
}
