//! Attribute values in and out of DynamoDB items.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;
use serde_json::Value;
use uuid::Uuid;

use crate::domain::Timestamp;
use crate::store::{StoreError, StoreResult};

pub type Item = HashMap<String, AttributeValue>;

pub fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

pub fn n(v: i64) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

pub fn corrupt(what: &str) -> StoreError {
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

pub fn get_ts(item: &Item, key: &str) -> StoreResult<Timestamp> {
    Timestamp::parse(&get_s(item, key)?).ok_or_else(|| corrupt(key))
}

pub fn opt_ts(item: &Item, key: &str) -> StoreResult<Option<Timestamp>> {
    opt_s(item, key)
        .map(|v| Timestamp::parse(&v).ok_or_else(|| corrupt(key)))
        .transpose()
}

pub fn get_uuid(item: &Item, key: &str) -> StoreResult<Uuid> {
    Uuid::parse_str(&get_s(item, key)?).map_err(|_| corrupt(key))
}

pub fn get_json(item: &Item, key: &str) -> StoreResult<Value> {
    serde_json::from_str(&get_s(item, key)?).map_err(|_| corrupt(key))
}

/// Builds an item from its attributes, leaving out the absent optional ones.
pub fn item<const N: usize>(attrs: [(&str, Option<AttributeValue>); N]) -> Item {
    attrs
        .into_iter()
        .filter_map(|(k, v)| v.map(|v| (k.to_string(), v)))
        .collect()
}

/// The key a `keys` builder made, as an item key.
pub fn key_of((pk, sk): (String, String)) -> Item {
    key(pk, sk)
}

/// An item at a key a `keys` builder made, with these attributes.
pub fn keyed<const N: usize>(
    at: (String, String),
    attrs: [(&str, Option<AttributeValue>); N],
) -> Item {
    let mut i = key_of(at);
    i.extend(item(attrs));
    i
}

pub fn key(pk: impl Into<String>, sk: impl Into<String>) -> Item {
    item([("pk", Some(s(pk))), ("sk", Some(s(sk)))])
}
