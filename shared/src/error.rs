//! The one error type every route returns, and the one place it becomes an HTTP answer.

use std::collections::BTreeMap;

use serde_json::{json, Value};

use crate::store::StoreError;

/// Field name → messages, the `details` of a 422.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct FieldErrors {
    fields: BTreeMap<String, Vec<String>>,
    missing_required: bool,
}

impl FieldErrors {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn add(&mut self, field: impl Into<String>, message: impl Into<String>) {
        self.fields
            .entry(field.into())
            .or_default()
            .push(message.into());
    }

    pub fn missing(&mut self, field: impl Into<String>) {
        self.missing_required = true;
        self.add(field, "is required");
    }

    pub fn one(field: impl Into<String>, message: impl Into<String>) -> Self {
        let mut e = Self::new();
        e.add(field, message);
        e
    }

    pub fn is_empty(&self) -> bool {
        self.fields.is_empty()
    }

    /// `Ok(())` when nothing was recorded, else the 422.
    pub fn into_result(self) -> Result<(), ApiError> {
        if self.is_empty() {
            Ok(())
        } else {
            Err(ApiError::Validation(self))
        }
    }

    pub fn merge(&mut self, other: FieldErrors) {
        self.missing_required |= other.missing_required;
        for (field, messages) in other.fields {
            self.fields.entry(field).or_default().extend(messages);
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("bad request: {0}")]
    BadRequest(String),
    #[error("unauthorized: {0}")]
    Unauthorized(String),
    #[error("invalid API key")]
    InvalidApiKey,
    #[error("forbidden: {0}")]
    Forbidden(String),
    #[error("not found: {1}")]
    NotFound(&'static str, String),
    #[error("method not allowed")]
    MethodNotAllowed,
    #[error("conflict: {message}")]
    Conflict {
        message: String,
        details: Option<Value>,
    },
    #[error("payload too large")]
    PayloadTooLarge { limit: usize },
    #[error("validation failed: {0:?}")]
    Validation(FieldErrors),
    #[error("rate limit exceeded")]
    RateLimited { retry_after: u64 },
    #[error("store unavailable: {0}")]
    StoreUnavailable(String),
    /// More than 24 hours since the customer last wrote: only templates may go.
    #[error("messaging window closed")]
    WindowClosed(String),
    /// An upstream API refused: `code` is ours (`WHATSAPP_API_ERROR`), `details` theirs.
    #[error("upstream error: {message}")]
    Upstream {
        code: &'static str,
        message: String,
        details: Option<Value>,
    },
    #[error("upstream timeout: {0}")]
    UpstreamTimeout(String),
    #[error("internal error: {0}")]
    Internal(String),
}

impl ApiError {
    pub fn not_found(what: &str) -> Self {
        ApiError::NotFound("NOT_FOUND", format!("{what} not found"))
    }

    pub fn lead_not_found() -> Self {
        ApiError::NotFound("LEAD_NOT_FOUND", "Lead not found".into())
    }

    pub fn validation(field: impl Into<String>, message: impl Into<String>) -> Self {
        ApiError::Validation(FieldErrors::one(field, message))
    }

    pub fn status(&self) -> u16 {
        match self {
            ApiError::BadRequest(_) => 400,
            ApiError::Unauthorized(_) | ApiError::InvalidApiKey => 401,
            ApiError::Forbidden(_) => 403,
            ApiError::NotFound(..) => 404,
            ApiError::MethodNotAllowed => 405,
            ApiError::Conflict { .. } => 409,
            ApiError::PayloadTooLarge { .. } => 413,
            ApiError::Validation(_) => 422,
            ApiError::RateLimited { .. } => 429,
            ApiError::StoreUnavailable(_) => 503,
            ApiError::WindowClosed(_) => 409,
            ApiError::Upstream { .. } => 502,
            ApiError::UpstreamTimeout(_) => 504,
            ApiError::Internal(_) => 500,
        }
    }

    pub fn code(&self) -> &'static str {
        match self {
            ApiError::BadRequest(_) => "BAD_REQUEST",
            ApiError::Unauthorized(_) => "UNAUTHORIZED",
            ApiError::InvalidApiKey => "INVALID_API_KEY",
            ApiError::Forbidden(_) => "FORBIDDEN",
            ApiError::NotFound(code, _) => code,
            ApiError::MethodNotAllowed => "METHOD_NOT_ALLOWED",
            ApiError::Conflict { .. } => "CONFLICT",
            ApiError::PayloadTooLarge { .. } => "PAYLOAD_TOO_LARGE",
            ApiError::Validation(e) if e.missing_required => "MISSING_REQUIRED_FIELD",
            ApiError::Validation(_) => "VALIDATION_ERROR",
            ApiError::RateLimited { .. } => "RATE_LIMIT_EXCEEDED",
            ApiError::StoreUnavailable(_) => "STORE_UNAVAILABLE",
            ApiError::WindowClosed(_) => "WINDOW_CLOSED",
            ApiError::Upstream { code, .. } => code,
            ApiError::UpstreamTimeout(_) => "UPSTREAM_TIMEOUT",
            ApiError::Internal(_) => "INTERNAL_SERVER_ERROR",
        }
    }

    /// The `error` object of the envelope. Internal detail stays in the logs.
    pub fn body(&self) -> Value {
        let (message, details): (String, Option<Value>) = match self {
            ApiError::BadRequest(m) | ApiError::Unauthorized(m) | ApiError::Forbidden(m) => {
                (m.clone(), None)
            }
            ApiError::InvalidApiKey => ("The API key is invalid or has been revoked".into(), None),
            ApiError::NotFound(_, m) => (m.clone(), None),
            ApiError::MethodNotAllowed => ("Method not allowed on this route".into(), None),
            ApiError::Conflict { message, details } => (message.clone(), details.clone()),
            ApiError::PayloadTooLarge { limit } => (
                format!("Request body exceeds the limit of {limit} bytes"),
                None,
            ),
            ApiError::Validation(e) => (
                if e.missing_required {
                    "Required fields are missing".into()
                } else {
                    "Validation failed".into()
                },
                Some(json!(e.fields)),
            ),
            ApiError::RateLimited { retry_after } => (
                "Rate limit exceeded".into(),
                Some(json!({ "retry_after": retry_after })),
            ),
            ApiError::StoreUnavailable(_) => (
                "The data store is unavailable; try again shortly".into(),
                None,
            ),
            ApiError::Internal(_) => ("Internal server error".into(), None),
            ApiError::WindowClosed(m) | ApiError::UpstreamTimeout(m) => (m.clone(), None),
            ApiError::Upstream {
                message, details, ..
            } => (message.clone(), details.clone()),
        };
        let mut error = json!({ "code": self.code(), "message": message });
        if let Some(d) = details {
            error["details"] = d;
        }
        if let ApiError::RateLimited { retry_after } = self {
            error["retry_after"] = json!(retry_after);
        }
        error
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound => ApiError::not_found("Resource"),
            StoreError::Duplicate { field, existing_id } => ApiError::Conflict {
                message: format!("A record with this {field} already exists"),
                details: Some(json!({ "field": field, "existing_id": existing_id })),
            },
            StoreError::Conflict(m) => ApiError::Conflict {
                message: m,
                details: None,
            },
            StoreError::Unavailable(m) => ApiError::StoreUnavailable(m),
            StoreError::Internal(m) => ApiError::Internal(m),
        }
    }
}
