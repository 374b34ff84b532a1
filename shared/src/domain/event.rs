//! What happened, as integrators and the agents' loop hear of it: an event written in the
//! same atomic write as the change it reports (the outbox), then delivered by the worker.

use serde_json::{json, Value};
use uuid::Uuid;

use super::conversation::{Conversation, Message};
use super::inbound::DeliveryStatus;
use super::lead::{Lead, LeadChange, LeadEventKind, LeadId};
use super::{CompanyId, Timestamp};

#[derive(Debug, Clone, PartialEq)]
pub struct OutboxEvent {
    /// `evt_` and a time-ordered id: the outbox is read in this order.
    pub id: String,
    pub company_id: CompanyId,
    /// `lead.created`, `lead.updated`, …
    pub kind: String,
    /// The lead the event is about: events of one lead are delivered in order, and an
    /// erased lead's pending events go with it.
    pub lead_id: Option<LeadId>,
    pub data: Value,
    pub at: Timestamp,
}

impl OutboxEvent {
    pub fn new(company: &CompanyId, kind: &str, lead: Option<LeadId>, data: Value) -> OutboxEvent {
        OutboxEvent {
            id: format!("evt_{}", Uuid::now_v7().simple()),
            company_id: company.clone(),
            kind: kind.to_string(),
            lead_id: lead,
            data,
            at: Timestamp::now(),
        }
    }

    /// The seed's documented shape, with the event's id: `{"id","event","data","timestamp"}`.
    pub fn payload(&self) -> Value {
        json!({"id": self.id, "event": self.kind, "data": self.data, "timestamp": self.at})
    }

    pub fn lead_created(lead: &Lead) -> OutboxEvent {
        OutboxEvent::new(&lead.company_id, "lead.created", Some(lead.id), json!(lead))
    }

    /// `lead.updated`, and `lead.status_changed` or `lead.score_changed` when its status or
    /// score moved.
    pub fn lead_updated(lead: &Lead, changes: &[LeadChange]) -> Vec<OutboxEvent> {
        let mut events = vec![OutboxEvent::new(
            &lead.company_id,
            "lead.updated",
            Some(lead.id),
            json!(lead),
        )];
        for c in changes {
            let kind = match c.kind {
                LeadEventKind::StatusChanged => "lead.status_changed",
                LeadEventKind::ScoreChanged => "lead.score_changed",
                _ => continue,
            };
            let (from, to) = if c.kind == LeadEventKind::ScoreChanged {
                let n =
                    |v: &Option<String>| json!(v.as_deref().and_then(|s| s.parse::<i64>().ok()));
                (n(&c.from), n(&c.to))
            } else {
                (json!(c.from), json!(c.to))
            };
            events.push(OutboxEvent::new(
                &lead.company_id,
                kind,
                Some(lead.id),
                json!({"lead_id": lead.id, "from": from, "to": to, "lead": lead}),
            ));
        }
        events
    }

    /// Only the id: the lead's data is gone.
    pub fn lead_deleted(company: &CompanyId, lead: LeadId) -> OutboxEvent {
        OutboxEvent::new(company, "lead.deleted", Some(lead), json!({"id": lead}))
    }

    pub fn conversation_started(c: &Conversation) -> OutboxEvent {
        OutboxEvent::new(
            &c.company_id,
            "conversation.started",
            Some(c.lead_id),
            json!(c),
        )
    }

    pub fn conversation_closed(c: &Conversation) -> OutboxEvent {
        OutboxEvent::new(
            &c.company_id,
            "conversation.closed",
            Some(c.lead_id),
            json!(c),
        )
    }

    /// The conversation handed to a person: the AI stops answering it.
    pub fn conversation_handoff(c: &Conversation, reason: &str) -> OutboxEvent {
        OutboxEvent::new(
            &c.company_id,
            "conversation.handoff",
            Some(c.lead_id),
            json!({"conversation_id": c.id, "lead_id": c.lead_id, "reason": reason, "conversation": c}),
        )
    }

    /// The events a conversation change tells: closed (or archived) from active, active
    /// again, handed off.
    pub fn of_conversation_change(
        before: &Conversation,
        after: &Conversation,
        handoff: Option<&str>,
    ) -> Vec<OutboxEvent> {
        use super::conversation::ConversationStatus::Active;
        let mut events = Vec::new();
        match (before.status == Active, after.status == Active) {
            (true, false) => events.push(OutboxEvent::conversation_closed(after)),
            (false, true) => events.push(OutboxEvent::new(
                &after.company_id,
                "conversation.reopened",
                Some(after.lead_id),
                json!(after),
            )),
            _ => {}
        }
        if let Some(reason) = handoff {
            events.push(OutboxEvent::conversation_handoff(after, reason));
        }
        events
    }

    /// A customer's message, stored for the first time (a replay stores nothing, and so
    /// tells nothing).
    pub fn message_received(company: &CompanyId, lead: LeadId, m: &Message) -> OutboxEvent {
        OutboxEvent::new(
            company,
            "message.received",
            Some(lead),
            json!({"lead_id": lead, "conversation_id": m.conversation_id, "message": m}),
        )
    }

    /// A message of the company's, accepted by the channel.
    pub fn message_sent(company: &CompanyId, lead: LeadId, m: &Message) -> OutboxEvent {
        OutboxEvent::new(
            company,
            "message.sent",
            Some(lead),
            json!({"lead_id": lead, "conversation_id": m.conversation_id, "message": m}),
        )
    }

    /// A sent message delivered, read, or failed (with the channel's error), from the
    /// status it had.
    pub fn message_status(
        company: &CompanyId,
        lead: LeadId,
        m: &Message,
        previous: Option<DeliveryStatus>,
    ) -> OutboxEvent {
        OutboxEvent::new(
            company,
            "message.status",
            Some(lead),
            json!({"lead_id": lead, "conversation_id": m.conversation_id, "message_id": m.id,
                   "external_id": m.external_id, "status": m.status, "previous": previous,
                   "created_at": m.created_at, "error": m.error}),
        )
    }

    /// The event a message's new delivery status tells, if any: `message.sent` once the
    /// channel took it, `message.status` when it is delivered, read or failed.
    pub fn of_delivery(
        company: &CompanyId,
        lead: LeadId,
        m: &Message,
        previous: Option<DeliveryStatus>,
    ) -> Option<OutboxEvent> {
        match m.status? {
            DeliveryStatus::Sent => Some(OutboxEvent::message_sent(company, lead, m)),
            DeliveryStatus::Delivered | DeliveryStatus::Read | DeliveryStatus::Failed => {
                Some(OutboxEvent::message_status(company, lead, m, previous))
            }
            DeliveryStatus::Pending => None,
        }
    }
}
