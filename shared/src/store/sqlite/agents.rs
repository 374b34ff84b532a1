//! SQLite: AI agents, and the spend and usage of AI calls.

use async_trait::async_trait;
use rusqlite::{params, OptionalExtension, Row};
use uuid::Uuid;

use super::{json, map_err, ts, uuid, SqliteStore};
use crate::domain::agent::{Agent, AgentFields, AgentKind};
use crate::domain::ai::Usage;
use crate::domain::{CompanyId, Timestamp};
use crate::store::prelude::*;
use crate::store::{AiCall, AiUsageRow, StoreError, StoreResult};

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
            .query_row(
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
            tx.execute(
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
            .prepare(&format!(
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
                .execute(
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

#[async_trait]
impl AiUsageStore for SqliteStore {
    async fn reserve_ai_spend(
        &self,
        company: &CompanyId,
        month: &str,
        amount: i64,
        budget: Option<i64>,
    ) -> StoreResult<bool> {
        // The check and the reservation in one IMMEDIATE transaction: no other process
        // can reserve between them.
        self.write(|tx| {
            tx.execute(
                "INSERT OR IGNORE INTO ai_spend (company_id, month) VALUES (?1, ?2)",
                params![company.as_str(), month],
            )
            .map_err(map_err)?;
            let changed = tx
                .execute(
                    "UPDATE ai_spend SET reserved_nano = reserved_nano + ?3 \
                     WHERE company_id = ?1 AND month = ?2 \
                     AND (?4 IS NULL OR spent_nano + reserved_nano + ?3 <= ?4)",
                    params![company.as_str(), month, amount, budget],
                )
                .map_err(map_err)?;
            Ok(changed == 1)
        })
    }

    async fn settle_ai_call(
        &self,
        company: &CompanyId,
        reserved: i64,
        call: &AiCall,
    ) -> StoreResult<()> {
        let u = call.usage;
        self.write(|tx| {
            tx.execute(
                "INSERT INTO ai_spend (company_id, month, spent_nano, reserved_nano) VALUES (?1, ?2, ?3, 0) \
                 ON CONFLICT (company_id, month) DO UPDATE SET spent_nano = spent_nano + ?3, \
                 reserved_nano = MAX(0, reserved_nano - ?4)",
                params![company.as_str(), call.month, call.cost_nano, reserved],
            )
            .map_err(map_err)?;
            tx.execute(
                "INSERT INTO ai_usage (company_id, day, agent_id, model, calls, prompt_tokens, \
                 completion_tokens, cached_tokens, reasoning_tokens, cost_nano, estimated_calls) \
                 VALUES (?1, ?2, ?3, ?4, 1, ?5, ?6, ?7, ?8, ?9, ?10) \
                 ON CONFLICT (company_id, day, agent_id, model) DO UPDATE SET calls = calls + 1, \
                 prompt_tokens = prompt_tokens + ?5, completion_tokens = completion_tokens + ?6, \
                 cached_tokens = cached_tokens + ?7, reasoning_tokens = reasoning_tokens + ?8, \
                 cost_nano = cost_nano + ?9, estimated_calls = estimated_calls + ?10",
                params![
                    company.as_str(), call.day, call.agent_id, call.model, u.prompt_tokens,
                    u.completion_tokens, u.cached_tokens, u.reasoning_tokens, call.cost_nano,
                    i64::from(call.estimated)
                ],
            )
            .map_err(map_err)?;
            Ok(())
        })
    }

    async fn release_ai_spend(
        &self,
        company: &CompanyId,
        month: &str,
        reserved: i64,
    ) -> StoreResult<()> {
        self.write(|tx| {
            tx.execute(
                "UPDATE ai_spend SET reserved_nano = MAX(0, reserved_nano - ?3) \
                 WHERE company_id = ?1 AND month = ?2",
                params![company.as_str(), month, reserved],
            )
            .map_err(map_err)?;
            Ok(())
        })
    }

    async fn ai_spend(&self, company: &CompanyId, month: &str) -> StoreResult<(i64, i64)> {
        Ok(self
            .conn()
            .query_row(
                "SELECT spent_nano, reserved_nano FROM ai_spend WHERE company_id = ?1 AND month = ?2",
                params![company.as_str(), month],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()
            .map_err(map_err)?
            .unwrap_or((0, 0)))
    }

    async fn ai_usage(
        &self,
        company: &CompanyId,
        from: &str,
        to: &str,
    ) -> StoreResult<Vec<AiUsageRow>> {
        let conn = self.conn();
        let mut stmt = conn
            .prepare(
                "SELECT day, agent_id, model, calls, prompt_tokens, completion_tokens, cached_tokens, \
                 reasoning_tokens, cost_nano, estimated_calls FROM ai_usage \
                 WHERE company_id = ?1 AND day >= ?2 AND day <= ?3 ORDER BY day, agent_id, model",
            )
            .map_err(map_err)?;
        let rows = stmt
            .query_map(params![company.as_str(), from, to], |r| {
                Ok(AiUsageRow {
                    day: r.get(0)?,
                    agent_id: r.get(1)?,
                    model: r.get(2)?,
                    calls: r.get(3)?,
                    usage: Usage {
                        prompt_tokens: r.get(4)?,
                        completion_tokens: r.get(5)?,
                        cached_tokens: r.get(6)?,
                        reasoning_tokens: r.get(7)?,
                    },
                    cost_nano: r.get(8)?,
                    estimated_calls: r.get(9)?,
                })
            })
            .map_err(map_err)?;
        rows.map(|r| r.map_err(map_err)).collect()
    }
}
