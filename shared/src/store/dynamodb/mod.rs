//! The production backend: one DynamoDB table (see [`keys`] for its design), one file per
//! aggregate (`docs/architecture.md`, "Store").
//!
//! Every uniqueness rule is a conditional write inside a transaction, never a read
//! followed by a write; a cancelled transaction writes nothing. Throttling and transient
//! errors are retried by the SDK (standard mode, bounded attempts and timeouts), then
//! surface as [`StoreError::Unavailable`].

mod accounts;
mod agents;
mod ai_usage;
mod analytics;
mod conversations;
mod events;
mod guard;
mod items;
pub mod keys;
mod leads;
mod messages;
pub mod schema;
mod turns;
mod webhooks;

use std::time::Duration;

use async_trait::async_trait;
use aws_config::SdkConfig;
use aws_sdk_dynamodb::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{
    ConditionCheck, Delete, DeleteRequest, Put, TransactWriteItem, WriteRequest,
};
use aws_sdk_dynamodb::Client;

use items::*;
use keys::company_pk;
use uuid::Uuid;

use super::{Store, StoreError, StoreResult};
use crate::domain::lead::LeadId;
use crate::domain::CompanyId;

/// Transient service errors worth a 503 (the SDK has already retried them).
const TRANSIENT: &[&str] = &[
    "ProvisionedThroughputExceededException",
    "ThrottlingException",
    "RequestLimitExceeded",
    "InternalServerError",
    "ServiceUnavailable",
    "LimitExceededException",
    "ResourceNotFoundException",
];

pub use crate::aws::sdk_config;

pub(crate) fn sdk_error<E, R>(e: SdkError<E, R>) -> StoreError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    let detail = DisplayErrorContext(&e).to_string();
    match &e {
        SdkError::ServiceError(se) => match se.err().code() {
            Some(code) if TRANSIENT.contains(&code) => StoreError::Unavailable(detail),
            _ => StoreError::Internal(detail),
        },
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_) => {
            StoreError::Unavailable(detail)
        }
        _ => StoreError::Internal(detail),
    }
}

/// A write refused by its condition expression, whichever operation made it.
pub(crate) fn condition_failed<E: ProvideErrorMetadata, R>(e: &SdkError<E, R>) -> bool {
    e.as_service_error().and_then(|s| s.code()) == Some("ConditionalCheckFailedException")
}

fn built(e: aws_sdk_dynamodb::error::BuildError) -> StoreError {
    StoreError::Internal(e.to_string())
}

/// Why a transaction did not happen.
enum TxError {
    /// These items' conditions failed; nothing was written.
    Conditions(Vec<usize>),
    Store(StoreError),
}

impl From<StoreError> for TxError {
    fn from(e: StoreError) -> Self {
        TxError::Store(e)
    }
}

pub struct DynamoStore {
    client: Client,
    table: String,
}

impl DynamoStore {
    pub fn new(sdk: &SdkConfig, table: impl Into<String>) -> Self {
        DynamoStore {
            client: Client::new(sdk),
            table: table.into(),
        }
    }

    /// A store on a client configured by the caller (another endpoint, say).
    pub fn with_client(client: Client, table: impl Into<String>) -> Self {
        DynamoStore {
            client,
            table: table.into(),
        }
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    pub fn table(&self) -> &str {
        &self.table
    }

    /// Creates the table if it does not exist (local development and tests).
    pub async fn create_table(&self) -> StoreResult<()> {
        schema::create_table(&self.client, &self.table).await
    }

    fn put(&self, item: Item, condition: Option<&str>) -> StoreResult<TransactWriteItem> {
        let put = Put::builder()
            .table_name(&self.table)
            .set_item(Some(item))
            .set_condition_expression(condition.map(str::to_string))
            .build()
            .map_err(built)?;
        Ok(TransactWriteItem::builder().put(put).build())
    }

    /// A put that may only create: it fails if the key is taken.
    fn create(&self, item: Item) -> StoreResult<TransactWriteItem> {
        self.put(item, Some("attribute_not_exists(pk)"))
    }

    fn delete_if_owned(&self, key: Item, lead: LeadId) -> StoreResult<TransactWriteItem> {
        self.delete_if_owned_by(key, "lead_id", &lead.to_string())
    }

    /// Deletes a claim only if `attribute` still names `owner` (or it is already gone).
    fn delete_if_owned_by(
        &self,
        key: Item,
        attribute: &str,
        owner: &str,
    ) -> StoreResult<TransactWriteItem> {
        let delete = Delete::builder()
            .table_name(&self.table)
            .set_key(Some(key))
            .condition_expression("attribute_not_exists(pk) OR #owner = :owner")
            .expression_attribute_names("#owner", attribute)
            .expression_attribute_values(":owner", s(owner))
            .build()
            .map_err(built)?;
        Ok(TransactWriteItem::builder().delete(delete).build())
    }

    fn exists(&self, key: Item) -> StoreResult<TransactWriteItem> {
        let check = ConditionCheck::builder()
            .table_name(&self.table)
            .set_key(Some(key))
            .condition_expression("attribute_exists(pk)")
            .build()
            .map_err(built)?;
        Ok(TransactWriteItem::builder().condition_check(check).build())
    }

    /// Moves the company's count `name` by `delta`, as part of a transaction.
    fn count(&self, company: &CompanyId, name: &str, delta: i64) -> StoreResult<TransactWriteItem> {
        let update = aws_sdk_dynamodb::types::Update::builder()
            .table_name(&self.table)
            .set_key(Some(key(company_pk(company), keys::counter_sk(name))))
            .update_expression("ADD n :delta")
            .expression_attribute_values(":delta", n(delta))
            .build()
            .map_err(built)?;
        Ok(TransactWriteItem::builder().update(update).build())
    }

    /// The company's count `name` (0 when nothing was counted yet).
    async fn counted(&self, company: &CompanyId, name: &str) -> StoreResult<u64> {
        let item = self
            .get(company_pk(company), keys::counter_sk(name))
            .await?;
        Ok(item
            .and_then(|i| get_n(&i, "n").ok())
            .and_then(|n| u64::try_from(n).ok())
            .unwrap_or_default())
    }

    async fn transact(&self, items: Vec<TransactWriteItem>) -> Result<(), TxError> {
        // One token for every attempt: DynamoDB applies a retried transaction only once,
        // even when the first attempt succeeded but its answer was lost to a timeout.
        let token = Uuid::new_v4().to_string();
        let mut attempt = 0u32;
        loop {
            let result = self
                .client
                .transact_write_items()
                .client_request_token(&token)
                .set_transact_items(Some(items.clone()))
                .send()
                .await;
            let e = match result {
                Ok(_) => return Ok(()),
                Err(e) => e,
            };
            if let Some(TransactWriteItemsError::TransactionCanceledException(c)) =
                e.as_service_error()
            {
                let reasons = c.cancellation_reasons();
                let failed: Vec<usize> = reasons
                    .iter()
                    .enumerate()
                    .filter(|(_, r)| r.code() == Some("ConditionalCheckFailed"))
                    .map(|(i, _)| i)
                    .collect();
                if !failed.is_empty() {
                    return Err(TxError::Conditions(failed));
                }
                // Another transaction held one of the items: try again, briefly.
                if attempt < 4
                    && reasons
                        .iter()
                        .any(|r| r.code() == Some("TransactionConflict"))
                {
                    attempt += 1;
                    let jitter = (Uuid::new_v4().as_u128() % 25) as u64;
                    tokio::time::sleep(Duration::from_millis(20 * u64::from(attempt) + jitter))
                        .await;
                    continue;
                }
            }
            return Err(TxError::Store(sdk_error(e)));
        }
    }

    async fn get(&self, pk: String, sk: String) -> StoreResult<Option<Item>> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key(pk, sk)))
            .consistent_read(true)
            .send()
            .await
            .map_err(sdk_error)?;
        Ok(out.item)
    }

    /// Puts one item under `condition`; a failed condition is NotFound (an update of what
    /// is gone) or Conflict (a create of what exists), as the condition says.
    async fn put_one(&self, item: Item, condition: &str) -> StoreResult<()> {
        let out = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression(condition)
            .send()
            .await;
        match out {
            Ok(_) => Ok(()),
            Err(e) if condition_failed(&e) && condition.starts_with("attribute_exists") => {
                Err(StoreError::NotFound)
            }
            Err(e) if condition_failed(&e) => Err(StoreError::Conflict("the item exists".into())),
            Err(e) => Err(sdk_error(e)),
        }
    }

    /// The item at a key a `keys` builder made.
    async fn get_key(&self, (pk, sk): (String, String)) -> StoreResult<Option<Item>> {
        self.get(pk, sk).await
    }

    /// Every item of the partition whose sort key starts with `prefix`, in key order.
    async fn query_prefix(&self, pk: &str, prefix: &str) -> StoreResult<Vec<Item>> {
        self.query_all("pk = :pk AND begins_with(sk, :a)", pk, prefix, None)
            .await
    }

    /// The partition's newest `limit` items (at most 100) whose sort key starts with
    /// `prefix`, newest (highest key) first.
    async fn query_newest(&self, pk: &str, prefix: &str, limit: u32) -> StoreResult<Vec<Item>> {
        let out = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("pk = :pk AND begins_with(sk, :prefix)")
            .expression_attribute_values(":pk", s(pk))
            .expression_attribute_values(":prefix", s(prefix))
            .scan_index_forward(false)
            .consistent_read(true)
            .limit(i32::try_from(limit.min(100)).unwrap_or(100))
            .send()
            .await
            .map_err(sdk_error)?;
        Ok(out.items.unwrap_or_default())
    }

    /// Every item of the partition whose sort key is from `from` to `to`, in key order.
    async fn query_between(&self, pk: &str, from: &str, to: &str) -> StoreResult<Vec<Item>> {
        self.query_all("pk = :pk AND sk BETWEEN :a AND :b", pk, from, Some(to))
            .await
    }

    async fn query_all(
        &self,
        condition: &str,
        pk: &str,
        a: &str,
        b: Option<&str>,
    ) -> StoreResult<Vec<Item>> {
        let mut out = Vec::new();
        let mut start = None;
        loop {
            let mut values = std::collections::HashMap::from([
                (":pk".to_string(), s(pk)),
                (":a".to_string(), s(a)),
            ]);
            if let Some(b) = b {
                values.insert(":b".to_string(), s(b));
            }
            let page = self
                .client
                .query()
                .table_name(&self.table)
                .key_condition_expression(condition)
                .set_expression_attribute_values(Some(values))
                .consistent_read(true)
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(sdk_error)?;
            out.extend(page.items.unwrap_or_default());
            match page.last_evaluated_key {
                Some(k) if !k.is_empty() => start = Some(k),
                _ => return Ok(out),
            }
        }
    }

    /// Deletes `keys` 25 at a time (BatchWriteItem's limit), retrying unprocessed ones.
    async fn batch_delete(&self, keys: Vec<Item>) -> StoreResult<()> {
        for chunk in keys.chunks(25) {
            let mut requests: Vec<WriteRequest> = chunk
                .iter()
                .map(|k| {
                    DeleteRequest::builder()
                        .set_key(Some(k.clone()))
                        .build()
                        .map(|d| WriteRequest::builder().delete_request(d).build())
                        .map_err(built)
                })
                .collect::<StoreResult<_>>()?;
            for attempt in 0..5u64 {
                let out = self
                    .client
                    .batch_write_item()
                    .request_items(&self.table, requests)
                    .send()
                    .await
                    .map_err(sdk_error)?;
                requests = out
                    .unprocessed_items
                    .and_then(|mut u| u.remove(&self.table))
                    .unwrap_or_default();
                if requests.is_empty() {
                    break;
                }
                if attempt == 4 {
                    return Err(StoreError::Unavailable(
                        "DynamoDB left deletes unprocessed".into(),
                    ));
                }
                tokio::time::sleep(Duration::from_millis(50 << attempt)).await;
            }
        }
        Ok(())
    }

    /// Deletes these items together, in one transaction.
    async fn delete_all(&self, keys: Vec<Item>) -> StoreResult<()> {
        let items = keys
            .into_iter()
            .map(|k| {
                Delete::builder()
                    .table_name(&self.table)
                    .set_key(Some(k))
                    .build()
                    .map(|d| TransactWriteItem::builder().delete(d).build())
                    .map_err(built)
            })
            .collect::<StoreResult<Vec<_>>>()?;
        self.transact(items).await.map_err(|e| match e {
            TxError::Conditions(_) => StoreError::NotFound,
            TxError::Store(e) => e,
        })
    }

    /// After a failed claim, whose lead holds the value.
    async fn claimant(&self, company: &CompanyId, sk: String, field: &'static str) -> StoreError {
        match self.get(company_pk(company), sk).await {
            Ok(Some(item)) => {
                match opt_s(&item, "lead_id").or_else(|| opt_s(&item, "conversation_id")) {
                    Some(existing_id) => StoreError::Duplicate { field, existing_id },
                    None => StoreError::Internal(format!("{field} claim without an owner")),
                }
            }
            Ok(None) => StoreError::Conflict(format!("the {field} changed hands; try again")),
            Err(e) => e,
        }
    }
}

#[async_trait]
impl Store for DynamoStore {
    async fn ping(&self) -> StoreResult<()> {
        self.get_key(keys::health()).await.map(|_| ())
    }
}

fn stale() -> StoreError {
    StoreError::Conflict("The lead was changed by someone else; read it again and retry".into())
}
