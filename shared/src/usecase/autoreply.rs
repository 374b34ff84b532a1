//! The AI agent at work (`docs/architecture.md`, "Auto-reply"). A customer's message
//! schedules a turn for when the customer will have been quiet; the worker then takes
//! the turn: checks who answers and whether they may, asks the model through the metered
//! call openai-proxy uses (the agent's tools executed against the lead), claims the turn
//! in the store, and sends through the same code as whatsapp-api. Whatever keeps the
//! agent from answering hands the conversation to a person, and nothing is lost: the
//! customer's messages are stored before any of this runs.

use chrono::{Duration, Utc};
use serde_json::{json, Value};
use uuid::Uuid;

use super::{ai, leads, send};
use crate::domain::agent::Agent;
use crate::domain::ai::usage_day;
use crate::domain::autoreply::{
    agent_sender, briefing, by_a_person, by_an_agent, history, known_statuses, tools,
    ReplySettings, ToolCall, Turn, TurnClaim,
};
use crate::domain::conversation::{
    Channel, Conversation, ConversationChange, ConversationStatus, Role,
};
use crate::domain::event::OutboxEvent;
use crate::domain::lead::{Lead, LeadChange, LeadEventKind};
use crate::domain::outgoing::{window_open, Outgoing};
use crate::domain::{CompanyId, Timestamp};
use crate::error::{ApiError, Concerning, Entity};
use crate::store::StoreError;
use crate::App;

/// The newest messages a turn reads: its context, a person's recent reply, today's AI
/// replies (at most [`crate::domain::autoreply::MAX_REPLIES_PER_DAY`]) among them.
const RECENT: u32 = 100;
/// Model rounds per turn: tool calls, then the answer.
const MAX_ROUNDS: usize = 4;
/// Estimated tokens of conversation history sent with a turn.
const HISTORY_TOKENS: usize = 3000;
/// The longest reply sent: WhatsApp's limit for a text, and Instagram's and Messenger's.
fn max_reply_chars(channel: Channel) -> usize {
    match channel {
        Channel::Whatsapp => 4096,
        Channel::Instagram | Channel::Facebook => 2000,
    }
}

/// What taking a turn came to.
#[derive(Debug, Clone, PartialEq)]
pub enum Taken {
    /// The agent answered: the message sent (or kept pending when Meta did not confirm).
    Replied { message_id: Uuid },
    /// A person has the conversation now, for this reason.
    HandedOff(String),
    /// The agent stays quiet, for this reason (nobody assigned, paused, already answered…).
    Quiet(&'static str),
}

/// On `message.received`: the turn that answers the customer once they have been quiet,
/// when an agent answers the conversation.
pub async fn schedule(app: &App, event: &OutboxEvent) -> Result<(), ApiError> {
    if event.kind != "message.received" || event.data["message"]["role"] != "user" {
        return Ok(());
    }
    let id = |v: &Value| v.as_str().and_then(|s| Uuid::parse_str(s).ok());
    let (Some(lead), Some(conversation), Some(message)) = (
        event.lead_id,
        id(&event.data["conversation_id"]),
        id(&event.data["message"]["id"]),
    ) else {
        return Ok(());
    };
    let company = &event.company_id;
    let conv = match app.store.get_conversation(company, conversation).await {
        Ok(c) => c,
        Err(StoreError::NotFound) => return Ok(()),
        Err(e) => return Err(e.into()),
    };
    if answerer(app, &conv).await?.is_none() {
        return Ok(());
    }
    let rules = ReplySettings::of(&app.company_settings(company).await?);
    let sent = event.data["message"]["created_at"]
        .as_str()
        .and_then(Timestamp::parse)
        .unwrap_or(event.at);
    let due = sent.inner().timestamp_millis() + rules.quiet_ms();
    let turn = Turn::new(company, conversation, lead, message, due);
    Ok(app.store.schedule_turn(&turn).await?)
}

/// The agent that answers `conv` on its own, if one does.
async fn answerer(app: &App, conv: &Conversation) -> Result<Option<Uuid>, ApiError> {
    let account = app
        .store
        .list_channels(&conv.company_id)
        .await?
        .into_iter()
        .find(|c| c.channel == conv.channel)
        .map(|c| c.assignment)
        .unwrap_or_default();
    Ok(account.for_conversation(&conv.ai))
}

/// Takes a due turn: the agent answers the customer's burst once, or a person is told.
pub async fn take(app: &App, turn: &Turn) -> Result<Taken, ApiError> {
    let store = app.store.as_ref();
    let company = &turn.company_id;
    let conv = match store.get_conversation(company, turn.conversation_id).await {
        Ok(c) => c,
        Err(StoreError::NotFound) => return Ok(Taken::Quiet("the conversation is gone")),
        Err(e) => return Err(e.into()),
    };
    if conv.status != ConversationStatus::Active {
        return Ok(Taken::Quiet("the conversation is not active"));
    }
    if conv.ai.ai_paused {
        return Ok(Taken::Quiet("the AI is paused in this conversation"));
    }
    let Some(agent_id) = answerer(app, &conv).await? else {
        return Ok(Taken::Quiet("no agent answers this conversation"));
    };
    let settings = app.company_settings(company).await?;
    let rules = ReplySettings::of(&settings);
    let timezone = settings["timezone"]
        .as_str()
        .unwrap_or("America/Sao_Paulo")
        .to_string();
    let recent = store.recent_messages(company, conv.id, RECENT).await?;
    let Some(newest) = recent.iter().find(|m| m.role == Role::User) else {
        return Ok(Taken::Quiet("the customer has said nothing"));
    };
    if conv.ai.ai_answered_through == Some(newest.id) {
        return Ok(Taken::Quiet("this turn is answered"));
    }
    let through = newest.id;
    let now = Utc::now();
    if newest.created_at.inner() + Duration::milliseconds(rules.quiet_ms()) > now {
        // The customer is still writing: the turn of their newest message answers.
        return Ok(Taken::Quiet("the customer is still writing"));
    }
    let pause = Duration::minutes(i64::from(rules.human_pause_minutes));
    if recent
        .iter()
        .any(|m| by_a_person(m) && m.created_at.inner() + pause > now)
    {
        return Ok(Taken::Quiet("a person is answering this conversation"));
    }
    if !rules.may_answer_at(now, &timezone) {
        return Ok(Taken::Quiet("people answer during business hours"));
    }
    // The customer's messages since the company last answered or handed off: this turn.
    let asked_for_person = recent
        .iter()
        .take_while(|m| m.role != Role::Assistant && Some(m.id) != conv.ai.ai_answered_through)
        .any(|m| m.role == Role::User && rules.asks_for_person(&m.content));
    if asked_for_person {
        return hand_off(app, &conv, through, "the customer asked for a person").await;
    }
    let today = usage_day(now, &timezone);
    let replies_today = recent
        .iter()
        .filter(|m| by_an_agent(m) && usage_day(m.created_at.inner(), &timezone) == today)
        .count();
    if replies_today >= rules.max_replies_per_day as usize {
        return hand_off(
            app,
            &conv,
            through,
            "the AI's replies for today in this conversation are used up",
        )
        .await;
    }
    if !window_open(&conv) {
        return hand_off(
            app,
            &conv,
            through,
            "the channel's 24-hour window is closed",
        )
        .await;
    }
    let agent = match store.get_agent(company, agent_id).await {
        Ok(a) if a.fields.active => a,
        Ok(_) => return hand_off(app, &conv, through, "the conversation's agent is paused").await,
        Err(StoreError::NotFound) => {
            return hand_off(
                app,
                &conv,
                through,
                "the conversation's agent no longer exists",
            )
            .await
        }
        Err(e) => return Err(e.into()),
    };
    let mut lead = store.get_lead(company, conv.lead_id).await?;
    let statuses = known_statuses(&settings);
    let mut context = vec![briefing(&lead, &statuses, Timestamp::now())];
    context.extend(history(&recent, HISTORY_TOKENS));

    let mut reply = None;
    let mut model = agent.fields.model.clone();
    for _ in 0..MAX_ROUNDS {
        let body = json!({"messages": context, "tools": tools(&statuses)});
        let prepared = ai::prepare(body, Some(&agent))
            .map_err(|e| ApiError::Internal(format!("an agent's request is malformed: {e:?}")))?;
        let answer = match ai::complete(app, company, &prepared).await {
            Ok(a) => a,
            Err(ApiError::BudgetExceeded { .. }) => {
                return hand_off(
                    app,
                    &conv,
                    through,
                    "the company's AI budget for the month is spent",
                )
                .await
            }
            Err(e) => {
                tracing::warn!(error = %e, conversation = %conv.id, "the model failed a turn");
                return hand_off(app, &conv, through, "the AI model failed to answer").await;
            }
        };
        model = answer["model"]
            .as_str()
            .unwrap_or(&prepared.model)
            .to_string();
        let said = answer["choices"][0]["message"].clone();
        let calls = said["tool_calls"].as_array().cloned().unwrap_or_default();
        if calls.is_empty() {
            reply = said["content"].as_str().map(str::trim).map(String::from);
            break;
        }
        context.push(said);
        let mut handed_off = None;
        for call in &calls {
            let (result, handoff) =
                run_tool(app, &conv, &agent, &mut lead, &statuses, call).await?;
            handed_off = handed_off.or(handoff);
            context.push(json!({
                "role": "tool",
                "tool_call_id": call["id"],
                "content": result.to_string(),
            }));
        }
        if let Some(reason) = handed_off {
            return hand_off(app, &conv, through, &reason).await;
        }
    }
    let Some(text) = reply.filter(|t| !t.is_empty()) else {
        return hand_off(app, &conv, through, "the AI model gave no answer").await;
    };
    if !claim(app, &conv, through, None).await? {
        return Ok(Taken::Quiet("another worker answered this turn"));
    }
    let text: String = text.chars().take(max_reply_chars(conv.channel)).collect();
    let metadata = json!({"agent_id": agent.id, "model": model, "turn": through});
    let body = json!({"type": "text", "text": text, "metadata": metadata});
    let outgoing = match body.as_object().map(Outgoing::parse) {
        Some(Ok(o)) => o,
        _ => {
            return hand_off(
                app,
                &conv,
                through,
                "the AI's answer could not be sent as a message",
            )
            .await
        }
    };
    match send::send(app, company, &agent_sender(agent.id), conv.id, &outgoing).await {
        Ok(m) => Ok(Taken::Replied { message_id: m.id }),
        // Recorded as pending: the status webhook tells how it went.
        Err(ApiError::UpstreamTimeout(why)) => {
            tracing::warn!(conversation = %conv.id, why, "an AI reply awaits Meta's confirmation");
            Ok(Taken::Quiet("the reply awaits Meta's confirmation"))
        }
        Err(ApiError::WindowClosed(_)) => {
            hand_off(
                app,
                &conv,
                through,
                "the channel's 24-hour window is closed",
            )
            .await
        }
        Err(e) => {
            tracing::warn!(error = %e, conversation = %conv.id, "an AI reply was not sent");
            hand_off(app, &conv, through, "the channel refused the AI's reply").await
        }
    }
}

/// Claims the customer's turn through `through`, read from `conv`, for a reply or, with
/// a reason, for a hand-off to a person: false when another worker took the turn first.
async fn claim(
    app: &App,
    conv: &Conversation,
    through: Uuid,
    handoff: Option<&str>,
) -> Result<bool, ApiError> {
    let expected = conv.ai.ai_answered_through;
    for _ in 0..3 {
        let change = ConversationChange {
            claim: Some(TurnClaim { expected, through }),
            handoff: handoff.map(String::from),
            ..ConversationChange::default()
        };
        match app
            .store
            .update_conversation(&conv.company_id, conv.id, change)
            .await
        {
            Ok(_) => return Ok(true),
            // Another claim came first, or a message was added meanwhile: read again.
            Err(StoreError::Conflict(_)) => {
                let now = app
                    .store
                    .get_conversation(&conv.company_id, conv.id)
                    .await?;
                if now.ai.ai_answered_through != expected {
                    return Ok(false);
                }
            }
            Err(e) => return Err(e.into()),
        }
    }
    Err(ApiError::StoreUnavailable(
        "the conversation kept changing while a turn was claimed".into(),
    ))
}

/// Hands the customer's turn to a person: the AI pauses in the conversation and
/// `conversation.handoff` says why.
async fn hand_off(
    app: &App,
    conv: &Conversation,
    through: Uuid,
    reason: &str,
) -> Result<Taken, ApiError> {
    if claim(app, conv, through, Some(reason)).await? {
        Ok(Taken::HandedOff(reason.to_string()))
    } else {
        Ok(Taken::Quiet("another worker took this turn"))
    }
}

/// Runs one tool call of the model against the conversation's lead: its result for the
/// model (the envelope's error when it is refused), and the hand-off it made, if any.
async fn run_tool(
    app: &App,
    conv: &Conversation,
    agent: &Agent,
    lead: &mut Lead,
    statuses: &[String],
    call: &Value,
) -> Result<(Value, Option<String>), ApiError> {
    let name = call["function"]["name"].as_str().unwrap_or_default();
    let arguments = call["function"]["arguments"].as_str().unwrap_or("{}");
    let tool = match ToolCall::parse(name, arguments, lead, statuses) {
        Ok(t) => t,
        Err(e) => return Ok((json!({"error": ApiError::from(e).body()}), None)),
    };
    let by = agent_sender(agent.id);
    let company = &conv.company_id;
    let note = LeadChange {
        kind: LeadEventKind::ToolCall,
        from: None,
        to: Some(tool.summary()),
    };
    match tool {
        ToolCall::UpdateLead(patch) => {
            let patch = Value::Object(patch);
            match leads::patch_noted(
                app.store.as_ref(),
                company,
                lead.id,
                &patch,
                &by,
                Some(note),
            )
            .await
            {
                Ok(done) => {
                    *lead = done.lead;
                    let f = &lead.fields;
                    let now = json!({"status": f.status, "pipeline": f.pipeline, "score": f.score});
                    Ok((json!({"ok": true, "lead": now}), None))
                }
                Err(e @ (ApiError::Validation(_) | ApiError::Conflict { .. })) => {
                    Ok((json!({"error": e.body()}), None))
                }
                Err(e) => Err(e),
            }
        }
        // The hand-off itself is written with the turn's claim, once the calls are run.
        ToolCall::Handoff { reason } => {
            app.store
                .add_lead_event(company, lead.id, &note, &by)
                .await?;
            Ok((json!({"ok": true}), Some(reason)))
        }
        ToolCall::FollowUp { at, note: said } => {
            app.store
                .add_lead_event(company, lead.id, &note, &by)
                .await?;
            let change = ConversationChange {
                follow_up: Some((at, said)),
                ..ConversationChange::default()
            };
            let mut done = app
                .store
                .update_conversation(company, conv.id, change.clone())
                .await;
            if matches!(done, Err(StoreError::Conflict(_))) {
                done = app
                    .store
                    .update_conversation(company, conv.id, change)
                    .await;
            }
            done?;
            Ok((json!({"ok": true, "follow_up_at": at}), None))
        }
    }
}

/// An agent a person assigns (to a channel account or a conversation) must be the
/// company's: another's, or none, answers 404 as any other reference does.
pub async fn check_assignment(
    app: &App,
    company: &CompanyId,
    agent: Option<Option<Uuid>>,
) -> Result<(), ApiError> {
    if let Some(Some(id)) = agent {
        app.store
            .get_agent(company, id)
            .await
            .concerning(Entity::Agent)?;
    }
    Ok(())
}
