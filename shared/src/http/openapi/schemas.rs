//! The field-level schemas of the contract: what each body may hold and what each answer
//! holds. The rules are the domain's (`domain/`): a limit here is the limit the parser
//! enforces, and `make fuzz` sends both sides of every boundary to prove it.
//!
//! Text is described as sent: lengths count the characters of the raw value, blanks
//! around it are allowed (the domain trims them), control characters are not.

use serde_json::{json, Map, Value};

use crate::domain::page::{MAX_LIMIT, MAX_PAGE};
use crate::domain::{MAX_DOCUMENT_BYTES, MAX_DOCUMENT_DEPTH};

/// Rust's `char::is_whitespace` (Unicode White_Space), which `str::trim` removes.
const WS: &str = r"[\t-\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]";
/// Neither a control character nor a blank.
const SOLID: &str = r"[^\x00-\x20\x7f-\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]";
/// Not a control character.
const PLAIN: &str = r"[^\x00-\x1f\x7f-\x9f]";
/// Not a control character but tab and line breaks.
const LINES: &str = r"[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]";

/// Text that is not blank once trimmed, its inner characters of the class `inner`.
fn text_pattern(inner: &str) -> String {
    format!("^{WS}*{SOLID}(?:{inner}*{SOLID})?{WS}*$")
}

/// A name or label: not blank, at most `max` characters as sent.
pub fn label(max: u32) -> Value {
    json!({"type": "string", "maxLength": max, "pattern": text_pattern(PLAIN)})
}

/// Optional text: blank (at any length) means absent, else at most `max` characters.
fn optional(inner: &str, max: u32) -> Value {
    json!({"anyOf": [
        {"type": "string", "maxLength": max, "pattern": text_pattern(inner)},
        {"type": "string", "pattern": format!("^{WS}*$")},
        {"type": "null"}
    ]})
}

/// An optional label.
pub fn optional_label(max: u32) -> Value {
    optional(PLAIN, max)
}

/// Free text with line breaks.
pub fn optional_text(max: u32) -> Value {
    optional(LINES, max)
}

pub fn uuid() -> Value {
    json!({"type": "string", "format": "uuid"})
}

pub fn time() -> Value {
    json!({"type": "string", "format": "date-time"})
}

pub fn nullable(schema: Value) -> Value {
    json!({"anyOf": [schema, {"type": "null"}]})
}

/// A free-form JSON object, as custom fields and metadata are.
pub fn document() -> Value {
    json!({
        "type": "object",
        "additionalProperties": true,
        "description": format!("Any JSON object up to {MAX_DOCUMENT_BYTES} bytes and {MAX_DOCUMENT_DEPTH} levels deep")
    })
}

/// Any object, as stored documents are answered.
fn any_object() -> Value {
    json!({"type": "object", "additionalProperties": true})
}

/// A phone number as people type it: `+55 (11) 98765-4321`; stored as E.164.
pub fn phone() -> Value {
    let sep = r"[ ().-]";
    json!({
        "type": "string",
        "pattern": format!(r"^{WS}*\+?{sep}*[1-9](?:{sep}*[0-9]){{1,14}}{sep}*{WS}*$"),
        "examples": ["+55 11 98765-4321"]
    })
}

fn enumeration(values: &[&str]) -> Value {
    json!({"type": "string", "enum": values})
}

pub const CHANNELS: &[&str] = &["whatsapp", "instagram", "facebook"];
pub const CONVERSATION_STATUSES: &[&str] = &["active", "closed", "archived"];

/// An object whose every property is listed, as answers are.
fn object(required: &[&str], properties: Value) -> Value {
    json!({"type": "object", "required": required, "properties": properties, "additionalProperties": false})
}

/// A stored record's fields: its id and company, the writable `fields`, its times.
fn record<'a>(fields: &[&'a str]) -> Vec<&'a str> {
    let mut all = vec!["id", "company_id"];
    all.extend_from_slice(fields);
    all.extend(["created_at", "updated_at"]);
    all
}

/// The named schemas of `components.schemas`.
pub fn named() -> Map<String, Value> {
    let mut s = Map::new();
    let lead_writable = |create: bool| {
        let nullable_label = |max| optional_label(max);
        let mut props = json!({
            "name": label(255),
            "email": {"anyOf": [
                {"type": "string", "format": "email", "maxLength": 255},
                {"type": "string", "pattern": format!("^{WS}*$")},
                {"type": "null"}
            ]},
            "phone": {"anyOf": [phone(), {"type": "string", "pattern": format!("^{WS}*$")}, {"type": "null"}]},
            "company": nullable_label(255),
            "source": nullable_label(100),
            "pipeline": nullable_label(100),
            "status": nullable_label(50),
            "score": {"type": ["integer", "null"], "minimum": 0, "maximum": 100},
            "custom_fields": {"anyOf": [document(), {"type": "null"}]},
            "notes": optional_text(4000),
            "user_id": nullable_label(255)
        });
        if !create {
            props["custom_fields"]["description"] =
                json!("Merged key by key (JSON Merge Patch): a key set to null is removed");
        }
        let mut schema =
            json!({"type": "object", "properties": props, "additionalProperties": false});
        if create {
            schema["required"] = json!(["name"]);
            schema["examples"] = json!([{
                "name": "Maria Souza", "email": "maria@padaria.com.br", "phone": "+55 11 98765-4321",
                "company": "Padaria Pão Quente", "source": "instagram", "status": "novo",
                "score": 40, "custom_fields": {"interesse": "encomendas para festas"},
                "notes": "Pediu orçamento de 200 salgados"
            }]);
        } else {
            schema["description"] = json!("JSON Merge Patch: absent fields stay, null clears");
            schema["examples"] = json!([{"status": "qualificado", "score": 80}]);
        }
        schema
    };
    s.insert("LeadInput".into(), lead_writable(true));
    s.insert("LeadPatch".into(), lead_writable(false));
    s.insert(
        "Lead".into(),
        object(
            &record(crate::domain::lead::LEAD_FIELDS),
            json!({
                "id": uuid(), "company_id": {"type": "string"}, "name": {"type": "string"},
                "email": {"type": ["string", "null"]},
                "phone": {"type": ["string", "null"], "pattern": r"^\+[1-9][0-9]{1,14}$"},
                "company": {"type": ["string", "null"]}, "source": {"type": ["string", "null"]},
                "pipeline": {"type": "string"}, "status": {"type": "string"},
                "score": {"type": "integer", "minimum": 0, "maximum": 100},
                "custom_fields": any_object(), "notes": {"type": ["string", "null"]},
                "user_id": {"type": ["string", "null"]},
                "created_at": time(), "updated_at": time()
            }),
        ),
    );
    s.insert(
        "LeadEvent".into(),
        object(
            &["id", "lead_id", "type", "from", "to", "at", "by"],
            json!({
                "id": uuid(), "lead_id": uuid(),
                "type": enumeration(&["created", "status_changed", "pipeline_changed", "score_changed", "tool_call"]),
                "from": {"type": ["string", "null"]}, "to": {"type": ["string", "null"]},
                "at": time(), "by": {"type": ["string", "null"]}
            }),
        ),
    );
    let conversation_props = json!({
        "id": uuid(), "company_id": {"type": "string"}, "lead_id": uuid(),
        "channel": enumeration(CHANNELS), "status": enumeration(CONVERSATION_STATUSES),
        "metadata": any_object(),
        "last_message_at": {"type": ["string", "null"], "format": "date-time"},
        "last_inbound_at": {"type": ["string", "null"], "format": "date-time"},
        "message_count": {"type": "integer", "minimum": 0},
        "created_at": time(), "updated_at": time(),
        "agent_id": {"anyOf": [uuid(), {"type": "null"}], "description": "The agent answering this conversation; null: its channel account's"},
        "auto_reply": {"type": ["boolean", "null"], "description": "The agent answers on its own here; null: as its channel account says"},
        "ai_paused": {"type": "boolean", "description": "Paused by a person or handed off: the agent stays quiet until resumed"},
        "ai_paused_reason": {"type": ["string", "null"]},
        "ai_paused_at": {"type": ["string", "null"], "format": "date-time"},
        "follow_up_at": {"type": ["string", "null"], "format": "date-time", "description": "When to get back to the customer, as the agent scheduled it"},
        "follow_up_note": {"type": ["string", "null"]},
        "ai_answered_through": {"anyOf": [uuid(), {"type": "null"}], "description": "The customer's newest message the agent answered (or handed off)"}
    });
    let conversation_fields = [
        "id",
        "company_id",
        "lead_id",
        "channel",
        "status",
        "metadata",
        "last_message_at",
        "last_inbound_at",
        "message_count",
        "created_at",
        "updated_at",
        "agent_id",
        "auto_reply",
        "ai_paused",
        "ai_paused_reason",
        "ai_paused_at",
        "follow_up_at",
        "follow_up_note",
        "ai_answered_through",
    ];
    s.insert(
        "Conversation".into(),
        object(&conversation_fields, conversation_props.clone()),
    );
    let mut view = conversation_props;
    view["lead_name"] = json!({"type": "string"});
    view["last_message"] = nullable(object(
        &["content", "timestamp"],
        json!({"content": {"type": "string"}, "timestamp": time()}),
    ));
    let mut view_fields = conversation_fields.to_vec();
    view_fields.extend(["lead_name", "last_message"]);
    s.insert("ConversationView".into(), object(&view_fields, view));
    s.insert(
        "ConversationInput".into(),
        json!({
            "type": "object", "required": ["lead_id", "channel"], "additionalProperties": false,
            "properties": {"lead_id": uuid(), "channel": enumeration(CHANNELS)},
            "examples": [{"lead_id": "0b7d6a52-3c1e-4f7a-9d51-2f1c8f0e6a10", "channel": "whatsapp"}]
        }),
    );
    s.insert(
        "ConversationChange".into(),
        json!({
            "type": "object", "additionalProperties": false,
            "properties": {
                "status": {"type": ["string", "null"], "enum": [CONVERSATION_STATUSES[0], CONVERSATION_STATUSES[1], CONVERSATION_STATUSES[2], null]},
                "metadata": {"anyOf": [document(), {"type": "null"}], "description": "Merged key by key (JSON Merge Patch)"},
                "agent_id": {"anyOf": [uuid(), {"type": "null"}], "description": "An agent of the company; null: the channel account's"},
                "auto_reply": {"type": ["boolean", "null"], "description": "null: as the channel account says"},
                "ai_paused": {"type": ["boolean", "null"], "description": "Pauses or resumes the agent in this conversation"}
            },
            "examples": [{"status": "closed", "metadata": {"motivo": "cliente satisfeito"}}, {"ai_paused": true}]
        }),
    );
    s.insert(
        "Message".into(),
        object(
            &["id", "conversation_id", "role", "content", "type", "metadata", "created_at",
              "external_id", "status", "error"],
            json!({
                "id": uuid(), "conversation_id": uuid(),
                "role": enumeration(&["user", "assistant", "system"]),
                "content": {"type": "string"}, "type": {"type": "string"},
                "metadata": any_object(), "created_at": time(),
                "external_id": {"type": ["string", "null"]},
                "status": {"type": ["string", "null"], "enum": ["pending", "sent", "delivered", "read", "failed", null]},
                "error": {"type": ["object", "null"]}
            }),
        ),
    );
    s.insert("Outgoing".into(), outgoing());
    s.insert(
        "ApiKey".into(),
        object(
            &[
                "id",
                "company_id",
                "name",
                "prefix",
                "scopes",
                "active",
                "created_at",
                "last_used_at",
                "created_by",
            ],
            json!({
                "id": uuid(), "company_id": {"type": "string"}, "name": {"type": "string"},
                "prefix": {"type": "string"},
                "scopes": {"type": "array", "items": enumeration(crate::domain::account::SCOPES)},
                "active": {"type": "boolean"}, "created_at": time(),
                "last_used_at": {"type": ["string", "null"], "format": "date-time"},
                "created_by": {"type": "string"},
                "key": {"type": "string", "description": "Only in the answer that creates it"}
            }),
        ),
    );
    s.insert(
        "ApiKeyInput".into(),
        json!({
            "type": "object", "required": ["name"], "additionalProperties": false,
            "properties": {
                "name": label(100),
                "scopes": {"type": ["array", "null"], "minItems": 1,
                           "items": enumeration(crate::domain::account::SCOPES)}
            },
            "examples": [{"name": "Integração com o ERP", "scopes": ["read", "write"]}]
        }),
    );
    s.insert(
        "Channel".into(),
        object(
            &["id", "company_id", "channel", "external_id", "name", "token_hint", "agent_id", "auto_reply", "created_at", "updated_at"],
            json!({
                "id": uuid(), "company_id": {"type": "string"}, "channel": enumeration(CHANNELS),
                "external_id": {"type": "string"}, "name": {"type": "string"},
                "token_hint": {"type": "string"}, "created_at": time(), "updated_at": time(),
                "agent_id": {"anyOf": [uuid(), {"type": "null"}], "description": "The AI agent that answers the account's conversations"},
                "auto_reply": {"type": "boolean", "description": "The agent answers on its own"},
                "meta": {"description": "What Meta's Graph API answered when the account was checked"}
            }),
        ),
    );
    let token = json!({"type": "string", "pattern": "^[!-~]{1,2048}$"});
    s.insert(
        "ChannelInput".into(),
        json!({
            "type": "object", "required": ["channel", "external_id", "name", "access_token"],
            "additionalProperties": false,
            "properties": {
                "channel": enumeration(CHANNELS),
                "external_id": {"type": "string", "pattern": "^[0-9]{1,64}$"},
                "name": label(100), "access_token": token
            },
            "examples": [{"channel": "whatsapp", "external_id": "106540352242922",
                          "name": "Atendimento Padaria", "access_token": "EAAG…"}]
        }),
    );
    s.insert(
        "ChannelChange".into(),
        json!({
            "type": "object", "additionalProperties": false,
            "properties": {"name": nullable(label(100)), "access_token": nullable(token),
                           "agent_id": {"anyOf": [uuid(), {"type": "null"}], "description": "An agent of the company; null: none"},
                           "auto_reply": {"type": ["boolean", "null"]}},
            "examples": [{"name": "Vendas Padaria"}, {"agent_id": "0b7d6a52-3c1e-4f7a-9d51-2f1c8f0e6a10", "auto_reply": true}]
        }),
    );
    s.insert(
        "Company".into(),
        object(
            &[
                "id",
                "name",
                "domain",
                "settings",
                "created_at",
                "updated_at",
            ],
            json!({
                "id": {"type": "string"}, "name": {"type": "string"},
                "domain": {"type": ["string", "null"]}, "settings": any_object(),
                "created_at": time(), "updated_at": time()
            }),
        ),
    );
    s.insert("CompanyChange".into(), company_change());
    s.insert(
        "InboundEndpoint".into(),
        object(
            &["id", "company_id", "client_id", "name", "created_at"],
            json!({
                "id": uuid(), "company_id": {"type": "string"}, "client_id": {"type": "string"},
                "name": {"type": "string"}, "created_at": time(),
                "secret": {"type": "string", "description": "Only in the answer that creates it"},
                "url_path": {"type": "string", "description": "Only in the answer that creates it"}
            }),
        ),
    );
    ai_schemas(&mut s);
    webhook_schemas(&mut s);
    analytics_schemas(&mut s);
    s.insert(
        "InboundEndpointInput".into(),
        json!({
            "type": "object", "required": ["name"], "additionalProperties": false,
            "properties": {"name": label(100)},
            "examples": [{"name": "Formulário do site"}]
        }),
    );
    s
}

/// The template's place among [`outgoing_variants`].
const TEMPLATE: usize = 2;

/// Not a blank: a text is not empty once trimmed.
const NOT_BLANK: &str = r"[^\t-\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]";

fn message_text(max: u32) -> Value {
    json!({"type": "string", "maxLength": max, "pattern": NOT_BLANK})
}

/// The kinds of a message to send, each an object with the route's `extra` fields: text
/// (as `text`, `{"text": {"body"}}` or the seed's `content`), a template, media or an
/// interactive message. Inner objects may carry Meta's other fields; the ones named here
/// are checked.
fn outgoing_variants(extra: &Value) -> Vec<(Value, Vec<&'static str>)> {
    let text_kind = json!({"const": "text", "default": "text"});
    let variants = [
        (
            text_kind.clone(),
            vec!["text"],
            json!({"text": {"anyOf": [
                message_text(4096),
                {"type": "object", "required": ["body"], "properties": {"body": message_text(4096)}}
            ]}}),
        ),
        (
            text_kind,
            vec!["content"],
            json!({"content": message_text(4096)}),
        ),
        (
            json!({"const": "template"}),
            vec!["type", "template"],
            json!({"template": {
                "type": "object", "required": ["name", "language"],
                "properties": {
                    "name": {"type": "string", "minLength": 1, "maxLength": 512},
                    "language": {"anyOf": [
                        {"type": "string", "minLength": 1},
                        {"type": "object", "required": ["code"], "properties": {"code": {"type": "string", "minLength": 1}}}
                    ]},
                    "components": {"type": ["array", "null"]}
                }
            }}),
        ),
        media(&["image", "video"], true, false),
        media(&["audio"], false, false),
        media(&["document"], true, true),
        (
            json!({"const": "interactive"}),
            vec!["type", "interactive"],
            json!({"interactive": {
                "type": "object", "required": ["type", "body", "action"],
                "properties": {
                    "type": {"enum": ["button", "list"]},
                    "body": {"type": "object", "required": ["text"], "properties": {"text": message_text(1024)}}
                },
                "oneOf": [
                    {"properties": {"type": {"const": "button"}, "action": {
                        "type": "object", "required": ["buttons"],
                        "properties": {"buttons": {"type": "array", "minItems": 1, "maxItems": 3, "items": {
                            "type": "object", "required": ["reply"],
                            "properties": {"reply": {"type": "object", "required": ["id", "title"], "properties": {
                                "id": {"type": "string"}, "title": message_text(20)
                            }}}
                        }}}
                    }}},
                    {"properties": {"type": {"const": "list"}, "action": {
                        "type": "object", "required": ["button", "sections"],
                        "description": "WhatsApp allows 10 rows in all: Meta refuses more",
                        "properties": {
                            "button": message_text(20),
                            "sections": {"type": "array", "minItems": 1, "maxItems": 10, "items": {
                                "type": "object", "required": ["rows"],
                                "properties": {"rows": {"type": "array", "minItems": 1, "maxItems": 10, "items": {
                                    "type": "object", "required": ["id", "title"],
                                    "properties": {"id": {"type": "string"}, "title": message_text(24)}
                                }}}
                            }}
                        }
                    }}}
                ]
            }}),
        ),
    ];
    variants
        .into_iter()
        .map(|(kind, required, own)| {
            let mut props = json!({
                "type": kind,
                "metadata": {"anyOf": [document(), {"type": "null"}], "description": "Kept on the stored message"},
                "reply_to": {"type": ["string", "null"], "minLength": 1, "description": "The channel id of the message this one answers"}
            });
            for part in [&own, extra] {
                if let (Some(p), Some(o)) = (props.as_object_mut(), part.as_object()) {
                    p.extend(o.clone());
                }
            }
            (props, required)
        })
        .collect()
}

/// Media of `kinds` by `link` or `id`; a caption and a file name where the kind has them.
fn media(kinds: &[&str], caption: bool, filename: bool) -> (Value, Vec<&'static str>, Value) {
    let mut properties = json!({
        "link": {"type": "string", "pattern": "^https?://"},
        "id": {"type": "string", "minLength": 1},
        "caption": {"not": {}, "description": "Not for this kind"},
        "filename": {"not": {}, "description": "Documents only"}
    });
    if caption {
        properties["caption"] = json!({"type": "string", "maxLength": 1024});
    }
    if filename {
        properties["filename"] = json!({"type": "string", "minLength": 1, "maxLength": 240});
    }
    let part = json!({
        "type": "object",
        "properties": properties,
        "oneOf": [
            {"required": ["link"], "not": {"required": ["id"]}},
            {"required": ["id"], "not": {"required": ["link"]}}
        ]
    });
    (
        json!({"enum": kinds}),
        vec!["type", "media"],
        json!({"media": part}),
    )
}

fn variant(props: Value, required: Vec<&str>, extra_required: &[&str]) -> Value {
    let mut required = required;
    required.extend(extra_required);
    json!({"type": "object", "required": required, "properties": props, "additionalProperties": false})
}

/// A message to send with the route's `extra` fields, of which `required` must be there.
pub fn outgoing_with(extra: &Value, required: &[&str]) -> Value {
    let variants: Vec<Value> = outgoing_variants(extra)
        .into_iter()
        .map(|(props, own)| variant(props, own, required))
        .collect();
    json!({"oneOf": variants})
}

/// A template message with the route's `extra` fields (`extra.type` overrides its kind).
pub fn template_with(extra: &Value, required: &[&str]) -> Value {
    let (props, _) = outgoing_variants(extra).swap_remove(TEMPLATE);
    let mut schema = variant(props, vec!["template"], required);
    schema["examples"] = json!([{"to": "+55 11 98765-4321", "template": {"name": "boas_vindas", "language": {"code": "pt_BR"}}}]);
    schema
}

fn outgoing() -> Value {
    let mut schema = outgoing_with(&json!({"conversation_id": uuid()}), &[]);
    schema["examples"] = json!([
        {"content": "Olá! Como posso ajudar?", "type": "text", "metadata": {"origem": "painel"}},
        {"type": "text", "text": {"body": "Seu pedido saiu para entrega 🚚"}},
        {"type": "template", "template": {"name": "boas_vindas", "language": {"code": "pt_BR"}}}
    ]);
    schema
}

/// A rate limit setting: one period and its count, and the burst; with `company`, the
/// company-wide ceiling in the same form.
fn rate_limit(company: Option<Value>) -> Value {
    use crate::domain::rate_limit::{MAX_BURST, MAX_PER_PERIOD};
    let count = |max: u32| json!({"type": "integer", "minimum": 1, "maximum": max});
    let mut properties = json!({
        "per_minute": count(MAX_PER_PERIOD),
        "per_hour": count(MAX_PER_PERIOD),
        "per_day": count(MAX_PER_PERIOD),
        "burst": count(MAX_BURST)
    });
    if let Some(c) = company {
        properties["company"] = c;
    }
    json!({
        "type": "object", "properties": properties, "additionalProperties": false,
        "oneOf": [{"required": ["per_minute"]}, {"required": ["per_hour"]}, {"required": ["per_day"]}],
        "description": "Set as a whole: a patch replaces the group's limit"
    })
}

fn company_change() -> Value {
    let statuses = json!({"type": "array", "minItems": 1, "items": {"type": "string", "minLength": 1, "maxLength": 50}});
    let limit = rate_limit(Some(rate_limit(None)));
    let groups: Vec<&str> = crate::domain::rate_limit::GROUPS
        .iter()
        .map(|g| g.name)
        .collect();
    let limits = json!({
        "type": ["object", "null"],
        "propertyNames": {"enum": groups},
        "additionalProperties": {"anyOf": [limit, {"type": "null"}]}
    });
    json!({
        "type": "object", "additionalProperties": false,
        "properties": {
            "name": label(255),
            "domain": {"type": ["string", "null"], "maxLength": 255,
                       "pattern": format!(r"^{WS}*(?:{SOLID}*\.{SOLID}*)?{WS}*$")},
            "settings": {
                "type": "object",
                "description": "Merged key by key (JSON Merge Patch); null removes a setting",
                "additionalProperties": false,
                "properties": {
                    "timezone": {"type": ["string", "null"], "maxLength": 64,
                                 "pattern": "^(?:UTC|[A-Za-z0-9_+-]+(?:/[A-Za-z0-9_+-]+)+)$",
                                 "description": "An IANA time zone", "examples": ["America/Sao_Paulo"]},
                    "ai_budget_usd": {"type": ["number", "null"], "minimum": 0, "maximum": crate::domain::account::MAX_AI_BUDGET_USD},
                    "qualified_statuses": {"anyOf": [statuses.clone(), {"type": "null"}]},
                    "converted_statuses": {"anyOf": [statuses.clone(), {"type": "null"}]},
                    "lead_statuses": {"anyOf": [{"maxItems": 50, "allOf": [statuses]}, {"type": "null"}],
                                      "description": "The statuses an AI agent may set"},
                    "rate_limits": limits,
                    "ai_replies": ai_replies()
                }
            }
        },
        "examples": [{"name": "Padaria Pão Quente", "domain": "paoquente.com.br",
                      "settings": {"timezone": "America/Sao_Paulo", "ai_budget_usd": 50}}]
    })
}

/// `settings.ai_replies`: the AI agents' reply switches.
fn ai_replies() -> Value {
    let clock = json!({"type": ["string", "null"], "pattern": "^(?:[01][0-9]|2[0-3]):[0-5][0-9]$"});
    json!({
        "type": ["object", "null"], "additionalProperties": false,
        "properties": {
            "quiet_seconds": {"type": ["number", "null"], "minimum": 0, "maximum": 60,
                              "description": "How long the customer must be quiet before the agent answers (default 4)"},
            "human_pause_minutes": {"type": ["integer", "null"], "minimum": 0, "maximum": 10080,
                                    "description": "How long a person's reply keeps the agent out of a conversation (default 60)"},
            "handoff_phrases": {"type": ["array", "null"], "maxItems": 20, "items": label(60),
                                "description": "What a customer says to ask for a person, as whole words"},
            "max_replies_per_day": {"type": ["integer", "null"], "minimum": 1,
                                    "maximum": crate::domain::autoreply::MAX_REPLIES_PER_DAY},
            "business_hours": {
                "type": ["object", "null"], "additionalProperties": false,
                "properties": {
                    "reply": {"type": ["string", "null"], "enum": ["always", "outside", null],
                              "description": "outside: the agent answers only while the company is closed"},
                    "days": {"type": ["array", "null"], "items": {"type": "integer", "minimum": 1, "maximum": 7}},
                    "opens": clock.clone(), "closes": clock
                }
            }
        },
        "examples": [{"quiet_seconds": 4, "business_hours": {"reply": "outside", "days": [1, 2, 3, 4, 5], "opens": "09:00", "closes": "18:00"}}]
    })
}

/// The list parameters every list shares.
pub fn page_parameters() -> Vec<Value> {
    vec![
        query(
            "page",
            json!({"type": "integer", "minimum": 1, "maximum": MAX_PAGE, "default": 1}),
            "The page by number; deeper lists continue with `cursor`",
        ),
        query(
            "limit",
            json!({"type": "integer", "minimum": 1, "maximum": MAX_LIMIT, "default": 20}),
            "Records per page",
        ),
    ]
}

pub fn query(name: &str, schema: Value, description: &str) -> Value {
    json!({"name": name, "in": "query", "required": false, "schema": schema, "description": description})
}

pub fn cursor_parameter() -> Value {
    query(
        "cursor",
        json!({"type": "string", "pattern": "^[A-Za-z0-9_-]+$"}),
        "The previous answer's `next_cursor`, as it was given",
    )
}

pub fn query_label(name: &str, max: u32, description: &str) -> Value {
    query(name, label(max), description)
}

pub fn enum_query(name: &str, values: &[&str], description: &str) -> Value {
    query(name, enumeration(values), description)
}

/// An instant or a day: `2026-11-27T10:00:00-03:00` or `2026-11-27`.
pub fn time_query(name: &str, description: &str) -> Value {
    query(
        name,
        json!({"anyOf": [{"type": "string", "format": "date"}, {"type": "string", "format": "date-time"}]}),
        description,
    )
}

/// Agents, OpenAI's chat shapes, and the usage report.
fn ai_schemas(s: &mut Map<String, Value>) {
    use crate::domain::agent::{AgentKind, MAX_DESCRIPTION_CHARS, MAX_PROMPT_CHARS, MAX_TOKENS};
    let kinds: Vec<&str> = AgentKind::ALL.iter().map(|k| k.as_str()).collect();
    let model = json!({"type": "string", "pattern": "^[A-Za-z0-9._:/-]{1,100}$", "examples": ["gpt-4o-mini"]});
    let agent_props = |create: bool| {
        let mut p = json!({
            "name": label(255),
            "description": optional_text(MAX_DESCRIPTION_CHARS as u32),
            "type": {"enum": [kinds[0], kinds[1], kinds[2], kinds[3], null]},
            "system_prompt": optional_text(MAX_PROMPT_CHARS as u32),
            "model": nullable(model.clone()),
            "temperature": {"type": ["number", "null"], "minimum": 0, "maximum": 2},
            "max_tokens": {"type": ["integer", "null"], "minimum": 1, "maximum": MAX_TOKENS},
            "tools_config": {"anyOf": [document(), {"type": "null"}]},
            "active": {"type": ["boolean", "null"]}
        });
        if !create {
            p["system_prompt"]["description"] =
                json!("null or blank: none (a custom agent) or the type's ready-made prompt");
        }
        p
    };
    s.insert(
        "AgentInput".into(),
        json!({
            "type": "object", "required": ["name"], "additionalProperties": false,
            "properties": agent_props(true),
            "description": "Without `system_prompt`, an agent of a type other than custom gets that type's Portuguese prompt",
            "examples": [{"name": "Vendas Instagram", "type": "sales", "model": "gpt-4o-mini",
                          "temperature": 0.5, "max_tokens": 400}]
        }),
    );
    s.insert(
        "AgentPatch".into(),
        json!({
            "type": "object", "additionalProperties": false, "properties": agent_props(false),
            "description": "JSON Merge Patch: absent fields stay",
            "examples": [{"active": false}]
        }),
    );
    s.insert(
        "Agent".into(),
        object(
            &record(crate::domain::agent::AGENT_FIELDS),
            json!({
                "id": uuid(), "company_id": {"type": "string"}, "name": {"type": "string"},
                "description": {"type": ["string", "null"]}, "type": enumeration(&kinds),
                "system_prompt": {"type": ["string", "null"]}, "model": {"type": "string"},
                "temperature": {"type": "number"}, "max_tokens": {"type": "integer"},
                "tools_config": any_object(), "active": {"type": "boolean"},
                "created_at": time(), "updated_at": time()
            }),
        ),
    );
    let number =
        |low: f64, high: f64| json!({"type": ["number", "null"], "minimum": low, "maximum": high});
    s.insert(
        "ChatRequest".into(),
        json!({
            "type": "object", "required": ["model", "messages"],
            "description": "OpenAI's chat completion request; other OpenAI parameters pass through. With an agent, `model` and the parameters the request leaves out are the agent's.",
            "properties": {
                "model": model,
                "messages": {"type": "array", "minItems": 1, "items": {
                    "type": "object", "required": ["role"],
                    "properties": {
                        "role": {"enum": ["system", "developer", "user", "assistant", "tool"]},
                        "content": {"type": ["string", "array", "null"]}
                    }
                }},
                "temperature": number(0.0, 2.0),
                "top_p": number(0.0, 1.0),
                "presence_penalty": number(-2.0, 2.0),
                "frequency_penalty": number(-2.0, 2.0),
                "max_tokens": {"type": ["integer", "null"], "minimum": 1, "maximum": MAX_TOKENS},
                "max_completion_tokens": {"type": ["integer", "null"], "minimum": 1, "maximum": MAX_TOKENS},
                "stream": {"type": ["boolean", "null"]},
                "stream_options": {"type": ["object", "null"]},
                "tools": {"type": "array", "items": {"type": "object"}},
                "tool_choice": {"type": ["string", "object"]},
                "response_format": {"type": "object"},
                "agent_id": nullable(uuid())
            },
            "examples": [{"model": "gpt-4o-mini", "messages": [
                {"role": "user", "content": "Vocês entregam no sábado?"}]}]
        }),
    );
    s.insert(
        "ChatCompletion".into(),
        json!({
            "type": "object", "required": ["id", "object", "model", "choices"],
            "description": "OpenAI's chat completion, as OpenAI answered it",
            "properties": {
                "id": {"type": "string"}, "object": {"const": "chat.completion"},
                "created": {"type": "integer"}, "model": {"type": "string"},
                "choices": {"type": "array", "items": {"type": "object"}},
                "usage": {"type": "object"}
            }
        }),
    );
    s.insert(
        "ModelList".into(),
        json!({
            "type": "object", "required": ["object", "data"],
            "properties": {"object": {"const": "list"}, "data": {"type": "array", "items": {
                "type": "object", "required": ["id", "object"],
                "properties": {"id": {"type": "string"}, "object": {"const": "model"}}
            }}}
        }),
    );
    s.insert(
        "OpenAiError".into(),
        json!({
            "type": "object", "required": ["error"],
            "properties": {"error": {
                "type": "object", "required": ["message", "type"],
                "properties": {
                    "message": {"type": "string"}, "type": {"type": "string"},
                    "param": {"type": ["string", "null"]}, "code": {"type": ["string", "null"]}
                }
            }}
        }),
    );
    s.insert(
        "SuggestedReply".into(),
        object(
            &["reply", "agent_id", "conversation_id", "model", "usage", "context"],
            json!({
                "reply": {"type": ["string", "null"]}, "agent_id": uuid(), "conversation_id": uuid(),
                "model": {"type": ["string", "null"]}, "usage": {"type": ["object", "null"]},
                "context": {"type": "object", "properties": {
                    "messages": {"type": "integer"}, "estimated_tokens": {"type": "integer"}}}
            }),
        ),
    );
    let usage_row = json!({"type": "object", "properties": {
        "calls": {"type": "integer"}, "prompt_tokens": {"type": "integer"},
        "completion_tokens": {"type": "integer"}, "cached_tokens": {"type": "integer"},
        "reasoning_tokens": {"type": "integer"}, "total_tokens": {"type": "integer"},
        "cost_usd": {"type": "number"}, "estimated_calls": {"type": "integer"}
    }});
    s.insert(
        "AiUsage".into(),
        object(
            &["from", "to", "group_by", "timezone", "rows", "totals", "budget"],
            json!({
                "from": {"type": "string", "format": "date"}, "to": {"type": "string", "format": "date"},
                "group_by": {"enum": ["day", "model", "agent"]}, "timezone": {"type": "string"},
                "rows": {"type": "array", "items": usage_row.clone()}, "totals": usage_row,
                "budget": {"type": "object", "properties": {
                    "month": {"type": "string"}, "budget_usd": {"type": ["number", "null"]},
                    "spent_usd": {"type": "number"}, "reserved_usd": {"type": "number"}}}
            }),
        ),
    );
}

/// The analytics reports.
fn analytics_schemas(s: &mut Map<String, Value>) {
    let count = json!({"type": "integer"});
    let rate = json!({"type": ["number", "null"], "description": "Percent, two decimals; null of nothing"});
    let day = json!({"type": "string", "format": "date"});
    let period = object(
        &["from", "to", "days", "timezone"],
        json!({"from": day, "to": day, "days": {"type": "integer", "minimum": 1}, "timezone": {"type": "string"}}),
    );
    let ai = object(
        &["requests", "tokens", "cost_usd"],
        json!({"requests": count, "tokens": count, "cost_usd": {"type": "number"}}),
    );
    let counts = |names: &[&str]| {
        let props: Map<String, Value> = names
            .iter()
            .map(|n| (n.to_string(), count.clone()))
            .collect();
        object(names, Value::Object(props))
    };
    s.insert(
        "AnalyticsOverview".into(),
        object(
            &["period", "leads", "conversations", "messages", "ai", "trends"],
            json!({
                "period": period,
                "leads": counts(&["total", "new", "qualified", "converted"]),
                "conversations": counts(&["total", "active", "closed"]),
                "messages": counts(&["total", "sent", "received"]),
                "ai": ai,
                "trends": object(&["previous", "leads_growth", "conversion_rate", "response_time_avg"], json!({
                    "previous": object(&["from", "to", "leads_new"], json!({"from": day, "to": day, "leads_new": count})),
                    "leads_growth": rate, "conversion_rate": rate,
                    "response_time_avg": {"type": ["integer", "null"], "description": "Seconds customers waited for a first answer, on average"}
                }))
            }),
        ),
    );
    s.insert(
        "AnalyticsLeads".into(),
        object(
            &["period", "pipeline", "metrics", "statuses", "timeline"],
            json!({
                "period": period,
                "pipeline": {"type": ["string", "null"]},
                "metrics": object(
                    &["total_leads", "qualified_leads", "converted_leads", "conversion_rate", "qualification_rate", "avg_score"],
                    json!({"total_leads": count, "qualified_leads": count, "converted_leads": count,
                           "conversion_rate": rate, "qualification_rate": rate,
                           "avg_score": {"type": ["number", "null"], "description": "The leads' scores now, on average; two decimals"}})),
                "statuses": {"type": "object", "description": "The statuses that counted as qualified and converted"},
                "timeline": {"type": "array", "items": object(&["date", "leads", "qualified", "converted"], json!({
                    "date": day, "leads": count, "qualified": count, "converted": count}))}
            }),
        ),
    );
    let channel = counts(&["sent", "received"]);
    let by_channel: Map<String, Value> = CHANNELS
        .iter()
        .map(|c| (c.to_string(), channel.clone()))
        .collect();
    let by_channel = object(CHANNELS, Value::Object(by_channel));
    let first_response = object(
        &["responses", "avg_seconds", "median_within_seconds"],
        json!({"responses": count, "avg_seconds": {"type": ["integer", "null"]},
               "median_within_seconds": {"type": ["integer", "null"],
                   "description": "The bound of the histogram bucket (30 s … 3 days) that holds the median wait; null beyond 3 days or without answers"}}),
    );
    let message_fields = [
        "sent",
        "received",
        "ai",
        "human",
        "ai_share",
        "delivered",
        "read",
        "failed",
        "delivery_rate",
        "read_rate",
        "by_channel",
        "first_response",
    ];
    let mut message_props = json!({"sent": count, "received": count, "ai": count, "human": count,
                                   "ai_share": rate, "delivered": count, "read": count, "failed": count,
                                   "delivery_rate": rate, "read_rate": rate, "by_channel": by_channel,
                                   "first_response": first_response});
    let mut totals_props = message_props.clone();
    totals_props["failed_top_codes"] = json!({"type": "array", "items": object(&["code", "count"],
        json!({"code": {"type": "string"}, "count": count}))});
    let mut totals_fields = message_fields.to_vec();
    totals_fields.push("failed_top_codes");
    let figures = object(&totals_fields, totals_props);
    message_props["date"] = day.clone();
    let mut bucket_fields = message_fields.to_vec();
    bucket_fields.push("date");
    s.insert(
        "AnalyticsMessages".into(),
        object(
            &["period", "totals", "timeline"],
            json!({"period": period, "totals": figures, "timeline": {"type": "array", "items": object(
                &bucket_fields, message_props)}}),
        ),
    );
    let keyed = |key: &str, schema: Value| {
        let mut props = json!({"requests": count, "tokens": count, "cost_usd": {"type": "number"}});
        props[key] = schema;
        json!({"type": "array", "items": object(&["requests", "tokens", "cost_usd", key], props)})
    };
    s.insert(
        "AnalyticsAi".into(),
        object(
            &[
                "period", "totals", "timeline", "by_model", "by_agent", "budget",
            ],
            json!({
                "period": period, "totals": ai,
                "timeline": keyed("date", day.clone()),
                "by_model": keyed("model", json!({"type": ["string", "null"]})),
                "by_agent": keyed("agent_id", json!({"type": ["string", "null"]})),
                "budget": object(&["month", "budget_usd", "spent_usd", "used_percent"], json!({
                    "month": {"type": "string"}, "budget_usd": {"type": ["number", "null"]},
                    "spent_usd": {"type": "number"}, "used_percent": rate}))
            }),
        ),
    );
}

/// Outbound webhook endpoints and their deliveries.
fn webhook_schemas(s: &mut Map<String, Value>) {
    use crate::domain::webhook::{EVENT_TYPES, MAX_URL_CHARS, URL_PATTERN};
    let mut kinds: Vec<&str> = vec!["*"];
    kinds.extend_from_slice(EVENT_TYPES);
    let url = json!({"type": "string", "maxLength": MAX_URL_CHARS, "pattern": URL_PATTERN,
                     "description": "https in production, reaching a public address", "examples": ["https://erp.padaria.com.br/wiizo"]});
    let events = json!({"type": "array", "minItems": 1, "items": enumeration(&kinds)});
    let description = optional_text(500);
    s.insert(
        "WebhookInput".into(),
        json!({
            "type": "object", "required": ["url", "events"], "additionalProperties": false,
            "properties": {
                "url": url, "events": events, "description": description,
                "active": {"type": ["boolean", "null"]},
                "secret": {"type": ["string", "null"], "pattern": "^[!-~]{24,128}$",
                           "description": "Your own signing secret; by default a `whsec_` one is made and shown once"}
            },
            "examples": [{"url": "https://erp.padaria.com.br/wiizo", "events": ["lead.created", "message.received"]}]
        }),
    );
    s.insert(
        "WebhookPatch".into(),
        json!({
            "type": "object", "additionalProperties": false,
            "properties": {"url": url, "events": events, "description": description,
                           "active": {"type": ["boolean", "null"]}},
            "examples": [{"active": true}]
        }),
    );
    s.insert(
        "Webhook".into(),
        object(
            &[
                "id",
                "company_id",
                "url",
                "events",
                "description",
                "active",
                "disabled_reason",
                "created_at",
                "updated_at",
            ],
            json!({
                "id": uuid(), "company_id": {"type": "string"}, "url": {"type": "string"},
                "events": {"type": "array", "items": {"type": "string"}},
                "description": {"type": ["string", "null"]}, "active": {"type": "boolean"},
                "disabled_reason": {"type": ["string", "null"]},
                "created_at": time(), "updated_at": time(),
                "secret": {"type": "string", "description": "Only in the answer that creates it"}
            }),
        ),
    );
    s.insert(
        "Delivery".into(),
        object(
            &[
                "id",
                "endpoint_id",
                "event_id",
                "event_type",
                "payload",
                "status",
                "http_status",
                "latency_ms",
                "response",
                "attempt",
                "at",
            ],
            json!({
                "id": uuid(), "endpoint_id": uuid(), "event_id": {"type": "string"},
                "event_type": {"type": "string"}, "payload": any_object(),
                "status": {"enum": ["succeeded", "failed"]},
                "http_status": {"type": ["integer", "null"]}, "latency_ms": {"type": "integer"},
                "response": {"type": "string"}, "attempt": {"type": "integer", "minimum": 1},
                "at": time()
            }),
        ),
    );
}
