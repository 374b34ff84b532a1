//! The one error type every route returns, and the one place it becomes an HTTP answer:
//! store and domain errors are turned into it here and nowhere else.

use serde_json::{json, Value};

use crate::domain::error::DomainError;
pub use crate::domain::error::FieldErrors;
use crate::store::StoreError;

/// What a 404 or a 409 is about: each names its own code and words.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Entity {
    /// A record the code did not name (a store error converted without context).
    Resource,
    Route,
    Lead,
    Conversation,
    Company,
    ApiKey,
    Channel,
    InboundEndpoint,
    Agent,
    Webhook,
    Delivery,
}

impl Entity {
    pub fn name(self) -> &'static str {
        match self {
            Entity::Resource => "Resource",
            Entity::Route => "Route",
            Entity::Lead => "Lead",
            Entity::Conversation => "Conversation",
            Entity::Company => "Company",
            Entity::ApiKey => "API key",
            Entity::Channel => "Channel",
            Entity::InboundEndpoint => "Inbound webhook",
            Entity::Agent => "Agent",
            Entity::Webhook => "Webhook",
            Entity::Delivery => "Delivery",
        }
    }

    fn not_found_code(self) -> &'static str {
        match self {
            Entity::Lead => "LEAD_NOT_FOUND",
            Entity::Conversation => "CONVERSATION_NOT_FOUND",
            _ => "NOT_FOUND",
        }
    }

    /// The id in a path or body: one that is not a UUID names nothing, so it is a 404
    /// like any other id this company does not have.
    pub fn id(self, s: &str) -> Result<uuid::Uuid, ApiError> {
        uuid::Uuid::parse_str(s).map_err(|_| ApiError::NotFound(self))
    }

    /// A store error in this entity's words: its 404, and the 409 of a duplicate.
    pub fn store_error(self, e: StoreError) -> ApiError {
        match (e, self) {
            (StoreError::NotFound, _) => ApiError::NotFound(self),
            (StoreError::Duplicate { field, existing_id }, Entity::Lead) => ApiError::Conflict {
                message: format!("A lead with this {field} already exists: {existing_id}"),
                details: Some(json!({ "field": field, "existing_lead_id": existing_id })),
            },
            (StoreError::Duplicate { .. }, Entity::Company) => ApiError::Conflict {
                message: "Another company has this name".into(),
                details: None,
            },
            (other, _) => other.into(),
        }
    }
}

/// Store results in the words of the entity they are about.
pub trait Concerning<T> {
    fn concerning(self, what: Entity) -> Result<T, ApiError>;
}

impl<T> Concerning<T> for Result<T, StoreError> {
    fn concerning(self, what: Entity) -> Result<T, ApiError> {
        self.map_err(|e| what.store_error(e))
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
    #[error("not found: {0:?}")]
    NotFound(Entity),
    /// The path exists; these methods are what it answers to (`Allow`).
    #[error("method not allowed")]
    MethodNotAllowed(Vec<&'static str>),
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
    /// The company's monthly AI budget cannot hold this call; it resets at `resets_at`.
    #[error("AI budget exceeded")]
    BudgetExceeded {
        resets_at: crate::domain::Timestamp,
        retry_after: u64,
    },
    #[error("internal error: {0}")]
    Internal(String),
}

impl ApiError {
    pub fn validation(field: impl Into<String>, message: impl Into<String>) -> Self {
        ApiError::Validation(FieldErrors::one(field, message))
    }

    pub fn status(&self) -> u16 {
        match self {
            ApiError::BadRequest(_) => 400,
            ApiError::Unauthorized(_) | ApiError::InvalidApiKey => 401,
            ApiError::Forbidden(_) => 403,
            ApiError::NotFound(..) => 404,
            ApiError::MethodNotAllowed(_) => 405,
            ApiError::Conflict { .. } => 409,
            ApiError::PayloadTooLarge { .. } => 413,
            ApiError::Validation(_) => 422,
            ApiError::RateLimited { .. } | ApiError::BudgetExceeded { .. } => 429,
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
            ApiError::NotFound(what) => what.not_found_code(),
            ApiError::MethodNotAllowed(_) => "METHOD_NOT_ALLOWED",
            ApiError::Conflict { .. } => "CONFLICT",
            ApiError::PayloadTooLarge { .. } => "PAYLOAD_TOO_LARGE",
            ApiError::Validation(e) if e.missing_required() => "MISSING_REQUIRED_FIELD",
            ApiError::Validation(_) => "VALIDATION_ERROR",
            ApiError::RateLimited { .. } => "RATE_LIMIT_EXCEEDED",
            ApiError::BudgetExceeded { .. } => "AI_BUDGET_EXCEEDED",
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
            ApiError::NotFound(what) => (format!("{} not found", what.name()), None),
            ApiError::MethodNotAllowed(_) => ("Method not allowed on this route".into(), None),
            ApiError::Conflict { message, details } => (message.clone(), details.clone()),
            ApiError::PayloadTooLarge { limit } => (
                format!("Request body exceeds the limit of {limit} bytes"),
                None,
            ),
            ApiError::Validation(e) => (
                if e.missing_required() {
                    "Required fields are missing".into()
                } else {
                    "Validation failed".into()
                },
                Some(json!(e.fields())),
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
            ApiError::BudgetExceeded { resets_at, .. } => (
                format!(
                    "The company's monthly AI budget is spent; it resets at {}",
                    resets_at.as_string()
                ),
                Some(json!({ "resets_at": resets_at })),
            ),
            ApiError::Upstream {
                message, details, ..
            } => (message.clone(), details.clone()),
        };
        let mut error = json!({ "code": self.code(), "message": message });
        if let Some(d) = details {
            error["details"] = d;
        }
        if let ApiError::RateLimited { retry_after }
        | ApiError::BudgetExceeded { retry_after, .. } = self
        {
            error["retry_after"] = json!(retry_after);
        }
        error
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound => ApiError::NotFound(Entity::Resource),
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

impl From<FieldErrors> for ApiError {
    fn from(e: FieldErrors) -> Self {
        ApiError::Validation(e)
    }
}

impl From<DomainError> for ApiError {
    fn from(e: DomainError) -> Self {
        match e {
            DomainError::Invalid(fields) => ApiError::Validation(fields),
            DomainError::NoRandomness(m) => ApiError::Internal(m),
        }
    }
}
