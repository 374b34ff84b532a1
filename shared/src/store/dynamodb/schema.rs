//! The table and its indexes, as `template.yaml` declares them (keys: [`super::keys`]).

use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection,
    ProjectionType, ScalarAttributeType, TimeToLiveSpecification,
};
use aws_sdk_dynamodb::Client;

use super::keys::{sort_index, ACTIVITY_INDEX};
use crate::domain::lead::LeadSort;
use crate::store::{StoreError, StoreResult};

pub const TTL_ATTRIBUTE: &str = "expires_at";

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
    let indexes = LeadSort::ALL
        .into_iter()
        .map(sort_index)
        .chain([ACTIVITY_INDEX]);
    for (index, attribute) in indexes {
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
