//! The domain's types: parsed once at the edge, trusted everywhere after.

pub mod account;
pub mod agent;
pub mod ai;
pub mod analytics;
pub mod autoreply;
pub mod company;
pub mod conversation;
pub mod error;
pub mod event;
pub mod idempotency;
pub mod inbound;
pub mod lead;
pub mod merge_patch;
pub mod outgoing;
pub mod page;
pub mod phone;
pub mod rate_limit;
pub mod text;
pub mod time;
pub mod webhook;
pub mod zone;

pub use company::{Company, CompanyId};
pub use time::Timestamp;

use serde::de::DeserializeOwned;
use serde_json::Value;
use validator::ValidationErrors;

pub use error::{DomainError, DomainResult, FieldErrors};

/// The largest free-form JSON document a record may hold (a lead's `custom_fields`, a
/// conversation's `metadata`), serialized, and its deepest nesting: a page of 100 records
/// must fit in Lambda's 6 MB answer, and a DynamoDB item in 400 KB.
pub const MAX_DOCUMENT_BYTES: usize = 16 * 1024;
pub const MAX_DOCUMENT_DEPTH: usize = 8;

/// Refuses a free-form document over [`MAX_DOCUMENT_BYTES`] or [`MAX_DOCUMENT_DEPTH`].
pub fn check_document(field: &str, document: &Value, errors: &mut FieldErrors) {
    fn depth(v: &Value) -> usize {
        match v {
            Value::Object(m) => 1 + m.values().map(depth).max().unwrap_or(0),
            Value::Array(a) => 1 + a.iter().map(depth).max().unwrap_or(0),
            _ => 0,
        }
    }
    if document.to_string().len() > MAX_DOCUMENT_BYTES {
        errors.add(
            field,
            format!("must be at most {MAX_DOCUMENT_BYTES} bytes as JSON"),
        );
    }
    if depth(document) > MAX_DOCUMENT_DEPTH {
        errors.add(
            field,
            format!("must nest at most {MAX_DOCUMENT_DEPTH} levels"),
        );
    }
}

/// An optional integer as JSON has it: `67` and `67.0` are one number (JSON Schema's
/// `integer`); `67.5` is not an integer.
pub fn whole_number<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    use serde::de::Error;
    use serde::Deserialize;
    match Option::<serde_json::Number>::deserialize(d)? {
        None => Ok(None),
        Some(n) => match (n.as_i64(), n.as_f64()) {
            (Some(i), _) => Ok(Some(i)),
            (None, Some(f)) if f.fract() == 0.0 && f.abs() < 9.0e15 => Ok(Some(f as i64)),
            _ => Err(D::Error::custom(format!("{n} is not an integer"))),
        },
    }
}

/// A field a change may clear with `null`: absent is `None`, `null` is `Some(None)`
/// (`#[serde(default, deserialize_with = "super::nullable")]`).
pub fn nullable<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: serde::Deserialize<'de>,
{
    <Option<T> as serde::Deserialize>::deserialize(d).map(Some)
}

/// The id of an agent a change assigns, or clears with `null`.
pub fn nullable_agent(
    value: Option<Option<String>>,
    errors: &mut FieldErrors,
) -> Option<Option<uuid::Uuid>> {
    match value? {
        None => Some(None),
        Some(id) => match uuid::Uuid::parse_str(&id) {
            Ok(id) => Some(Some(id)),
            Err(_) => {
                errors.add("agent_id", "must be an agent id, or null");
                None
            }
        },
    }
}

/// Deserialises a request body; a field of the wrong type is a 422 naming it.
pub fn parse_body<T: DeserializeOwned>(body: Value) -> Result<T, FieldErrors> {
    serde_path_to_error::deserialize(body).map_err(|e| {
        let path = e.path().to_string();
        let field = if path == "." {
            "body".to_string()
        } else {
            path
        };
        let message = e.inner().to_string();
        // serde names an unknown field in its message; name it as the field too.
        match message
            .strip_prefix("unknown field `")
            .and_then(|m| m.split('`').next())
        {
            Some(unknown) => FieldErrors::one(unknown, "is not a known field"),
            None => FieldErrors::one(field, message),
        }
    })
}

/// `validator`'s errors as the envelope's `details`; `required` is a missing field.
pub fn validation_errors(result: Result<(), ValidationErrors>) -> FieldErrors {
    let mut out = FieldErrors::new();
    let Err(errors) = result else {
        return out;
    };
    for (field, errs) in errors.field_errors() {
        for e in errs {
            if e.code == "required" {
                out.missing(field.to_string());
            } else {
                let message = e
                    .message
                    .as_ref()
                    .map(|m| m.to_string())
                    .unwrap_or_else(|| format!("is invalid ({})", e.code));
                out.add(field.to_string(), message);
            }
        }
    }
    out
}
