//! PostgreSQL: the spend and usage of AI calls.

use async_trait::async_trait;

use super::{get, PgStore};
use crate::domain::ai::Usage;
use crate::domain::CompanyId;
use crate::store::prelude::*;
use crate::store::{AiCall, AiUsageRow, StoreResult};

#[async_trait]
impl AiUsageStore for PgStore {
    async fn reserve_ai_spend(
        &self,
        company: &CompanyId,
        month: &str,
        amount: i64,
        budget: Option<i64>,
    ) -> StoreResult<bool> {
        // The check and the reservation under the company's write lock: no other process
        // can reserve between them.
        let (mut tx, c) = self.write(company).await?;
        tx.exec(
            "INSERT INTO ai_spend (company_id, month) VALUES ($1, $2) ON CONFLICT DO NOTHING",
            &[&c, &month],
        )
        .await?;
        let changed = tx
            .exec(
                "UPDATE ai_spend SET reserved_nano = reserved_nano + $3 \
                 WHERE company_id = $1 AND month = $2 \
                 AND ($4::int8 IS NULL OR spent_nano + reserved_nano + $3 <= $4::int8)",
                &[&c, &month, &amount, &budget],
            )
            .await?;
        tx.commit().await?;
        Ok(changed == 1)
    }

    async fn settle_ai_call(
        &self,
        company: &CompanyId,
        reserved: i64,
        call: &AiCall,
    ) -> StoreResult<()> {
        let u = call.usage;
        let (mut tx, c) = self.write(company).await?;
        tx.exec(
            "INSERT INTO ai_spend (company_id, month, spent_nano, reserved_nano) VALUES ($1, $2, $3, 0) \
             ON CONFLICT (company_id, month) DO UPDATE SET spent_nano = ai_spend.spent_nano + $3, \
             reserved_nano = GREATEST(0, ai_spend.reserved_nano - $4)",
            &[&c, &call.month, &call.cost_nano, &reserved],
        )
        .await?;
        tx.exec(
            "INSERT INTO ai_usage (company_id, day, agent_id, model, calls, prompt_tokens, \
             completion_tokens, cached_tokens, reasoning_tokens, cost_nano, estimated_calls) \
             VALUES ($1, $2, $3, $4, 1, $5, $6, $7, $8, $9, $10) \
             ON CONFLICT (company_id, day, agent_id, model) DO UPDATE SET calls = ai_usage.calls + 1, \
             prompt_tokens = ai_usage.prompt_tokens + $5, completion_tokens = ai_usage.completion_tokens + $6, \
             cached_tokens = ai_usage.cached_tokens + $7, reasoning_tokens = ai_usage.reasoning_tokens + $8, \
             cost_nano = ai_usage.cost_nano + $9, estimated_calls = ai_usage.estimated_calls + $10",
            &[
                &c,
                &call.day,
                &call.agent_id,
                &call.model,
                &u.prompt_tokens,
                &u.completion_tokens,
                &u.cached_tokens,
                &u.reasoning_tokens,
                &call.cost_nano,
                &i64::from(call.estimated),
            ],
        )
        .await?;
        tx.commit().await
    }

    async fn release_ai_spend(
        &self,
        company: &CompanyId,
        month: &str,
        reserved: i64,
    ) -> StoreResult<()> {
        let (mut tx, c) = self.write(company).await?;
        tx.exec(
            "UPDATE ai_spend SET reserved_nano = GREATEST(0, reserved_nano - $3) \
             WHERE company_id = $1 AND month = $2",
            &[&c, &month, &reserved],
        )
        .await?;
        tx.commit().await
    }

    async fn ai_spend(&self, company: &CompanyId, month: &str) -> StoreResult<(i64, i64)> {
        let (mut tx, c) = self.read(company).await?;
        let row = tx
            .opt(
                "SELECT spent_nano, reserved_nano FROM ai_spend WHERE company_id = $1 AND month = $2",
                &[&c, &month],
            )
            .await?;
        tx.commit().await?;
        match row {
            Some(r) => Ok((get(&r, 0)?, get(&r, 1)?)),
            None => Ok((0, 0)),
        }
    }

    async fn ai_usage(
        &self,
        company: &CompanyId,
        from: &str,
        to: &str,
    ) -> StoreResult<Vec<AiUsageRow>> {
        let (mut tx, c) = self.read(company).await?;
        let rows = tx
            .query(
                "SELECT day, agent_id, model, calls, prompt_tokens, completion_tokens, cached_tokens, \
                 reasoning_tokens, cost_nano, estimated_calls FROM ai_usage \
                 WHERE company_id = $1 AND day >= $2 AND day <= $3 ORDER BY day, agent_id, model",
                &[&c, &from, &to],
            )
            .await?;
        tx.commit().await?;
        rows.iter()
            .map(|r| {
                Ok(AiUsageRow {
                    day: get(r, 0)?,
                    agent_id: get(r, 1)?,
                    model: get(r, 2)?,
                    calls: get(r, 3)?,
                    usage: Usage {
                        prompt_tokens: get(r, 4)?,
                        completion_tokens: get(r, 5)?,
                        cached_tokens: get(r, 6)?,
                        reasoning_tokens: get(r, 7)?,
                    },
                    cost_nano: get(r, 8)?,
                    estimated_calls: get(r, 9)?,
                })
            })
            .collect()
    }
}
