//! SQLite: outbound webhook endpoints and their delivery log.

use async_trait::async_trait;
use rusqlite::{params, OptionalExtension, Row};
use uuid::Uuid;

use super::Cached;
use super::{json, map_err, ts, uuid, SqliteStore};
use crate::domain::account::AccessToken;
use crate::domain::lead::LeadId;
use crate::domain::webhook::{EndpointFields, WebhookEndpoint};
use crate::domain::{CompanyId, Timestamp};
use crate::store::prelude::*;
use crate::store::{Delivery, Retry, StoreError, StoreResult};

const ENDPOINT_COLUMNS: &str =
    "id, company_id, url, events, description, active, disabled_reason, created_at, updated_at";

fn endpoint_from(r: &Row<'_>) -> rusqlite::Result<StoreResult<WebhookEndpoint>> {
    let id: String = r.get(0)?;
    let events: String = r.get(3)?;
    let created: String = r.get(7)?;
    let updated: String = r.get(8)?;
    let (company, url, description, active, reason): (
        String,
        String,
        Option<String>,
        bool,
        Option<String>,
    ) = (r.get(1)?, r.get(2)?, r.get(4)?, r.get(5)?, r.get(6)?);
    Ok((|| {
        Ok(WebhookEndpoint {
            id: uuid(&id)?,
            company_id: CompanyId::new(company),
            url,
            events: serde_json::from_value(json(&events)?).unwrap_or_default(),
            description,
            active,
            disabled_reason: reason,
            created_at: ts(&created)?,
            updated_at: ts(&updated)?,
        })
    })())
}

const DELIVERY_COLUMNS: &str =
    "id, endpoint_id, event_id, event_type, payload, status, http_status, \
     latency_ms, response, attempt, at, lead_id";

fn delivery_from(r: &Row<'_>) -> rusqlite::Result<StoreResult<Delivery>> {
    let (id, endpoint, payload, at): (String, String, String, String) =
        (r.get(0)?, r.get(1)?, r.get(4)?, r.get(10)?);
    let lead: Option<String> = r.get(11)?;
    let (event_id, event_type, status, http_status, latency, response, attempt): (
        String,
        String,
        String,
        Option<u16>,
        i64,
        String,
        u32,
    ) = (
        r.get(2)?,
        r.get(3)?,
        r.get(5)?,
        r.get(6)?,
        r.get(7)?,
        r.get(8)?,
        r.get(9)?,
    );
    Ok((|| {
        Ok(Delivery {
            id: uuid(&id)?,
            endpoint_id: uuid(&endpoint)?,
            event_id,
            event_type,
            payload: json(&payload)?,
            status,
            http_status,
            latency_ms: u64::try_from(latency).unwrap_or_default(),
            response,
            attempt,
            at: ts(&at)?,
            retry_after: None,
            lead_id: lead.map(|l| uuid(&l).map(LeadId)).transpose()?,
        })
    })())
}

impl SqliteStore {
    fn webhook(&self, company: &CompanyId, id: Uuid) -> StoreResult<WebhookEndpoint> {
        self.conn()
            .row(
                &format!("SELECT {ENDPOINT_COLUMNS} FROM webhook_endpoints WHERE company_id = ?1 AND id = ?2"),
                params![company.as_str(), id.to_string()],
                endpoint_from,
            )
            .optional()
            .map_err(map_err)?
            .ok_or(StoreError::NotFound)?
    }
}

fn events_json(f: &EndpointFields) -> String {
    serde_json::Value::from(f.events.clone()).to_string()
}

#[async_trait]
impl WebhookStore for SqliteStore {
    async fn create_webhook(
        &self,
        company: &CompanyId,
        f: EndpointFields,
        secret: &AccessToken,
    ) -> StoreResult<WebhookEndpoint> {
        let id = Uuid::now_v7();
        let now = Timestamp::now().as_string();
        self.write(|tx| {
            tx.run(
                "INSERT INTO webhook_endpoints (id, company_id, url, events, description, active, \
                 disabled_reason, secret, created_at, updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, NULL, ?7, ?8, ?8)",
                params![id.to_string(), company.as_str(), f.url, events_json(&f), f.description, f.active,
                        secret.expose(), now],
            )
            .map_err(map_err)?;
            Ok(())
        })?;
        self.webhook(company, id)
    }

    async fn get_webhook(&self, company: &CompanyId, id: Uuid) -> StoreResult<WebhookEndpoint> {
        self.webhook(company, id)
    }

    async fn webhook_secret(&self, company: &CompanyId, id: Uuid) -> StoreResult<AccessToken> {
        self.conn()
            .row(
                "SELECT secret FROM webhook_endpoints WHERE company_id = ?1 AND id = ?2",
                params![company.as_str(), id.to_string()],
                |r| r.get::<_, String>(0),
            )
            .optional()
            .map_err(map_err)?
            .map(AccessToken::new)
            .ok_or(StoreError::NotFound)
    }

    async fn list_webhooks(&self, company: &CompanyId) -> StoreResult<Vec<WebhookEndpoint>> {
        let conn = self.conn();
        let mut stmt = conn
            .prepare_cached(&format!(
                "SELECT {ENDPOINT_COLUMNS} FROM webhook_endpoints WHERE company_id = ?1 ORDER BY created_at, id"
            ))
            .map_err(map_err)?;
        let rows = stmt
            .query_map(params![company.as_str()], endpoint_from)
            .map_err(map_err)?;
        rows.map(|r| r.map_err(map_err)?).collect()
    }

    async fn update_webhook(
        &self,
        company: &CompanyId,
        id: Uuid,
        f: EndpointFields,
        disabled_reason: Option<String>,
    ) -> StoreResult<WebhookEndpoint> {
        let now = Timestamp::now().as_string();
        self.write(|tx| {
            let changed = tx
                .run(
                    "UPDATE webhook_endpoints SET url = ?3, events = ?4, description = ?5, active = ?6, \
                     disabled_reason = ?7, updated_at = ?8 WHERE company_id = ?1 AND id = ?2",
                    params![company.as_str(), id.to_string(), f.url, events_json(&f), f.description,
                            f.active, disabled_reason, now],
                )
                .map_err(map_err)?;
            if changed == 0 {
                return Err(StoreError::NotFound);
            }
            Ok(())
        })?;
        self.webhook(company, id)
    }

    async fn delete_webhook(&self, company: &CompanyId, id: Uuid) -> StoreResult<()> {
        let (c, e) = (company.as_str(), id.to_string());
        self.write(|tx| {
            let deleted = tx
                .run(
                    "DELETE FROM webhook_endpoints WHERE company_id = ?1 AND id = ?2",
                    params![c, e],
                )
                .map_err(map_err)?;
            if deleted == 0 {
                return Err(StoreError::NotFound);
            }
            for sql in [
                "DELETE FROM webhook_deliveries WHERE company_id = ?1 AND endpoint_id = ?2",
                "DELETE FROM webhook_retries WHERE company_id = ?1 AND endpoint_id = ?2",
                "DELETE FROM webhook_health WHERE company_id = ?1 AND endpoint_id = ?2",
            ] {
                tx.run(sql, params![c, e]).map_err(map_err)?;
            }
            Ok(())
        })
    }

    async fn add_delivery(&self, company: &CompanyId, d: &Delivery) -> StoreResult<()> {
        self.write(|tx| {
            tx.run(
                &format!(
                    "INSERT INTO webhook_deliveries (company_id, {DELIVERY_COLUMNS}) \
                          VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)"
                ),
                params![
                    company.as_str(),
                    d.id.to_string(),
                    d.endpoint_id.to_string(),
                    d.event_id,
                    d.event_type,
                    d.payload.to_string(),
                    d.status,
                    d.http_status,
                    i64::try_from(d.latency_ms).unwrap_or(i64::MAX),
                    d.response,
                    d.attempt,
                    d.at.as_string(),
                    d.lead_id.map(|l| l.0.to_string())
                ],
            )
            .map_err(map_err)?;
            Ok(())
        })
    }

    async fn list_deliveries(
        &self,
        company: &CompanyId,
        endpoint: Uuid,
        limit: u32,
    ) -> StoreResult<Vec<Delivery>> {
        self.webhook(company, endpoint)?;
        let conn = self.conn();
        let mut stmt = conn
            .prepare_cached(&format!(
                "SELECT {DELIVERY_COLUMNS} FROM webhook_deliveries WHERE company_id = ?1 AND endpoint_id = ?2 \
                 ORDER BY id DESC LIMIT ?3"
            ))
            .map_err(map_err)?;
        let rows = stmt
            .query_map(
                params![company.as_str(), endpoint.to_string(), limit.min(100)],
                delivery_from,
            )
            .map_err(map_err)?;
        rows.map(|r| r.map_err(map_err)?).collect()
    }

    async fn get_delivery(
        &self,
        company: &CompanyId,
        endpoint: Uuid,
        id: Uuid,
    ) -> StoreResult<Delivery> {
        self.conn()
            .row(
                &format!(
                    "SELECT {DELIVERY_COLUMNS} FROM webhook_deliveries \
                          WHERE company_id = ?1 AND endpoint_id = ?2 AND id = ?3"
                ),
                params![company.as_str(), endpoint.to_string(), id.to_string()],
                delivery_from,
            )
            .optional()
            .map_err(map_err)?
            .ok_or(StoreError::NotFound)?
    }

    async fn schedule_retry(&self, r: &Retry) -> StoreResult<()> {
        self.write(|tx| {
            tx.run(
                "INSERT INTO webhook_retries (id, company_id, endpoint_id, payload, attempt, due_ms, lead_id) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                params![r.id, r.company_id.as_str(), r.endpoint_id.to_string(), r.payload.to_string(),
                        r.attempt, r.due_ms, r.lead_id.map(|l| l.0.to_string())],
            )
            .map_err(map_err)?;
            Ok(())
        })
    }

    async fn due_retries(&self, now: i64, limit: u32) -> StoreResult<Vec<Retry>> {
        let conn = self.conn();
        let mut stmt = conn
            .prepare_cached(
                "SELECT id, company_id, endpoint_id, payload, attempt, due_ms, lead_id FROM webhook_retries \
                 WHERE due_ms <= ?1 ORDER BY id LIMIT ?2",
            )
            .map_err(map_err)?;
        let rows = stmt
            .query_map(params![now, limit], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, String>(3)?,
                    r.get::<_, u32>(4)?,
                    r.get::<_, i64>(5)?,
                    r.get::<_, Option<String>>(6)?,
                ))
            })
            .map_err(map_err)?;
        rows.map(|r| {
            let (id, company, endpoint, payload, attempt, due_ms, lead) = r.map_err(map_err)?;
            Ok(Retry {
                id,
                company_id: CompanyId::new(company),
                endpoint_id: uuid(&endpoint)?,
                payload: json(&payload)?,
                attempt,
                due_ms,
                lead_id: lead.map(|l| uuid(&l).map(LeadId)).transpose()?,
            })
        })
        .collect()
    }

    async fn drop_retry(&self, r: &Retry) -> StoreResult<()> {
        self.write(|tx| {
            tx.run("DELETE FROM webhook_retries WHERE id = ?1", params![r.id])
                .map_err(map_err)?;
            Ok(())
        })
    }

    async fn webhook_failing_since(
        &self,
        company: &CompanyId,
        endpoint: Uuid,
    ) -> StoreResult<Option<Timestamp>> {
        let since: Option<String> = self
            .conn()
            .row(
                "SELECT failing_since FROM webhook_health WHERE company_id = ?1 AND endpoint_id = ?2",
                params![company.as_str(), endpoint.to_string()],
                |r| r.get(0),
            )
            .optional()
            .map_err(map_err)?;
        since.map(|s| ts(&s)).transpose()
    }

    async fn set_webhook_failing(
        &self,
        company: &CompanyId,
        endpoint: Uuid,
        at: Option<Timestamp>,
    ) -> StoreResult<()> {
        let (c, e) = (company.as_str(), endpoint.to_string());
        self.write(|tx| {
            match at {
                Some(at) => tx.run(
                    "INSERT OR IGNORE INTO webhook_health (company_id, endpoint_id, failing_since) \
                     VALUES (?1, ?2, ?3)",
                    params![c, e, at.as_string()],
                ),
                None => tx.run(
                    "DELETE FROM webhook_health WHERE company_id = ?1 AND endpoint_id = ?2",
                    params![c, e],
                ),
            }
            .map_err(map_err)?;
            Ok(())
        })
    }
}
