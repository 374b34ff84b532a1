//! The domain's types: parsed once at the edge, trusted everywhere after.

pub mod account;
pub mod company;
pub mod conversation;
pub mod error;
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

pub use company::{Company, CompanyId};
pub use time::Timestamp;

use serde::de::DeserializeOwned;
use serde_json::Value;
use validator::ValidationErrors;

pub use error::{DomainError, DomainResult, FieldErrors};

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
