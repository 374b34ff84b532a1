//! What the domain refuses: field errors and domain failures, as the domain's own types.
//! They become HTTP answers in one place, `crate::error`.

use std::collections::BTreeMap;

/// Field name → messages: why the data given is not acceptable (the `details` of a 422).
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

    /// `Ok(())` when nothing was recorded, else these errors.
    pub fn into_result(self) -> Result<(), FieldErrors> {
        if self.is_empty() {
            Ok(())
        } else {
            Err(self)
        }
    }

    /// Whether a required field is absent (`MISSING_REQUIRED_FIELD` rather than
    /// `VALIDATION_ERROR`).
    pub fn missing_required(&self) -> bool {
        self.missing_required
    }

    pub fn fields(&self) -> &BTreeMap<String, Vec<String>> {
        &self.fields
    }

    pub fn merge(&mut self, other: FieldErrors) {
        self.missing_required |= other.missing_required;
        for (field, messages) in other.fields {
            self.fields.entry(field).or_default().extend(messages);
        }
    }
}

/// Why a domain operation did not produce its value.
#[derive(Debug, thiserror::Error)]
pub enum DomainError {
    /// The input breaks the domain's rules; each field says how.
    #[error("invalid input: {0}")]
    Invalid(FieldErrors),
    /// The system could not give the randomness a secret needs.
    #[error("no randomness: {0}")]
    NoRandomness(String),
}

impl From<FieldErrors> for DomainError {
    fn from(e: FieldErrors) -> Self {
        DomainError::Invalid(e)
    }
}

pub type DomainResult<T> = Result<T, DomainError>;

impl std::fmt::Display for FieldErrors {
    /// `name: is required; score: must be 0 to 100`, for logs and messages.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut first = true;
        for (field, messages) in &self.fields {
            for m in messages {
                if !first {
                    f.write_str("; ")?;
                }
                first = false;
                write!(f, "{field}: {m}")?;
            }
        }
        Ok(())
    }
}
