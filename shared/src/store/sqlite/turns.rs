//! SQLite: customer turns waiting for quiet, by when they are due.

use async_trait::async_trait;
use rusqlite::params;

use super::Cached;
use super::{map_err, uuid, SqliteStore};
use crate::domain::autoreply::Turn;
use crate::domain::lead::LeadId;
use crate::domain::CompanyId;
use crate::store::prelude::*;
use crate::store::StoreResult;

#[async_trait]
impl TurnStore for SqliteStore {
    async fn schedule_turn(&self, t: &Turn) -> StoreResult<()> {
        self.write(|tx| {
            tx.run(
                "INSERT OR IGNORE INTO ai_turns (id, company_id, conversation_id, lead_id, due_ms) \
                 VALUES (?1, ?2, ?3, ?4, ?5)",
                params![
                    t.id,
                    t.company_id.as_str(),
                    t.conversation_id.to_string(),
                    t.lead_id.0.to_string(),
                    t.due_ms
                ],
            )
            .map_err(map_err)?;
            Ok(())
        })
    }

    async fn due_turns(&self, now: i64, limit: u32) -> StoreResult<Vec<Turn>> {
        let conn = self.conn();
        let mut stmt = conn
            .prepare_cached(
                "SELECT id, company_id, conversation_id, lead_id, due_ms FROM ai_turns \
                 WHERE due_ms <= ?1 ORDER BY due_ms, id LIMIT ?2",
            )
            .map_err(map_err)?;
        let rows = stmt
            .query_map(params![now, limit], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, String>(3)?,
                    r.get::<_, i64>(4)?,
                ))
            })
            .map_err(map_err)?;
        rows.map(|r| {
            let (id, company, conversation, lead, due_ms) = r.map_err(map_err)?;
            Ok(Turn {
                id,
                company_id: CompanyId::new(company),
                conversation_id: uuid(&conversation)?,
                lead_id: LeadId(uuid(&lead)?),
                due_ms,
            })
        })
        .collect()
    }

    async fn drop_turn(&self, t: &Turn) -> StoreResult<()> {
        self.write(|tx| {
            tx.run("DELETE FROM ai_turns WHERE id = ?1", params![t.id])
                .map_err(map_err)?;
            Ok(())
        })
    }
}
