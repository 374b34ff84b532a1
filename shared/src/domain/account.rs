//! A company's own configuration: API keys, channel accounts, and its settings.

use std::fmt;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use uuid::Uuid;
use validator::Validate;

use super::autoreply::Assignment;
use super::conversation::Channel;
use super::text::label;
use super::{CompanyId, Timestamp};
use super::{DomainError, DomainResult, FieldErrors};

/// What a key may do: `read` reads, `write` also writes, `admin` also manages the company.
pub const SCOPES: &[&str] = &["read", "write", "admin"];
pub const KEY_PREFIX: &str = "wzk_";

/// An API key as listed: never the key itself.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ApiKey {
    pub id: Uuid,
    pub company_id: CompanyId,
    pub name: String,
    /// The first characters of the key, to tell keys apart.
    pub prefix: String,
    pub scopes: Vec<String>,
    pub active: bool,
    pub created_at: Timestamp,
    pub last_used_at: Option<Timestamp>,
    pub created_by: String,
}

/// A key about to be stored: only its hash is kept.
#[derive(Debug, Clone)]
pub struct NewApiKey {
    pub name: String,
    pub scopes: Vec<String>,
    pub hash: String,
    pub prefix: String,
    pub created_by: String,
}

impl NewApiKey {
    /// The key as it is once stored with `id` for `company` at `now`: active, never used.
    pub fn stored(self, id: Uuid, company: &CompanyId, now: Timestamp) -> ApiKey {
        ApiKey {
            id,
            company_id: company.clone(),
            name: self.name,
            prefix: self.prefix,
            scopes: self.scopes,
            active: true,
            created_at: now,
            last_used_at: None,
            created_by: self.created_by,
        }
    }
}

/// A fresh random key (256 bits), and its hash and prefix.
pub fn generate_api_key() -> DomainResult<(String, String, String)> {
    let mut bytes = [0u8; 32];
    getrandom::getrandom(&mut bytes)
        .map_err(|e| DomainError::NoRandomness(format!("for a key: {e}")))?;
    let key = format!("{KEY_PREFIX}{}", URL_SAFE_NO_PAD.encode(bytes));
    let prefix = key.chars().take(12).collect();
    Ok((hash_api_key(&key), prefix, key))
}

/// The hash a key is stored and looked up by.
pub fn hash_api_key(key: &str) -> String {
    let digest = Sha256::digest(key.as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

#[derive(Debug, Deserialize, Validate)]
#[serde(deny_unknown_fields)]
pub struct ApiKeyInput {
    #[validate(required(message = "is required"))]
    pub name: Option<String>,
    pub scopes: Option<Vec<String>>,
}

impl ApiKeyInput {
    /// The key's name and scopes (default `read` and `write`).
    pub fn parse(body: Value) -> Result<(String, Vec<String>), FieldErrors> {
        let input: ApiKeyInput = super::parse_body(body)?;
        let mut errors = super::validation_errors(input.validate());
        let name = input
            .name
            .map(|n| label("name", &n, 100, &mut errors))
            .unwrap_or_default();
        let mut scopes = input
            .scopes
            .unwrap_or_else(|| vec!["read".into(), "write".into()]);
        scopes.sort();
        scopes.dedup();
        if scopes.is_empty() || scopes.iter().any(|s| !SCOPES.contains(&s.as_str())) {
            errors.add("scopes", "must be one or more of: read, write, admin");
        }
        errors.into_result()?;
        Ok((name, scopes))
    }
}

/// A channel's access token. It never serialises and never prints: only the code that
/// calls Meta reads it, through [`AccessToken::expose`].
#[derive(Clone, PartialEq, Eq)]
pub struct AccessToken(String);

impl AccessToken {
    pub fn new(token: String) -> Self {
        AccessToken(token)
    }

    pub fn expose(&self) -> &str {
        &self.0
    }

    /// What a client may see: the last four characters.
    pub fn hint(&self) -> String {
        let tail: String = self
            .0
            .chars()
            .rev()
            .take(4)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect();
        format!("…{tail}")
    }
}

impl fmt::Debug for AccessToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AccessToken(redacted)")
    }
}

/// A WhatsApp number, Instagram account or Facebook page connected to a company.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ChannelAccount {
    pub id: Uuid,
    pub company_id: CompanyId,
    pub channel: Channel,
    /// WhatsApp phone-number id, Instagram account id or Facebook page id.
    pub external_id: String,
    pub name: String,
    pub token_hint: String,
    /// The agent that answers its conversations, and whether it does on its own.
    #[serde(flatten)]
    pub assignment: Assignment,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

#[derive(Debug, Clone)]
pub struct NewChannelAccount {
    pub channel: Channel,
    pub external_id: String,
    pub name: String,
    pub token: AccessToken,
}

#[derive(Debug, Deserialize, Validate)]
#[serde(deny_unknown_fields)]
struct ChannelInput {
    #[validate(required(message = "is required"))]
    channel: Option<String>,
    #[validate(
        required(message = "is required"),
        length(min = 1, max = 64, message = "must be 1 to 64 characters")
    )]
    external_id: Option<String>,
    #[validate(required(message = "is required"))]
    name: Option<String>,
    #[validate(
        required(message = "is required"),
        length(min = 1, max = 2048, message = "must be 1 to 2048 characters")
    )]
    access_token: Option<String>,
}

impl NewChannelAccount {
    pub fn parse(body: Value) -> Result<NewChannelAccount, FieldErrors> {
        let input: ChannelInput = super::parse_body(body)?;
        let mut errors = super::validation_errors(input.validate());
        let channel = input.channel.as_deref().and_then(Channel::parse);
        if input.channel.is_some() && channel.is_none() {
            errors.add("channel", "must be one of: whatsapp, instagram, facebook");
        }
        let name = input
            .name
            .map(|n| label("name", &n, 100, &mut errors))
            .unwrap_or_default();
        check_token(input.access_token.as_deref(), &mut errors);
        let external_id = input.external_id.unwrap_or_default();
        if !external_id.is_empty() && !external_id.bytes().all(|b| b.is_ascii_digit()) {
            errors.add("external_id", "must be Meta's numeric id");
        }
        errors.into_result()?;
        Ok(NewChannelAccount {
            channel: channel.unwrap_or(Channel::Whatsapp),
            external_id,
            name,
            token: AccessToken::new(input.access_token.unwrap_or_default()),
        })
    }
}

/// Meta's tokens are visible ASCII; anything else could not be sent in a header.
fn check_token(token: Option<&str>, errors: &mut FieldErrors) {
    if token.is_some_and(|t| !t.bytes().all(|b| b.is_ascii_graphic())) {
        errors.add(
            "access_token",
            "must be Meta's access token: visible ASCII characters",
        );
    }
}

/// A change to a channel account: its name, its token, its agent.
#[derive(Debug, Clone, Default)]
pub struct ChannelChange {
    pub name: Option<String>,
    pub token: Option<AccessToken>,
    /// `Some(None)`: no agent answers it.
    pub agent_id: Option<Option<Uuid>>,
    pub auto_reply: Option<bool>,
}

#[derive(Debug, Deserialize, Validate)]
#[serde(deny_unknown_fields)]
struct ChannelChangeInput {
    name: Option<String>,
    #[validate(length(min = 1, max = 2048, message = "must be 1 to 2048 characters"))]
    access_token: Option<String>,
    #[serde(default, deserialize_with = "super::nullable")]
    agent_id: Option<Option<String>>,
    auto_reply: Option<bool>,
}

impl ChannelChange {
    pub fn parse(body: Value) -> Result<ChannelChange, FieldErrors> {
        let input: ChannelChangeInput = super::parse_body(body)?;
        let mut errors = super::validation_errors(input.validate());
        let name = input.name.map(|n| label("name", &n, 100, &mut errors));
        check_token(input.access_token.as_deref(), &mut errors);
        let agent_id = super::nullable_agent(input.agent_id, &mut errors);
        errors.into_result()?;
        Ok(ChannelChange {
            name,
            token: input.access_token.map(AccessToken::new),
            agent_id,
            auto_reply: input.auto_reply,
        })
    }

    /// The account's assignment after this change.
    pub fn assignment(&self, current: &Assignment) -> Assignment {
        Assignment {
            agent_id: self.agent_id.unwrap_or(current.agent_id),
            auto_reply: self.auto_reply.unwrap_or(current.auto_reply),
        }
    }
}

/// The largest monthly AI budget a company may set, in US dollars.
pub const MAX_AI_BUDGET_USD: f64 = 1_000_000.0;

/// A company's settings after a merge patch, checked as a whole.
pub fn patch_settings(current: &Value, patch: &Value) -> Result<Value, FieldErrors> {
    let mut settings = current.clone();
    super::merge_patch::apply(&mut settings, patch);
    // A group's limit is set as a whole, never merged field by field: a merged limit could
    // end with two periods, or a burst and no period, whatever the patch said.
    if let (Some(groups), Some(Value::Object(limits))) = (
        patch.get("rate_limits").and_then(Value::as_object),
        settings.get_mut("rate_limits"),
    ) {
        for (group, limit) in groups {
            if limit.is_object() {
                limits.insert(group.clone(), limit.clone());
            }
        }
    }
    let Value::Object(map) = &settings else {
        return Err(FieldErrors::one("settings", "must be a JSON object"));
    };
    let mut errors = FieldErrors::new();
    for (key, value) in map {
        let ok = match key.as_str() {
            "timezone" => value.as_str().is_some_and(valid_timezone),
            "ai_budget_usd" => value
                .as_f64()
                .is_some_and(|v| (0.0..=MAX_AI_BUDGET_USD).contains(&v)),
            "qualified_statuses" | "converted_statuses" => value.as_array().is_some_and(|a| {
                !a.is_empty()
                    && a.iter().all(|s| {
                        s.as_str()
                            .is_some_and(|s| (1..=50).contains(&s.chars().count()))
                    })
            }),
            "rate_limits" => value.as_object().is_some_and(valid_rate_limits),
            "ai_replies" => super::autoreply::ReplySettings::check(value),
            "lead_statuses" => value.as_array().is_some_and(|a| {
                !a.is_empty()
                    && a.len() <= 50
                    && a.iter().all(|s| {
                        s.as_str()
                            .is_some_and(|s| (1..=50).contains(&s.chars().count()))
                    })
            }),
            _ => {
                errors.add(format!("settings.{key}"), "is not a setting");
                continue;
            }
        };
        if !ok {
            errors.add(format!("settings.{key}"), setting_rule(key));
        }
    }
    errors.into_result()?;
    Ok(settings)
}

fn setting_rule(key: &str) -> &'static str {
    match key {
        "timezone" => "must be an IANA time zone such as America/Sao_Paulo",
        "ai_budget_usd" => "must be a number from 0 to 1000000",
        "ai_replies" => "must be the agents' reply switches: quiet_seconds 0 to 60, human_pause_minutes 0 to 10080, handoff_phrases (up to 20, 1 to 60 characters each), max_replies_per_day 1 to 50, business_hours {reply: always|outside, days: ISO weekdays 1 to 7, opens and closes as HH:MM}",
        "lead_statuses" => "must be a list of 1 to 50 statuses of 1 to 50 characters",
        "rate_limits" => "must map route groups (leads, conversations, ai, whatsapp, analytics, webhooks, api) to a caller's limit {\"per_minute\"|\"per_hour\"|\"per_day\": 1 to 1000000, \"burst\": 1 to 100000}, optionally with the company-wide ceiling in the same form as \"company\"",
        _ => "must be a non-empty list of statuses",
    }
}

fn valid_timezone(tz: &str) -> bool {
    tz == "UTC"
        || (tz.contains('/')
            && tz.len() <= 64
            && tz.split('/').all(|part| {
                !part.is_empty()
                    && part
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b"_+-".contains(&b))
            }))
}

fn valid_rate_limits(map: &Map<String, Value>) -> bool {
    use super::rate_limit::{group, Limit};
    map.iter().all(|(name, limit)| {
        group(name).is_some()
            && Limit::from_setting(limit).is_some()
            && limit
                .get("company")
                .is_none_or(|c| c.get("company").is_none() && Limit::from_setting(c).is_some())
    })
}

/// A company's custom inbound webhook: systems post signed events to `/webhooks/{client_id}`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct InboundEndpoint {
    pub id: Uuid,
    pub company_id: CompanyId,
    pub client_id: String,
    pub name: String,
    pub created_at: Timestamp,
}

#[derive(Debug, Deserialize, Validate)]
#[serde(deny_unknown_fields)]
struct InboundEndpointInput {
    #[validate(required(message = "is required"))]
    name: Option<String>,
}

/// A new endpoint's name from a request body.
pub fn parse_inbound_endpoint(body: Value) -> Result<String, FieldErrors> {
    let input: InboundEndpointInput = super::parse_body(body)?;
    let mut errors = super::validation_errors(input.validate());
    let name = input
        .name
        .map(|n| label("name", &n, 100, &mut errors))
        .unwrap_or_default();
    errors.into_result()?;
    Ok(name)
}

/// `prefix` and 32 random bytes, URL-safe: client ids and signing secrets.
pub fn random_token(prefix: &str, bytes: usize) -> DomainResult<String> {
    let mut buf = vec![0u8; bytes];
    getrandom::getrandom(&mut buf).map_err(|e| DomainError::NoRandomness(e.to_string()))?;
    Ok(format!("{prefix}{}", URL_SAFE_NO_PAD.encode(buf)))
}
