//! The outbox drained: each pending event, oldest first, delivered to the company's
//! endpoints that want it, then removed. At least once: an event is removed only after
//! its deliveries were attempted and logged, so a worker that dies midway delivers it
//! again. One code for every store and every way the worker is woken (the table's stream,
//! the schedule, `make dev`'s loop).

use std::collections::HashMap;

use crate::domain::webhook::WebhookEndpoint;
use crate::domain::CompanyId;
use crate::error::ApiError;
use crate::usecase::webhooks::deliver;
use crate::App;

/// What one pass did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Drained {
    pub events: usize,
    pub deliveries: usize,
    pub failed: usize,
}

/// Handles up to `limit` pending events.
pub async fn drain(app: &App, limit: u32) -> Result<Drained, ApiError> {
    let events = app.store.pending_events(limit).await?;
    let mut endpoints: HashMap<CompanyId, Vec<WebhookEndpoint>> = HashMap::new();
    let mut done = Drained::default();
    for event in &events {
        if !endpoints.contains_key(&event.company_id) {
            let list = app.store.list_webhooks(&event.company_id).await?;
            endpoints.insert(event.company_id.clone(), list);
        }
        let payload = event.payload();
        for endpoint in endpoints[&event.company_id]
            .iter()
            .filter(|e| e.wants(&event.kind))
        {
            let delivery = deliver(app, &event.company_id, endpoint, &payload, 1).await?;
            done.deliveries += 1;
            if delivery.status != "succeeded" {
                done.failed += 1;
            }
        }
        app.store.ack_event(event).await?;
        done.events += 1;
    }
    Ok(done)
}
