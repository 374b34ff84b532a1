//! The single-table design, and every key of it: no other file spells a key. Every item
//! of a company lives in its partition, so a request never touches another company's
//! data, and no request path needs a Scan.
//!
//! | entity | pk | sk | used by |
//! |---|---|---|---|
//! | company | `COMPANY#{id}` | `COMPANY` | token minting, settings |
//! | company name (unique) | `COMPANYNAME#{folded name}` | `COMPANYNAME` | create company, find by name |
//! | lead | `C#{company}` | `LEAD#{id}` | every `/api/leads` route |
//! | lead phone (unique) | `C#{company}` | `PHONE#{dedupe key}` | create/update lead (conditional put) |
//! | lead e-mail (unique) | `C#{company}` | `EMAIL#{lower-cased}` | create/update lead (conditional put) |
//! | lead event | `C#{company}` | `LEAD#{lead}#EV#{at}#{id}` | `GET /api/leads/{id}/history` (Query begins_with) |
//! | lead → conversation | `C#{company}` | `LEAD#{lead}#CONV#{conversation}` | delete lead (Query begins_with `LEAD#{lead}`) |
//! | conversation | `C#{company}` | `CONV#{id}` | conversations |
//! | active conversation (unique) | `C#{company}` | `ACTIVE#{lead}#{channel}` | one active conversation per lead and channel |
//! | message | `C#{company}` | `CONV#{conversation}#MSG#{created_at}#{id}` | messages in time order (Query begins_with) |
//! | message channel id (unique) | `C#{company}` | `MSGID#{wamid or mid}` | ingest once; statuses find their message |
//! | status before its message | `C#{company}` | `PENDING#{wamid or mid}` | applied when the message is stored; TTL 7 days |
//! | Instagram/Messenger user (unique) | `C#{company}` | `CONTACT#{channel}#{scoped id}` | webhook ingest: user → lead |
//! | lead → user | `C#{company}` | `LEAD#{lead}#CONTACT#{channel}#{scoped id}` | answering the user; erased with the lead |
//! | lead → delivery | `C#{company}` | `LEAD#{lead}#DELIVERY#{endpoint}#{id}` | a delivery of an event about the lead; erased with it |
//!
//!
//! Accounts and guards:
//!
//! | entity | pk | sk | note |
//! |---|---|---|---|
//! | API key | `C#{company}` | `APIKEY#{id}` | listed by Query begins_with |
//! | API key lookup | `APIKEYHASH#{sha256}` | `APIKEY` | authentication; deleted on revoke |
//! | channel account | `C#{company}` | `CHANNEL#{id}` | holds the access token |
//! | channel lookup | `CHANNELID#{channel}#{external id}` | `CHANNEL` | webhook routing; one company per id |
//! | inbound endpoint | `C#{company}` | `INBOUND#{id}` | holds the signing secret |
//! | inbound endpoint lookup | `INBOUNDID#{client_id}` | `INBOUND` | `POST /webhooks/{client_id}` |
//! | rate bucket | `RATE#{company}:{group}` or `RATE#inbound:{client_id}` | `RATE` | GCRA: one conditional update; TTL |
//! | idempotency record | `C#{company}` | `IDEM#{key}` | conditional claim; TTL after 24 h |
//! | AI agent | `C#{company}` | `AGENT#{id}` | listed by Query begins_with |
//! | outbound delivery retry | `RETRY` | `{due ms}_{id}` | the worker reads what is due (Query sk ≤ now) |
//! | analytics tallies of a company's day | `C#{company}` | `DAY#{YYYY-MM-DD}` | a number per metric, added with `ADD`; a year is one Query of 365 items |
//! | event counted in the tallies | `C#{company}` | `TALLIED#{event id}` | written with the tallies (condition: new); expires after a week |
//! | customer turn awaiting an AI reply | `AITURN` | `{due ms}_{message id}` | the worker reads what is due (Query sk ≤ now); scheduling twice keeps one |
//! | outbox event | `OUTBOX` | `evt_{time-ordered id}` | written in the change's transaction; the worker reads the partition in order and deletes what it handled (in production the table's stream carries them too) |
//! | outbound webhook endpoint | `C#{company}` | `WEBHOOK#{id}` | holds the signing secret |
//! | endpoint failing since | `C#{company}` | `HEALTH#{endpoint}` | the first failure of a run; 5 days of it disable the endpoint |
//! | webhook delivery | `C#{company}` | `DELIVERY#{endpoint}#{id}` | the log, newest first (Query backwards) |
//! | AI spend of a month | `C#{company}` | `AISPEND#{YYYY-MM}` | budget: one conditional update reserves |
//! | AI usage of a day, agent, model | `C#{company}` | `AIUSE#{YYYY-MM-DD}#{agent}#{model}` | `ADD` counters; Query BETWEEN days |
//!
//! Lead items alone carry the five sort attributes, so these global secondary indexes
//! (partition key `pk`, projection ALL) are sparse and hold only leads:
//!
//! | index | sort key | `GET /api/leads?sort=` |
//! |---|---|---|
//! | `by_created` | `created_sk` = `{created_at}␁{id}` | `created_at` (default), and counts |
//! | `by_updated` | `updated_sk` = `{updated_at}␁{id}` | `updated_at` |
//! | `by_name` | `name_sk` = `{folded name}␁{id}` | `name` |
//! | `by_score` | `score_sk` = `{score:03}␁{id}` | `score` |
//! | `by_status` | `status_sk` = `{status}␁{id}` | `status` |
//!
//! A sixth, `by_activity` (`activity_sk` = `{last activity}␁{id}`, on conversation items
//! only), lists a company's conversations newest activity first without reading a message.
//!
//! `␁` is U+0001, below every character a validated value may hold, so the index order is
//! exactly (value, id): the keyset cursor's order, the same as the SQLite backend's.
//! Ephemeral items (idempotency records, rate-limit buckets) carry `expires_at`, the
//! table's TTL attribute.

use serde_json::Value;
use uuid::Uuid;

use crate::domain::conversation::{Channel, Message};
use crate::domain::lead::{Email, LeadId, LeadSort};
use crate::domain::phone::Phone;
use crate::domain::CompanyId;

pub const SEP: char = '\u{1}';

/// The index and its sort attribute for each way leads are listed.
pub fn sort_index(sort: LeadSort) -> (&'static str, &'static str) {
    match sort {
        LeadSort::CreatedAt => ("by_created", "created_sk"),
        LeadSort::UpdatedAt => ("by_updated", "updated_sk"),
        LeadSort::Name => ("by_name", "name_sk"),
        LeadSort::Score => ("by_score", "score_sk"),
        LeadSort::Status => ("by_status", "status_sk"),
    }
}

/// The index sort key of a lead whose sort value is `value` (as a cursor carries it).
/// An index sort key is at most 1024 bytes, so a sort value keeps its first
/// [`MAX_SORT_PREFIX`] bytes: leads alike that far are ordered by id.
pub fn sort_key(sort: LeadSort, value: &Value, id: &str) -> String {
    let value = match (sort, value) {
        (LeadSort::Score, Value::Number(n)) => format!("{:03}", n.as_i64().unwrap_or(0)),
        (_, Value::String(s)) => s.clone(),
        (_, other) => other.to_string(),
    };
    let mut end = value.len().min(MAX_SORT_PREFIX);
    while !value.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}{SEP}{id}", &value[..end])
}

/// Bytes of a sort value kept in an index key (1024, less the separator and an id).
pub const MAX_SORT_PREFIX: usize = 900;

pub fn company_pk(company: &CompanyId) -> String {
    format!("C#{company}")
}

pub fn lead_sk(id: impl std::fmt::Display) -> String {
    format!("LEAD#{id}")
}

pub fn phone_sk(phone: &Phone) -> String {
    format!("PHONE#{}", phone.dedupe_key())
}

pub fn email_sk(email: &Email) -> String {
    format!("EMAIL#{}", email.dedupe_key())
}

pub fn conversation_sk(id: impl std::fmt::Display) -> String {
    format!("CONV#{id}")
}

pub fn active_sk(lead: LeadId, channel: Channel) -> String {
    format!("ACTIVE#{lead}#{}", channel.as_str())
}

pub fn message_sk(m: &Message) -> String {
    message_sk_at(
        m.conversation_id,
        &m.created_at.as_string(),
        &m.id.to_string(),
    )
}

/// A message's sort key from its time and id, as a cursor carries them.
pub fn message_sk_at(conversation: Uuid, created_at: &str, id: &str) -> String {
    format!(
        "{}{MESSAGES}{created_at}#{id}",
        conversation_sk(conversation)
    )
}

/// What follows a conversation's key in its messages' keys.
pub const MESSAGES: &str = "#MSG#";

/// Conversations by last activity, newest first: sparse, only conversation items carry
/// `activity_sk` = `{last message or creation time}␁{id}`.
pub const ACTIVITY_INDEX: (&str, &str) = ("by_activity", "activity_sk");

pub fn activity_key(at: &str, id: Uuid) -> String {
    format!("{at}{SEP}{id}")
}

/// A lead's history entry: under the lead's prefix, in time order.
pub fn lead_event_sk(lead: LeadId, at: impl std::fmt::Display, id: Uuid) -> String {
    format!("{}#EV#{at}#{id}", lead_sk(lead))
}

/// The link from a lead to a conversation it owns (found when the lead is erased).
pub fn lead_conversation_sk(lead: LeadId, conversation: Uuid) -> String {
    format!("{}{LEAD_CONVERSATION}{conversation}", lead_sk(lead))
}

/// The newest change time an outside source applied to a lead; under the lead's prefix,
/// so it is erased with the lead.
pub fn lead_mark_sk(lead: LeadId, source: &str) -> String {
    format!("{}#MARK#{source}", lead_sk(lead))
}

/// The link from a lead to an Instagram/Messenger user it writes as.
pub fn lead_contact_sk(lead: LeadId, contact: &str) -> String {
    format!("{}{LEAD_CONTACT}{contact}", lead_sk(lead))
}

/// What a lead-owned link's sort key holds after the lead's prefix.
pub const LEAD_CONVERSATION: &str = "#CONV#";
pub const LEAD_CONTACT: &str = "#CONTACT#";
pub const LEAD_DELIVERY: &str = "#DELIVERY#";

/// The delivery a lead's delivery link (`{endpoint}#{id}`, after `#DELIVERY#`) names.
pub fn delivery_of_link(rest: &str) -> String {
    format!("DELIVERY#{rest}")
}

/// The link from a lead to an outbound delivery of an event about it: erased together.
pub fn lead_delivery_sk(lead: LeadId, endpoint: impl std::fmt::Display, id: Uuid) -> String {
    format!("{}{LEAD_DELIVERY}{endpoint}#{id}", lead_sk(lead))
}

/// Every conversation and message item sorts under this prefix.
pub const CONVERSATION_PREFIX: &str = "CONV#";

/// `{channel}#{scoped id}`: an Instagram/Messenger user within a company.
pub fn contact(channel: Channel, user_id: &str) -> String {
    format!("{}#{user_id}", channel.as_str())
}

/// The unique claim of a scoped user id by one lead.
pub fn contact_sk(contact: &str) -> String {
    format!("CONTACT#{contact}")
}

/// The unique claim of a channel message id (wamid, mid) by one message.
pub fn message_id_sk(external_id: &str) -> String {
    format!("MSGID#{external_id}")
}

/// A delivery status that arrived before its message.
pub fn pending_status_sk(external_id: &str) -> String {
    format!("PENDING#{external_id}")
}

pub fn company(id: &CompanyId) -> (String, String) {
    (format!("COMPANY#{id}"), "COMPANY".into())
}

/// The unique claim of a company name (folded).
pub fn company_name(name_key: &str) -> (String, String) {
    (format!("COMPANYNAME#{name_key}"), "COMPANYNAME".into())
}

pub const API_KEY_PREFIX: &str = "APIKEY#";

pub fn api_key_sk(id: impl std::fmt::Display) -> String {
    format!("{API_KEY_PREFIX}{id}")
}

/// Where authentication finds a key by its hash.
pub fn api_key_lookup(hash: &str) -> (String, String) {
    (format!("APIKEYHASH#{hash}"), "APIKEY".into())
}

pub const CHANNEL_PREFIX: &str = "CHANNEL#";

pub fn channel_sk(id: impl std::fmt::Display) -> String {
    format!("{CHANNEL_PREFIX}{id}")
}

/// Where webhook routing finds a channel account by Meta's id; one company per id.
pub fn channel_lookup(channel: Channel, external_id: &str) -> (String, String) {
    (
        format!("CHANNELID#{}#{external_id}", channel.as_str()),
        "CHANNEL".into(),
    )
}

pub const INBOUND_PREFIX: &str = "INBOUND#";

pub fn inbound_sk(id: impl std::fmt::Display) -> String {
    format!("{INBOUND_PREFIX}{id}")
}

/// Where `POST /webhooks/{client_id}` finds its endpoint.
pub fn inbound_lookup(client_id: &str) -> (String, String) {
    (format!("INBOUNDID#{client_id}"), "INBOUND".into())
}

pub fn rate_bucket(bucket: &str) -> (String, String) {
    (format!("RATE#{bucket}"), "RATE".into())
}

pub fn idempotency_sk(key: &str) -> String {
    format!("IDEM#{key}")
}

pub const AGENT_PREFIX: &str = "AGENT#";

pub fn agent_sk(id: impl std::fmt::Display) -> String {
    format!("{AGENT_PREFIX}{id}")
}

pub const OUTBOX: &str = "OUTBOX";

/// Where an outbox event waits until the worker has handled it.
pub fn outbox_key(id: &str) -> (String, String) {
    (OUTBOX.into(), id.to_string())
}

pub const RETRIES: &str = "RETRY";

/// Where a delivery's next attempt waits: the partition is read up to the time that is due.
pub fn retry_key(id: &str) -> (String, String) {
    (RETRIES.into(), id.to_string())
}

pub const DAY_PREFIX: &str = "DAY#";

/// A company's analytics tallies of one of its days (`YYYY-MM-DD`).
pub fn day_sk(day: &str) -> String {
    format!("{DAY_PREFIX}{day}")
}

/// An event already counted in the tallies (expires after a week).
pub fn tallied_sk(event_id: &str) -> String {
    format!("TALLIED#{event_id}")
}

pub const TURNS: &str = "AITURN";

/// Where a customer turn waits for quiet: the partition is read up to the time that is due.
pub fn turn_key(id: &str) -> (String, String) {
    (TURNS.into(), id.to_string())
}

pub const WEBHOOK_PREFIX: &str = "WEBHOOK#";

pub fn webhook_sk(id: impl std::fmt::Display) -> String {
    format!("{WEBHOOK_PREFIX}{id}")
}

/// Since when an endpoint has been failing (absent: it is not).
pub fn webhook_health_sk(endpoint: impl std::fmt::Display) -> String {
    format!("HEALTH#{endpoint}")
}

/// The delivery log of an endpoint; with `id`, one delivery.
pub fn delivery_sk(endpoint: impl std::fmt::Display, id: Option<uuid::Uuid>) -> String {
    match id {
        Some(id) => format!("DELIVERY#{endpoint}#{id}"),
        None => format!("DELIVERY#{endpoint}#"),
    }
}

pub fn ai_spend_sk(month: &str) -> String {
    format!("AISPEND#{month}")
}

pub const AI_USAGE_PREFIX: &str = "AIUSE#";

pub fn ai_usage_sk(day: &str, agent: &str, model: &str) -> String {
    format!("{AI_USAGE_PREFIX}{day}#{agent}#{model}")
}

/// A company's kept count of something (`n`), moved in the same transaction as what it
/// counts.
pub fn counter_sk(name: &str) -> String {
    format!("COUNT#{name}")
}

pub const LEAD_COUNT: &str = "leads";
pub const CONVERSATION_COUNT: &str = "conversations";

/// The item the health check reads (it need not exist).
pub fn health() -> (String, String) {
    ("HEALTH".into(), "HEALTH".into())
}
