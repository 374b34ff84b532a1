//! events-worker: the outbox worker. On Lambda it is woken by the table's stream (filtered
//! to outbox items) and by a schedule that sweeps what is left; either way it drains the
//! outbox. `make dev` runs it as a loop beside the functions.

use std::time::Duration;

use serde_json::{json, Value};
use shared::usecase::events::drain;
use shared::{ApiError, App};

/// Events handled per pass.
const BATCH: u32 = 100;

/// One invocation: the outbox drained to its end. The stream's records are the outbox's
/// newest items and draining reads them (and any older ones) in order, so a batch either
/// passes whole or fails whole and is retried.
pub async fn handle(app: &App) -> Result<Value, ApiError> {
    let mut events = 0;
    loop {
        let d = drain(app, BATCH).await?;
        events += d.events;
        if d.events < BATCH as usize {
            return Ok(json!({"batchItemFailures": [], "events": events}));
        }
    }
}

/// `--loop`: drains four times a second, forever.
pub async fn run_loop(app: &App) {
    loop {
        match drain(app, BATCH).await {
            Ok(d) if d.events > 0 => tracing::info!(
                events = d.events,
                deliveries = d.deliveries,
                failed = d.failed,
                "outbox drained"
            ),
            Ok(_) => tokio::time::sleep(Duration::from_millis(250)).await,
            Err(e) => {
                tracing::error!(error = %e, "outbox drain failed");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    }
}
