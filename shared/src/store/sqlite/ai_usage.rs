//! SQLite: the spend and usage of AI calls.

use async_trait::async_trait;
use rusqlite::{params, OptionalExtension};

use super::Cached;
use super::{map_err, SqliteStore};
use crate::domain::ai::Usage;
use crate::domain::CompanyId;
use crate::store::prelude::*;
use crate::store::{AiCall, AiUsageRow, StoreResult};

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
            tx.run(
                "INSERT OR IGNORE INTO ai_spend (company_id, month) VALUES (?1, ?2)",
                params![company.as_str(), month],
            )
            .map_err(map_err)?;
            let changed = tx
                .run(
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
            tx.run(
                "INSERT INTO ai_spend (company_id, month, spent_nano, reserved_nano) VALUES (?1, ?2, ?3, 0) \
                 ON CONFLICT (company_id, month) DO UPDATE SET spent_nano = spent_nano + ?3, \
                 reserved_nano = MAX(0, reserved_nano - ?4)",
                params![company.as_str(), call.month, call.cost_nano, reserved],
            )
            .map_err(map_err)?;
            tx.run(
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
            tx.run(
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
            .row(
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
            .prepare_cached(
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
