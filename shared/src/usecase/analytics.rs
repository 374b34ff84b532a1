//! Analytics as the functions meet them: an event counted into the company's daily
//! tallies once (by the events worker), the tallies of a range read back, and the tallies
//! made again from the raw records (`wiizo analytics rebuild`).

use std::collections::BTreeMap;

use serde_json::json;

use crate::domain::analytics::{
    response_seconds, taken, tallies, Counting, DayTallies, Known, Range, Tally,
};
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
    let conversation = if event.kind.starts_with("message.") {
        conversation_of(app, company, &event.data["conversation_id"]).await?
    } else {
        None
    };
    let response_seconds = match (&conversation, event.kind.as_str()) {
        (Some(conv), "message.sent") => waited(app, conv, &event.data["message"]["id"]).await?,
        _ => None,
    };
    let known = Known {
        channel: conversation.as_ref().map(|c| c.channel.as_str()),
        response_seconds,
    };
    let list = tallies(event, &counting, &known);
    if !list.is_empty() {
        app.store.add_tallies(company, &event.id, &list).await?;
    }
    Ok(())
}

async fn conversation_of(
    app: &App,
    company: &CompanyId,
    id: &serde_json::Value,
) -> Result<Option<Conversation>, ApiError> {
    let Some(id) = id.as_str().and_then(|s| uuid::Uuid::parse_str(s).ok()) else {
        return Ok(None);
    };
    match app.store.get_conversation(company, id).await {
        Ok(c) => Ok(Some(c)),
        // Erased since: its messages still count, on no channel.
        Err(StoreError::NotFound) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// How long the company message `id` made the customer wait, read from the conversation's
/// newest messages.
async fn waited(
    app: &App,
    conv: &Conversation,
    id: &serde_json::Value,
) -> Result<Option<i64>, ApiError> {
    let recent = app
        .store
        .recent_messages(&conv.company_id, conv.id, 100)
        .await?;
    let Some(at) = recent
        .iter()
        .position(|m| id.as_str() == Some(&m.id.to_string()))
    else {
        return Ok(None);
    };
    let before: Vec<Message> = recent[at + 1..].iter().rev().cloned().collect();
    Ok(response_seconds(&recent[at], &before))
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
        "leads.score",
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
    let mut count = |events: Vec<(OutboxEvent, Option<i64>)>, channel: Option<&str>| {
        for (e, response_seconds) in &events {
            let known = Known {
                channel,
                response_seconds: *response_seconds,
            };
            for t in tallies(e, &counting, &known) {
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
            let events = lead_events(lead, &history).into_iter().map(|e| (e, None));
            count(events.collect(), None);
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
    // The score at creation: the score now, less every change the history keeps.
    let score_moves = |e: &LeadEvent| {
        let n = |v: &Option<String>| v.as_deref().and_then(|s| s.parse::<i64>().ok());
        (n(&e.from).unwrap_or(0), n(&e.to).unwrap_or(0))
    };
    let moved: i64 = history
        .iter()
        .filter(|e| e.kind == LeadEventKind::ScoreChanged)
        .map(|e| {
            let (from, to) = score_moves(e);
            to - from
        })
        .sum();
    let mut events = Vec::new();
    for (e, pipeline) in history.iter().zip(pipelines) {
        let (kind, data) = match e.kind {
            LeadEventKind::Created => (
                "lead.created",
                json!({"created_at": lead.created_at, "pipeline": at_creation, "status": e.to,
                       "score": lead.fields.score - moved}),
            ),
            LeadEventKind::StatusChanged => (
                "lead.status_changed",
                json!({"from": e.from, "to": e.to,
                       "lead": {"updated_at": e.at, "pipeline": pipeline}}),
            ),
            LeadEventKind::ScoreChanged => {
                let (from, to) = score_moves(e);
                (
                    "lead.score_changed",
                    json!({"from": from, "to": to,
                           "lead": {"created_at": lead.created_at, "pipeline": pipeline}}),
                )
            }
            _ => continue,
        };
        events.push(OutboxEvent::new(company, kind, Some(lead.id), data));
    }
    events
}

/// The events a conversation's records tell again: its start, its customer's messages,
/// the company's messages the channel took (with the customer's wait they ended), and
/// where their statuses stand now.
fn conversation_events(
    conv: &Conversation,
    messages: &[Message],
) -> Vec<(OutboxEvent, Option<i64>)> {
    let (company, lead) = (&conv.company_id, conv.lead_id);
    let mut events = vec![(OutboxEvent::conversation_started(conv), None)];
    for (i, m) in messages.iter().enumerate() {
        if m.role == Role::User {
            events.push((OutboxEvent::message_received(company, lead, m), None));
            continue;
        }
        let was = if taken(m) {
            let waited = response_seconds(m, &messages[..i]);
            events.push((OutboxEvent::message_sent(company, lead, m), waited));
            Some(DeliveryStatus::Sent)
        } else {
            None
        };
        if let Some(
            status @ (DeliveryStatus::Delivered | DeliveryStatus::Read | DeliveryStatus::Failed),
        ) = m.status
        {
            let mut moved = m.clone();
            moved.status = Some(status);
            events.push((
                OutboxEvent::message_status(company, lead, &moved, was),
                None,
            ));
        }
    }
    events
}
