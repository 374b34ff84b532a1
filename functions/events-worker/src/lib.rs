//! events-worker: the outbox worker. On Lambda it is woken by the table's stream (filtered
//! to outbox items) and by a schedule that sweeps what is left; either way it drains the
//! outbox. On PostgreSQL, which has no stream, each scheduled invocation polls for most of
//! its minute ([`poll`]). `make dev` runs it as a loop beside the functions.

use std::time::Duration;

use serde_json::{json, Value};
use shared::domain::Timestamp;
use shared::usecase::events::{drain, next_turn_within};
use shared::{ApiError, App};

/// Events handled per pass.
const BATCH: u32 = 100;

/// How far ahead an invocation waits for an AI turn (the customer's quiet period) rather
/// than leave it to the next schedule, a minute away.
const TURN_HORIZON_MS: i64 = 15_000;

/// One invocation: the outbox drained to its end, and the AI turns due within a few
/// seconds taken. The stream's records are the outbox's newest items and draining reads
/// them (and any older ones) in order, so a batch either passes whole or fails whole and
/// is retried.
pub async fn handle(app: &App) -> Result<Value, ApiError> {
    let (mut events, mut turns) = (0, 0);
    loop {
        let d = drain(app, BATCH).await?;
        events += d.events;
        turns += d.turns;
        if d.events >= BATCH as usize {
            continue;
        }
        // A turn still due after the drain failed: the schedule's next sweep tries again.
        let wait = next_turn_within(app, TURN_HORIZON_MS)
            .await?
            .map(|due| due - Timestamp::now().inner().timestamp_millis())
            .filter(|ms| *ms > 0);
        match wait {
            Some(ms) => tokio::time::sleep(Duration::from_millis(ms as u64)).await,
            None => return Ok(json!({"batchItemFailures": [], "events": events, "turns": turns})),
        }
    }
}

/// One invocation that keeps draining four times a second until `window` has passed: for a
/// store with no stream to wake the worker (PostgreSQL), the schedule's invocation each
/// minute stays to hand events and AI turns on within a quarter of a second.
pub async fn poll(app: &App, window: Duration) -> Result<Value, ApiError> {
    let started = std::time::Instant::now();
    let (mut events, mut turns) = (0, 0);
    loop {
        let done = handle(app).await?;
        events += done["events"].as_u64().unwrap_or(0);
        turns += done["turns"].as_u64().unwrap_or(0);
        if started.elapsed() >= window {
            return Ok(json!({"batchItemFailures": [], "events": events, "turns": turns}));
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// `--loop`: drains four times a second, forever.
pub async fn run_loop(app: &App) {
    loop {
        match drain(app, BATCH).await {
            Ok(d) if d.events > 0 || d.turns > 0 => tracing::info!(
                events = d.events,
                deliveries = d.deliveries,
                failed = d.failed,
                turns = d.turns,
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
