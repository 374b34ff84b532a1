//! AI agents: a company's configured assistants (the seed's `ai_agents`), with a ready-made
//! Portuguese prompt for each kind.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use uuid::Uuid;

use super::text::{control_free, label};
use super::{CompanyId, FieldErrors, Timestamp};

pub const DEFAULT_MODEL: &str = "gpt-4o-mini";
pub const DEFAULT_TEMPERATURE: f64 = 0.7;
pub const DEFAULT_MAX_TOKENS: u32 = 1000;
/// The largest answer an agent may ask for.
pub const MAX_TOKENS: u32 = 128_000;
pub const MAX_PROMPT_CHARS: usize = 20_000;
pub const MAX_DESCRIPTION_CHARS: usize = 2_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AgentKind {
    CustomerService,
    Sales,
    TechSupport,
    Custom,
}

impl AgentKind {
    pub const ALL: [AgentKind; 4] = [
        AgentKind::CustomerService,
        AgentKind::Sales,
        AgentKind::TechSupport,
        AgentKind::Custom,
    ];

    pub fn as_str(&self) -> &'static str {
        match self {
            AgentKind::CustomerService => "customer_service",
            AgentKind::Sales => "sales",
            AgentKind::TechSupport => "tech_support",
            AgentKind::Custom => "custom",
        }
    }

    pub fn parse(s: &str) -> Option<AgentKind> {
        AgentKind::ALL.into_iter().find(|k| k.as_str() == s)
    }

    /// The prompt an agent of this kind starts with when none is given.
    pub fn default_prompt(&self) -> Option<&'static str> {
        match self {
            AgentKind::CustomerService => Some(
                "Você é o assistente de atendimento da empresa. Responda em português do Brasil, com \
                 cordialidade e objetividade, em mensagens curtas próprias do WhatsApp. Resolva dúvidas \
                 sobre pedidos, prazos, horários e políticas; quando não souber ou o cliente pedir uma \
                 pessoa, diga que vai chamar alguém da equipe. Nunca invente informações.",
            ),
            AgentKind::Sales => Some(
                "Você é o consultor de vendas da empresa. Responda em português do Brasil, em mensagens \
                 curtas e calorosas. Entenda o que o cliente procura, para quando e com que orçamento; \
                 apresente as opções que atendem e conduza para o pedido ou o orçamento. Qualifique o \
                 contato sem pressionar e nunca invente preços ou condições.",
            ),
            AgentKind::TechSupport => Some(
                "Você é o suporte técnico da empresa. Responda em português do Brasil, passo a passo e \
                 com linguagem simples. Peça só as informações necessárias para diagnosticar o problema, \
                 confirme se cada passo resolveu e, se não resolver, encaminhe para a equipe técnica.",
            ),
            AgentKind::Custom => None,
        }
    }
}

/// An agent's writable fields, validated.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AgentFields {
    pub name: String,
    pub description: Option<String>,
    #[serde(rename = "type")]
    pub kind: AgentKind,
    pub system_prompt: Option<String>,
    pub model: String,
    pub temperature: f64,
    pub max_tokens: u32,
    pub tools_config: Map<String, Value>,
    pub active: bool,
}

pub const AGENT_FIELDS: &[&str] = &[
    "name",
    "description",
    "type",
    "system_prompt",
    "model",
    "temperature",
    "max_tokens",
    "tools_config",
    "active",
];

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AgentInput {
    name: Option<String>,
    description: Option<String>,
    #[serde(rename = "type")]
    kind: Option<String>,
    system_prompt: Option<String>,
    model: Option<String>,
    temperature: Option<f64>,
    #[serde(default, deserialize_with = "super::whole_number")]
    max_tokens: Option<i64>,
    tools_config: Option<Map<String, Value>>,
    active: Option<bool>,
}

/// Whether `s` is a model id: letters, digits and `.:_/-`, as OpenAI's and fine-tuned ids are.
pub fn valid_model(s: &str) -> bool {
    (1..=100).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b".:_/-".contains(&b))
}

impl AgentFields {
    /// A new agent from a request body; an omitted prompt of a known kind is that kind's.
    pub fn parse(body: Value) -> Result<AgentFields, FieldErrors> {
        let input: AgentInput = super::parse_body(body)?;
        let mut errors = FieldErrors::new();
        let name = match &input.name {
            Some(n) => label("name", n, 255, &mut errors),
            None => {
                errors.missing("name");
                String::new()
            }
        };
        let kind = match input.kind.as_deref() {
            None => AgentKind::Custom,
            Some(k) => AgentKind::parse(k).unwrap_or_else(|| {
                errors.add(
                    "type",
                    "must be one of: customer_service, sales, tech_support, custom",
                );
                AgentKind::Custom
            }),
        };
        let text = |field: &str, v: Option<String>, max: usize, errors: &mut FieldErrors| {
            let v = v.filter(|s| !s.trim().is_empty())?;
            if v.chars().count() > max {
                errors.add(field, format!("must be at most {max} characters"));
            } else if !control_free(v.trim(), true) {
                errors.add(field, "must not contain control characters");
            }
            Some(v.trim().to_string())
        };
        let description = text(
            "description",
            input.description,
            MAX_DESCRIPTION_CHARS,
            &mut errors,
        );
        let system_prompt = text(
            "system_prompt",
            input.system_prompt,
            MAX_PROMPT_CHARS,
            &mut errors,
        )
        .or_else(|| kind.default_prompt().map(str::to_string));
        let model = input.model.unwrap_or_else(|| DEFAULT_MODEL.into());
        if !valid_model(&model) {
            errors.add(
                "model",
                "must be a model id such as gpt-4o-mini (letters, digits and .:_/-)",
            );
        }
        let temperature = input.temperature.unwrap_or(DEFAULT_TEMPERATURE);
        if !(0.0..=2.0).contains(&temperature) {
            errors.add("temperature", "must be a number from 0 to 2");
        }
        let max_tokens = match input.max_tokens {
            None => DEFAULT_MAX_TOKENS,
            Some(n) => u32::try_from(n)
                .ok()
                .filter(|n| (1..=MAX_TOKENS).contains(n))
                .unwrap_or_else(|| {
                    errors.add(
                        "max_tokens",
                        format!("must be an integer from 1 to {MAX_TOKENS}"),
                    );
                    DEFAULT_MAX_TOKENS
                }),
        };
        let tools_config = input.tools_config.unwrap_or_default();
        super::check_document(
            "tools_config",
            &Value::Object(tools_config.clone()),
            &mut errors,
        );
        errors.into_result()?;
        Ok(AgentFields {
            name,
            description,
            kind,
            system_prompt,
            model,
            temperature,
            max_tokens,
            tools_config,
            active: input.active.unwrap_or(true),
        })
    }

    /// These fields with a JSON Merge Patch applied, validated again as a whole.
    pub fn patched(&self, patch: &Value) -> Result<AgentFields, FieldErrors> {
        let Value::Object(map) = patch else {
            return Err(FieldErrors::one("body", "must be a JSON object"));
        };
        let mut errors = FieldErrors::new();
        for key in map.keys() {
            if !AGENT_FIELDS.contains(&key.as_str()) {
                errors.add(key.clone(), "is not a field of an agent");
            }
        }
        errors.into_result()?;
        let mut current = serde_json::to_value(self).unwrap_or_default();
        super::merge_patch::apply(&mut current, patch);
        AgentFields::parse(current)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Agent {
    pub id: Uuid,
    pub company_id: CompanyId,
    #[serde(flatten)]
    pub fields: AgentFields,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_sales_agent_without_a_prompt_gets_the_portuguese_one() {
        let a = AgentFields::parse(json!({"name": "Vendas", "type": "sales"})).unwrap();
        assert!(a.system_prompt.unwrap().contains("consultor de vendas"));
        assert_eq!((a.model.as_str(), a.max_tokens), (DEFAULT_MODEL, 1000));
        let c = AgentFields::parse(json!({"name": "Livre"})).unwrap();
        assert_eq!(c.system_prompt, None);
    }

    #[test]
    fn errors_name_the_field() {
        let e = AgentFields::parse(
            json!({"name": "X", "temperature": 2.5, "max_tokens": 0, "type": "robot"}),
        )
        .unwrap_err();
        for f in ["temperature", "max_tokens", "type"] {
            assert!(e.fields().contains_key(f), "{f}: {e:?}");
        }
    }
}
