//! PostgreSQL: customer turns waiting for quiet, by when they are due.

use async_trait::async_trait;
use uuid::Uuid;

use super::{company_uuid, get, PgStore};
use crate::domain::autoreply::Turn;
use crate::domain::lead::LeadId;
use crate::domain::CompanyId;
use crate::store::prelude::*;
use crate::store::StoreResult;

#[async_trait]
impl TurnStore for PgStore {
    async fn schedule_turn(&self, t: &Turn) -> StoreResult<()> {
        let mut tx = self.unscoped().await?;
        tx.exec(
            "INSERT INTO ai_turns (id, company_id, conversation_id, lead_id, due_ms) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (id) DO NOTHING",
            &[
                &t.id,
                &company_uuid(&t.company_id)?,
                &t.conversation_id,
                &t.lead_id.0,
                &t.due_ms,
            ],
        )
        .await?;
        tx.commit().await
    }

    async fn due_turns(&self, now: i64, limit: u32) -> StoreResult<Vec<Turn>> {
        let mut tx = self.unscoped().await?;
        let rows = tx
            .query(
                "SELECT id, company_id, conversation_id, lead_id, due_ms FROM ai_turns \
                 WHERE due_ms <= $1 ORDER BY due_ms, id LIMIT $2",
                &[&now, &i64::from(limit)],
            )
            .await?;
        tx.commit().await?;
        rows.iter()
            .map(|r| {
                let company: Uuid = get(r, 1)?;
                Ok(Turn {
                    id: get(r, 0)?,
                    company_id: CompanyId::new(company.to_string()),
                    conversation_id: get(r, 2)?,
                    lead_id: LeadId(get(r, 3)?),
                    due_ms: get(r, 4)?,
                })
            })
            .collect()
    }

    async fn drop_turn(&self, t: &Turn) -> StoreResult<()> {
        let mut tx = self.unscoped().await?;
        tx.exec("DELETE FROM ai_turns WHERE id = $1", &[&t.id])
            .await?;
        tx.commit().await
    }
}
