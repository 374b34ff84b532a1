//! The AI agent at work on a conversation (`docs/architecture.md`, "Auto-reply"): who
//! answers it, when it keeps quiet, what it is told, and the tools it may call. Pure
//! rules; `usecase::autoreply` runs them against the store, the model and the channel.

use chrono::{Datelike, NaiveTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use uuid::Uuid;

use super::conversation::{Message, Role};
use super::lead::{Lead, LeadFields, LeadId};
use super::text::{control_free, fold};
use super::{CompanyId, FieldErrors, Timestamp};

/// A conversation's AI state, kept with it and shown in its JSON.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ConversationAi {
    /// The agent that answers this conversation; none: the channel account's.
    #[serde(default)]
    pub agent_id: Option<Uuid>,
    /// Replies on or off for this conversation; none: as its channel account says.
    #[serde(default)]
    pub auto_reply: Option<bool>,
    /// Paused by a person or handed off: the AI stays quiet until it is resumed.
    #[serde(default)]
    pub ai_paused: bool,
    #[serde(default)]
    pub ai_paused_reason: Option<String>,
    #[serde(default)]
    pub ai_paused_at: Option<Timestamp>,
    /// When someone should get back to the customer, as the agent scheduled it.
    #[serde(default)]
    pub follow_up_at: Option<Timestamp>,
    #[serde(default)]
    pub follow_up_note: Option<String>,
    /// The newest customer message an AI reply was claimed for: one reply per turn.
    #[serde(default)]
    pub ai_answered_through: Option<Uuid>,
}

impl ConversationAi {
    /// As stored: a JSON document (an unreadable one reads as no AI state).
    pub fn from_stored(text: Option<&str>) -> ConversationAi {
        text.and_then(|t| serde_json::from_str(t).ok())
            .unwrap_or_default()
    }

    pub fn to_stored(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|_| "{}".into())
    }
}

/// A claim on the reply to the customer's turn through `through`, made only while the
/// conversation's claim is still `expected` (a compare-and-set).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TurnClaim {
    pub expected: Option<Uuid>,
    pub through: Uuid,
}

/// A channel account's assignment: the agent that answers its conversations, and whether
/// it does so on its own.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Assignment {
    #[serde(default)]
    pub agent_id: Option<Uuid>,
    #[serde(default)]
    pub auto_reply: bool,
}

impl Assignment {
    pub fn from_stored(text: Option<&str>) -> Assignment {
        text.and_then(|t| serde_json::from_str(t).ok())
            .unwrap_or_default()
    }

    pub fn to_stored(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|_| "{}".into())
    }

    /// Who answers a conversation of this account: the conversation's own choice first.
    pub fn for_conversation(&self, ai: &ConversationAi) -> Option<Uuid> {
        let on = ai.auto_reply.unwrap_or(self.auto_reply);
        on.then_some(ai.agent_id.or(self.agent_id)).flatten()
    }
}

/// A customer's turn, due for an answer once the customer has been quiet: one per
/// customer message (its id names it, so scheduling it twice keeps one).
#[derive(Debug, Clone, PartialEq)]
pub struct Turn {
    /// `{due in Unix ms, 13 digits}_{message id}`: turns sort by when they are due.
    pub id: String,
    pub company_id: CompanyId,
    pub conversation_id: Uuid,
    /// The lead of the conversation: its turns are erased with it.
    pub lead_id: LeadId,
    pub due_ms: i64,
}

impl Turn {
    pub fn new(
        company: &CompanyId,
        conversation: Uuid,
        lead: LeadId,
        message: Uuid,
        due_ms: i64,
    ) -> Turn {
        Turn {
            id: format!("{:013}_{}", due_ms.max(0), message.simple()),
            company_id: company.clone(),
            conversation_id: conversation,
            lead_id: lead,
            due_ms,
        }
    }
}

/// The company's auto-reply switches: `settings.ai_replies`, defaults where unset.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ReplySettings {
    /// How long the customer must have been quiet before the agent answers the burst.
    pub quiet_seconds: f64,
    /// How long a person's reply in a conversation keeps the AI out of it.
    pub human_pause_minutes: u32,
    /// What a customer says to ask for a person (matched as whole words, any case or accent).
    pub handoff_phrases: Vec<String>,
    /// AI replies per conversation per day (the company's day); then a person takes over.
    pub max_replies_per_day: u32,
    pub business_hours: BusinessHours,
}

impl Default for ReplySettings {
    fn default() -> Self {
        ReplySettings {
            quiet_seconds: 4.0,
            human_pause_minutes: 60,
            handoff_phrases: [
                "atendente",
                "humano",
                "falar com uma pessoa",
                "pessoa de verdade",
            ]
            .map(String::from)
            .to_vec(),
            max_replies_per_day: 30,
            business_hours: BusinessHours::default(),
        }
    }
}

/// When the agent answers: always, or only outside the company's opening hours (when
/// no person is there).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BusinessHours {
    /// `always` or `outside`.
    pub reply: String,
    /// ISO weekdays the company is open: 1 is Monday, 7 Sunday.
    pub days: Vec<u32>,
    pub opens: String,
    pub closes: String,
}

impl Default for BusinessHours {
    fn default() -> Self {
        BusinessHours {
            reply: "always".into(),
            days: vec![1, 2, 3, 4, 5],
            opens: "09:00".into(),
            closes: "18:00".into(),
        }
    }
}

/// The most replies a day the setting allows: the agent counts them among a
/// conversation's newest 100 messages.
pub const MAX_REPLIES_PER_DAY: u32 = 50;

impl ReplySettings {
    /// The settings of a company (checked when they were saved).
    pub fn of(settings: &Value) -> ReplySettings {
        settings
            .get("ai_replies")
            .and_then(|v| serde_json::from_value(v.clone()).ok())
            .unwrap_or_default()
    }

    /// Whether `value` is a valid `ai_replies` setting.
    pub fn check(value: &Value) -> bool {
        let Ok(s) = serde_json::from_value::<ReplySettings>(value.clone()) else {
            return false;
        };
        let hours = &s.business_hours;
        (0.0..=60.0).contains(&s.quiet_seconds)
            && s.human_pause_minutes <= 10_080
            && (1..=MAX_REPLIES_PER_DAY).contains(&s.max_replies_per_day)
            && s.handoff_phrases.len() <= 20
            && s.handoff_phrases.iter().all(|p| {
                p.chars().count() <= 60 && !p.trim().is_empty() && control_free(p.trim(), false)
            })
            && ["always", "outside"].contains(&hours.reply.as_str())
            && hours.days.iter().all(|d| (1..=7).contains(d))
            && clock(&hours.opens).is_some()
            && clock(&hours.closes).is_some()
    }

    pub fn quiet_ms(&self) -> i64 {
        (self.quiet_seconds * 1000.0) as i64
    }

    /// Whether the customer's `text` asks for a person.
    pub fn asks_for_person(&self, text: &str) -> bool {
        let said = words(text);
        self.handoff_phrases.iter().any(|p| {
            let phrase = words(p);
            phrase.trim() != "" && said.contains(&phrase)
        })
    }

    /// Whether the agent may answer at `now` in the company's `timezone`.
    pub fn may_answer_at(&self, now: chrono::DateTime<Utc>, timezone: &str) -> bool {
        let hours = &self.business_hours;
        if hours.reply != "outside" {
            return true;
        }
        let local = super::zone::Zone::or_default(timezone).local(now);
        let (Some(opens), Some(closes)) = (clock(&hours.opens), clock(&hours.closes)) else {
            return true;
        };
        let open_day = hours.days.contains(&local.weekday().number_from_monday());
        let t = local.time();
        let open = open_day && opens <= t && t < closes;
        !open
    }
}

/// `HH:MM`, two digits each.
fn clock(s: &str) -> Option<NaiveTime> {
    let digits = s.len() == 5 && s.as_bytes()[2] == b':';
    digits
        .then(|| NaiveTime::parse_from_str(s, "%H:%M").ok())
        .flatten()
}

/// ` word word ` folded: phrases match as whole words.
fn words(text: &str) -> String {
    let folded = fold(text);
    let list: Vec<&str> = folded
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .collect();
    format!(" {} ", list.join(" "))
}

/// The lead statuses a company knows: its own list (`lead_statuses`), else the CRM's
/// usual ones, with its qualified and converted statuses always among them.
pub fn known_statuses(settings: &Value) -> Vec<String> {
    let list = |key: &str| super::company::text_list(settings, key).unwrap_or_default();
    let mut known = list("lead_statuses");
    if known.is_empty() {
        known = [
            "novo",
            "contatado",
            "qualificado",
            "proposta",
            "convertido",
            "perdido",
        ]
        .map(String::from)
        .to_vec();
    }
    for s in list("qualified_statuses")
        .into_iter()
        .chain(list("converted_statuses"))
    {
        if !known.contains(&s) {
            known.push(s);
        }
    }
    known
}

/// Who sent a company message: `agent:<id>` for an AI agent.
pub fn agent_sender(agent: Uuid) -> String {
    format!("agent:{agent}")
}

/// Whether a message is a person's reply (not the customer's, not an AI agent's).
pub fn by_a_person(m: &Message) -> bool {
    m.role == Role::Assistant
        && !m.metadata["sent_by"]
            .as_str()
            .is_some_and(|s| s.starts_with("agent:"))
}

/// Whether a message is an AI agent's reply.
pub fn by_an_agent(m: &Message) -> bool {
    m.role == Role::Assistant && m.metadata.get("agent_id").is_some_and(Value::is_string)
}

/// The history an agent answers from (oldest first) within `budget` estimated tokens:
/// the newest messages are kept, the customer's and the company's replies as roles.
pub fn history(recent_newest_first: &[Message], budget: usize) -> Vec<Value> {
    let mut used = 0;
    let mut kept = Vec::new();
    for m in recent_newest_first {
        let role = match m.role {
            Role::User => "user",
            Role::Assistant => "assistant",
            Role::System => continue,
        };
        let cost = m.content.chars().count() / 4 + 4;
        if used + cost > budget && !kept.is_empty() {
            break;
        }
        used += cost;
        kept.push(json!({"role": role, "content": m.content}));
    }
    kept.reverse();
    kept
}

/// What the agent is told beside its own prompt: the lead as the CRM has it, the statuses
/// it may set, and the time.
pub fn briefing(lead: &Lead, statuses: &[String], now: Timestamp) -> Value {
    let f = &lead.fields;
    let about = json!({
        "name": f.name, "phone": f.phone, "email": f.email, "company": f.company,
        "pipeline": f.pipeline, "status": f.status, "score": f.score,
        "custom_fields": f.custom_fields, "notes": f.notes,
    });
    json!({
        "role": "system",
        "content": format!(
            "You are answering a customer of this company on a messaging channel. Answer briefly, \
             in the customer's language. The lead in the CRM: {about}. Statuses you may set with \
             update_lead: {}. Call handoff_to_human when the customer needs a person or you cannot \
             help. Now: {now}.",
            statuses.join(", ")
        ),
    })
}

/// The tools an agent may call, in OpenAI's `tools` form.
pub fn tools(statuses: &[String]) -> Value {
    json!([
        {"type": "function", "function": {
            "name": "update_lead",
            "description": "Update the customer's lead in the CRM as you learn about them.",
            "parameters": {"type": "object", "additionalProperties": false, "properties": {
                "status": {"type": "string", "enum": statuses},
                "pipeline": {"type": "string"},
                "score": {"type": "integer", "minimum": 0, "maximum": 100},
                "custom_fields": {"type": "object"},
                "notes": {"type": "string"}
            }}
        }},
        {"type": "function", "function": {
            "name": "handoff_to_human",
            "description": "Hand the conversation to a person of the company; you stop answering it.",
            "parameters": {"type": "object", "additionalProperties": false, "required": ["reason"],
                "properties": {"reason": {"type": "string"}}}
        }},
        {"type": "function", "function": {
            "name": "schedule_follow_up",
            "description": "Ask the company to get back to the customer at a time (RFC 3339).",
            "parameters": {"type": "object", "additionalProperties": false, "required": ["at"],
                "properties": {"at": {"type": "string", "format": "date-time"},
                               "note": {"type": "string"}}}
        }}
    ])
}

/// A tool call, validated like the API call it stands for.
#[derive(Debug, Clone, PartialEq)]
pub enum ToolCall {
    /// A merge patch of the lead: status, pipeline, score, custom fields, notes.
    UpdateLead(Map<String, Value>),
    Handoff {
        reason: String,
    },
    FollowUp {
        at: Timestamp,
        note: Option<String>,
    },
}

/// The fields `update_lead` may change.
const AGENT_LEAD_FIELDS: &[&str] = &["status", "pipeline", "score", "custom_fields", "notes"];

impl ToolCall {
    /// Parses a call of tool `name` with its JSON `arguments` against `lead` and the
    /// company's `statuses`; what is wrong goes back to the model as the tool's result.
    pub fn parse(
        name: &str,
        arguments: &str,
        lead: &Lead,
        statuses: &[String],
    ) -> Result<ToolCall, FieldErrors> {
        let args: Value = serde_json::from_str(arguments)
            .map_err(|_| FieldErrors::one("arguments", "must be a JSON object"))?;
        let Value::Object(args) = args else {
            return Err(FieldErrors::one("arguments", "must be a JSON object"));
        };
        let text = |key: &str, max: usize, errors: &mut FieldErrors| -> Option<String> {
            match args.get(key) {
                None | Some(Value::Null) => None,
                Some(Value::String(s)) if !s.trim().is_empty() && s.chars().count() <= max => {
                    Some(s.trim().to_string())
                }
                Some(_) => {
                    errors.add(key, format!("must be text of 1 to {max} characters"));
                    None
                }
            }
        };
        let mut errors = FieldErrors::new();
        match name {
            "update_lead" => {
                for key in args.keys() {
                    if !AGENT_LEAD_FIELDS.contains(&key.as_str()) {
                        errors.add(key.clone(), "is not a field update_lead may change");
                    }
                }
                if let Some(status) = args.get("status").and_then(Value::as_str) {
                    if !statuses.iter().any(|s| s == status) {
                        errors.add(
                            "status",
                            format!("must be one of: {}", statuses.join(", ")),
                        );
                    }
                }
                errors.into_result()?;
                if args.is_empty() {
                    return Err(FieldErrors::one("arguments", "name a field to change"));
                }
                // Validated as the API validates a PATCH of the lead.
                let patch = Value::Object(args.clone());
                let _: LeadFields = lead.fields.patched(&patch)?;
                Ok(ToolCall::UpdateLead(args))
            }
            "handoff_to_human" => {
                let reason = text("reason", 500, &mut errors);
                if reason.is_none() && errors.is_empty() {
                    errors.missing("reason");
                }
                errors.into_result()?;
                Ok(ToolCall::Handoff {
                    reason: reason.unwrap_or_default(),
                })
            }
            "schedule_follow_up" => {
                let at = match args.get("at").and_then(Value::as_str) {
                    None => {
                        errors.missing("at");
                        None
                    }
                    Some(s) => match Timestamp::parse(s) {
                        Some(t) if t > Timestamp::now() => Some(t),
                        Some(_) => {
                            errors.add("at", "must be in the future");
                            None
                        }
                        None => {
                            errors.add("at", "must be an RFC 3339 time such as 2026-12-01T14:00:00-03:00");
                            None
                        }
                    },
                };
                let note = text("note", 500, &mut errors);
                errors.into_result()?;
                match at {
                    Some(at) => Ok(ToolCall::FollowUp { at, note }),
                    None => Err(FieldErrors::one("at", "is required")),
                }
            }
            other => Err(FieldErrors::one(
                "name",
                format!("{other} is not a tool: use update_lead, handoff_to_human or schedule_follow_up"),
            )),
        }
    }

    /// How the lead's history shows the call (`type: tool_call`, `to`).
    pub fn summary(&self) -> String {
        let text = match self {
            ToolCall::UpdateLead(args) => format!("update_lead {}", Value::Object(args.clone())),
            ToolCall::Handoff { reason } => format!("handoff_to_human: {reason}"),
            ToolCall::FollowUp { at, note } => match note {
                Some(n) => format!("schedule_follow_up {at}: {n}"),
                None => format!("schedule_follow_up {at}"),
            },
        };
        text.chars().take(500).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn asking_for_a_person_matches_whole_words_in_any_case_or_accent() {
        let s = ReplySettings::default();
        assert!(s.asks_for_person("Quero falar com um ATENDENTE, por favor"));
        assert!(s.asks_for_person("tem algum humano aí?"));
        assert!(!s.asks_for_person("isso é desumano"));
        assert!(!s.asks_for_person("qual o preço?"));
    }

    #[test]
    fn business_hours_keep_the_agent_quiet_while_people_work() {
        let s: ReplySettings = serde_json::from_value(json!({"business_hours": {
            "reply": "outside", "days": [1,2,3,4,5], "opens": "09:00", "closes": "18:00"}}))
        .unwrap();
        // Friday 2026-11-27 15:00 in São Paulo (18:00 UTC): open.
        let open = Utc.with_ymd_and_hms(2026, 11, 27, 18, 0, 0).unwrap();
        assert!(!s.may_answer_at(open, "America/Sao_Paulo"));
        // 23:00 in São Paulo, and Saturday noon: closed.
        let night = Utc.with_ymd_and_hms(2026, 11, 28, 2, 0, 0).unwrap();
        let saturday = Utc.with_ymd_and_hms(2026, 11, 28, 15, 0, 0).unwrap();
        assert!(s.may_answer_at(night, "America/Sao_Paulo"));
        assert!(s.may_answer_at(saturday, "America/Sao_Paulo"));
        assert!(ReplySettings::default().may_answer_at(open, "America/Sao_Paulo"));
    }

    #[test]
    fn settings_are_checked_as_a_whole() {
        assert!(ReplySettings::check(&json!({"quiet_seconds": 2})));
        assert!(!ReplySettings::check(&json!({"quiet_seconds": 600})));
        assert!(!ReplySettings::check(&json!({"max_replies_per_day": 0})));
        assert!(!ReplySettings::check(
            &json!({"business_hours": {"opens": "9h"}})
        ));
        assert!(!ReplySettings::check(&json!({"unknown": 1})));
    }

    #[test]
    fn the_conversation_choice_comes_before_the_accounts() {
        let agent = Uuid::now_v7();
        let other = Uuid::now_v7();
        let account = Assignment {
            agent_id: Some(agent),
            auto_reply: true,
        };
        assert_eq!(
            account.for_conversation(&ConversationAi::default()),
            Some(agent)
        );
        let off = ConversationAi {
            auto_reply: Some(false),
            ..Default::default()
        };
        assert_eq!(account.for_conversation(&off), None);
        let own = ConversationAi {
            agent_id: Some(other),
            ..Default::default()
        };
        assert_eq!(account.for_conversation(&own), Some(other));
        assert_eq!(Assignment::default().for_conversation(&own), None);
    }
}
