//! PostgreSQL: the company's daily tallies, and the events counted in them.

use std::collections::BTreeMap;

use async_trait::async_trait;

use super::{get, PgStore};
use crate::domain::analytics::{DayTallies, Tally};
use crate::domain::CompanyId;
use crate::store::prelude::*;
use crate::store::{StoreResult, COUNTED_FOR_MS};

#[async_trait]
impl AnalyticsStore for PgStore {
    async fn add_tallies(
        &self,
        company: &CompanyId,
        event_id: &str,
        tallies: &[Tally],
    ) -> StoreResult<bool> {
        let now = chrono::Utc::now().timestamp_millis();
        let (mut tx, c) = self.write(company).await?;
        let fresh = tx
            .exec(
                "INSERT INTO analytics_counted (company_id, event_id, at_ms) VALUES ($1, $2, $3) \
                 ON CONFLICT DO NOTHING",
                &[&c, &event_id, &now],
            )
            .await?;
        if fresh == 0 {
            return Ok(false);
        }
        for t in tallies {
            tx.exec(
                "INSERT INTO analytics_days (company_id, day, metric, amount) VALUES ($1, $2, $3, $4) \
                 ON CONFLICT (company_id, day, metric) DO UPDATE SET amount = analytics_days.amount + excluded.amount",
                &[&c, &t.day, &t.metric, &t.delta],
            )
            .await?;
        }
        tx.exec(
            "DELETE FROM analytics_counted WHERE company_id = $1 AND at_ms < $2",
            &[&c, &(now - COUNTED_FOR_MS)],
        )
        .await?;
        tx.commit().await?;
        Ok(true)
    }

    async fn day_tallies(
        &self,
        company: &CompanyId,
        from: &str,
        to: &str,
    ) -> StoreResult<BTreeMap<String, DayTallies>> {
        let (mut tx, c) = self.read(company).await?;
        let rows = tx
            .query(
                "SELECT day, metric, amount FROM analytics_days \
                 WHERE company_id = $1 AND day BETWEEN $2 AND $3",
                &[&c, &from, &to],
            )
            .await?;
        tx.commit().await?;
        let mut days: BTreeMap<String, DayTallies> = BTreeMap::new();
        for r in &rows {
            let (day, metric, amount): (String, String, i64) = (get(r, 0)?, get(r, 1)?, get(r, 2)?);
            days.entry(day).or_default().insert(metric, amount);
        }
        Ok(days)
    }
}
