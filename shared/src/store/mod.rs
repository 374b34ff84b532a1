//! The store: traits of domain operations, one per aggregate, scoped by company, with
//! interchangeable backends (`docs/architecture.md`, "Store"). Handlers and use cases see
//! only these traits; `use shared::store::prelude::*` brings them all into scope.

#[cfg(feature = "dynamodb")]
pub mod dynamodb;
#[cfg(feature = "postgres")]
pub mod postgres;
#[cfg(any(feature = "sqlite", feature = "postgres"))]
mod sql;
#[cfg(feature = "sqlite")]
mod sqlite;

use std::sync::Arc;

use async_trait::async_trait;
use uuid::Uuid;

#[cfg(feature = "dynamodb")]
pub use dynamodb::DynamoStore;
#[cfg(feature = "sqlite")]
pub use sqlite::SqliteStore;

/// Every aggregate's trait, so that `store.create_lead(…)` resolves on a `&dyn Store`.
pub mod prelude {
    pub use super::{
        AccountStore, AgentStore, AiUsageStore, AnalyticsStore, ConversationStore, EventStore,
        GuardStore, LeadStore, MessageStore, Store, TurnStore, WebhookStore,
    };
}

use crate::config::StoreConfig;
use crate::domain::account::{
    AccessToken, ApiKey, ChannelAccount, ChannelChange, InboundEndpoint, NewApiKey,
    NewChannelAccount,
};
use crate::domain::agent::{Agent, AgentFields};
use crate::domain::ai::Usage;
use crate::domain::analytics::{DayTallies, Tally};
use crate::domain::autoreply::Turn;
use crate::domain::company::CompanyChange;
use crate::domain::conversation::{
    Channel, Conversation, ConversationChange, ConversationQuery, ConversationView, Message,
    NewMessage, StatusOutcome,
};
use crate::domain::event::OutboxEvent;
use crate::domain::idempotency::{Claim, StoredResponse};
use crate::domain::inbound::DeliveryStatus;
use crate::domain::lead::{Lead, LeadChange, LeadEvent, LeadFields, LeadId, LeadQuery, LeadUpdate};
use crate::domain::page::{Page, PageRequest};
use crate::domain::rate_limit::{Decision, Limit};
use crate::domain::webhook::{EndpointFields, WebhookEndpoint};
use crate::domain::Timestamp;
use crate::domain::{Company, CompanyId};

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum StoreError {
    /// Absent, or another company's: the two are never told apart.
    #[error("not found")]
    NotFound,
    /// A uniqueness rule holds: another record already has this value.
    #[error("duplicate {field} (existing {existing_id})")]
    Duplicate {
        field: &'static str,
        existing_id: String,
    },
    /// The record changed since it was read.
    #[error("conflict: {0}")]
    Conflict(String),
    /// Down, locked or throttling after bounded retries.
    #[error("store unavailable: {0}")]
    Unavailable(String),
    #[error("store error: {0}")]
    Internal(String),
}

pub type StoreResult<T> = Result<T, StoreError>;

/// How far back [`MessageStore::last_inbound_message`] looks.
pub const RECENT_MESSAGES: u32 = 50;

/// The whole store: every aggregate's operations, and a health check. Handlers and use
/// cases take `&dyn Store`; a backend implements each aggregate's trait in a file named
/// after it.
#[async_trait]
pub trait Store:
    LeadStore
    + ConversationStore
    + MessageStore
    + AccountStore
    + GuardStore
    + AgentStore
    + AiUsageStore
    + WebhookStore
    + EventStore
    + TurnStore
    + AnalyticsStore
{
    /// A cheap round trip, for the health route.
    async fn ping(&self) -> StoreResult<()>;
}

/// Leads and their history: the CRM's aggregate root. Erasing a lead erases
/// everything it owns (see [`OWNED_BY_A_LEAD`] and `docs/architecture.md`).
#[async_trait]
pub trait LeadStore: Send + Sync {
    /// Creates a lead and its `created` history entry. A phone (ninth-digit rule
    /// included) or e-mail already used in the company is a [`StoreError::Duplicate`].
    async fn create_lead(
        &self,
        company: &CompanyId,
        fields: LeadFields,
        by: &str,
    ) -> StoreResult<Lead>;
    async fn get_lead(&self, company: &CompanyId, id: LeadId) -> StoreResult<Lead>;
    async fn list_leads(&self, company: &CompanyId, query: &LeadQuery) -> StoreResult<Page<Lead>>;
    /// Applies an update made from version `expected_version`, with its history entries;
    /// a lead changed meanwhile is a [`StoreError::Conflict`].
    async fn update_lead(
        &self,
        company: &CompanyId,
        id: LeadId,
        update: LeadUpdate,
    ) -> StoreResult<Lead>;
    /// Deletes the lead with its history, conversations and messages.
    async fn delete_lead(&self, company: &CompanyId, id: LeadId) -> StoreResult<()>;
    async fn lead_history(&self, company: &CompanyId, id: LeadId) -> StoreResult<Vec<LeadEvent>>;
    /// Appends one entry to the lead's history, by `by`, changing nothing else (an AI
    /// agent's tool call that set no field). A missing lead is [`StoreError::NotFound`].
    async fn add_lead_event(
        &self,
        company: &CompanyId,
        lead: LeadId,
        change: &LeadChange,
        by: &str,
    ) -> StoreResult<()>;
    /// Records that `source` changed the lead as of `at` (Unix seconds): `true` when `at`
    /// is not older than what `source` applied before, `false` (nothing written) when it
    /// is. A missing lead is [`StoreError::NotFound`]. Owned by the lead: erased with it.
    async fn advance_lead_mark(
        &self,
        company: &CompanyId,
        lead: LeadId,
        source: &str,
        at: i64,
    ) -> StoreResult<bool>;
}

/// Conversations of a lead on a channel, and the Instagram/Messenger users a lead
/// writes from.
#[async_trait]
pub trait ConversationStore: Send + Sync {
    async fn create_conversation(
        &self,
        company: &CompanyId,
        lead: LeadId,
        channel: Channel,
    ) -> StoreResult<Conversation>;
    async fn get_conversation(&self, company: &CompanyId, id: Uuid) -> StoreResult<Conversation>;
    /// The company's conversations, newest activity first, with lead names and last messages.
    async fn list_conversations(
        &self,
        company: &CompanyId,
        query: &ConversationQuery,
    ) -> StoreResult<Page<ConversationView>>;
    /// Changes status, metadata and AI state; making one active while the lead has another
    /// active conversation on the channel, or a turn claim made stale by another, is a
    /// [`StoreError::Conflict`]. A hand-off tells `conversation.handoff` in the same write.
    async fn update_conversation(
        &self,
        company: &CompanyId,
        id: Uuid,
        change: ConversationChange,
    ) -> StoreResult<Conversation>;
    /// The lead an Instagram or Messenger user (by scoped id) belongs to.
    async fn find_contact(
        &self,
        company: &CompanyId,
        channel: Channel,
        user_id: &str,
    ) -> StoreResult<Option<LeadId>>;
    /// The scoped user id a lead writes from on `channel`, to answer them there.
    async fn contact_of(
        &self,
        company: &CompanyId,
        lead: LeadId,
        channel: Channel,
    ) -> StoreResult<Option<String>>;
    /// Ties a scoped user id to a lead; [`StoreError::Duplicate`] names the lead it has.
    async fn claim_contact(
        &self,
        company: &CompanyId,
        channel: Channel,
        user_id: &str,
        lead: LeadId,
    ) -> StoreResult<()>;
}

/// The messages of a conversation and their delivery statuses.
#[async_trait]
pub trait MessageStore: Send + Sync {
    /// Stores a message and moves the conversation's clocks. A message with a channel id
    /// is stored once: another with the same id is a [`StoreError::Duplicate`] naming the
    /// stored one. A status that arrived before it is applied as it is stored.
    async fn add_message(
        &self,
        company: &CompanyId,
        conversation: Uuid,
        message: NewMessage,
    ) -> StoreResult<Message>;
    /// A page of the conversation's messages in time order, after `page.cursor` (the last
    /// message of the previous page) or skipping `page.offset()`: it reads the page, never
    /// the whole conversation; `total` is the conversation's message count.
    async fn list_messages(
        &self,
        company: &CompanyId,
        conversation: Uuid,
        page: &PageRequest,
    ) -> StoreResult<Page<Message>>;
    /// The conversation's newest `limit` messages (at most 100), newest first: the
    /// context an AI agent answers from.
    async fn recent_messages(
        &self,
        company: &CompanyId,
        conversation: Uuid,
        limit: u32,
    ) -> StoreResult<Vec<Message>>;
    /// The customer's newest message with a channel id, looked for among the conversation's
    /// newest [`RECENT_MESSAGES`] messages.
    async fn last_inbound_message(
        &self,
        company: &CompanyId,
        conversation: Uuid,
    ) -> StoreResult<Option<Message>>;
    /// Records what the channel said about a message this service sent: its channel id
    /// (then claimed like an inbound one's), its status and Meta's error. A status that
    /// arrived for that id before this is applied.
    async fn record_delivery(
        &self,
        company: &CompanyId,
        message: &Message,
        external_id: Option<&str>,
        status: DeliveryStatus,
        error: Option<serde_json::Value>,
    ) -> StoreResult<Message>;
    /// Moves a message's delivery status forward only (a failed one stays failed, with
    /// Meta's error); kept for later when the message is not stored yet.
    async fn apply_message_status(
        &self,
        company: &CompanyId,
        external_id: &str,
        status: DeliveryStatus,
        error: Option<serde_json::Value>,
    ) -> StoreResult<StatusOutcome>;
    /// The conversation of the message with this channel id, if it is stored.
    async fn conversation_of_message(
        &self,
        company: &CompanyId,
        external_id: &str,
    ) -> StoreResult<Option<Uuid>>;
}

/// A company's own configuration: the company, its API keys, its channel accounts
/// and its custom inbound endpoints.
#[async_trait]
pub trait AccountStore: Send + Sync {
    async fn create_company(&self, name: &str) -> StoreResult<Company>;
    async fn find_company_by_name(&self, name: &str) -> StoreResult<Option<Company>>;
    async fn get_company(&self, id: &CompanyId) -> StoreResult<Company>;
    async fn update_company(&self, id: &CompanyId, change: CompanyChange) -> StoreResult<Company>;
    /// Stores a new key (its hash only) for the company.
    async fn create_api_key(&self, company: &CompanyId, key: NewApiKey) -> StoreResult<ApiKey>;
    async fn list_api_keys(&self, company: &CompanyId) -> StoreResult<Vec<ApiKey>>;
    /// Revokes a key: it stays listed, inactive, and authenticates no more.
    async fn revoke_api_key(&self, company: &CompanyId, id: Uuid) -> StoreResult<()>;
    /// The active key with this hash, whichever company it belongs to.
    async fn find_api_key(&self, hash: &str) -> StoreResult<Option<ApiKey>>;
    async fn touch_api_key(&self, company: &CompanyId, id: Uuid, at: Timestamp) -> StoreResult<()>;
    /// Connects a channel account; its external id belongs to one company at most
    /// ([`StoreError::Duplicate`] names the holder's channel id).
    async fn create_channel(
        &self,
        company: &CompanyId,
        channel: NewChannelAccount,
    ) -> StoreResult<ChannelAccount>;
    async fn list_channels(&self, company: &CompanyId) -> StoreResult<Vec<ChannelAccount>>;
    async fn get_channel(&self, company: &CompanyId, id: Uuid) -> StoreResult<ChannelAccount>;
    async fn update_channel(
        &self,
        company: &CompanyId,
        id: Uuid,
        change: ChannelChange,
    ) -> StoreResult<ChannelAccount>;
    async fn delete_channel(&self, company: &CompanyId, id: Uuid) -> StoreResult<()>;
    /// The access token, for the code that calls Meta; nothing that answers a client asks.
    async fn channel_token(&self, company: &CompanyId, id: Uuid) -> StoreResult<AccessToken>;
    /// The account a webhook's channel id names, whichever company holds it.
    async fn find_channel(
        &self,
        channel: Channel,
        external_id: &str,
    ) -> StoreResult<Option<ChannelAccount>>;
    /// Creates a custom inbound endpoint with its signing secret.
    async fn create_inbound_endpoint(
        &self,
        company: &CompanyId,
        name: &str,
        client_id: &str,
        secret: &AccessToken,
    ) -> StoreResult<InboundEndpoint>;
    async fn list_inbound_endpoints(
        &self,
        company: &CompanyId,
    ) -> StoreResult<Vec<InboundEndpoint>>;
    async fn delete_inbound_endpoint(&self, company: &CompanyId, id: Uuid) -> StoreResult<()>;
    /// The endpoint a `client_id` names, with its secret, whichever company has it.
    async fn find_inbound_endpoint(
        &self,
        client_id: &str,
    ) -> StoreResult<Option<(InboundEndpoint, AccessToken)>>;
    /// The company of a user of the seed's `users` table, for a token that names its user
    /// but no company (Supabase's). Only a store on the seed's schema has users.
    async fn user_company(&self, _user: &str) -> StoreResult<Option<CompanyId>> {
        Ok(None)
    }
}

/// What guards a request before its route runs: rate-limit buckets and
/// `Idempotency-Key` records.
#[async_trait]
pub trait GuardStore: Send + Sync {
    /// Takes one token from the bucket `key`, atomically across every process.
    async fn take_rate_token(&self, key: &str, limit: &Limit, now_ms: i64)
        -> StoreResult<Decision>;
    /// Takes one token from each bucket in turn, stopping at the first that refuses (the
    /// later ones are not charged); the decisions made. A backend may take them in one
    /// write.
    async fn take_rate_tokens(
        &self,
        buckets: &[(&str, &Limit)],
        now_ms: i64,
    ) -> StoreResult<Vec<Decision>> {
        let mut decisions = Vec::with_capacity(buckets.len());
        for (key, limit) in buckets {
            let d = self.take_rate_token(key, limit, now_ms).await?;
            decisions.push(d);
            if !d.allowed {
                break;
            }
        }
        Ok(decisions)
    }
    /// Claims an `Idempotency-Key` for a request with this fingerprint.
    async fn claim_idempotency_key(
        &self,
        company: &CompanyId,
        key: &str,
        fingerprint: &str,
        now: Timestamp,
    ) -> StoreResult<Claim>;
    /// Keeps the answer of a claimed key for replay.
    async fn finish_idempotency_key(
        &self,
        company: &CompanyId,
        key: &str,
        response: &StoredResponse,
    ) -> StoreResult<()>;
    /// Releases a claimed key whose request failed, so a retry runs it again.
    async fn abandon_idempotency_key(&self, company: &CompanyId, key: &str) -> StoreResult<()>;
}

/// Prepares the configured backend for use: applies SQLite's or PostgreSQL's migrations,
/// or creates the DynamoDB table when it does not exist (local development; production's
/// table comes from `template.yaml`).
pub async fn migrate(config: &StoreConfig) -> StoreResult<()> {
    match config {
        #[cfg(feature = "sqlite")]
        StoreConfig::Sqlite { path } => SqliteStore::open(path).map(|_| ()),
        #[cfg(feature = "dynamodb")]
        StoreConfig::Dynamodb { table } => {
            DynamoStore::new(&dynamodb::sdk_config().await, table.clone())
                .create_table()
                .await
        }
        #[cfg(feature = "postgres")]
        StoreConfig::Postgres {
            url,
            ca_file,
            iam_auth,
        } => postgres::PgStore::with_ca(url, ca_file.as_deref())?
            .with_iam(*iam_auth)
            .migrate()
            .await
            .map(|_| ()),
        #[allow(unreachable_patterns)]
        _ => Err(not_built(config)),
    }
}

/// Opens the configured backend (SQLite applies its migrations as it opens, PostgreSQL on
/// its first connection).
pub async fn open(config: &StoreConfig) -> StoreResult<Arc<dyn Store>> {
    match config {
        #[cfg(feature = "sqlite")]
        StoreConfig::Sqlite { path } => Ok(Arc::new(SqliteStore::open(path)?)),
        #[cfg(feature = "dynamodb")]
        StoreConfig::Dynamodb { table } => {
            let sdk = dynamodb::sdk_config().await;
            Ok(Arc::new(DynamoStore::new(&sdk, table.clone())))
        }
        #[cfg(feature = "postgres")]
        StoreConfig::Postgres {
            url,
            ca_file,
            iam_auth,
        } => Ok(Arc::new(
            postgres::PgStore::open_with_ca(url, ca_file.as_deref())?.with_iam(*iam_auth),
        )),
        #[allow(unreachable_patterns)]
        _ => Err(not_built(config)),
    }
}

/// A store this build left out: a deployment links the one it uses (cargo features
/// `sqlite`, `dynamodb`, `postgres`; `make dev` and the tests have them all).
#[allow(dead_code)]
fn not_built(config: &StoreConfig) -> StoreError {
    let name = match config {
        StoreConfig::Sqlite { .. } => "sqlite",
        StoreConfig::Dynamodb { .. } => "dynamodb",
        StoreConfig::Postgres { .. } => "postgres",
    };
    StoreError::Unavailable(format!(
        "this build has no `{name}` store (built without the cargo feature `{name}`)"
    ))
}

/// A company's AI agents.
#[async_trait]
pub trait AgentStore: Send + Sync {
    async fn create_agent(&self, company: &CompanyId, fields: AgentFields) -> StoreResult<Agent>;
    async fn get_agent(&self, company: &CompanyId, id: Uuid) -> StoreResult<Agent>;
    /// Every agent of the company, oldest first.
    async fn list_agents(&self, company: &CompanyId) -> StoreResult<Vec<Agent>>;
    async fn update_agent(
        &self,
        company: &CompanyId,
        id: Uuid,
        fields: AgentFields,
    ) -> StoreResult<Agent>;
    async fn delete_agent(&self, company: &CompanyId, id: Uuid) -> StoreResult<()>;
}

/// One metered AI call, as it is settled.
#[derive(Debug, Clone, PartialEq)]
pub struct AiCall {
    /// The company's day of the call (`2026-11-27`) and its budget month (`2026-11`).
    pub day: String,
    pub month: String,
    /// `""` for a call made without an agent.
    pub agent_id: String,
    pub model: String,
    pub usage: Usage,
    pub cost_nano: i64,
    /// The tokens were estimated (a stream abandoned before its usage arrived).
    pub estimated: bool,
}

/// One row of `GET /api/ai/usage`: the calls of a day, agent and model.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AiUsageRow {
    pub day: String,
    pub agent_id: String,
    pub model: String,
    pub calls: i64,
    pub usage: Usage,
    pub cost_nano: i64,
    pub estimated_calls: i64,
}

/// AI spend: the month's budget, reserved before a call and settled after it, and the
/// usage each call adds. A reservation and its check are one atomic write, so that
/// concurrent calls cannot all pass a budget only one of them fits.
#[async_trait]
pub trait AiUsageStore: Send + Sync {
    /// Reserves `amount` nano-dollars of `month`'s spend when spent, reserved and `amount`
    /// together stay within `budget` (no budget: always); false when they would not.
    async fn reserve_ai_spend(
        &self,
        company: &CompanyId,
        month: &str,
        amount: i64,
        budget: Option<i64>,
    ) -> StoreResult<bool>;
    /// Releases a reservation of `reserved` and records `call`: its cost spent, its usage
    /// added to its day, agent and model. One atomic write.
    async fn settle_ai_call(
        &self,
        company: &CompanyId,
        reserved: i64,
        call: &AiCall,
    ) -> StoreResult<()>;
    /// Releases a reservation whose call never reached the upstream.
    async fn release_ai_spend(
        &self,
        company: &CompanyId,
        month: &str,
        reserved: i64,
    ) -> StoreResult<()>;
    /// The month's spent and reserved nano-dollars.
    async fn ai_spend(&self, company: &CompanyId, month: &str) -> StoreResult<(i64, i64)>;
    /// The usage rows of the days from `from` to `to` (inclusive, `YYYY-MM-DD`).
    async fn ai_usage(
        &self,
        company: &CompanyId,
        from: &str,
        to: &str,
    ) -> StoreResult<Vec<AiUsageRow>>;
}

/// One attempt to deliver an event to an outbound endpoint, as its log shows it.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Delivery {
    pub id: Uuid,
    pub endpoint_id: Uuid,
    /// The event's id (`msg_…`, its `webhook-id`), the same on every attempt.
    pub event_id: String,
    pub event_type: String,
    pub payload: serde_json::Value,
    /// `succeeded` (2xx) or `failed`.
    pub status: String,
    pub http_status: Option<u16>,
    pub latency_ms: u64,
    /// The first characters of the receiver's answer, or why there was none.
    pub response: String,
    pub attempt: u32,
    pub at: Timestamp,
    /// The receiver's `Retry-After`, in seconds, when it sent one (not kept).
    #[serde(skip)]
    pub retry_after: Option<u64>,
    /// The lead the event was about: its deliveries are erased with it.
    #[serde(skip)]
    pub lead_id: Option<LeadId>,
}

/// A company's outbound webhook endpoints and their delivery log.
#[async_trait]
pub trait WebhookStore: Send + Sync {
    async fn create_webhook(
        &self,
        company: &CompanyId,
        fields: EndpointFields,
        secret: &AccessToken,
    ) -> StoreResult<WebhookEndpoint>;
    async fn get_webhook(&self, company: &CompanyId, id: Uuid) -> StoreResult<WebhookEndpoint>;
    /// The endpoint's signing secret: only the code that delivers reads it.
    async fn webhook_secret(&self, company: &CompanyId, id: Uuid) -> StoreResult<AccessToken>;
    async fn list_webhooks(&self, company: &CompanyId) -> StoreResult<Vec<WebhookEndpoint>>;
    /// Replaces the endpoint's fields; `disabled_reason` says why it is inactive, if it is.
    async fn update_webhook(
        &self,
        company: &CompanyId,
        id: Uuid,
        fields: EndpointFields,
        disabled_reason: Option<String>,
    ) -> StoreResult<WebhookEndpoint>;
    /// Deletes the endpoint and its delivery log.
    async fn delete_webhook(&self, company: &CompanyId, id: Uuid) -> StoreResult<()>;
    async fn add_delivery(&self, company: &CompanyId, delivery: &Delivery) -> StoreResult<()>;
    /// The endpoint's newest `limit` deliveries (at most 100), newest first.
    async fn list_deliveries(
        &self,
        company: &CompanyId,
        endpoint: Uuid,
        limit: u32,
    ) -> StoreResult<Vec<Delivery>>;
    async fn get_delivery(
        &self,
        company: &CompanyId,
        endpoint: Uuid,
        id: Uuid,
    ) -> StoreResult<Delivery>;
    /// Keeps a failed delivery's next attempt until it is due.
    async fn schedule_retry(&self, retry: &Retry) -> StoreResult<()>;
    /// The retries due at `now` (Unix milliseconds), of every company, soonest first.
    async fn due_retries(&self, now: i64, limit: u32) -> StoreResult<Vec<Retry>>;
    /// Removes a retry that was made (or is no longer wanted).
    async fn drop_retry(&self, retry: &Retry) -> StoreResult<()>;
    /// Since when the endpoint has been failing, if it is.
    async fn webhook_failing_since(
        &self,
        company: &CompanyId,
        endpoint: Uuid,
    ) -> StoreResult<Option<Timestamp>>;
    /// Records that the endpoint failed at `at`, unless it was failing already (the first
    /// failure is kept); `None`: it answered, and is failing no more.
    async fn set_webhook_failing(
        &self,
        company: &CompanyId,
        endpoint: Uuid,
        at: Option<Timestamp>,
    ) -> StoreResult<()>;
}

/// A delivery's next attempt, waiting until it is due.
#[derive(Debug, Clone, PartialEq)]
pub struct Retry {
    /// `{due in Unix ms, 13 digits}_{uuid}`: retries sort by when they are due.
    pub id: String,
    pub company_id: CompanyId,
    pub endpoint_id: Uuid,
    pub payload: serde_json::Value,
    pub attempt: u32,
    pub due_ms: i64,
    /// The lead the event is about: its retries are erased with it.
    pub lead_id: Option<LeadId>,
}

impl Retry {
    pub fn new(
        company: &CompanyId,
        endpoint: Uuid,
        payload: serde_json::Value,
        attempt: u32,
        due_ms: i64,
        lead_id: Option<LeadId>,
    ) -> Retry {
        Retry {
            id: format!("{:013}_{}", due_ms.max(0), Uuid::now_v7().simple()),
            company_id: company.clone(),
            endpoint_id: endpoint,
            payload,
            attempt,
            due_ms,
            lead_id,
        }
    }
}

/// The outbox: events the other aggregates write with their changes (a lead's, in the
/// same transaction), read and removed by the worker. At least once: an event is removed
/// only after it was handled.
#[async_trait]
pub trait EventStore: Send + Sync {
    /// The oldest `limit` events not yet handled, of every company, oldest first.
    async fn pending_events(&self, limit: u32) -> StoreResult<Vec<OutboxEvent>>;
    /// Removes a handled event (an event already gone is fine).
    async fn ack_event(&self, event: &OutboxEvent) -> StoreResult<()>;
}

/// Customer turns waiting for the customer to be quiet before an AI agent answers them.
/// A turn's lead owns it: erased with the lead.
#[async_trait]
pub trait TurnStore: Send + Sync {
    /// Keeps a turn until it is due; the same turn scheduled again is kept once.
    async fn schedule_turn(&self, turn: &Turn) -> StoreResult<()>;
    /// The turns due at `now` (Unix milliseconds), of every company, soonest first.
    async fn due_turns(&self, now: i64, limit: u32) -> StoreResult<Vec<Turn>>;
    /// Removes a turn that was taken.
    async fn drop_turn(&self, turn: &Turn) -> StoreResult<()>;
}

/// How long a counted event is remembered, so that a redelivered one is not counted again.
pub const COUNTED_FOR_MS: i64 = 7 * 24 * 3600 * 1000;

/// The company's daily tallies (`domain::analytics`), added by the events worker once per
/// event: a year of figures is a year of days to read.
#[async_trait]
pub trait AnalyticsStore: Send + Sync {
    /// Adds `tallies` to the company's days, unless `event_id` was counted already (false:
    /// nothing written). One atomic write.
    async fn add_tallies(
        &self,
        company: &CompanyId,
        event_id: &str,
        tallies: &[Tally],
    ) -> StoreResult<bool>;
    /// The tallies of the days from `from` to `to` (inclusive, `YYYY-MM-DD`), by day; a day
    /// with nothing counted is absent.
    async fn day_tallies(
        &self,
        company: &CompanyId,
        from: &str,
        to: &str,
    ) -> StoreResult<std::collections::BTreeMap<String, DayTallies>>;
}
