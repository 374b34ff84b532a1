//! The production backend: one DynamoDB table (see [`schema`] for its design).
//!
//! Every uniqueness rule is a conditional write inside a transaction, never a read
//! followed by a write; a cancelled transaction writes nothing. Throttling and transient
//! errors are retried by the SDK (standard mode, bounded attempts and timeouts), then
//! surface as [`StoreError::Unavailable`].

mod accounts;
mod items;
pub mod schema;

use std::collections::HashMap;
use std::time::Duration;

use async_trait::async_trait;
use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, SdkConfig};
use aws_sdk_dynamodb::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{
    AttributeValue, ConditionCheck, Delete, DeleteRequest, Put, Select, TransactWriteItem,
    WriteRequest,
};
use aws_sdk_dynamodb::Client;
use uuid::Uuid;

use items::*;
use schema::{company_pk, sort_index, sort_key};

use super::{CompanyChange, Store, StoreError, StoreResult};
use crate::domain::account::{
    AccessToken, ApiKey, ChannelAccount, ChannelChange, InboundEndpoint, NewApiKey,
    NewChannelAccount,
};
use crate::domain::company::{default_settings, name_key};
use crate::domain::conversation::{
    Channel, Conversation, ConversationChange, ConversationQuery, ConversationStatus,
    ConversationView, LastMessage, Message, NewMessage, Role, StatusOutcome,
};
use crate::domain::idempotency::{Claim, StoredResponse};
use crate::domain::inbound::DeliveryStatus;
use crate::domain::lead::{
    Lead, LeadEvent, LeadEventKind, LeadFields, LeadFilters, LeadId, LeadQuery, LeadUpdate,
};
use crate::domain::page::{Order, Page};
use crate::domain::rate_limit::{Decision, Limit};
use crate::domain::{Company, CompanyId, Timestamp};

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

/// The one AWS configuration of the process: rustls on ring, bounded retries and timeouts
/// that keep a request well inside the function's own timeout.
pub async fn sdk_config() -> SdkConfig {
    use aws_smithy_http_client::tls::{self, rustls_provider::CryptoMode};
    let http = aws_smithy_http_client::Builder::new()
        .tls_provider(tls::Provider::Rustls(CryptoMode::Ring))
        .build_https();
    aws_config::defaults(BehaviorVersion::latest())
        .http_client(http)
        .retry_config(
            RetryConfig::standard()
                .with_max_attempts(3)
                .with_initial_backoff(Duration::from_millis(50)),
        )
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(Duration::from_secs(1))
                .operation_attempt_timeout(Duration::from_secs(2))
                .operation_timeout(Duration::from_secs(6))
                .build(),
        )
        .load()
        .await
}

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

    /// Applies (and forgets) a status that arrived for `external` before its message.
    async fn apply_pending(
        &self,
        company: &CompanyId,
        external: &str,
    ) -> StoreResult<Option<(DeliveryStatus, Option<serde_json::Value>)>> {
        let pk = company_pk(company);
        let Some(pending) = self.get(pk.clone(), format!("PENDING#{external}")).await? else {
            return Ok(None);
        };
        let status =
            DeliveryStatus::parse(&get_s(&pending, "status")?).unwrap_or(DeliveryStatus::Sent);
        let error: Option<serde_json::Value> =
            opt_s(&pending, "error").and_then(|e| serde_json::from_str(&e).ok());
        self.apply_message_status(company, external, status, error.clone())
            .await?;
        self.batch_delete(vec![key(pk, format!("PENDING#{external}"))])
            .await?;
        Ok(Some((status, error)))
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

    /// Every item of the partition whose sort key starts with `prefix`, in key order.
    async fn query_prefix(&self, pk: &str, prefix: &str) -> StoreResult<Vec<Item>> {
        let mut out = Vec::new();
        let mut start = None;
        loop {
            let page = self
                .client
                .query()
                .table_name(&self.table)
                .key_condition_expression("pk = :pk AND begins_with(sk, :prefix)")
                .expression_attribute_values(":pk", s(pk))
                .expression_attribute_values(":prefix", s(prefix))
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

    async fn read_lead(&self, company: &CompanyId, id: LeadId) -> StoreResult<Lead> {
        let item = self
            .get(company_pk(company), lead_sk(id))
            .await?
            .ok_or(StoreError::NotFound)?;
        lead_from(&item)
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

    /// The puts and deletes that move a lead's phone and e-mail claims from `old` to
    /// `new`, with the index of each put and the field it claims.
    fn claim_changes(
        &self,
        company: &CompanyId,
        id: LeadId,
        old: Option<&LeadFields>,
        new: Option<&LeadFields>,
        items: &mut Vec<TransactWriteItem>,
    ) -> StoreResult<Vec<(usize, &'static str, String)>> {
        let keys = |f: Option<&LeadFields>| {
            (
                f.and_then(|f| f.phone.as_ref()).map(phone_sk),
                f.and_then(|f| f.email.as_ref()).map(email_sk),
            )
        };
        let (old_phone, old_email) = keys(old);
        let (new_phone, new_email) = keys(new);
        let mut claims = Vec::new();
        for (field, before, after) in [
            ("phone", old_phone, new_phone),
            ("email", old_email, new_email),
        ] {
            if before == after {
                continue;
            }
            if let Some(sk) = before {
                items.push(self.delete_if_owned(key(company_pk(company), sk), id)?);
            }
            if let Some(sk) = after {
                claims.push((items.len(), field, sk.clone()));
                items.push(self.create(claim_item(company, sk, id))?);
            }
        }
        Ok(claims)
    }

    async fn count_leads(&self, company: &CompanyId, filter: &Filter) -> StoreResult<u64> {
        let (index, _) = sort_index(crate::domain::lead::LeadSort::CreatedAt);
        let mut total = 0u64;
        let mut start = None;
        loop {
            let out = self
                .client
                .query()
                .table_name(&self.table)
                .index_name(index)
                .key_condition_expression("pk = :pk")
                .set_filter_expression(filter.expression.clone())
                .set_expression_attribute_names(filter.names())
                .set_expression_attribute_values(Some(filter.values(company)))
                .select(Select::Count)
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(sdk_error)?;
            total += u64::try_from(out.count).unwrap_or_default();
            match out.last_evaluated_key {
                Some(k) if !k.is_empty() => start = Some(k),
                _ => return Ok(total),
            }
        }
    }
}

/// A list's filters as a DynamoDB filter expression.
struct Filter {
    expression: Option<String>,
    names: HashMap<String, String>,
    values: HashMap<String, AttributeValue>,
}

impl Filter {
    fn new(f: &LeadFilters) -> Filter {
        let mut clauses = Vec::new();
        let mut names = HashMap::new();
        let mut values = HashMap::new();
        let mut add = |attr: &str, op: &str, value: String| {
            let (name, placeholder) = (format!("#{attr}"), format!(":{attr}{}", values.len()));
            clauses.push(match op {
                "contains" => format!("contains({name}, {placeholder})"),
                _ => format!("{name} {op} {placeholder}"),
            });
            names.insert(name, attr.to_string());
            values.insert(placeholder, s(value));
        };
        for (attr, value) in [
            ("status", &f.status),
            ("pipeline", &f.pipeline),
            ("source", &f.source),
            ("user_id", &f.user_id),
        ] {
            if let Some(v) = value {
                add(attr, "=", v.clone());
            }
        }
        if let Some(from) = f.created_from {
            add("created_at", ">=", from.as_string());
        }
        if let Some(to) = f.created_to {
            add("created_at", "<=", to.as_string());
        }
        if let Some(q) = &f.search {
            add("search_text", "contains", q.clone());
        }
        Filter {
            expression: (!clauses.is_empty()).then(|| clauses.join(" AND ")),
            names,
            values,
        }
    }

    fn names(&self) -> Option<HashMap<String, String>> {
        (!self.names.is_empty()).then(|| self.names.clone())
    }

    fn values(&self, company: &CompanyId) -> HashMap<String, AttributeValue> {
        let mut v = self.values.clone();
        v.insert(":pk".into(), s(company_pk(company)));
        v
    }
}

#[async_trait]
impl Store for DynamoStore {
    async fn ping(&self) -> StoreResult<()> {
        self.get("HEALTH".into(), "HEALTH".into()).await.map(|_| ())
    }

    async fn create_company(&self, name: &str) -> StoreResult<Company> {
        let now = Timestamp::now();
        let company = Company {
            id: CompanyId::new(Uuid::now_v7().to_string()),
            name: name.trim().to_string(),
            domain: None,
            settings: default_settings(),
            created_at: now,
            updated_at: now,
        };
        let key_name = name_key(name);
        let name_item = item([
            ("pk", Some(s(format!("COMPANYNAME#{key_name}")))),
            ("sk", Some(s("COMPANYNAME"))),
            ("company_id", Some(s(company.id.as_str()))),
        ]);
        let items = vec![
            self.create(name_item)?,
            self.create(company_item(&company, &key_name))?,
        ];
        match self.transact(items).await {
            Ok(()) => Ok(company),
            Err(TxError::Conditions(_)) => match self.find_company_by_name(name).await? {
                Some(existing) => Err(StoreError::Duplicate {
                    field: "name",
                    existing_id: existing.id.to_string(),
                }),
                None => Err(StoreError::Conflict(
                    "the company name is being taken; try again".into(),
                )),
            },
            Err(TxError::Store(e)) => Err(e),
        }
    }

    async fn find_company_by_name(&self, name: &str) -> StoreResult<Option<Company>> {
        let Some(claim) = self
            .get(
                format!("COMPANYNAME#{}", name_key(name)),
                "COMPANYNAME".into(),
            )
            .await?
        else {
            return Ok(None);
        };
        let id = CompanyId::new(get_s(&claim, "company_id")?);
        match self.get_company(&id).await {
            Ok(c) => Ok(Some(c)),
            Err(StoreError::NotFound) => Ok(None),
            Err(e) => Err(e),
        }
    }

    async fn get_company(&self, id: &CompanyId) -> StoreResult<Company> {
        let item = self
            .get(format!("COMPANY#{id}"), "COMPANY".into())
            .await?
            .ok_or(StoreError::NotFound)?;
        company_from(&item)
    }

    async fn create_lead(
        &self,
        company: &CompanyId,
        fields: LeadFields,
        by: &str,
    ) -> StoreResult<Lead> {
        let now = Timestamp::now();
        let lead = Lead {
            id: LeadId(Uuid::now_v7()),
            company_id: company.clone(),
            fields,
            created_at: now,
            updated_at: now,
            version: 1,
        };
        let created = LeadEvent {
            id: Uuid::now_v7(),
            lead_id: lead.id,
            kind: LeadEventKind::Created,
            from: None,
            to: Some(lead.fields.status.clone()),
            at: now,
            by: Some(by.to_string()),
        };
        let mut items = vec![self.create(lead_item(&lead)?)?];
        let claims = self.claim_changes(company, lead.id, None, Some(&lead.fields), &mut items)?;
        items.push(self.put(event_item(company, &created), None)?);
        match self.transact(items).await {
            Ok(()) => Ok(lead),
            Err(TxError::Conditions(failed)) => {
                for (index, field, sk) in claims {
                    if failed.contains(&index) {
                        return Err(self.claimant(company, sk, field).await);
                    }
                }
                Err(StoreError::Conflict(
                    "the lead could not be created; try again".into(),
                ))
            }
            Err(TxError::Store(e)) => Err(e),
        }
    }

    async fn get_lead(&self, company: &CompanyId, id: LeadId) -> StoreResult<Lead> {
        self.read_lead(company, id).await
    }

    async fn list_leads(&self, company: &CompanyId, query: &LeadQuery) -> StoreResult<Page<Lead>> {
        let filter = Filter::new(&query.filters);
        let total = self.count_leads(company, &filter).await?;
        let (index, attribute) = sort_index(query.sort);
        let page = &query.page;
        let want = page.limit as usize + 1;
        let mut skip = if page.cursor.is_some() {
            0
        } else {
            page.offset()
        };
        let mut start = page.cursor.as_ref().map(|c| {
            let mut k = key(company_pk(company), format!("LEAD#{}", c.id));
            k.insert(attribute.to_string(), s(sort_key(query.sort, &c.v, &c.id)));
            k
        });
        // Without a filter or an offset, each item read is one to return.
        let read_limit = (filter.expression.is_none() && skip == 0).then_some(want as i32);
        let mut items = Vec::with_capacity(want);
        loop {
            let out = self
                .client
                .query()
                .table_name(&self.table)
                .index_name(index)
                .key_condition_expression("pk = :pk")
                .set_filter_expression(filter.expression.clone())
                .set_expression_attribute_names(filter.names())
                .set_expression_attribute_values(Some(filter.values(company)))
                .scan_index_forward(page.order == Order::Asc)
                .set_limit(read_limit)
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(sdk_error)?;
            for item in out.items() {
                if skip > 0 {
                    skip -= 1;
                    continue;
                }
                items.push(lead_from(item)?);
                if items.len() == want {
                    break;
                }
            }
            match out.last_evaluated_key {
                Some(k) if !k.is_empty() && items.len() < want => start = Some(k),
                _ => break,
            }
        }
        let has_more = items.len() == want;
        items.truncate(page.limit as usize);
        Ok(Page {
            items,
            total,
            has_more,
        })
    }

    async fn update_lead(
        &self,
        company: &CompanyId,
        id: LeadId,
        update: LeadUpdate,
    ) -> StoreResult<Lead> {
        let current = self.read_lead(company, id).await?;
        if current.version != update.expected_version {
            return Err(stale());
        }
        let now = Timestamp::now();
        let lead = Lead {
            fields: update.fields,
            updated_at: now,
            version: current.version + 1,
            ..current.clone()
        };
        let put = Put::builder()
            .table_name(&self.table)
            .set_item(Some(lead_item(&lead)?))
            .condition_expression("version = :expected")
            .expression_attribute_values(":expected", n(update.expected_version))
            .build()
            .map_err(built)?;
        let mut items = vec![TransactWriteItem::builder().put(put).build()];
        let claims = self.claim_changes(
            company,
            id,
            Some(&current.fields),
            Some(&lead.fields),
            &mut items,
        )?;
        for change in &update.changes {
            let event = LeadEvent {
                id: Uuid::now_v7(),
                lead_id: id,
                kind: change.kind,
                from: change.from.clone(),
                to: change.to.clone(),
                at: now,
                by: Some(update.by.clone()),
            };
            items.push(self.put(event_item(company, &event), None)?);
        }
        match self.transact(items).await {
            Ok(()) => Ok(lead),
            Err(TxError::Conditions(failed)) => {
                for (index, field, sk) in claims {
                    if failed.contains(&index) {
                        return Err(self.claimant(company, sk, field).await);
                    }
                }
                // The lead itself changed or went away meanwhile.
                self.read_lead(company, id).await?;
                Err(stale())
            }
            Err(TxError::Store(e)) => Err(e),
        }
    }

    async fn delete_lead(&self, company: &CompanyId, id: LeadId) -> StoreResult<()> {
        let pk = company_pk(company);
        let owned = self.query_prefix(&pk, &lead_sk(id)).await?;
        let lead_key = lead_sk(id);
        let lead = owned
            .iter()
            .find(|i| opt_s(i, "sk").as_deref() == Some(lead_key.as_str()))
            .map(lead_from)
            .transpose()?
            .ok_or(StoreError::NotFound)?;
        // Everything the lead owns goes first, the lead last: an interrupted delete leaves
        // the lead in place, and deleting it again finishes the job.
        let mut doomed = Vec::new();
        for link in &owned {
            let sk = get_s(link, "sk")?;
            if let Some(conversation) = sk.split("#CONV#").nth(1) {
                for i in self
                    .query_prefix(&pk, &format!("CONV#{conversation}"))
                    .await?
                {
                    if let Some(external) = opt_s(&i, "external_id") {
                        doomed.push(key(pk.clone(), format!("MSGID#{external}")));
                    }
                    doomed.push(key(pk.clone(), get_s(&i, "sk")?));
                }
            }
            if let Some(contact) = sk.split("#CONTACT#").nth(1) {
                doomed.push(key(pk.clone(), format!("CONTACT#{contact}")));
            }
            if sk != lead_key {
                doomed.push(key(pk.clone(), sk));
            }
        }
        for channel in [Channel::Whatsapp, Channel::Instagram, Channel::Facebook] {
            doomed.push(key(pk.clone(), active_sk(id, channel)));
        }
        self.batch_delete(doomed).await?;

        let mut items = vec![{
            let delete = Delete::builder()
                .table_name(&self.table)
                .set_key(Some(key(pk.clone(), lead_key)))
                .condition_expression("attribute_exists(pk)")
                .build()
                .map_err(built)?;
            TransactWriteItem::builder().delete(delete).build()
        }];
        self.claim_changes(company, id, Some(&lead.fields), None, &mut items)?;
        match self.transact(items).await {
            Ok(()) => Ok(()),
            Err(TxError::Conditions(_)) => Err(StoreError::NotFound),
            Err(TxError::Store(e)) => Err(e),
        }
    }

    async fn lead_history(&self, company: &CompanyId, id: LeadId) -> StoreResult<Vec<LeadEvent>> {
        self.read_lead(company, id).await?;
        self.query_prefix(&company_pk(company), &format!("{}#EV#", lead_sk(id)))
            .await?
            .iter()
            .map(event_from)
            .collect()
    }

    async fn create_conversation(
        &self,
        company: &CompanyId,
        lead: LeadId,
        channel: Channel,
    ) -> StoreResult<Conversation> {
        let pk = company_pk(company);
        let now = Timestamp::now();
        let conversation = Conversation {
            id: Uuid::now_v7(),
            company_id: company.clone(),
            lead_id: lead,
            channel,
            status: ConversationStatus::Active,
            metadata: serde_json::json!({}),
            last_message_at: None,
            last_inbound_at: None,
            created_at: now,
            updated_at: now,
        };
        let active = active_sk(lead, channel);
        let items = vec![
            self.exists(key(pk.clone(), lead_sk(lead)))?,
            self.create(item([
                ("pk", Some(s(&pk))),
                ("sk", Some(s(&active))),
                ("conversation_id", Some(s(conversation.id.to_string()))),
            ]))?,
            self.create(conversation_item(&conversation))?,
            self.create(key(
                pk.clone(),
                format!("{}#CONV#{}", lead_sk(lead), conversation.id),
            ))?,
        ];
        match self.transact(items).await {
            Ok(()) => Ok(conversation),
            Err(TxError::Conditions(failed)) if failed.contains(&0) => Err(StoreError::NotFound),
            Err(TxError::Conditions(_)) => {
                Err(self.claimant(company, active, "conversation").await)
            }
            Err(TxError::Store(e)) => Err(e),
        }
    }

    async fn get_conversation(&self, company: &CompanyId, id: Uuid) -> StoreResult<Conversation> {
        let item = self
            .get(company_pk(company), conversation_sk(id))
            .await?
            .ok_or(StoreError::NotFound)?;
        conversation_from(&item)
    }

    async fn add_message(
        &self,
        company: &CompanyId,
        conversation: Uuid,
        message: NewMessage,
    ) -> StoreResult<Message> {
        let pk = company_pk(company);
        let stored = Message {
            id: Uuid::now_v7(),
            conversation_id: conversation,
            role: message.role,
            content: message.content,
            kind: message.kind,
            metadata: message.metadata,
            created_at: message.created_at.unwrap_or_else(Timestamp::now),
            external_id: message.external_id,
            status: message.status,
            error: None,
        };
        let mut items = vec![
            self.exists(key(pk.clone(), conversation_sk(conversation)))?,
            self.create(message_item(company, &stored))?,
        ];
        if let Some(external) = &stored.external_id {
            items.push(self.create(message_claim(company, &stored, external))?);
        }
        match self.transact(items).await {
            Ok(()) => {}
            Err(TxError::Conditions(failed)) if failed.contains(&0) => {
                return Err(StoreError::NotFound)
            }
            Err(TxError::Conditions(_)) => {
                let external = stored.external_id.clone().unwrap_or_default();
                let claim = self.get(pk.clone(), format!("MSGID#{external}")).await?;
                return Err(match claim.as_ref().and_then(|c| opt_s(c, "message_id")) {
                    Some(existing_id) => StoreError::Duplicate {
                        field: "external_id",
                        existing_id,
                    },
                    None => StoreError::Conflict("the message is being stored; retry".into()),
                });
            }
            Err(TxError::Store(e)) => return Err(e),
        }
        let mut stored = stored;
        if let Some(external) = stored.external_id.clone() {
            if let Some((status, error)) = self.apply_pending(company, &external).await? {
                if stored.status.is_none_or(|s| s < status) {
                    stored.status = Some(status);
                    stored.error = error;
                }
            }
        }
        // Move the conversation's clocks forward only: messages arrive out of order.
        let mut clocks = vec!["last_message_at"];
        if stored.role == Role::User {
            clocks.push("last_inbound_at");
        }
        for attribute in clocks {
            let result = self
                .client
                .update_item()
                .table_name(&self.table)
                .set_key(Some(key(pk.clone(), conversation_sk(conversation))))
                .update_expression("SET #a = :t, updated_at = :t")
                .condition_expression(
                    "attribute_exists(pk) AND (attribute_not_exists(#a) OR #a < :t)",
                )
                .expression_attribute_names("#a", attribute)
                .expression_attribute_values(":t", s(stored.created_at.as_string()))
                .send()
                .await;
            match result {
                Ok(_) => {}
                Err(e) if condition_failed(&e) => {}
                Err(e) => return Err(sdk_error(e)),
            }
        }
        Ok(stored)
    }

    async fn list_messages(
        &self,
        company: &CompanyId,
        conversation: Uuid,
    ) -> StoreResult<Vec<Message>> {
        self.get_conversation(company, conversation).await?;
        self.query_prefix(
            &company_pk(company),
            &format!("{}#MSG#", conversation_sk(conversation)),
        )
        .await?
        .iter()
        .map(message_from)
        .collect()
    }

    async fn update_company(&self, id: &CompanyId, change: CompanyChange) -> StoreResult<Company> {
        let mut company = self.get_company(id).await?;
        let old_key = name_key(&company.name);
        if let Some(name) = &change.name {
            company.name = name.trim().to_string();
        }
        if let Some(domain) = change.domain {
            company.domain = domain;
        }
        if let Some(settings) = change.settings {
            company.settings = settings;
        }
        company.updated_at = Timestamp::now();
        let new_key = name_key(&company.name);
        let mut items = vec![self.put(
            company_item(&company, &new_key),
            Some("attribute_exists(pk)"),
        )?];
        if new_key != old_key {
            items.push(self.create(item([
                ("pk", Some(s(format!("COMPANYNAME#{new_key}")))),
                ("sk", Some(s("COMPANYNAME"))),
                ("company_id", Some(s(id.as_str()))),
            ]))?);
            let delete = Delete::builder()
                .table_name(&self.table)
                .set_key(Some(key(format!("COMPANYNAME#{old_key}"), "COMPANYNAME")))
                .build()
                .map_err(built)?;
            items.push(TransactWriteItem::builder().delete(delete).build());
        }
        match self.transact(items).await {
            Ok(()) => Ok(company),
            Err(TxError::Conditions(failed)) if failed.contains(&0) => Err(StoreError::NotFound),
            Err(TxError::Conditions(_)) => match self.find_company_by_name(&company.name).await? {
                Some(other) => Err(StoreError::Duplicate {
                    field: "name",
                    existing_id: other.id.to_string(),
                }),
                None => Err(StoreError::Conflict(
                    "the name is being taken; try again".into(),
                )),
            },
            Err(TxError::Store(e)) => Err(e),
        }
    }

    async fn create_api_key(&self, company: &CompanyId, key: NewApiKey) -> StoreResult<ApiKey> {
        self.create_api_key_impl(company, key).await
    }

    async fn list_api_keys(&self, company: &CompanyId) -> StoreResult<Vec<ApiKey>> {
        self.list_api_keys_impl(company).await
    }

    async fn revoke_api_key(&self, company: &CompanyId, id: Uuid) -> StoreResult<()> {
        self.revoke_api_key_impl(company, id).await
    }

    async fn find_api_key(&self, hash: &str) -> StoreResult<Option<ApiKey>> {
        self.find_api_key_impl(hash).await
    }

    async fn touch_api_key(&self, company: &CompanyId, id: Uuid, at: Timestamp) -> StoreResult<()> {
        self.touch_api_key_impl(company, id, at).await
    }

    async fn create_channel(
        &self,
        company: &CompanyId,
        channel: NewChannelAccount,
    ) -> StoreResult<ChannelAccount> {
        self.create_channel_impl(company, channel).await
    }

    async fn list_channels(&self, company: &CompanyId) -> StoreResult<Vec<ChannelAccount>> {
        self.list_channels_impl(company).await
    }

    async fn get_channel(&self, company: &CompanyId, id: Uuid) -> StoreResult<ChannelAccount> {
        self.get_channel_impl(company, id).await
    }

    async fn update_channel(
        &self,
        company: &CompanyId,
        id: Uuid,
        change: ChannelChange,
    ) -> StoreResult<ChannelAccount> {
        self.update_channel_impl(company, id, change).await
    }

    async fn delete_channel(&self, company: &CompanyId, id: Uuid) -> StoreResult<()> {
        self.delete_channel_impl(company, id).await
    }

    async fn channel_token(&self, company: &CompanyId, id: Uuid) -> StoreResult<AccessToken> {
        self.channel_token_impl(company, id).await
    }

    async fn find_channel(
        &self,
        channel: Channel,
        external_id: &str,
    ) -> StoreResult<Option<ChannelAccount>> {
        self.find_channel_impl(channel, external_id).await
    }

    async fn create_inbound_endpoint(
        &self,
        company: &CompanyId,
        name: &str,
        client_id: &str,
        secret: &AccessToken,
    ) -> StoreResult<InboundEndpoint> {
        self.create_inbound_endpoint_impl(company, name, client_id, secret)
            .await
    }

    async fn list_inbound_endpoints(
        &self,
        company: &CompanyId,
    ) -> StoreResult<Vec<InboundEndpoint>> {
        self.list_inbound_endpoints_impl(company).await
    }

    async fn delete_inbound_endpoint(&self, company: &CompanyId, id: Uuid) -> StoreResult<()> {
        self.delete_inbound_endpoint_impl(company, id).await
    }

    async fn find_inbound_endpoint(
        &self,
        client_id: &str,
    ) -> StoreResult<Option<(InboundEndpoint, AccessToken)>> {
        self.find_inbound_endpoint_impl(client_id).await
    }

    async fn take_rate_token(
        &self,
        key: &str,
        limit: &Limit,
        now_ms: i64,
    ) -> StoreResult<Decision> {
        self.take_rate_token_impl(key, limit, now_ms).await
    }

    async fn claim_idempotency_key(
        &self,
        company: &CompanyId,
        key: &str,
        fingerprint: &str,
        now: Timestamp,
    ) -> StoreResult<Claim> {
        self.claim_idempotency_key_impl(company, key, fingerprint, now)
            .await
    }

    async fn finish_idempotency_key(
        &self,
        company: &CompanyId,
        key: &str,
        response: &StoredResponse,
    ) -> StoreResult<()> {
        self.finish_idempotency_key_impl(company, key, response)
            .await
    }

    async fn abandon_idempotency_key(&self, company: &CompanyId, key: &str) -> StoreResult<()> {
        self.abandon_idempotency_key_impl(company, key).await
    }

    async fn list_conversations(
        &self,
        company: &CompanyId,
        query: &ConversationQuery,
    ) -> StoreResult<Page<ConversationView>> {
        // The company's conversation items (messages share their prefix and are filtered out).
        let pk = company_pk(company);
        let mut conversations = Vec::new();
        let mut start = None;
        loop {
            let page = self
                .client
                .query()
                .table_name(&self.table)
                .key_condition_expression("pk = :pk AND begins_with(sk, :prefix)")
                .filter_expression("#kind = :conversation")
                .expression_attribute_names("#kind", "kind")
                .expression_attribute_values(":pk", s(&pk))
                .expression_attribute_values(":prefix", s("CONV#"))
                .expression_attribute_values(":conversation", s("conversation"))
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(sdk_error)?;
            for i in page.items() {
                let c = conversation_from(i)?;
                if query.matches(&c) {
                    conversations.push(c);
                }
            }
            match page.last_evaluated_key {
                Some(k) if !k.is_empty() => start = Some(k),
                _ => break,
            }
        }
        conversations.sort_by(|a, b| {
            let key = |c: &Conversation| (c.last_message_at.unwrap_or(c.created_at), c.id);
            key(b).cmp(&key(a))
        });
        let total = conversations.len() as u64;
        let offset = usize::try_from(query.page.offset()).unwrap_or(usize::MAX);
        let limit = query.page.limit as usize;
        let has_more = conversations.len() > offset.saturating_add(limit);
        let mut items = Vec::new();
        for conversation in conversations.into_iter().skip(offset).take(limit) {
            let lead_name = match self.read_lead(company, conversation.lead_id).await {
                Ok(l) => l.fields.name,
                Err(StoreError::NotFound) => String::new(),
                Err(e) => return Err(e),
            };
            let last = self
                .client
                .query()
                .table_name(&self.table)
                .key_condition_expression("pk = :pk AND begins_with(sk, :prefix)")
                .expression_attribute_values(":pk", s(&pk))
                .expression_attribute_values(
                    ":prefix",
                    s(format!("{}#MSG#", conversation_sk(conversation.id))),
                )
                .scan_index_forward(false)
                .limit(1)
                .send()
                .await
                .map_err(sdk_error)?;
            let last_message = last
                .items()
                .first()
                .map(message_from)
                .transpose()?
                .map(|m| LastMessage {
                    content: m.content,
                    timestamp: m.created_at,
                });
            items.push(ConversationView {
                conversation,
                lead_name,
                last_message,
            });
        }
        Ok(Page {
            items,
            total,
            has_more,
        })
    }

    async fn update_conversation(
        &self,
        company: &CompanyId,
        id: Uuid,
        change: ConversationChange,
    ) -> StoreResult<Conversation> {
        let pk = company_pk(company);
        let current = self.get_conversation(company, id).await?;
        let mut next = change.apply(&current);
        next.updated_at = Timestamp::now();
        let updated_at = current.updated_at.as_string();
        let put = Put::builder()
            .table_name(&self.table)
            .set_item(Some(conversation_item(&next)))
            .condition_expression("updated_at = :seen")
            .expression_attribute_values(":seen", s(updated_at))
            .build()
            .map_err(built)?;
        let mut items = vec![TransactWriteItem::builder().put(put).build()];
        let active = active_sk(current.lead_id, current.channel);
        let was = current.status == ConversationStatus::Active;
        let is = next.status == ConversationStatus::Active;
        if was && !is {
            items.push(self.delete_if_owned_by(
                key(pk.clone(), active.clone()),
                "conversation_id",
                &id.to_string(),
            )?);
        }
        if is && !was {
            items.push(self.create(item([
                ("pk", Some(s(&pk))),
                ("sk", Some(s(&active))),
                ("conversation_id", Some(s(id.to_string()))),
            ]))?);
        }
        match self.transact(items).await {
            Ok(()) => Ok(next),
            Err(TxError::Conditions(failed)) if failed.contains(&0) => Err(StoreError::Conflict(
                "The conversation changed meanwhile; read it again and retry".into(),
            )),
            Err(TxError::Conditions(_)) => Err(StoreError::Conflict(
                "The lead already has an active conversation on this channel".into(),
            )),
            Err(TxError::Store(e)) => Err(e),
        }
    }

    async fn record_delivery(
        &self,
        company: &CompanyId,
        message: &Message,
        external_id: Option<&str>,
        status: DeliveryStatus,
        error: Option<serde_json::Value>,
    ) -> StoreResult<Message> {
        let mut next = message.clone();
        if let Some(external) = external_id {
            next.external_id = Some(external.to_string());
        }
        next.status = Some(status);
        next.error = error;
        let mut items = vec![self.put(message_item(company, &next), Some("attribute_exists(pk)"))?];
        if let (Some(external), None) = (external_id, &message.external_id) {
            items.push(self.create(message_claim(company, &next, external))?);
        }
        match self.transact(items).await {
            Ok(()) => {}
            Err(TxError::Conditions(failed)) if failed.contains(&0) => {
                return Err(StoreError::NotFound)
            }
            Err(TxError::Conditions(_)) => {
                return Err(StoreError::Conflict(
                    "another message has this channel id".into(),
                ))
            }
            Err(TxError::Store(e)) => return Err(e),
        }
        if let Some(external) = external_id {
            if let Some((pending, error)) = self.apply_pending(company, external).await? {
                if next.status.is_none_or(|s| s < pending)
                    && next.status != Some(DeliveryStatus::Failed)
                {
                    next.status = Some(pending);
                    next.error = error.or(next.error);
                }
            }
        }
        Ok(next)
    }

    async fn apply_message_status(
        &self,
        company: &CompanyId,
        external_id: &str,
        status: DeliveryStatus,
        error: Option<serde_json::Value>,
    ) -> StoreResult<StatusOutcome> {
        let pk = company_pk(company);
        let error = error.map(|e| e.to_string());
        let Some(claim) = self.get(pk.clone(), format!("MSGID#{external_id}")).await? else {
            // Not stored yet: keep the furthest status for when it is (a week at most).
            let expires = Timestamp::now().inner().timestamp() + 7 * 86_400;
            let pending = item([
                ("pk", Some(s(&pk))),
                ("sk", Some(s(format!("PENDING#{external_id}")))),
                ("status", Some(s(status.as_str()))),
                ("status_rank", Some(n(status.rank()))),
                ("error", error.map(s)),
                (schema::TTL_ATTRIBUTE, Some(n(expires))),
            ]);
            let result = self
                .client
                .put_item()
                .table_name(&self.table)
                .set_item(Some(pending))
                .condition_expression("attribute_not_exists(pk) OR status_rank < :rank")
                .expression_attribute_values(":rank", n(status.rank()))
                .send()
                .await;
            return match result {
                Ok(_) => Ok(StatusOutcome::Pending),
                Err(e) if condition_failed(&e) => Ok(StatusOutcome::Pending),
                Err(e) => Err(sdk_error(e)),
            };
        };
        let mut update = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(pk, get_s(&claim, "message_sk")?)))
            .update_expression(if error.is_some() {
                "SET #status = :status, status_rank = :rank, #error = :error"
            } else {
                "SET #status = :status, status_rank = :rank"
            })
            .condition_expression(
                "attribute_exists(pk) AND (attribute_not_exists(status_rank) OR (status_rank < :rank AND status_rank <> :failed))",
            )
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":status", s(status.as_str()))
            .expression_attribute_values(":rank", n(status.rank()))
            .expression_attribute_values(":failed", n(DeliveryStatus::Failed.rank()));
        if let Some(e) = error {
            update = update
                .expression_attribute_names("#error", "error")
                .expression_attribute_values(":error", s(e));
        }
        match update.send().await {
            Ok(_) => Ok(StatusOutcome::Applied),
            Err(e) if condition_failed(&e) => Ok(StatusOutcome::Unchanged),
            Err(e) => Err(sdk_error(e)),
        }
    }

    async fn find_contact(
        &self,
        company: &CompanyId,
        channel: Channel,
        user_id: &str,
    ) -> StoreResult<Option<LeadId>> {
        let claim = self
            .get(
                company_pk(company),
                format!("CONTACT#{}#{user_id}", channel.as_str()),
            )
            .await?;
        claim
            .map(|c| {
                get_s(&c, "lead_id").and_then(|id| {
                    Uuid::parse_str(&id)
                        .map(LeadId)
                        .map_err(|_| StoreError::Internal("unreadable lead_id".into()))
                })
            })
            .transpose()
    }

    async fn contact_of(
        &self,
        company: &CompanyId,
        lead: LeadId,
        channel: Channel,
    ) -> StoreResult<Option<String>> {
        let prefix = format!("{}#CONTACT#{}#", lead_sk(lead), channel.as_str());
        let links = self.query_prefix(&company_pk(company), &prefix).await?;
        Ok(links
            .first()
            .and_then(|l| opt_s(l, "sk"))
            .and_then(|sk| sk.strip_prefix(&prefix).map(str::to_string)))
    }

    async fn conversation_of_message(
        &self,
        company: &CompanyId,
        external_id: &str,
    ) -> StoreResult<Option<Uuid>> {
        let claim = self
            .get(company_pk(company), format!("MSGID#{external_id}"))
            .await?;
        Ok(claim
            .and_then(|c| opt_s(&c, "message_sk"))
            .and_then(|sk| {
                sk.strip_prefix("CONV#")
                    .and_then(|rest| rest.split('#').next())
                    .map(str::to_string)
            })
            .and_then(|id| Uuid::parse_str(&id).ok()))
    }

    async fn claim_contact(
        &self,
        company: &CompanyId,
        channel: Channel,
        user_id: &str,
        lead: LeadId,
    ) -> StoreResult<()> {
        let pk = company_pk(company);
        let contact = format!("{}#{user_id}", channel.as_str());
        let items = vec![
            self.exists(key(pk.clone(), lead_sk(lead)))?,
            self.create(item([
                ("pk", Some(s(&pk))),
                ("sk", Some(s(format!("CONTACT#{contact}")))),
                ("lead_id", Some(s(lead.to_string()))),
            ]))?,
            self.create(key(
                pk.clone(),
                format!("{}#CONTACT#{contact}", lead_sk(lead)),
            ))?,
        ];
        match self.transact(items).await {
            Ok(()) => Ok(()),
            Err(TxError::Conditions(failed)) if failed.contains(&0) => Err(StoreError::NotFound),
            Err(TxError::Conditions(_)) => Err(self
                .claimant(company, format!("CONTACT#{contact}"), "contact")
                .await),
            Err(TxError::Store(e)) => Err(e),
        }
    }
}

fn stale() -> StoreError {
    StoreError::Conflict("The lead was changed by someone else; read it again and retry".into())
}
