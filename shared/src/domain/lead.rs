//! Leads: the CRM's contacts, their validation, and the history of their moves.

use std::fmt;

use serde::{Deserialize, Serialize, Serializer};
use serde_json::{Map, Value};
use uuid::Uuid;
use validator::Validate;

use super::page::{parse_page, Order, PageRequest};
use super::phone::Phone;
use super::text::{control_free, fold};
use super::FieldErrors;
use super::{CompanyId, Timestamp};

pub const DEFAULT_PIPELINE: &str = "novos-leads";
pub const DEFAULT_STATUS: &str = "novo";

/// The fields a client may write, in the order they are documented.
pub const LEAD_FIELDS: &[&str] = &[
    "name",
    "email",
    "phone",
    "company",
    "source",
    "pipeline",
    "status",
    "score",
    "custom_fields",
    "notes",
    "user_id",
];

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct LeadId(pub Uuid);

impl LeadId {
    pub fn parse(s: &str) -> Option<LeadId> {
        Uuid::parse_str(s).ok().map(LeadId)
    }
}

impl fmt::Display for LeadId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// An e-mail address as given; two leads' addresses compare case-insensitively.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Email(String);

impl Email {
    /// An address the store wrote after it was validated.
    pub(crate) fn from_stored(s: String) -> Email {
        Email(s)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn dedupe_key(&self) -> String {
        self.0.to_lowercase()
    }
}

impl Serialize for Email {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

/// A lead's writable fields, validated.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LeadFields {
    pub name: String,
    pub email: Option<Email>,
    pub phone: Option<Phone>,
    pub company: Option<String>,
    pub source: Option<String>,
    pub pipeline: String,
    pub status: String,
    pub score: i64,
    pub custom_fields: Map<String, Value>,
    pub notes: Option<String>,
    pub user_id: Option<String>,
}

impl LeadFields {
    /// Parses a JSON object into lead fields: the seed's validation, defaults applied.
    pub fn parse(body: Value) -> Result<LeadFields, FieldErrors> {
        let mut errors = FieldErrors::new();
        if let Value::Object(map) = &body {
            for key in map.keys() {
                if !LEAD_FIELDS.contains(&key.as_str()) {
                    errors.add(key.clone(), "is not a lead field");
                }
            }
        }
        errors.into_result()?;
        let mut input: LeadInput = super::parse_body(body)?;
        input.drop_blanks();
        // Lengths are of the text as sent, so that the contract's `maxLength` is the rule.
        let mut errors = super::validation_errors(input.validate());
        input.trim();
        if input.name.as_deref() == Some("") {
            errors.add("name", "must not be blank");
        }
        // Names and labels sort and match as keys: control characters have no place there.
        for (field, value, lines) in [
            ("name", &input.name, false),
            ("status", &input.status, false),
            ("pipeline", &input.pipeline, false),
            ("source", &input.source, false),
            ("company", &input.company, false),
            ("user_id", &input.user_id, false),
            ("notes", &input.notes, true),
        ] {
            if value.as_deref().is_some_and(|v| !control_free(v, lines)) {
                errors.add(field, "must not contain control characters");
            }
        }
        if let Some(custom) = &input.custom_fields {
            super::check_document("custom_fields", &Value::Object(custom.clone()), &mut errors);
        }
        let phone = match input.phone.as_deref().map(Phone::parse) {
            Some(Err(m)) => {
                errors.add("phone", m);
                None
            }
            Some(Ok(p)) => Some(p),
            None => None,
        };
        errors.into_result()?;

        Ok(LeadFields {
            name: input.name.unwrap_or_default(),
            email: input.email.map(Email),
            phone,
            company: input.company,
            source: input.source,
            pipeline: input.pipeline.unwrap_or_else(|| DEFAULT_PIPELINE.into()),
            status: input.status.unwrap_or_else(|| DEFAULT_STATUS.into()),
            score: input.score.unwrap_or(0),
            custom_fields: input.custom_fields.unwrap_or_default(),
            notes: input.notes,
            user_id: input.user_id,
        })
    }

    /// The fields as the JSON they are patched in. Strings, numbers and a string-keyed
    /// map always serialize, so nothing is lost by the default.
    fn to_json(&self) -> Value {
        serde_json::to_value(self).unwrap_or_default()
    }

    /// These fields with a JSON Merge Patch applied, validated again as a whole.
    pub fn patched(&self, patch: &Value) -> Result<LeadFields, FieldErrors> {
        let Value::Object(map) = patch else {
            return Err(FieldErrors::one("body", "must be a JSON object"));
        };
        let mut errors = FieldErrors::new();
        for key in map.keys() {
            if !LEAD_FIELDS.contains(&key.as_str()) {
                errors.add(key.clone(), "is not a lead field");
            }
        }
        errors.into_result()?;
        let mut current = self.to_json();
        super::merge_patch::apply(&mut current, patch);
        LeadFields::parse(current)
    }

    /// The history entries that moving from `self` to `new` makes.
    pub fn changes_to(&self, new: &LeadFields) -> Vec<LeadChange> {
        let mut changes = Vec::new();
        if self.status != new.status {
            changes.push(LeadChange {
                kind: LeadEventKind::StatusChanged,
                from: Some(self.status.clone()),
                to: Some(new.status.clone()),
            });
        }
        if self.pipeline != new.pipeline {
            changes.push(LeadChange {
                kind: LeadEventKind::PipelineChanged,
                from: Some(self.pipeline.clone()),
                to: Some(new.pipeline.clone()),
            });
        }
        if self.score != new.score {
            changes.push(LeadChange {
                kind: LeadEventKind::ScoreChanged,
                from: Some(self.score.to_string()),
                to: Some(new.score.to_string()),
            });
        }
        changes
    }

    /// The key leads sort by name with: case- and accent-insensitive.
    pub fn sort_name(&self) -> String {
        fold(&self.name)
    }

    /// The folded text `search` matches against: name, email, phone and company.
    pub fn search_text(&self) -> String {
        let parts = [
            Some(self.name.as_str()),
            self.email.as_ref().map(Email::as_str),
            self.phone.as_ref().map(Phone::as_str),
            self.company.as_deref(),
        ];
        fold(
            &parts
                .into_iter()
                .flatten()
                .collect::<Vec<_>>()
                .join("\u{1f}"),
        )
    }
}

/// A request body as sent; [`LeadFields::parse`] turns it into [`LeadFields`].
#[derive(Debug, Deserialize, Validate)]
#[serde(deny_unknown_fields)]
struct LeadInput {
    #[validate(
        required(message = "is required"),
        length(min = 1, max = 255, message = "must be 1 to 255 characters")
    )]
    name: Option<String>,
    #[validate(
        email(message = "must be a valid e-mail address"),
        length(max = 255, message = "must be at most 255 characters")
    )]
    email: Option<String>,
    phone: Option<String>,
    #[validate(length(max = 255, message = "must be at most 255 characters"))]
    company: Option<String>,
    #[validate(length(max = 100, message = "must be at most 100 characters"))]
    source: Option<String>,
    #[validate(length(min = 1, max = 100, message = "must be 1 to 100 characters"))]
    pipeline: Option<String>,
    #[validate(length(min = 1, max = 50, message = "must be 1 to 50 characters"))]
    status: Option<String>,
    #[validate(range(min = 0, max = 100, message = "must be an integer from 0 to 100"))]
    #[serde(default, deserialize_with = "super::whole_number")]
    score: Option<i64>,
    custom_fields: Option<Map<String, Value>>,
    #[validate(length(max = 4000, message = "must be at most 4000 characters"))]
    notes: Option<String>,
    #[validate(length(min = 1, max = 255, message = "must be 1 to 255 characters"))]
    user_id: Option<String>,
}

impl LeadInput {
    fn optional(&mut self) -> [&mut Option<String>; 8] {
        [
            &mut self.email,
            &mut self.phone,
            &mut self.company,
            &mut self.source,
            &mut self.pipeline,
            &mut self.status,
            &mut self.notes,
            &mut self.user_id,
        ]
    }

    /// An optional field left blank is absent (forms send `""` for an empty input).
    fn drop_blanks(&mut self) {
        for v in self.optional() {
            if v.as_deref().is_some_and(|s| s.trim().is_empty()) {
                *v = None;
            }
        }
    }

    /// Surrounding blanks are never meant.
    fn trim(&mut self) {
        if let Some(name) = &mut self.name {
            *name = name.trim().to_string();
        }
        for s in self.optional().into_iter().flatten() {
            *s = s.trim().to_string();
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Lead {
    pub id: LeadId,
    pub company_id: CompanyId,
    #[serde(flatten)]
    pub fields: LeadFields,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    /// Bumped by every update; a write made against an older version is refused.
    #[serde(skip)]
    pub version: i64,
}

impl Lead {
    /// This lead's value of the sort field, as a cursor carries it.
    pub fn sort_value(&self, sort: LeadSort) -> Value {
        match sort {
            LeadSort::CreatedAt => Value::from(self.created_at.as_string()),
            LeadSort::UpdatedAt => Value::from(self.updated_at.as_string()),
            LeadSort::Name => Value::from(self.fields.sort_name()),
            LeadSort::Score => Value::from(self.fields.score),
            LeadSort::Status => Value::from(self.fields.status.clone()),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LeadEventKind {
    Created,
    StatusChanged,
    PipelineChanged,
    ScoreChanged,
    /// An AI agent called a tool on the lead (`to` says which, with its arguments).
    ToolCall,
}

impl LeadEventKind {
    pub fn as_str(&self) -> &'static str {
        match self {
            LeadEventKind::Created => "created",
            LeadEventKind::StatusChanged => "status_changed",
            LeadEventKind::PipelineChanged => "pipeline_changed",
            LeadEventKind::ScoreChanged => "score_changed",
            LeadEventKind::ToolCall => "tool_call",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "created" => Some(LeadEventKind::Created),
            "status_changed" => Some(LeadEventKind::StatusChanged),
            "pipeline_changed" => Some(LeadEventKind::PipelineChanged),
            "score_changed" => Some(LeadEventKind::ScoreChanged),
            "tool_call" => Some(LeadEventKind::ToolCall),
            _ => None,
        }
    }
}

/// One change to record in a lead's history.
#[derive(Debug, Clone, PartialEq)]
pub struct LeadChange {
    pub kind: LeadEventKind,
    pub from: Option<String>,
    pub to: Option<String>,
}

/// An entry of a lead's append-only history.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LeadEvent {
    pub id: Uuid,
    pub lead_id: LeadId,
    #[serde(rename = "type")]
    pub kind: LeadEventKind,
    pub from: Option<String>,
    pub to: Option<String>,
    pub at: Timestamp,
    pub by: Option<String>,
}

/// An update as the store applies it: the new fields, the version they were computed
/// from, and the history entries that go with them, all or nothing.
#[derive(Debug, Clone)]
pub struct LeadUpdate {
    pub fields: LeadFields,
    pub expected_version: i64,
    pub changes: Vec<LeadChange>,
    pub by: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LeadSort {
    CreatedAt,
    UpdatedAt,
    Name,
    Score,
    Status,
}

impl LeadSort {
    pub const ALL: [LeadSort; 5] = [
        LeadSort::CreatedAt,
        LeadSort::UpdatedAt,
        LeadSort::Name,
        LeadSort::Score,
        LeadSort::Status,
    ];

    pub fn as_str(&self) -> &'static str {
        match self {
            LeadSort::CreatedAt => "created_at",
            LeadSort::UpdatedAt => "updated_at",
            LeadSort::Name => "name",
            LeadSort::Score => "score",
            LeadSort::Status => "status",
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct LeadFilters {
    pub status: Option<String>,
    pub pipeline: Option<String>,
    pub source: Option<String>,
    pub user_id: Option<String>,
    pub created_from: Option<Timestamp>,
    pub created_to: Option<Timestamp>,
    /// Already folded.
    pub search: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct LeadQuery {
    pub filters: LeadFilters,
    pub sort: LeadSort,
    pub page: PageRequest,
}

const LIST_PARAMS: &[&str] = &[
    "page",
    "limit",
    "sort",
    "order",
    "cursor",
    "status",
    "pipeline",
    "source",
    "user_id",
    "created_from",
    "created_to",
    "search",
];

impl LeadQuery {
    /// Parses the list's query string; anything unknown or malformed is a 422.
    pub fn parse(params: &[(String, String)]) -> Result<LeadQuery, FieldErrors> {
        let get = |k: &str| {
            params
                .iter()
                .find(|(key, _)| key == k)
                .map(|(_, v)| v.clone())
        };
        let mut errors = FieldErrors::new();
        for (key, _) in params {
            if !LIST_PARAMS.contains(&key.as_str()) {
                errors.add(key.clone(), "is not a parameter of this list");
            }
        }
        let sort = match get("sort") {
            None => LeadSort::CreatedAt,
            Some(s) => LeadSort::ALL
                .into_iter()
                .find(|f| f.as_str() == s)
                .unwrap_or_else(|| {
                    let names: Vec<_> = LeadSort::ALL.iter().map(|f| f.as_str()).collect();
                    errors.add("sort", format!("must be one of: {}", names.join(", ")));
                    LeadSort::CreatedAt
                }),
        };
        let page = parse_page(get, sort.as_str(), Order::Desc, &mut errors);
        if let Some(c) = &page.cursor {
            let fits = match sort {
                LeadSort::Score => c.value.is_i64(),
                _ => c.value.is_string(),
            };
            if !fits || uuid::Uuid::parse_str(&c.id).is_err() {
                errors.add("cursor", "is not a valid cursor");
            }
        }

        let mut text = |name: &'static str, max: usize| {
            get(name).map(|v| super::text::label(name, &v, max, &mut errors))
        };
        let status = text("status", 50);
        let pipeline = text("pipeline", 100);
        let source = text("source", 100);
        let user_id = text("user_id", 255);
        let search = text("search", 255).map(|s| fold(&s));
        let mut time = |name: &'static str| {
            get(name).and_then(|v| {
                Timestamp::parse_instant_or_date(&v).or_else(|| {
                    errors.add(name, "must be an RFC 3339 time or a YYYY-MM-DD date");
                    None
                })
            })
        };
        let created_from = time("created_from");
        let created_to = time("created_to");
        errors.into_result()?;
        Ok(LeadQuery {
            filters: LeadFilters {
                status,
                pipeline,
                source,
                user_id,
                created_from,
                created_to,
                search,
            },
            sort,
            page,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn defaults_apply_on_create() {
        let f = LeadFields::parse(json!({"name": "João"})).unwrap();
        assert_eq!(f.pipeline, "novos-leads");
        assert_eq!(f.status, "novo");
        assert_eq!(f.score, 0);
    }

    #[test]
    fn missing_name_is_a_missing_required_field() {
        let e = LeadFields::parse(json!({"email": "a@b.co"})).unwrap_err();
        assert!(e.missing_required());
        assert_eq!(e.fields()["name"], ["is required"]);
    }

    #[test]
    fn type_errors_name_the_field() {
        let e = LeadFields::parse(json!({"name": "A", "score": "high"})).unwrap_err();
        assert!(!e.missing_required());
        assert!(!e.fields()["score"].is_empty());
    }

    #[test]
    fn patch_merges_custom_fields_and_null_clears() {
        let f = LeadFields::parse(json!({
            "name": "Ana", "email": "ana@x.com.br", "custom_fields": {"a": 1, "b": 2}
        }))
        .unwrap();
        let g = f
            .patched(&json!({"email": null, "custom_fields": {"b": null, "c": "não"}}))
            .unwrap();
        assert_eq!(g.email, None);
        assert_eq!(Value::Object(g.custom_fields), json!({"a": 1, "c": "não"}));
        assert_eq!(g.name, "Ana");
    }
}
