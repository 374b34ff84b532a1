//! Conversations with a lead on one channel, and their messages.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

use super::autoreply::{ConversationAi, TurnClaim};
use super::inbound::DeliveryStatus;
use super::lead::LeadId;
use super::{CompanyId, Timestamp};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Channel {
    Whatsapp,
    Instagram,
    Facebook,
}

impl Channel {
    pub fn as_str(&self) -> &'static str {
        match self {
            Channel::Whatsapp => "whatsapp",
            Channel::Instagram => "instagram",
            Channel::Facebook => "facebook",
        }
    }

    /// The product's name for the channel, as people say it.
    pub fn label(&self) -> &'static str {
        match self {
            Channel::Whatsapp => "WhatsApp",
            Channel::Instagram => "Instagram",
            Channel::Facebook => "Messenger",
        }
    }

    pub fn parse(s: &str) -> Option<Channel> {
        match s {
            "whatsapp" => Some(Channel::Whatsapp),
            "instagram" => Some(Channel::Instagram),
            "facebook" => Some(Channel::Facebook),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ConversationStatus {
    Active,
    Closed,
    Archived,
}

impl ConversationStatus {
    pub fn as_str(&self) -> &'static str {
        match self {
            ConversationStatus::Active => "active",
            ConversationStatus::Closed => "closed",
            ConversationStatus::Archived => "archived",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "active" => Some(ConversationStatus::Active),
            "closed" => Some(ConversationStatus::Closed),
            "archived" => Some(ConversationStatus::Archived),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Conversation {
    pub id: Uuid,
    pub company_id: CompanyId,
    pub lead_id: LeadId,
    pub channel: Channel,
    pub status: ConversationStatus,
    pub metadata: Value,
    pub last_message_at: Option<Timestamp>,
    pub last_inbound_at: Option<Timestamp>,
    /// How many messages it holds, kept as they are added.
    pub message_count: u64,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    /// Who answers it, paused or not, the turn last answered.
    #[serde(flatten)]
    pub ai: ConversationAi,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// The customer.
    User,
    /// An AI or human agent of the company.
    Assistant,
    System,
}

impl Role {
    pub fn as_str(&self) -> &'static str {
        match self {
            Role::User => "user",
            Role::Assistant => "assistant",
            Role::System => "system",
        }
    }

    pub fn parse(s: &str) -> Option<Role> {
        match s {
            "user" => Some(Role::User),
            "assistant" => Some(Role::Assistant),
            "system" => Some(Role::System),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct NewMessage {
    pub role: Role,
    pub content: String,
    pub kind: String,
    pub metadata: Value,
    /// The channel's own time of the message, when it has one.
    pub created_at: Option<Timestamp>,
    /// The channel's id of the message (a WhatsApp `wamid`, a Meta `mid`): one message per id.
    pub external_id: Option<String>,
    pub status: Option<DeliveryStatus>,
}

impl NewMessage {
    /// A message with no channel id, as agents and tests write them.
    pub fn plain(role: Role, content: &str, kind: &str) -> NewMessage {
        NewMessage {
            role,
            content: content.to_string(),
            kind: kind.to_string(),
            metadata: Value::Object(Default::default()),
            created_at: None,
            external_id: None,
            status: None,
        }
    }
}

/// What a delivery status did to its message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusOutcome {
    Applied,
    /// The message is already as far or further along (or failed).
    Unchanged,
    /// The message is not stored yet: the status waits for it.
    Pending,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Message {
    pub id: Uuid,
    pub conversation_id: Uuid,
    pub role: Role,
    pub content: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub metadata: Value,
    pub created_at: Timestamp,
    pub external_id: Option<String>,
    pub status: Option<DeliveryStatus>,
    /// Meta's error for a failed message: code, title, message, details.
    pub error: Option<Value>,
}

/// A conversation as lists show it: with its lead's name and its last message.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ConversationView {
    #[serde(flatten)]
    pub conversation: Conversation,
    pub lead_name: String,
    pub last_message: Option<LastMessage>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LastMessage {
    pub content: String,
    pub timestamp: super::Timestamp,
}

/// The filters and page of `GET /api/conversations`; newest activity first.
#[derive(Debug, Clone, PartialEq)]
pub struct ConversationQuery {
    pub status: Option<ConversationStatus>,
    pub channel: Option<Channel>,
    pub lead_id: Option<LeadId>,
    pub page: super::page::PageRequest,
}

impl ConversationQuery {
    pub fn parse(params: &[(String, String)]) -> Result<ConversationQuery, super::FieldErrors> {
        let get = |k: &str| {
            params
                .iter()
                .find(|(key, _)| key == k)
                .map(|(_, v)| v.clone())
        };
        let mut errors = super::FieldErrors::new();
        for (key, _) in params {
            if !["page", "limit", "status", "channel", "lead_id"].contains(&key.as_str()) {
                errors.add(key.clone(), "is not a parameter of this list");
            }
        }
        let status = get("status").and_then(|s| {
            ConversationStatus::parse(&s).or_else(|| {
                errors.add("status", "must be one of: active, closed, archived");
                None
            })
        });
        let channel = get("channel").and_then(|c| {
            Channel::parse(&c).or_else(|| {
                errors.add("channel", "must be one of: whatsapp, instagram, facebook");
                None
            })
        });
        let lead_id = get("lead_id").and_then(|l| {
            LeadId::parse(&l).or_else(|| {
                errors.add("lead_id", "must be a lead id");
                None
            })
        });
        if get("cursor").is_some() {
            errors.add("cursor", "is not supported on this list; use page");
        }
        let page = super::page::parse_page(
            get,
            "last_message_at",
            super::page::Order::Desc,
            &mut errors,
        );
        errors.into_result()?;
        Ok(ConversationQuery {
            status,
            channel,
            lead_id,
            page,
        })
    }

    pub fn matches(&self, c: &Conversation) -> bool {
        self.status.is_none_or(|s| s == c.status)
            && self.channel.is_none_or(|ch| ch == c.channel)
            && self.lead_id.is_none_or(|l| l == c.lead_id)
    }
}

/// A change to a conversation: its status, its metadata (merge-patched), and its AI state.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ConversationChange {
    pub status: Option<ConversationStatus>,
    pub metadata: Option<Value>,
    /// `Some(None)`: the channel account's agent answers again.
    pub agent_id: Option<Option<Uuid>>,
    pub auto_reply: Option<Option<bool>>,
    /// Paused (or resumed) by a person.
    pub ai_paused: Option<bool>,
    /// Handed to a person, for this reason: pauses the AI and tells `conversation.handoff`.
    pub handoff: Option<String>,
    pub follow_up: Option<(Timestamp, Option<String>)>,
    /// Claims the AI reply to a customer turn; refused when another claim came first.
    pub claim: Option<TurnClaim>,
}

impl ConversationChange {
    pub fn parse(body: Value) -> Result<ConversationChange, super::FieldErrors> {
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Input {
            status: Option<String>,
            metadata: Option<Value>,
            #[serde(default, deserialize_with = "super::nullable")]
            agent_id: Option<Option<String>>,
            #[serde(default, deserialize_with = "super::nullable")]
            auto_reply: Option<Option<bool>>,
            ai_paused: Option<bool>,
        }
        let input: Input = super::parse_body(body)?;
        let mut errors = super::FieldErrors::new();
        let status = input.status.as_deref().and_then(|s| {
            ConversationStatus::parse(s).or_else(|| {
                errors.add("status", "must be one of: active, closed, archived");
                None
            })
        });
        match &input.metadata {
            Some(m) if !m.is_object() => errors.add("metadata", "must be a JSON object"),
            Some(m) => super::check_document("metadata", m, &mut errors),
            None => {}
        }
        let agent_id = super::nullable_agent(input.agent_id, &mut errors);
        errors.into_result()?;
        Ok(ConversationChange {
            status,
            metadata: input.metadata,
            agent_id,
            auto_reply: input.auto_reply,
            ai_paused: input.ai_paused,
            ..ConversationChange::default()
        })
    }

    /// Refuses a change that would leave `current`'s metadata over the document limits.
    pub fn check_against(&self, current: &Conversation) -> Result<(), super::FieldErrors> {
        let mut errors = super::FieldErrors::new();
        super::check_document("metadata", &self.apply(current).metadata, &mut errors);
        errors.into_result()
    }

    /// Why the store must refuse this change to `current`, if it must: a turn claimed
    /// by another reply since it was read.
    pub fn refusal(&self, current: &Conversation) -> Option<String> {
        let claim = self.claim?;
        (current.ai.ai_answered_through != claim.expected)
            .then(|| "Another reply claimed this turn".to_string())
    }

    /// The conversation with this change applied.
    pub fn apply(&self, c: &Conversation) -> Conversation {
        let mut next = c.clone();
        if let Some(s) = self.status {
            next.status = s;
        }
        if let Some(m) = &self.metadata {
            super::merge_patch::apply(&mut next.metadata, m);
        }
        let ai = &mut next.ai;
        if let Some(agent) = self.agent_id {
            ai.agent_id = agent;
        }
        if let Some(on) = self.auto_reply {
            ai.auto_reply = on;
        }
        if let Some(paused) = self.ai_paused {
            if paused != ai.ai_paused {
                ai.ai_paused = paused;
                ai.ai_paused_at = paused.then(Timestamp::now);
                ai.ai_paused_reason = paused.then(|| "paused by a person".to_string());
            }
        }
        if let Some(reason) = &self.handoff {
            ai.ai_paused = true;
            ai.ai_paused_at = Some(Timestamp::now());
            ai.ai_paused_reason = Some(reason.clone());
        }
        if let Some((at, note)) = &self.follow_up {
            ai.follow_up_at = Some(*at);
            ai.follow_up_note = note.clone();
        }
        if let Some(claim) = self.claim {
            ai.ai_answered_through = Some(claim.through);
        }
        next
    }
}
