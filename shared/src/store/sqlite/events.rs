//! SQLite: the outbox. Events are inserted by the other aggregates' transactions
//! ([`enqueue`]) and read and removed here.

use async_trait::async_trait;
use rusqlite::{params, Transaction};

use super::Cached;
use super::{json, map_err, ts, uuid, SqliteStore};
use crate::domain::event::OutboxEvent;
use crate::domain::lead::LeadId;
use crate::domain::CompanyId;
use crate::store::prelude::*;
use crate::store::StoreResult;

/// Writes `event` in the transaction of the change it reports.
pub(super) fn enqueue(tx: &Transaction<'_>, event: &OutboxEvent) -> StoreResult<()> {
    tx.run(
        "INSERT INTO outbox (id, company_id, kind, lead_id, payload, at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![
            event.id,
            event.company_id.as_str(),
            event.kind,
            event.lead_id.map(|l| l.0.to_string()),
            event.data.to_string(),
            event.at.as_string()
        ],
    )
    .map_err(map_err)?;
    Ok(())
}

#[async_trait]
impl EventStore for SqliteStore {
    async fn pending_events(&self, limit: u32) -> StoreResult<Vec<OutboxEvent>> {
        let conn = self.conn();
        let mut stmt = conn
            .prepare_cached(
                "SELECT id, company_id, kind, lead_id, payload, at FROM outbox ORDER BY id LIMIT ?1",
            )
            .map_err(map_err)?;
        let rows = stmt
            .query_map(params![limit], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, Option<String>>(3)?,
                    r.get::<_, String>(4)?,
                    r.get::<_, String>(5)?,
                ))
            })
            .map_err(map_err)?;
        rows.map(|r| {
            let (id, company, kind, lead, data, at) = r.map_err(map_err)?;
            Ok(OutboxEvent {
                id,
                company_id: CompanyId::new(company),
                kind,
                lead_id: lead.map(|l| uuid(&l).map(LeadId)).transpose()?,
                data: json(&data)?,
                at: ts(&at)?,
            })
        })
        .collect()
    }

    async fn ack_event(&self, event: &OutboxEvent) -> StoreResult<()> {
        self.write(|tx| {
            tx.run("DELETE FROM outbox WHERE id = ?1", params![event.id])
                .map_err(map_err)?;
            Ok(())
        })
    }
}
