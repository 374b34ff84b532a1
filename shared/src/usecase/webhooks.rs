//! Outbound webhooks: where a delivery may go, and one signed delivery, logged.

use std::time::Instant;

use serde_json::{json, Value};

use crate::config::Environment;
use crate::domain::webhook::{public_address, signature_headers, WebhookEndpoint};
use crate::domain::{CompanyId, Timestamp};
use crate::error::ApiError;
use crate::store::Delivery;
use crate::App;

/// How long an endpoint may fail every delivery before it is turned off.
const GIVE_UP_AFTER: chrono::Duration = chrono::Duration::days(5);

/// The most of a receiver's answer a delivery log keeps.
const EXCERPT_CHARS: usize = 500;

/// In production an endpoint must be https and every address its host resolves to public
/// (no loopback, private, link-local…): a company cannot make the service call inside
/// the network it runs in. In development anything http(s) goes, so that local receivers work.
pub async fn check_destination(app: &App, url: &str) -> Result<(), ApiError> {
    if app.config.environment != Environment::Production {
        return Ok(());
    }
    let refuse = |why: &str| Err(ApiError::validation("url", why));
    let Ok(parsed) = reqwest::Url::parse(url) else {
        return refuse("must be an https URL");
    };
    if parsed.scheme() != "https" {
        return refuse("must be https");
    }
    let port = parsed.port_or_known_default().unwrap_or(443);
    let Some(host) = parsed.host_str() else {
        return refuse("must name a host");
    };
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    let addresses: Vec<std::net::IpAddr> = match bare.parse::<std::net::IpAddr>() {
        Ok(ip) => vec![ip],
        Err(_) => match tokio::net::lookup_host((bare, port)).await {
            Ok(found) => found.map(|a| a.ip()).collect(),
            Err(_) => return refuse("names a host that does not resolve"),
        },
    };
    if addresses.is_empty() || !addresses.into_iter().all(public_address) {
        return refuse("must reach a public address (not loopback, private or link-local)");
    }
    Ok(())
}

/// The envelope every delivery carries: `{"id", "event", "data", "timestamp"}`.
pub fn payload(event_id: &str, event: &str, data: Value) -> Value {
    json!({"id": event_id, "event": event, "data": data, "timestamp": Timestamp::now()})
}

/// Sends `payload` (about `lead`, if it is) to `endpoint`, signed, and logs the attempt.
/// A 410, or five days in which every delivery failed, disables the endpoint (its admins
/// see why). The delivery is answered whatever the
/// receiver said.
pub async fn deliver(
    app: &App,
    company: &CompanyId,
    endpoint: &WebhookEndpoint,
    payload: &Value,
    attempt: u32,
    lead: Option<crate::domain::lead::LeadId>,
) -> Result<Delivery, ApiError> {
    check_destination(app, &endpoint.url).await?;
    let secret = app.store.webhook_secret(company, endpoint.id).await?;
    let event_id = payload["id"].as_str().unwrap_or_default().to_string();
    let event_type = payload["event"].as_str().unwrap_or_default().to_string();
    let body = payload.to_string();
    let now = Timestamp::now();
    let (client, timeout) = app.webhook_client()?;
    let mut request = client
        .post(&endpoint.url)
        .timeout(timeout)
        .header("content-type", "application/json")
        .header("user-agent", "WiizoChat-Webhooks/1");
    for (name, value) in signature_headers(
        secret.expose(),
        &event_id,
        now.inner().timestamp(),
        body.as_bytes(),
    ) {
        request = request.header(name, value);
    }
    let started = Instant::now();
    let outcome = request.body(body).send().await;
    let (http_status, response, retry_after) = match outcome {
        Ok(r) => {
            let status = r.status().as_u16();
            let retry_after = r
                .headers()
                .get(reqwest::header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse::<u64>().ok());
            let text = r.text().await.unwrap_or_default();
            let excerpt = text.chars().take(EXCERPT_CHARS).collect();
            (Some(status), excerpt, retry_after)
        }
        Err(e) if e.is_timeout() => (None, "no answer within the timeout".to_string(), None),
        Err(e) => {
            let why = format!("no connection: {e}");
            (None, why.chars().take(EXCERPT_CHARS).collect(), None)
        }
    };
    let delivery = Delivery {
        id: uuid::Uuid::now_v7(),
        endpoint_id: endpoint.id,
        event_id,
        event_type,
        payload: payload.clone(),
        status: if http_status.is_some_and(|s| (200..300).contains(&s)) {
            "succeeded".into()
        } else {
            "failed".into()
        },
        http_status,
        latency_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
        response,
        attempt,
        at: now,
        retry_after,
        lead_id: lead,
    };
    app.store.add_delivery(company, &delivery).await?;
    let failing_since = app
        .store
        .webhook_failing_since(company, endpoint.id)
        .await?;
    let gave_up = match (delivery.status == "succeeded", failing_since) {
        (true, Some(_)) => {
            app.store
                .set_webhook_failing(company, endpoint.id, None)
                .await?;
            None
        }
        (true, None) => None,
        (false, None) => {
            app.store
                .set_webhook_failing(company, endpoint.id, Some(now))
                .await?;
            None
        }
        (false, Some(since)) if now.inner() - since.inner() >= GIVE_UP_AFTER => Some(format!(
            "Every delivery has failed since {}: deliveries stopped after {} days",
            since.as_string(),
            GIVE_UP_AFTER.num_days()
        )),
        (false, Some(_)) => None,
    };
    let disabled = if http_status == Some(410) {
        Some("The receiver answered 410 Gone: deliveries stopped".to_string())
    } else {
        gave_up
    };
    if let Some(reason) = disabled {
        let fields = crate::domain::webhook::EndpointFields {
            url: endpoint.url.clone(),
            events: endpoint.events.clone(),
            description: endpoint.description.clone(),
            active: false,
        };
        app.store
            .update_webhook(company, endpoint.id, fields, Some(reason))
            .await?;
    }
    Ok(delivery)
}
