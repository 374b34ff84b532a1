//! Analytics as the functions meet them: an event counted into the company's daily
//! tallies once (by the events worker), the tallies of a range read back, and the tallies
//! made again from the raw records (`wiizo analytics rebuild`).

use std::collections::BTreeMap;

use serde_json::json;

use crate::domain::analytics::{tallies, Counting, DayTallies, Range, Tally};
use crate::domain::conversation::{Conversation, Message, Role};
use crate::domain::event::OutboxEvent;
use crate::domain::inbound::DeliveryStatus;
use crate::domain::lead::{Lead, LeadEvent, LeadEventKind};
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

/// A tally the rebuild corrected: what it was, what the raw records make it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Correction {
    pub day: String,
    pub metric: String,
    pub was: i64,
    pub now: i64,
}

/// The metrics the raw records tell. Conversations closed or reopened and leads erased
/// leave no record behind: those tallies stay as they were counted.
fn rebuilt(metric: &str) -> bool {
    [
        "leads.new",
        "leads.qualified",
        "leads.converted",
        "messages.",
    ]
    .iter()
    .any(|p| metric.starts_with(p))
        || metric == "conversations.started"
}

/// Tallies added per write: DynamoDB takes 100 items in a transaction.
const PER_WRITE: usize = 90;

/// Computes the company's tallies again from its raw records (leads and their history,
/// conversations, messages) with its settings as they are now (statuses, time zone), and
/// corrects every tally that differs; the corrections made. For a change of settings or a
/// migration, run while the company is quiet: a change counted meanwhile may be counted
/// again.
pub async fn rebuild(app: &App, company: &CompanyId) -> Result<Vec<Correction>, ApiError> {
    use crate::domain::lead::LeadQuery;
    let store = app.store.as_ref();
    let counting = Counting::of(&app.company_settings(company).await?);
    let mut want: BTreeMap<(String, String), i64> = BTreeMap::new();
    let mut count = |events: Vec<OutboxEvent>, channel: Option<&str>| {
        for e in &events {
            for t in tallies(e, &counting, channel) {
                *want.entry((t.day, t.metric)).or_default() += t.delta;
            }
        }
    };
    for page in 1.. {
        let query = LeadQuery::parse(&[
            ("limit".into(), "100".into()),
            ("page".into(), page.to_string()),
            ("sort".into(), "created_at".into()),
        ])?;
        let found = store.list_leads(company, &query).await?;
        for lead in &found.items {
            let history = store.lead_history(company, lead.id).await?;
            count(lead_events(lead, &history), None);
        }
        if !found.has_more {
            break;
        }
    }
    for page in 1.. {
        let query = crate::domain::conversation::ConversationQuery::parse(&[
            ("limit".into(), "100".into()),
            ("page".into(), page.to_string()),
        ])?;
        let found = store.list_conversations(company, &query).await?;
        for view in &found.items {
            let conv = &view.conversation;
            let messages = super::conversations::all_messages(store, company, conv.id).await?;
            count(
                conversation_events(conv, &messages),
                Some(conv.channel.as_str()),
            );
        }
        if !found.has_more {
            break;
        }
    }
    let counted = store
        .day_tallies(company, crate::domain::analytics::BEGINNING, "9999-12-31")
        .await?;
    let mut corrections = Vec::new();
    for (day, tallies) in &counted {
        for (metric, was) in tallies.iter().filter(|(m, _)| rebuilt(m)) {
            let now = want.remove(&(day.clone(), metric.clone())).unwrap_or(0);
            if now != *was {
                corrections.push(Correction {
                    day: day.clone(),
                    metric: metric.clone(),
                    was: *was,
                    now,
                });
            }
        }
    }
    corrections.extend(
        want.into_iter()
            .filter(|(_, n)| *n != 0)
            .map(|((day, metric), now)| Correction {
                day,
                metric,
                was: 0,
                now,
            }),
    );
    let deltas: Vec<Tally> = corrections
        .iter()
        .map(|c| Tally {
            day: c.day.clone(),
            metric: c.metric.clone(),
            delta: c.now - c.was,
        })
        .collect();
    for chunk in deltas.chunks(PER_WRITE) {
        let id = format!("rebuild_{}", uuid::Uuid::now_v7().simple());
        store.add_tallies(company, &id, chunk).await?;
    }
    Ok(corrections)
}

/// The events a lead's history tells again: its creation (with the status and pipeline it
/// had then) and each status change (with the pipeline of the time).
fn lead_events(lead: &Lead, history: &[LeadEvent]) -> Vec<OutboxEvent> {
    let company = &lead.company_id;
    let moves = || {
        history
            .iter()
            .filter(|e| e.kind == LeadEventKind::PipelineChanged)
    };
    let at_creation = moves()
        .next()
        .and_then(|e| e.from.clone())
        .unwrap_or_else(|| lead.fields.pipeline.clone());
    // The pipeline of a change's time: the changes of one write share their time, and the
    // event of that write tells the lead with all of them.
    let pipelines: Vec<String> = history
        .iter()
        .map(|e| {
            moves()
                .rfind(|m| m.at <= e.at)
                .and_then(|m| m.to.clone())
                .unwrap_or_else(|| at_creation.clone())
        })
        .collect();
    let mut events = Vec::new();
    for (e, pipeline) in history.iter().zip(pipelines) {
        let data = match e.kind {
            LeadEventKind::Created => {
                json!({"created_at": lead.created_at, "pipeline": at_creation,
                                             "status": e.to})
            }
            LeadEventKind::StatusChanged => json!({"from": e.from, "to": e.to,
                                                   "lead": {"updated_at": e.at, "pipeline": pipeline}}),
            _ => continue,
        };
        let kind = if e.kind == LeadEventKind::Created {
            "lead.created"
        } else {
            "lead.status_changed"
        };
        events.push(OutboxEvent::new(company, kind, Some(lead.id), data));
    }
    events
}

/// The events a conversation's records tell again: its start, its customer's messages,
/// and the company's messages the channel took.
fn conversation_events(conv: &Conversation, messages: &[Message]) -> Vec<OutboxEvent> {
    let mut events = vec![OutboxEvent::conversation_started(conv)];
    for m in messages {
        let taken = matches!(
            m.status,
            Some(DeliveryStatus::Sent | DeliveryStatus::Delivered | DeliveryStatus::Read)
        );
        match m.role {
            Role::User => events.push(OutboxEvent::message_received(
                &conv.company_id,
                conv.lead_id,
                m,
            )),
            Role::Assistant if taken => {
                events.push(OutboxEvent::message_sent(&conv.company_id, conv.lead_id, m))
            }
            _ => {}
        }
    }
    events
}
