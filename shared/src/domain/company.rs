use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::Timestamp;

/// The tenant. Every store operation on a company's data takes one.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct CompanyId(String);

impl CompanyId {
    pub fn new(id: impl Into<String>) -> Self {
        CompanyId(id.into())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for CompanyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Company {
    pub id: CompanyId,
    pub name: String,
    pub domain: Option<String>,
    pub settings: Value,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// A change to a company: absent fields stay as they are.
#[derive(Debug, Clone, Default)]
pub struct CompanyChange {
    pub name: Option<String>,
    pub domain: Option<Option<String>>,
    pub settings: Option<serde_json::Value>,
}

/// A new company's settings: the product's defaults, changed later through `/api/company`.
pub fn default_settings() -> Value {
    serde_json::json!({
        "timezone": "America/Sao_Paulo",
        "qualified_statuses": ["qualificado"],
        "converted_statuses": ["convertido"]
    })
}

/// A setting that is a list of texts (`qualified_statuses`, …); none when it is unset.
pub fn text_list(settings: &Value, key: &str) -> Option<Vec<String>> {
    settings[key].as_array().map(|a| {
        a.iter()
            .filter_map(Value::as_str)
            .map(String::from)
            .collect()
    })
}

/// The key company names are unique by: "Acme", " acme " and "ACME" are one company.
pub fn name_key(name: &str) -> String {
    super::text::fold(name.trim())
}
