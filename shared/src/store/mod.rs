//! The store: one trait of domain operations, scoped by company, with interchangeable
//! backends. Handlers see only this trait.

pub mod dynamodb;
mod sqlite;

use std::sync::Arc;

use async_trait::async_trait;
use uuid::Uuid;

pub use dynamodb::DynamoStore;
pub use sqlite::SqliteStore;

use crate::config::StoreConfig;
use crate::domain::conversation::{Channel, Conversation, Message, NewMessage};
use crate::domain::lead::{Lead, LeadEvent, LeadFields, LeadId, LeadQuery, LeadUpdate};
use crate::domain::page::Page;
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

#[async_trait]
pub trait Store: Send + Sync {
    /// A cheap round trip, for the health route.
    async fn ping(&self) -> StoreResult<()>;

    async fn create_company(&self, name: &str) -> StoreResult<Company>;
    async fn find_company_by_name(&self, name: &str) -> StoreResult<Option<Company>>;
    async fn get_company(&self, id: &CompanyId) -> StoreResult<Company>;

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

    async fn create_conversation(
        &self,
        company: &CompanyId,
        lead: LeadId,
        channel: Channel,
    ) -> StoreResult<Conversation>;
    async fn get_conversation(&self, company: &CompanyId, id: Uuid) -> StoreResult<Conversation>;
    async fn add_message(
        &self,
        company: &CompanyId,
        conversation: Uuid,
        message: NewMessage,
    ) -> StoreResult<Message>;
    async fn list_messages(
        &self,
        company: &CompanyId,
        conversation: Uuid,
    ) -> StoreResult<Vec<Message>>;
}

/// Prepares the configured backend for use: applies SQLite's migrations, or creates the
/// DynamoDB table when it does not exist (local development; production's table comes
/// from `template.yaml`).
pub async fn migrate(config: &StoreConfig) -> StoreResult<()> {
    match config {
        StoreConfig::Sqlite { path } => SqliteStore::open(path).map(|_| ()),
        StoreConfig::Dynamodb { table } => {
            DynamoStore::new(&dynamodb::sdk_config().await, table.clone())
                .create_table()
                .await
        }
    }
}

/// Opens the configured backend (SQLite applies its migrations as it opens).
pub async fn open(config: &StoreConfig) -> StoreResult<Arc<dyn Store>> {
    match config {
        StoreConfig::Sqlite { path } => Ok(Arc::new(SqliteStore::open(path)?)),
        StoreConfig::Dynamodb { table } => {
            let sdk = dynamodb::sdk_config().await;
            Ok(Arc::new(DynamoStore::new(&sdk, table.clone())))
        }
    }
}
