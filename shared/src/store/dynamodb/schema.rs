//! The single-table design. Every item of a company lives in its partition, so a
//! request never touches another company's data, and no request path needs a Scan.
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
//!
//! `accounts.rs` lists the items of API keys, channel accounts, inbound endpoints, rate
//! buckets and idempotency records.
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
//! `␁` is U+0001, below every character a validated value may hold, so the index order is
//! exactly (value, id): the keyset cursor's order, the same as the SQLite backend's.
//! Ephemeral items (idempotency records, rate-limit buckets) carry `expires_at`, the
//! table's TTL attribute.

use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection,
    ProjectionType, ScalarAttributeType, TimeToLiveSpecification,
};
use aws_sdk_dynamodb::Client;
use serde_json::Value;

use crate::domain::lead::LeadSort;
use crate::domain::CompanyId;
use crate::store::{StoreError, StoreResult};

pub const SEP: char = '\u{1}';
pub const TTL_ATTRIBUTE: &str = "expires_at";

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
pub fn sort_key(sort: LeadSort, value: &Value, id: &str) -> String {
    match (sort, value) {
        (LeadSort::Score, Value::Number(n)) => format!("{:03}{SEP}{id}", n.as_i64().unwrap_or(0)),
        (_, Value::String(s)) => format!("{s}{SEP}{id}"),
        (_, other) => format!("{other}{SEP}{id}"),
    }
}

pub fn company_pk(company: &CompanyId) -> String {
    format!("C#{company}")
}

/// Creates the table with its indexes and TTL, as `template.yaml` declares it.
/// For local development and tests; production's table comes from the template.
pub async fn create_table(client: &Client, table: &str) -> StoreResult<()> {
    let attr = |name: &str| {
        AttributeDefinition::builder()
            .attribute_name(name)
            .attribute_type(ScalarAttributeType::S)
            .build()
    };
    let key = |name: &str, kind: KeyType| {
        KeySchemaElement::builder()
            .attribute_name(name)
            .key_type(kind)
            .build()
    };
    let built = |e: aws_sdk_dynamodb::error::BuildError| StoreError::Internal(e.to_string());
    let mut request = client
        .create_table()
        .table_name(table)
        .billing_mode(BillingMode::PayPerRequest)
        .attribute_definitions(attr("pk").map_err(built)?)
        .attribute_definitions(attr("sk").map_err(built)?)
        .key_schema(key("pk", KeyType::Hash).map_err(built)?)
        .key_schema(key("sk", KeyType::Range).map_err(built)?);
    for sort in LeadSort::ALL {
        let (index, attribute) = sort_index(sort);
        request = request
            .attribute_definitions(attr(attribute).map_err(built)?)
            .global_secondary_indexes(
                GlobalSecondaryIndex::builder()
                    .index_name(index)
                    .key_schema(key("pk", KeyType::Hash).map_err(built)?)
                    .key_schema(key(attribute, KeyType::Range).map_err(built)?)
                    .projection(
                        Projection::builder()
                            .projection_type(ProjectionType::All)
                            .build(),
                    )
                    .build()
                    .map_err(built)?,
            );
    }
    match request.send().await {
        Ok(_) => {}
        Err(e)
            if e.as_service_error()
                .is_some_and(|s| s.is_resource_in_use_exception()) =>
        {
            return Ok(());
        }
        Err(e) => return Err(super::sdk_error(e)),
    }
    client
        .update_time_to_live()
        .table_name(table)
        .time_to_live_specification(
            TimeToLiveSpecification::builder()
                .attribute_name(TTL_ATTRIBUTE)
                .enabled(true)
                .build()
                .map_err(built)?,
        )
        .send()
        .await
        .map_err(super::sdk_error)?;
    Ok(())
}
