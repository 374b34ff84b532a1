//! Analytics as the functions meet them: an event counted into the company's daily
//! tallies once (by the events worker), and the tallies of a range read back.

use std::collections::BTreeMap;

use crate::domain::analytics::{tallies, Counting, DayTallies, Range};
use crate::domain::event::OutboxEvent;
use crate::domain::CompanyId;
use crate::error::ApiError;
use crate::store::StoreError;
use crate::App;

/// Counts `event` into its company's tallies; an event counted before adds nothing.
pub async fn count(app: &App, event: &OutboxEvent) -> Result<(), ApiError> {
    let company = &event.company_id;
    let counting = Counting::of(&app.company_settings(company).await?);
    let channel = if event.kind.starts_with("message.") {
        conversation_channel(app, company, &event.data["conversation_id"]).await?
    } else {
        None
    };
    let list = tallies(event, &counting, channel.as_deref());
    if !list.is_empty() {
        app.store.add_tallies(company, &event.id, &list).await?;
    }
    Ok(())
}

async fn conversation_channel(
    app: &App,
    company: &CompanyId,
    id: &serde_json::Value,
) -> Result<Option<String>, ApiError> {
    let Some(id) = id.as_str().and_then(|s| uuid::Uuid::parse_str(s).ok()) else {
        return Ok(None);
    };
    match app.store.get_conversation(company, id).await {
        Ok(c) => Ok(Some(c.channel.as_str().to_string())),
        // Erased since: its messages still count, on no channel.
        Err(StoreError::NotFound) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// The tallies of `range`, by day.
pub async fn read(
    app: &App,
    company: &CompanyId,
    range: Range,
) -> Result<BTreeMap<String, DayTallies>, ApiError> {
    Ok(app
        .store
        .day_tallies(company, &range.from.to_string(), &range.to.to_string())
        .await?)
}
