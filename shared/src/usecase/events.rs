//! The outbox drained: each pending event, oldest first, delivered to the company's
//! endpoints that want it, counted into the company's analytics (once), and, for a
//! customer's message, the AI agent's turn scheduled; then removed; a failed delivery is tried again on the
//! configured schedule (`WEBHOOK_RETRY_SCHEDULE_MS`). At least once: an event is removed only after
//! its deliveries were attempted and logged, so a worker that dies midway delivers it
//! again. One code for every store and every way the worker is woken (the table's stream,
//! the schedule, `make dev`'s loop).

use std::collections::hash_map::Entry;
use std::collections::HashMap;

use crate::domain::lead::LeadId;
use crate::domain::webhook::WebhookEndpoint;
use crate::domain::CompanyId;
use crate::error::ApiError;
use crate::store::{Retry, StoreError};
use crate::usecase::webhooks::deliver;
use crate::usecase::{analytics, autoreply};
use crate::App;

/// What one pass did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Drained {
    pub events: usize,
    pub deliveries: usize,
    pub failed: usize,
    /// AI turns taken.
    pub turns: usize,
}

/// How long a turn that keeps failing is tried again before it is given up (logged).
const TURN_GIVE_UP_MS: i64 = 10 * 60 * 1000;

/// Handles up to `limit` pending events, then the retries that are due.
pub async fn drain(app: &App, limit: u32) -> Result<Drained, ApiError> {
    let events = app.store.pending_events(limit).await?;
    let mut endpoints: HashMap<CompanyId, Vec<WebhookEndpoint>> = HashMap::new();
    let mut done = Drained::default();
    for event in &events {
        let wanted = match endpoints.entry(event.company_id.clone()) {
            Entry::Occupied(known) => known.into_mut(),
            Entry::Vacant(slot) => slot.insert(app.store.list_webhooks(&event.company_id).await?),
        };
        let payload = event.payload();
        for endpoint in wanted.iter().filter(|e| e.wants(&event.kind)) {
            let lead = event.lead_id;
            attempt(
                app,
                &event.company_id,
                endpoint,
                &payload,
                (1, lead),
                &mut done,
            )
            .await?;
        }
        autoreply::schedule(app, event).await?;
        analytics::count(app, event).await?;
        app.store.ack_event(event).await?;
        done.events += 1;
    }
    let now = chrono::Utc::now().timestamp_millis();
    for retry in app.store.due_retries(now, limit).await? {
        // An endpoint deleted or turned off since: its retries end.
        match app
            .store
            .get_webhook(&retry.company_id, retry.endpoint_id)
            .await
        {
            Ok(endpoint) if endpoint.active => {
                let (company, payload) = (&retry.company_id, &retry.payload);
                let which = (retry.attempt, retry.lead_id);
                attempt(app, company, &endpoint, payload, which, &mut done).await?;
            }
            Ok(_) | Err(StoreError::NotFound) => {}
            Err(e) => return Err(e.into()),
        }
        app.store.drop_retry(&retry).await?;
    }
    for turn in app.store.due_turns(now, limit).await? {
        match autoreply::take(app, &turn).await {
            Ok(taken) => {
                tracing::info!(conversation = %turn.conversation_id, ?taken, "AI turn taken")
            }
            Err(e) if now - turn.due_ms > TURN_GIVE_UP_MS => {
                tracing::error!(error = %e, conversation = %turn.conversation_id, "AI turn given up");
            }
            Err(e) => {
                // Kept: the next pass tries it again.
                tracing::warn!(error = %e, conversation = %turn.conversation_id, "AI turn failed");
                continue;
            }
        }
        app.store.drop_turn(&turn).await?;
        done.turns += 1;
    }
    Ok(done)
}

/// When the next AI turn is due, if one is due within `horizon_ms` from now.
pub async fn next_turn_within(app: &App, horizon_ms: i64) -> Result<Option<i64>, ApiError> {
    let now = chrono::Utc::now().timestamp_millis();
    Ok(app
        .store
        .due_turns(now + horizon_ms, 1)
        .await?
        .first()
        .map(|t| t.due_ms))
}

/// Attempt `number` of a delivery (of an event about `lead`); a failure waits for its
/// next attempt, while the schedule has one.
async fn attempt(
    app: &App,
    company: &CompanyId,
    endpoint: &WebhookEndpoint,
    payload: &serde_json::Value,
    (number, lead): (u32, Option<LeadId>),
    done: &mut Drained,
) -> Result<(), ApiError> {
    let delivery = deliver(app, company, endpoint, payload, number, lead).await?;
    done.deliveries += 1;
    if delivery.status == "succeeded" {
        return Ok(());
    }
    done.failed += 1;
    let gone = delivery.http_status == Some(410);
    let wait = app.config.webhook_retry_schedule.get(number as usize - 1);
    if let (false, Some(wait)) = (gone, wait) {
        // A receiver that asks for more time (`Retry-After`, up to a day) gets it.
        let asked = delivery.retry_after.map_or(0, |s| s.min(86_400) * 1000);
        let wait = (*wait).max(asked);
        let due =
            chrono::Utc::now().timestamp_millis() + i64::try_from(wait).unwrap_or(i64::MAX / 2);
        let retry = Retry::new(company, endpoint.id, payload.clone(), number + 1, due, lead);
        app.store.schedule_retry(&retry).await?;
    }
    Ok(())
}
