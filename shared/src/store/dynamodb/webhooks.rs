//! DynamoDB: outbound webhook endpoints and their delivery log.

use async_trait::async_trait;
use aws_sdk_dynamodb::types::AttributeValue;
use serde_json::Value;
use uuid::Uuid;

use super::items::{
    corrupt, get_json, get_n, get_s, get_ts, get_uuid, item, key, key_of, keyed, n, opt_s, s, Item,
};
use super::keys::{self, company_pk};
use super::DynamoStore;
use crate::domain::account::AccessToken;
use crate::domain::lead::LeadId;
use crate::domain::webhook::{EndpointFields, WebhookEndpoint};
use crate::domain::{CompanyId, Timestamp};
use crate::store::prelude::*;
use crate::store::{Delivery, Retry, StoreError, StoreResult};

fn endpoint_item(
    company: &CompanyId,
    id: Uuid,
    f: &EndpointFields,
    reason: Option<&str>,
    secret: &str,
    created: &Timestamp,
    updated: &Timestamp,
) -> Item {
    item([
        ("pk", Some(s(company_pk(company)))),
        ("sk", Some(s(keys::webhook_sk(id)))),
        ("id", Some(s(id.to_string()))),
        ("company_id", Some(s(company.as_str()))),
        ("url", Some(s(&f.url))),
        ("events", Some(s(Value::from(f.events.clone()).to_string()))),
        ("description", f.description.as_deref().map(s)),
        ("active", Some(AttributeValue::Bool(f.active))),
        ("disabled_reason", reason.map(s)),
        ("secret", Some(s(secret))),
        ("created_at", Some(s(created.as_string()))),
        ("updated_at", Some(s(updated.as_string()))),
    ])
}

fn endpoint_from(i: &Item) -> StoreResult<WebhookEndpoint> {
    Ok(WebhookEndpoint {
        id: get_uuid(i, "id")?,
        company_id: CompanyId::new(get_s(i, "company_id")?),
        url: get_s(i, "url")?,
        events: serde_json::from_value(get_json(i, "events")?).unwrap_or_default(),
        description: opt_s(i, "description"),
        active: matches!(i.get("active"), Some(AttributeValue::Bool(true))),
        disabled_reason: opt_s(i, "disabled_reason"),
        created_at: get_ts(i, "created_at")?,
        updated_at: get_ts(i, "updated_at")?,
    })
}

fn delivery_from(i: &Item) -> StoreResult<Delivery> {
    Ok(Delivery {
        id: get_uuid(i, "id")?,
        endpoint_id: get_uuid(i, "endpoint_id")?,
        event_id: get_s(i, "event_id")?,
        event_type: get_s(i, "event_type")?,
        payload: get_json(i, "payload")?,
        status: get_s(i, "status")?,
        http_status: get_n(i, "http_status")
            .ok()
            .and_then(|v| u16::try_from(v).ok()),
        latency_ms: u64::try_from(get_n(i, "latency_ms")?).unwrap_or_default(),
        response: get_s(i, "response")?,
        attempt: u32::try_from(get_n(i, "attempt")?).unwrap_or_default(),
        at: get_ts(i, "at")?,
        retry_after: None,
        lead_id: lead_of(i)?,
    })
}

fn lead_of(i: &Item) -> StoreResult<Option<LeadId>> {
    opt_s(i, "lead_id")
        .map(|l| {
            uuid::Uuid::parse_str(&l)
                .map(LeadId)
                .map_err(|_| corrupt("lead_id"))
        })
        .transpose()
}

impl DynamoStore {
    /// The keys of the waiting retries of events about `lead`: they go with it.
    pub(super) async fn retries_of_lead(&self, lead: LeadId) -> StoreResult<Vec<Item>> {
        let id = lead.0.to_string();
        Ok(self
            // Every retry: ids start with 13 digits of their due time.
            .query_between(keys::RETRIES, "0", "~")
            .await?
            .iter()
            .filter(|i| opt_s(i, "lead_id").as_deref() == Some(id.as_str()))
            .filter_map(|i| opt_s(i, "sk").map(|sk| key_of(keys::retry_key(&sk))))
            .collect())
    }

    async fn webhook_item(&self, company: &CompanyId, id: Uuid) -> StoreResult<Item> {
        self.get(company_pk(company), keys::webhook_sk(id))
            .await?
            .ok_or(StoreError::NotFound)
    }
}

#[async_trait]
impl WebhookStore for DynamoStore {
    async fn create_webhook(
        &self,
        company: &CompanyId,
        fields: EndpointFields,
        secret: &AccessToken,
    ) -> StoreResult<WebhookEndpoint> {
        let id = Uuid::now_v7();
        let now = Timestamp::now();
        let stored = endpoint_item(company, id, &fields, None, secret.expose(), &now, &now);
        self.put_one(stored.clone(), "attribute_not_exists(pk)")
            .await?;
        endpoint_from(&stored)
    }

    async fn get_webhook(&self, company: &CompanyId, id: Uuid) -> StoreResult<WebhookEndpoint> {
        endpoint_from(&self.webhook_item(company, id).await?)
    }

    async fn webhook_secret(&self, company: &CompanyId, id: Uuid) -> StoreResult<AccessToken> {
        Ok(AccessToken::new(get_s(
            &self.webhook_item(company, id).await?,
            "secret",
        )?))
    }

    async fn list_webhooks(&self, company: &CompanyId) -> StoreResult<Vec<WebhookEndpoint>> {
        self.query_prefix(&company_pk(company), keys::WEBHOOK_PREFIX)
            .await?
            .iter()
            .map(endpoint_from)
            .collect()
    }

    async fn update_webhook(
        &self,
        company: &CompanyId,
        id: Uuid,
        fields: EndpointFields,
        disabled_reason: Option<String>,
    ) -> StoreResult<WebhookEndpoint> {
        let current = self.webhook_item(company, id).await?;
        let stored = endpoint_item(
            company,
            id,
            &fields,
            disabled_reason.as_deref(),
            &get_s(&current, "secret")?,
            &get_ts(&current, "created_at")?,
            &Timestamp::now(),
        );
        self.put_one(stored.clone(), "attribute_exists(pk)").await?;
        endpoint_from(&stored)
    }

    async fn delete_webhook(&self, company: &CompanyId, id: Uuid) -> StoreResult<()> {
        self.webhook_item(company, id).await?;
        let mut keys: Vec<Item> = self
            .query_prefix(&company_pk(company), &keys::delivery_sk(id, None))
            .await?
            .iter()
            .map(|i| key(company_pk(company), get_s(i, "sk").unwrap_or_default()))
            .collect();
        keys.push(key(company_pk(company), keys::webhook_health_sk(id)));
        keys.push(key(company_pk(company), keys::webhook_sk(id)));
        self.batch_delete(keys).await
    }

    async fn add_delivery(&self, company: &CompanyId, d: &Delivery) -> StoreResult<()> {
        let stored = item([
            ("pk", Some(s(company_pk(company)))),
            ("sk", Some(s(keys::delivery_sk(d.endpoint_id, Some(d.id))))),
            ("id", Some(s(d.id.to_string()))),
            ("endpoint_id", Some(s(d.endpoint_id.to_string()))),
            ("event_id", Some(s(&d.event_id))),
            ("event_type", Some(s(&d.event_type))),
            ("payload", Some(s(d.payload.to_string()))),
            ("status", Some(s(&d.status))),
            ("http_status", d.http_status.map(|h| n(i64::from(h)))),
            (
                "latency_ms",
                Some(n(i64::try_from(d.latency_ms).unwrap_or(i64::MAX))),
            ),
            ("response", Some(s(&d.response))),
            ("attempt", Some(n(i64::from(d.attempt)))),
            ("at", Some(s(d.at.as_string()))),
            ("lead_id", d.lead_id.map(|l| s(l.0.to_string()))),
        ]);
        // The lead's link first: a delivery about a lead is never left without one.
        if let Some(lead) = d.lead_id {
            let link = key(
                company_pk(company),
                keys::lead_delivery_sk(lead, d.endpoint_id, d.id),
            );
            self.put_one(link, "attribute_not_exists(pk)").await?;
        }
        self.put_one(stored, "attribute_not_exists(pk)").await
    }

    async fn list_deliveries(
        &self,
        company: &CompanyId,
        endpoint: Uuid,
        limit: u32,
    ) -> StoreResult<Vec<Delivery>> {
        self.webhook_item(company, endpoint).await?;
        self.query_newest(
            &company_pk(company),
            &keys::delivery_sk(endpoint, None),
            limit,
        )
        .await?
        .iter()
        .map(delivery_from)
        .collect()
    }

    async fn get_delivery(
        &self,
        company: &CompanyId,
        endpoint: Uuid,
        id: Uuid,
    ) -> StoreResult<Delivery> {
        let i = self
            .get(company_pk(company), keys::delivery_sk(endpoint, Some(id)))
            .await?
            .ok_or(StoreError::NotFound)?;
        delivery_from(&i)
    }

    async fn schedule_retry(&self, r: &Retry) -> StoreResult<()> {
        let stored = keyed(
            keys::retry_key(&r.id),
            [
                ("company_id", Some(s(r.company_id.as_str()))),
                ("endpoint_id", Some(s(r.endpoint_id.to_string()))),
                ("payload", Some(s(r.payload.to_string()))),
                ("attempt", Some(n(i64::from(r.attempt)))),
                ("due_ms", Some(n(r.due_ms))),
                ("lead_id", r.lead_id.map(|l| s(l.0.to_string()))),
            ],
        );
        self.put_one(stored, "attribute_not_exists(pk)").await
    }

    async fn due_retries(&self, now: i64, limit: u32) -> StoreResult<Vec<Retry>> {
        // Ids start with the due time: everything up to `now`, then `~`, is due.
        let items = self
            .query_between(keys::RETRIES, "0", &format!("{:013}~", now.max(0)))
            .await?;
        items
            .iter()
            .take(limit as usize)
            .map(|i| {
                Ok(Retry {
                    id: get_s(i, "sk")?,
                    company_id: CompanyId::new(get_s(i, "company_id")?),
                    endpoint_id: get_uuid(i, "endpoint_id")?,
                    payload: get_json(i, "payload")?,
                    attempt: u32::try_from(get_n(i, "attempt")?).unwrap_or(u32::MAX),
                    due_ms: get_n(i, "due_ms")?,
                    lead_id: lead_of(i)?,
                })
            })
            .collect()
    }

    async fn drop_retry(&self, r: &Retry) -> StoreResult<()> {
        self.batch_delete(vec![key_of(keys::retry_key(&r.id))])
            .await
    }

    async fn webhook_failing_since(
        &self,
        company: &CompanyId,
        endpoint: Uuid,
    ) -> StoreResult<Option<Timestamp>> {
        self.get(company_pk(company), keys::webhook_health_sk(endpoint))
            .await?
            .map(|i| get_ts(&i, "failing_since"))
            .transpose()
    }

    async fn set_webhook_failing(
        &self,
        company: &CompanyId,
        endpoint: Uuid,
        at: Option<Timestamp>,
    ) -> StoreResult<()> {
        let health = key(company_pk(company), keys::webhook_health_sk(endpoint));
        match at {
            Some(at) => {
                let mut stored = health;
                stored.insert("failing_since".into(), s(at.as_string()));
                // The first failure of a run is kept.
                match self.put_one(stored, "attribute_not_exists(pk)").await {
                    Ok(()) | Err(StoreError::Conflict(_)) => Ok(()),
                    Err(e) => Err(e),
                }
            }
            None => self.batch_delete(vec![health]).await,
        }
    }
}
