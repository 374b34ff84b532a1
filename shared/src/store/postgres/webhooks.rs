//! PostgreSQL: outbound webhook endpoints, their delivery log, retries and health.

use async_trait::async_trait;
use serde_json::Value;
use tokio_postgres::Row;
use uuid::Uuid;

use super::{company_uuid, get, PgStore};
use crate::domain::account::AccessToken;
use crate::domain::lead::LeadId;
use crate::domain::webhook::{EndpointFields, WebhookEndpoint};
use crate::domain::{CompanyId, Timestamp};
use crate::store::prelude::*;
use crate::store::{Delivery, Retry, StoreError, StoreResult};

const ENDPOINT_COLUMNS: &str =
    "id, company_id, url, events, description, active, disabled_reason, created_at, updated_at";

fn endpoint_from(r: &Row) -> StoreResult<WebhookEndpoint> {
    let company: Uuid = get(r, 1)?;
    Ok(WebhookEndpoint {
        id: get(r, 0)?,
        company_id: CompanyId::new(company.to_string()),
        url: get(r, 2)?,
        events: serde_json::from_value(get(r, 3)?).unwrap_or_default(),
        description: get(r, 4)?,
        active: get(r, 5)?,
        disabled_reason: get(r, 6)?,
        created_at: Timestamp::from_datetime(get(r, 7)?),
        updated_at: Timestamp::from_datetime(get(r, 8)?),
    })
}

const DELIVERY_COLUMNS: &str = "id, endpoint_id, event_id, event_type, payload, status, \
     http_status, latency_ms, response, attempt, at, lead_id";

fn delivery_from(r: &Row) -> StoreResult<Delivery> {
    Ok(Delivery {
        id: get(r, 0)?,
        endpoint_id: get(r, 1)?,
        event_id: get(r, 2)?,
        event_type: get(r, 3)?,
        payload: get(r, 4)?,
        status: get(r, 5)?,
        http_status: get::<Option<i32>>(r, 6)?.and_then(|s| u16::try_from(s).ok()),
        latency_ms: u64::try_from(get::<i64>(r, 7)?).unwrap_or_default(),
        response: get(r, 8)?,
        attempt: u32::try_from(get::<i32>(r, 9)?).unwrap_or_default(),
        at: Timestamp::from_datetime(get(r, 10)?),
        retry_after: None,
        lead_id: get::<Option<Uuid>>(r, 11)?.map(LeadId),
    })
}

fn events_json(f: &EndpointFields) -> Value {
    Value::from(f.events.clone())
}

impl PgStore {
    async fn webhook(&self, company: &CompanyId, id: Uuid) -> StoreResult<WebhookEndpoint> {
        let (mut tx, c) = self.read(company).await?;
        let row = tx
            .one(
                &format!(
                    "SELECT {ENDPOINT_COLUMNS} FROM webhook_endpoints WHERE company_id = $1 AND id = $2"
                ),
                &[&c, &id],
            )
            .await?;
        tx.commit().await?;
        endpoint_from(&row)
    }
}

#[async_trait]
impl WebhookStore for PgStore {
    async fn create_webhook(
        &self,
        company: &CompanyId,
        f: EndpointFields,
        secret: &AccessToken,
    ) -> StoreResult<WebhookEndpoint> {
        let id = Uuid::now_v7();
        let now = Timestamp::now().inner();
        let (mut tx, c) = self.write(company).await?;
        tx.exec(
            "INSERT INTO webhook_endpoints (id, company_id, url, events, description, active, \
             disabled_reason, secret, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, NULL, $7, $8, $8)",
            &[&id, &c, &f.url, &events_json(&f), &f.description, &f.active, &secret.expose(), &now],
        )
        .await?;
        tx.commit().await?;
        self.webhook(company, id).await
    }

    async fn get_webhook(&self, company: &CompanyId, id: Uuid) -> StoreResult<WebhookEndpoint> {
        self.webhook(company, id).await
    }

    async fn webhook_secret(&self, company: &CompanyId, id: Uuid) -> StoreResult<AccessToken> {
        let (mut tx, c) = self.read(company).await?;
        let row = tx
            .one(
                "SELECT secret FROM webhook_endpoints WHERE company_id = $1 AND id = $2",
                &[&c, &id],
            )
            .await?;
        tx.commit().await?;
        Ok(AccessToken::new(get::<String>(&row, 0)?))
    }

    async fn list_webhooks(&self, company: &CompanyId) -> StoreResult<Vec<WebhookEndpoint>> {
        let (mut tx, c) = self.read(company).await?;
        let rows = tx
            .query(
                &format!(
                    "SELECT {ENDPOINT_COLUMNS} FROM webhook_endpoints WHERE company_id = $1 ORDER BY created_at, id"
                ),
                &[&c],
            )
            .await?;
        tx.commit().await?;
        rows.iter().map(endpoint_from).collect()
    }

    async fn update_webhook(
        &self,
        company: &CompanyId,
        id: Uuid,
        f: EndpointFields,
        disabled_reason: Option<String>,
    ) -> StoreResult<WebhookEndpoint> {
        let now = Timestamp::now().inner();
        let (mut tx, c) = self.write(company).await?;
        let changed = tx
            .exec(
                "UPDATE webhook_endpoints SET url = $3, events = $4, description = $5, active = $6, \
                 disabled_reason = $7, updated_at = $8 WHERE company_id = $1 AND id = $2",
                &[&c, &id, &f.url, &events_json(&f), &f.description, &f.active, &disabled_reason, &now],
            )
            .await?;
        if changed == 0 {
            return Err(StoreError::NotFound);
        }
        tx.commit().await?;
        self.webhook(company, id).await
    }

    async fn delete_webhook(&self, company: &CompanyId, id: Uuid) -> StoreResult<()> {
        let (mut tx, c) = self.write(company).await?;
        let deleted = tx
            .exec(
                "DELETE FROM webhook_endpoints WHERE company_id = $1 AND id = $2",
                &[&c, &id],
            )
            .await?;
        if deleted == 0 {
            return Err(StoreError::NotFound);
        }
        for sql in [
            "DELETE FROM webhook_deliveries WHERE company_id = $1 AND endpoint_id = $2",
            "DELETE FROM webhook_retries WHERE company_id = $1 AND endpoint_id = $2",
            "DELETE FROM webhook_health WHERE company_id = $1 AND endpoint_id = $2",
        ] {
            tx.exec(sql, &[&c, &id]).await?;
        }
        tx.commit().await
    }

    async fn add_delivery(&self, company: &CompanyId, d: &Delivery) -> StoreResult<()> {
        let (mut tx, c) = self.read(company).await?;
        tx.exec(
            &format!(
                "INSERT INTO webhook_deliveries (company_id, {DELIVERY_COLUMNS}) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)"
            ),
            &[
                &c,
                &d.id,
                &d.endpoint_id,
                &d.event_id,
                &d.event_type,
                &d.payload,
                &d.status,
                &d.http_status.map(i32::from),
                &i64::try_from(d.latency_ms).unwrap_or(i64::MAX),
                &d.response,
                &i32::try_from(d.attempt).unwrap_or(i32::MAX),
                &d.at.inner(),
                &d.lead_id.map(|l| l.0),
            ],
        )
        .await?;
        tx.commit().await
    }

    async fn list_deliveries(
        &self,
        company: &CompanyId,
        endpoint: Uuid,
        limit: u32,
    ) -> StoreResult<Vec<Delivery>> {
        self.webhook(company, endpoint).await?;
        let (mut tx, c) = self.read(company).await?;
        let rows = tx
            .query(
                &format!(
                    "SELECT {DELIVERY_COLUMNS} FROM webhook_deliveries WHERE company_id = $1 \
                     AND endpoint_id = $2 ORDER BY id DESC LIMIT $3"
                ),
                &[&c, &endpoint, &i64::from(limit.min(100))],
            )
            .await?;
        tx.commit().await?;
        rows.iter().map(delivery_from).collect()
    }

    async fn get_delivery(
        &self,
        company: &CompanyId,
        endpoint: Uuid,
        id: Uuid,
    ) -> StoreResult<Delivery> {
        let (mut tx, c) = self.read(company).await?;
        let row = tx
            .one(
                &format!(
                    "SELECT {DELIVERY_COLUMNS} FROM webhook_deliveries \
                     WHERE company_id = $1 AND endpoint_id = $2 AND id = $3"
                ),
                &[&c, &endpoint, &id],
            )
            .await?;
        tx.commit().await?;
        delivery_from(&row)
    }

    async fn schedule_retry(&self, r: &Retry) -> StoreResult<()> {
        let mut tx = self.unscoped().await?;
        tx.exec(
            "INSERT INTO webhook_retries (id, company_id, endpoint_id, payload, attempt, due_ms, lead_id) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
            &[
                &r.id,
                &company_uuid(&r.company_id)?,
                &r.endpoint_id,
                &r.payload,
                &i32::try_from(r.attempt).unwrap_or(i32::MAX),
                &r.due_ms,
                &r.lead_id.map(|l| l.0),
            ],
        )
        .await?;
        tx.commit().await
    }

    async fn due_retries(&self, now: i64, limit: u32) -> StoreResult<Vec<Retry>> {
        let mut tx = self.unscoped().await?;
        let rows = tx
            .query(
                "SELECT id, company_id, endpoint_id, payload, attempt, due_ms, lead_id \
                 FROM webhook_retries WHERE due_ms <= $1 ORDER BY id LIMIT $2",
                &[&now, &i64::from(limit)],
            )
            .await?;
        tx.commit().await?;
        rows.iter()
            .map(|r| {
                let company: Uuid = get(r, 1)?;
                Ok(Retry {
                    id: get(r, 0)?,
                    company_id: CompanyId::new(company.to_string()),
                    endpoint_id: get(r, 2)?,
                    payload: get(r, 3)?,
                    attempt: u32::try_from(get::<i32>(r, 4)?).unwrap_or_default(),
                    due_ms: get(r, 5)?,
                    lead_id: get::<Option<Uuid>>(r, 6)?.map(LeadId),
                })
            })
            .collect()
    }

    async fn drop_retry(&self, r: &Retry) -> StoreResult<()> {
        let mut tx = self.unscoped().await?;
        tx.exec("DELETE FROM webhook_retries WHERE id = $1", &[&r.id])
            .await?;
        tx.commit().await
    }

    async fn webhook_failing_since(
        &self,
        company: &CompanyId,
        endpoint: Uuid,
    ) -> StoreResult<Option<Timestamp>> {
        let (mut tx, c) = self.read(company).await?;
        let row = tx
            .opt(
                "SELECT failing_since FROM webhook_health WHERE company_id = $1 AND endpoint_id = $2",
                &[&c, &endpoint],
            )
            .await?;
        tx.commit().await?;
        row.map(|r| get(&r, 0).map(Timestamp::from_datetime))
            .transpose()
    }

    async fn set_webhook_failing(
        &self,
        company: &CompanyId,
        endpoint: Uuid,
        at: Option<Timestamp>,
    ) -> StoreResult<()> {
        let (mut tx, c) = self.write(company).await?;
        match at {
            Some(at) => {
                tx.exec(
                    "INSERT INTO webhook_health (company_id, endpoint_id, failing_since) \
                     VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
                    &[&c, &endpoint, &at.inner()],
                )
                .await?
            }
            None => {
                tx.exec(
                    "DELETE FROM webhook_health WHERE company_id = $1 AND endpoint_id = $2",
                    &[&c, &endpoint],
                )
                .await?
            }
        };
        tx.commit().await
    }
}
