//! Domain records ↔ DynamoDB items.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;
use serde_json::Value;
use uuid::Uuid;

use super::schema::{company_pk, sort_index, sort_key};
use crate::domain::conversation::{Channel, Conversation, ConversationStatus, Message, Role};
use crate::domain::inbound::DeliveryStatus;
use crate::domain::lead::{Email, Lead, LeadEvent, LeadEventKind, LeadFields, LeadId, LeadSort};
use crate::domain::phone::Phone;
use crate::domain::{Company, CompanyId, Timestamp};
use crate::store::{StoreError, StoreResult};

pub type Item = HashMap<String, AttributeValue>;

pub fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

pub fn n(v: i64) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

fn corrupt(what: &str) -> StoreError {
    StoreError::Internal(format!("unreadable {what} in the table"))
}

pub fn get_s(item: &Item, key: &str) -> StoreResult<String> {
    opt_s(item, key).ok_or_else(|| corrupt(key))
}

pub fn opt_s(item: &Item, key: &str) -> Option<String> {
    match item.get(key) {
        Some(AttributeValue::S(v)) => Some(v.clone()),
        _ => None,
    }
}

pub fn get_n(item: &Item, key: &str) -> StoreResult<i64> {
    match item.get(key) {
        Some(AttributeValue::N(v)) => v.parse().map_err(|_| corrupt(key)),
        _ => Err(corrupt(key)),
    }
}

fn get_ts(item: &Item, key: &str) -> StoreResult<Timestamp> {
    Timestamp::parse(&get_s(item, key)?).ok_or_else(|| corrupt(key))
}

fn opt_ts(item: &Item, key: &str) -> StoreResult<Option<Timestamp>> {
    opt_s(item, key)
        .map(|v| Timestamp::parse(&v).ok_or_else(|| corrupt(key)))
        .transpose()
}

fn get_uuid(item: &Item, key: &str) -> StoreResult<Uuid> {
    Uuid::parse_str(&get_s(item, key)?).map_err(|_| corrupt(key))
}

fn get_json(item: &Item, key: &str) -> StoreResult<Value> {
    serde_json::from_str(&get_s(item, key)?).map_err(|_| corrupt(key))
}

/// Builds an item from its attributes, leaving out the absent optional ones.
pub fn item<const N: usize>(attrs: [(&str, Option<AttributeValue>); N]) -> Item {
    attrs
        .into_iter()
        .filter_map(|(k, v)| v.map(|v| (k.to_string(), v)))
        .collect()
}

pub fn key(pk: impl Into<String>, sk: impl Into<String>) -> Item {
    item([("pk", Some(s(pk))), ("sk", Some(s(sk)))])
}

pub fn company_item(c: &Company, name_key: &str) -> Item {
    item([
        ("pk", Some(s(format!("COMPANY#{}", c.id)))),
        ("sk", Some(s("COMPANY"))),
        ("id", Some(s(c.id.as_str()))),
        ("name", Some(s(&c.name))),
        ("name_key", Some(s(name_key))),
        ("domain", c.domain.as_deref().map(s)),
        ("settings", Some(s(c.settings.to_string()))),
        ("created_at", Some(s(c.created_at.as_string()))),
        ("updated_at", Some(s(c.updated_at.as_string()))),
    ])
}

pub fn company_from(i: &Item) -> StoreResult<Company> {
    Ok(Company {
        id: CompanyId::new(get_s(i, "id")?),
        name: get_s(i, "name")?,
        domain: opt_s(i, "domain"),
        settings: get_json(i, "settings")?,
        created_at: get_ts(i, "created_at")?,
        updated_at: get_ts(i, "updated_at")?,
    })
}

pub fn lead_sk(id: LeadId) -> String {
    format!("LEAD#{id}")
}

pub fn phone_sk(phone: &Phone) -> String {
    format!("PHONE#{}", phone.dedupe_key())
}

pub fn email_sk(email: &Email) -> String {
    format!("EMAIL#{}", email.dedupe_key())
}

pub fn lead_item(lead: &Lead) -> StoreResult<Item> {
    let f = &lead.fields;
    let id = lead.id.to_string();
    let custom =
        serde_json::to_string(&f.custom_fields).map_err(|e| StoreError::Internal(e.to_string()))?;
    let mut i = item([
        ("pk", Some(s(company_pk(&lead.company_id)))),
        ("sk", Some(s(lead_sk(lead.id)))),
        ("kind", Some(s("lead"))),
        ("id", Some(s(&id))),
        ("company_id", Some(s(lead.company_id.as_str()))),
        ("name", Some(s(&f.name))),
        ("email", f.email.as_ref().map(|e| s(e.as_str()))),
        ("phone", f.phone.as_ref().map(|p| s(p.as_str()))),
        ("company", f.company.as_deref().map(s)),
        ("source", f.source.as_deref().map(s)),
        ("pipeline", Some(s(&f.pipeline))),
        ("status", Some(s(&f.status))),
        ("score", Some(n(f.score))),
        ("custom_fields", Some(s(custom))),
        ("notes", f.notes.as_deref().map(s)),
        ("user_id", f.user_id.as_deref().map(s)),
        ("search_text", Some(s(f.search_text()))),
        ("version", Some(n(lead.version))),
        ("created_at", Some(s(lead.created_at.as_string()))),
        ("updated_at", Some(s(lead.updated_at.as_string()))),
    ]);
    for sort in LeadSort::ALL {
        let (_, attribute) = sort_index(sort);
        i.insert(
            attribute.to_string(),
            s(sort_key(sort, &lead.sort_value(sort), &id)),
        );
    }
    Ok(i)
}

pub fn lead_from(i: &Item) -> StoreResult<Lead> {
    let custom_fields = match get_json(i, "custom_fields")? {
        Value::Object(m) => m,
        _ => return Err(corrupt("custom_fields")),
    };
    Ok(Lead {
        id: LeadId(get_uuid(i, "id")?),
        company_id: CompanyId::new(get_s(i, "company_id")?),
        fields: LeadFields {
            name: get_s(i, "name")?,
            email: opt_s(i, "email").map(Email::from_stored),
            phone: opt_s(i, "phone")
                .map(|p| Phone::parse(&p).map_err(|_| corrupt("phone")))
                .transpose()?,
            company: opt_s(i, "company"),
            source: opt_s(i, "source"),
            pipeline: get_s(i, "pipeline")?,
            status: get_s(i, "status")?,
            score: get_n(i, "score")?,
            custom_fields,
            notes: opt_s(i, "notes"),
            user_id: opt_s(i, "user_id"),
        },
        created_at: get_ts(i, "created_at")?,
        updated_at: get_ts(i, "updated_at")?,
        version: get_n(i, "version")?,
    })
}

/// A phone or e-mail claim: the item that makes the value belong to one lead.
pub fn claim_item(company: &CompanyId, sk: String, lead: LeadId) -> Item {
    item([
        ("pk", Some(s(company_pk(company)))),
        ("sk", Some(s(sk))),
        ("lead_id", Some(s(lead.to_string()))),
    ])
}

pub fn event_item(company: &CompanyId, e: &LeadEvent) -> Item {
    item([
        ("pk", Some(s(company_pk(company)))),
        (
            "sk",
            Some(s(format!("{}#EV#{}#{}", lead_sk(e.lead_id), e.at, e.id))),
        ),
        ("id", Some(s(e.id.to_string()))),
        ("lead_id", Some(s(e.lead_id.to_string()))),
        ("kind", Some(s(e.kind.as_str()))),
        ("from", e.from.as_deref().map(s)),
        ("to", e.to.as_deref().map(s)),
        ("at", Some(s(e.at.as_string()))),
        ("by", e.by.as_deref().map(s)),
    ])
}

pub fn event_from(i: &Item) -> StoreResult<LeadEvent> {
    Ok(LeadEvent {
        id: get_uuid(i, "id")?,
        lead_id: LeadId(get_uuid(i, "lead_id")?),
        kind: LeadEventKind::parse(&get_s(i, "kind")?).ok_or_else(|| corrupt("kind"))?,
        from: opt_s(i, "from"),
        to: opt_s(i, "to"),
        at: get_ts(i, "at")?,
        by: opt_s(i, "by"),
    })
}

pub fn conversation_sk(id: Uuid) -> String {
    format!("CONV#{id}")
}

pub fn active_sk(lead: LeadId, channel: Channel) -> String {
    format!("ACTIVE#{lead}#{}", channel.as_str())
}

pub fn conversation_item(c: &Conversation) -> Item {
    item([
        ("pk", Some(s(company_pk(&c.company_id)))),
        ("sk", Some(s(conversation_sk(c.id)))),
        ("kind", Some(s("conversation"))),
        ("id", Some(s(c.id.to_string()))),
        ("company_id", Some(s(c.company_id.as_str()))),
        ("lead_id", Some(s(c.lead_id.to_string()))),
        ("channel", Some(s(c.channel.as_str()))),
        ("status", Some(s(c.status.as_str()))),
        ("metadata", Some(s(c.metadata.to_string()))),
        (
            "last_message_at",
            c.last_message_at.map(|t| s(t.as_string())),
        ),
        (
            "last_inbound_at",
            c.last_inbound_at.map(|t| s(t.as_string())),
        ),
        ("created_at", Some(s(c.created_at.as_string()))),
        ("updated_at", Some(s(c.updated_at.as_string()))),
    ])
}

pub fn conversation_from(i: &Item) -> StoreResult<Conversation> {
    Ok(Conversation {
        id: get_uuid(i, "id")?,
        company_id: CompanyId::new(get_s(i, "company_id")?),
        lead_id: LeadId(get_uuid(i, "lead_id")?),
        channel: Channel::parse(&get_s(i, "channel")?).ok_or_else(|| corrupt("channel"))?,
        status: ConversationStatus::parse(&get_s(i, "status")?).ok_or_else(|| corrupt("status"))?,
        metadata: get_json(i, "metadata")?,
        last_message_at: opt_ts(i, "last_message_at")?,
        last_inbound_at: opt_ts(i, "last_inbound_at")?,
        created_at: get_ts(i, "created_at")?,
        updated_at: get_ts(i, "updated_at")?,
    })
}

pub fn message_sk(m: &Message) -> String {
    format!(
        "{}#MSG#{}#{}",
        conversation_sk(m.conversation_id),
        m.created_at,
        m.id
    )
}

/// The claim that makes a channel id belong to one message, and leads statuses to it.
pub fn message_claim(company: &CompanyId, m: &Message, external_id: &str) -> Item {
    item([
        ("pk", Some(s(company_pk(company)))),
        ("sk", Some(s(format!("MSGID#{external_id}")))),
        ("message_id", Some(s(m.id.to_string()))),
        ("message_sk", Some(s(message_sk(m)))),
    ])
}

pub fn message_item(company: &CompanyId, m: &Message) -> Item {
    item([
        ("pk", Some(s(company_pk(company)))),
        ("sk", Some(s(message_sk(m)))),
        ("external_id", m.external_id.as_deref().map(s)),
        ("status", m.status.map(|st| s(st.as_str()))),
        ("status_rank", m.status.map(|st| n(st.rank()))),
        ("error", m.error.as_ref().map(|e| s(e.to_string()))),
        ("id", Some(s(m.id.to_string()))),
        ("conversation_id", Some(s(m.conversation_id.to_string()))),
        ("role", Some(s(m.role.as_str()))),
        ("content", Some(s(&m.content))),
        ("type", Some(s(&m.kind))),
        ("metadata", Some(s(m.metadata.to_string()))),
        ("created_at", Some(s(m.created_at.as_string()))),
    ])
}

pub fn message_from(i: &Item) -> StoreResult<Message> {
    Ok(Message {
        id: get_uuid(i, "id")?,
        conversation_id: get_uuid(i, "conversation_id")?,
        role: Role::parse(&get_s(i, "role")?).ok_or_else(|| corrupt("role"))?,
        content: get_s(i, "content")?,
        kind: get_s(i, "type")?,
        metadata: get_json(i, "metadata")?,
        created_at: get_ts(i, "created_at")?,
        external_id: opt_s(i, "external_id"),
        status: opt_s(i, "status")
            .as_deref()
            .and_then(DeliveryStatus::parse),
        error: opt_s(i, "error").and_then(|e| serde_json::from_str(&e).ok()),
    })
}
