//! PostgreSQL: the outbox. Events are inserted by the other aggregates' transactions
//! ([`enqueue`]) and read and removed here, by the worker, across companies.

use async_trait::async_trait;
use uuid::Uuid;

use super::{company_uuid, get, PgStore, Tx};
use crate::domain::event::OutboxEvent;
use crate::domain::lead::LeadId;
use crate::domain::{CompanyId, Timestamp};
use crate::store::prelude::*;
use crate::store::StoreResult;

/// Writes `event` in the transaction of the change it reports.
pub(super) async fn enqueue(tx: &mut Tx<'_>, event: &OutboxEvent) -> StoreResult<()> {
    tx.exec(
        "INSERT INTO outbox (id, company_id, kind, lead_id, payload, at) VALUES ($1, $2, $3, $4, $5, $6)",
        &[
            &event.id,
            &company_uuid(&event.company_id)?,
            &event.kind,
            &event.lead_id.map(|l| l.0),
            &event.data,
            &event.at.inner(),
        ],
    )
    .await?;
    Ok(())
}

#[async_trait]
impl EventStore for PgStore {
    async fn pending_events(&self, limit: u32) -> StoreResult<Vec<OutboxEvent>> {
        let mut tx = self.unscoped().await?;
        let rows = tx
            .query(
                "SELECT id, company_id, kind, lead_id, payload, at FROM outbox ORDER BY id LIMIT $1",
                &[&i64::from(limit)],
            )
            .await?;
        tx.commit().await?;
        rows.iter()
            .map(|r| {
                let company: Uuid = get(r, 1)?;
                Ok(OutboxEvent {
                    id: get(r, 0)?,
                    company_id: CompanyId::new(company.to_string()),
                    kind: get(r, 2)?,
                    lead_id: get::<Option<Uuid>>(r, 3)?.map(LeadId),
                    data: get(r, 4)?,
                    at: Timestamp::from_datetime(get(r, 5)?),
                })
            })
            .collect()
    }

    async fn ack_event(&self, event: &OutboxEvent) -> StoreResult<()> {
        let mut tx = self.unscoped().await?;
        tx.exec("DELETE FROM outbox WHERE id = $1", &[&event.id])
            .await?;
        tx.commit().await
    }
}
