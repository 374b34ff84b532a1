//! Conversations with a lead on one channel, and their messages.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

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
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
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
