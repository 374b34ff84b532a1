//! SQLite: the company's daily tallies, and the events counted in them.

use std::collections::BTreeMap;

use async_trait::async_trait;
use rusqlite::params;

use super::Cached;
use super::{map_err, SqliteStore};
use crate::domain::analytics::{DayTallies, Tally};
use crate::domain::CompanyId;
use crate::store::prelude::*;
use crate::store::{StoreResult, COUNTED_FOR_MS};

#[async_trait]
impl AnalyticsStore for SqliteStore {
    async fn add_tallies(
        &self,
        company: &CompanyId,
        event_id: &str,
        tallies: &[Tally],
    ) -> StoreResult<bool> {
        let now = chrono::Utc::now().timestamp_millis();
        self.write(|tx| {
            let fresh = tx
                .run(
                    "INSERT OR IGNORE INTO analytics_counted (company_id, event_id, at_ms) VALUES (?1, ?2, ?3)",
                    params![company.as_str(), event_id, now],
                )
                .map_err(map_err)?;
            if fresh == 0 {
                return Ok(false);
            }
            for t in tallies {
                tx.run(
                    "INSERT INTO analytics_days (company_id, day, metric, amount) VALUES (?1, ?2, ?3, ?4) \
                     ON CONFLICT (company_id, day, metric) DO UPDATE SET amount = amount + excluded.amount",
                    params![company.as_str(), t.day, t.metric, t.delta],
                )
                .map_err(map_err)?;
            }
            tx.run(
                "DELETE FROM analytics_counted WHERE at_ms < ?1",
                params![now - COUNTED_FOR_MS],
            )
            .map_err(map_err)?;
            Ok(true)
        })
    }

    async fn day_tallies(
        &self,
        company: &CompanyId,
        from: &str,
        to: &str,
    ) -> StoreResult<BTreeMap<String, DayTallies>> {
        let conn = self.conn();
        let mut stmt = conn
            .prepare_cached(
                "SELECT day, metric, amount FROM analytics_days \
                 WHERE company_id = ?1 AND day BETWEEN ?2 AND ?3",
            )
            .map_err(map_err)?;
        let rows = stmt
            .query_map(params![company.as_str(), from, to], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, i64>(2)?,
                ))
            })
            .map_err(map_err)?;
        let mut days: BTreeMap<String, DayTallies> = BTreeMap::new();
        for row in rows {
            let (day, metric, amount) = row.map_err(map_err)?;
            days.entry(day).or_default().insert(metric, amount);
        }
        Ok(days)
    }
}
