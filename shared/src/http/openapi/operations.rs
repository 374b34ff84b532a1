//! What each route takes and answers, by method and path pattern. The route tables say
//! which routes exist; this says what flows through them. A route without an entry here
//! fails the contract's test (`every_route_has_its_bodies`).

use serde_json::{json, Value};

use super::schemas::{
    cursor_parameter, enum_query, page_parameters, phone, query, query_label, time_query, uuid,
    CHANNELS, CONVERSATION_STATUSES,
};
use crate::domain::lead::LeadSort;
use crate::http::Method;

/// What a successful answer holds.
pub enum Answer {
    /// `data` is this schema.
    Data(Value),
    /// `data` is a list of this schema, with `pagination` and `next_cursor`.
    Page(Value),
    /// `message` only.
    Message,
    /// A plain-text answer (Meta's verification challenge).
    Text,
    /// A document of this content type, outside the envelope (the contract, its page).
    Document(&'static str),
    /// OpenAI's own answer (this schema), outside the envelope.
    OpenAi(Value),
}

pub struct Spec {
    pub query: Vec<Value>,
    pub body: Option<Value>,
    pub answer: Answer,
    /// The success status: 201 for what a POST creates, else 200.
    pub status: u16,
    /// Also answers 200 with the same data: a create that found the record existing.
    pub may_exist: bool,
    /// Header parameters beyond the shared ones (webhook signatures).
    pub headers: Vec<Value>,
    /// OpenAPI links from the success answer, for stateful testing.
    pub links: Value,
    /// With `stream: true` in the body the answer is server-sent events instead.
    pub streams: bool,
}

/// An analytics report: its period (`period`, or `from`/`to`), its buckets, its pipeline.
fn analytics(schema: &str, buckets: bool, pipeline: bool) -> Spec {
    let mut s = spec(None, Answer::Data(r(schema)));
    let day = json!({"anyOf": [{"type": "string", "format": "date"}, {"type": "string", "format": "date-time"}]});
    s.query = vec![
        enum_query(
            "period",
            &["today", "week", "month", "year"],
            "Up to today, in the company's time zone (weeks start on Monday); not with from/to",
        ),
        query("from", day.clone(), "First day (a date, or an instant taken as its day in the company's time zone); default the month's first"),
        query("to", day, "Last day, default today; at most 1098 days after from"),
    ];
    if buckets {
        s.query.push(enum_query(
            "group_by",
            &["day", "week", "month"],
            "The timeline's buckets, default day",
        ));
    }
    if pipeline {
        s.query
            .push(query_label("pipeline", 100, "Only this pipeline's leads"));
    }
    s
}

fn r(name: &str) -> Value {
    json!({"$ref": format!("#/components/schemas/{name}")})
}

fn array(items: Value) -> Value {
    json!({"type": "array", "items": items})
}

fn spec(body: Option<Value>, answer: Answer) -> Spec {
    Spec {
        status: 200,
        query: Vec::new(),
        body,
        answer,
        may_exist: false,
        headers: Vec::new(),
        links: json!({}),
        streams: false,
    }
}

/// Links from a created record's answer to the operations on `{id}`.
fn links_to(ops: &[(&str, &str)]) -> Value {
    let mut links = serde_json::Map::new();
    for (name, op) in ops {
        links.insert(
            name.to_string(),
            json!({"operationId": op, "parameters": {"id": "$response.body#/data/id"}}),
        );
    }
    Value::Object(links)
}

/// An outgoing message body, with the route's own fields.
fn outgoing(extra: Value, required: &[&str]) -> Value {
    if extra.as_object().is_none_or(|e| e.is_empty()) {
        return r("Outgoing");
    }
    let mut schema = super::schemas::outgoing_with(&extra, required);
    schema["examples"] = if required.contains(&"to") {
        json!([
            {"to": "+55 11 98765-4321", "type": "text", "text": {"body": "Olá!"},
             "context": {"message_id": "wamid.HBgNNTUxMTk4NzY1NDMyMRUCABEYEjQ1"}},
            {"to": "5511987654321", "text": "Seu pedido está pronto para retirada."}
        ])
    } else {
        json!([{"conversation_id": "6a1f7c2e-9b4d-4e8a-8f3c-1d2e3f4a5b6c", "content": "Olá! Como posso ajudar?"}])
    };
    schema
}

/// The contract of the route `method pattern`, if it has one.
pub fn of(method: &Method, pattern: &str) -> Option<Spec> {
    let mut spec = answers(method.as_str(), pattern)?;
    // A POST that records something answers 201; one that acts on what exists, 200.
    let acts = matches!(
        pattern,
        "/api/conversations/{id}/read"
            | "/webhooks/meta"
            | "/webhooks/{client_id}"
            | "/api/ai/v1/chat/completions"
            | "/api/openai-proxy"
            | "/api/agents/{id}/reply"
            | "/api/webhooks/{id}/test"
            | "/api/webhooks/{id}/deliveries/{delivery_id}/retry"
    );
    if method == Method::POST && !acts {
        spec.status = 201;
    }
    Some(spec)
}

fn answers(m: &str, pattern: &str) -> Option<Spec> {
    Some(match (m, pattern) {
        ("GET", "/api/leads") => {
            let sorts: Vec<&str> = LeadSort::ALL.iter().map(|s| s.as_str()).collect();
            let mut s = spec(None, Answer::Page(r("Lead")));
            s.query = page_parameters();
            s.query.extend([
                enum_query("sort", &sorts, "The order of the list (default created_at)"),
                enum_query("order", &["asc", "desc"], "Default desc"),
                cursor_parameter(),
                query_label("status", 50, "Only leads in this status"),
                query_label("pipeline", 100, "Only leads in this pipeline"),
                query_label("source", 100, "Only leads from this source"),
                query_label("user_id", 255, "Only leads of this user"),
                time_query("created_from", "Created at or after"),
                time_query("created_to", "Created at or before"),
                query_label(
                    "search",
                    255,
                    "Name, e-mail, phone or company; case- and accent-insensitive",
                ),
            ]);
            s
        }
        ("POST", "/api/leads") => {
            let mut s = spec(Some(r("LeadInput")), Answer::Data(r("Lead")));
            s.links = links_to(&[
                ("GetLead", "leads_management_get"),
                ("UpdateLead", "leads_management_update"),
                ("LeadHistory", "leads_management_history"),
                ("DeleteLead", "leads_management_delete"),
            ]);
            s
        }
        ("GET", "/api/leads/{id}") => spec(None, Answer::Data(r("Lead"))),
        ("PUT" | "PATCH", "/api/leads/{id}") => spec(Some(r("LeadPatch")), Answer::Data(r("Lead"))),
        ("DELETE", "/api/leads/{id}") => spec(None, Answer::Message),
        ("GET", "/api/leads/{id}/history") => spec(None, Answer::Data(array(r("LeadEvent")))),

        ("GET", "/api/conversations") => {
            let mut s = spec(None, Answer::Page(r("ConversationView")));
            s.query = page_parameters();
            s.query.extend([
                enum_query(
                    "status",
                    CONVERSATION_STATUSES,
                    "Only conversations in this status",
                ),
                enum_query("channel", CHANNELS, "Only conversations on this channel"),
                query("lead_id", uuid(), "Only this lead's conversations"),
            ]);
            s
        }
        ("POST", "/api/conversations") => {
            let mut s = spec(
                Some(r("ConversationInput")),
                Answer::Data(r("Conversation")),
            );
            s.may_exist = true;
            s.links = links_to(&[
                ("GetConversation", "whatsapp_api_get"),
                ("UpdateConversation", "whatsapp_api_update"),
                ("ConversationMessages", "whatsapp_api_messages"),
                ("SendMessage", "whatsapp_api_send_send"),
                ("MarkRead", "whatsapp_api_send_mark_read"),
            ]);
            s.links["MessagesByQuery"] = json!({
                "operationId": "whatsapp_api_messages_by_query",
                "parameters": {"conversation_id": "$response.body#/data/id"}
            });
            s
        }
        ("GET", "/api/conversations/{id}") => spec(None, Answer::Data(r("Conversation"))),
        ("PUT" | "PATCH", "/api/conversations/{id}") => spec(
            Some(r("ConversationChange")),
            Answer::Data(r("Conversation")),
        ),
        ("GET", "/api/conversations/{id}/messages") => {
            let mut s = spec(None, Answer::Page(r("Message")));
            s.query = page_parameters();
            s.query.push(cursor_parameter());
            s
        }
        ("GET", "/api/messages") => {
            let mut s = spec(None, Answer::Page(r("Message")));
            s.query = vec![
                json!({"name": "conversation_id", "in": "query", "required": true, "schema": uuid()}),
            ];
            s.query.extend(page_parameters());
            s.query.push(cursor_parameter());
            s
        }
        ("POST", "/api/conversations/{id}/messages") => {
            spec(Some(outgoing(json!({}), &[])), Answer::Data(r("Message")))
        }
        ("POST", "/api/conversations/{id}/read") => spec(None, Answer::Message),
        ("POST", "/api/messages") => spec(
            Some(outgoing(
                json!({"conversation_id": uuid()}),
                &["conversation_id"],
            )),
            Answer::Data(r("Message")),
        ),
        ("POST", "/api/whatsapp/send-message") => spec(
            Some(outgoing(to_phone(), &["to"])),
            Answer::Data(r("Message")),
        ),
        ("POST", "/api/whatsapp/send-template") => {
            let mut extra = to_phone();
            extra["type"] = json!({"const": "template", "default": "template"});
            spec(
                Some(super::schemas::template_with(&extra, &["to"])),
                Answer::Data(r("Message")),
            )
        }

        ("GET", "/openapi.json") => spec(None, Answer::Document("application/json")),
        ("GET", "/docs") => spec(None, Answer::Document("text/html")),
        ("GET", "/api/company") => spec(None, Answer::Data(r("Company"))),
        ("PATCH", "/api/company") => spec(Some(r("CompanyChange")), Answer::Data(r("Company"))),
        ("GET", "/api/api-keys") => spec(None, Answer::Data(array(r("ApiKey")))),
        ("POST", "/api/api-keys") => {
            let mut s = spec(Some(r("ApiKeyInput")), Answer::Data(r("ApiKey")));
            s.links = links_to(&[("RevokeKey", "accounts_revoke_key")]);
            s
        }
        ("DELETE", "/api/api-keys/{id}") => spec(None, Answer::Message),
        ("GET", "/api/channels") => spec(None, Answer::Data(array(r("Channel")))),
        ("POST", "/api/channels") => {
            let mut s = spec(Some(r("ChannelInput")), Answer::Data(r("Channel")));
            s.links = links_to(&[
                ("GetChannel", "accounts_get_channel"),
                ("UpdateChannel", "accounts_update_channel"),
                ("DeleteChannel", "accounts_delete_channel"),
            ]);
            s
        }
        ("GET", "/api/channels/{id}") => spec(None, Answer::Data(r("Channel"))),
        ("PATCH", "/api/channels/{id}") => {
            spec(Some(r("ChannelChange")), Answer::Data(r("Channel")))
        }
        ("DELETE", "/api/channels/{id}") => spec(None, Answer::Message),

        ("GET", "/api/agents") => spec(None, Answer::Data(array(r("Agent")))),
        ("POST", "/api/agents") => {
            let mut s = spec(Some(r("AgentInput")), Answer::Data(r("Agent")));
            s.links = links_to(&[
                ("GetAgent", "openai_proxy_agents_get"),
                ("UpdateAgent", "openai_proxy_agents_update"),
                ("DeleteAgent", "openai_proxy_agents_delete"),
                ("SuggestReply", "openai_proxy_agents_reply"),
            ]);
            s
        }
        ("GET", "/api/agents/{id}") => spec(None, Answer::Data(r("Agent"))),
        ("PUT" | "PATCH", "/api/agents/{id}") => {
            spec(Some(r("AgentPatch")), Answer::Data(r("Agent")))
        }
        ("DELETE", "/api/agents/{id}") => spec(None, Answer::Message),
        ("POST", "/api/agents/{id}/reply") => spec(
            Some(json!({
                "type": "object", "required": ["conversation_id"], "additionalProperties": false,
                "properties": {"conversation_id": uuid()},
                "examples": [{"conversation_id": "6a1f7c2e-9b4d-4e8a-8f3c-1d2e3f4a5b6c"}]
            })),
            Answer::Data(r("SuggestedReply")),
        ),
        ("POST", "/api/ai/v1/chat/completions") => {
            let mut s = spec(Some(r("ChatRequest")), Answer::OpenAi(r("ChatCompletion")));
            s.headers = vec![agent_header()];
            s.streams = true;
            s
        }
        ("GET", "/api/ai/v1/models") => spec(None, Answer::OpenAi(r("ModelList"))),
        ("POST", "/api/openai-proxy") => {
            let mut s = spec(
                Some(json!({
                    "type": "object", "required": ["action", "payload"], "additionalProperties": false,
                    "properties": {"action": {"const": "response"}, "payload": r("ChatRequest")},
                    "examples": [{"action": "response", "payload": {
                        "model": "gpt-4o-mini",
                        "messages": [{"role": "user", "content": "Quais são os horários de atendimento?"}]
                    }}]
                })),
                Answer::Data(r("ChatCompletion")),
            );
            s.headers = vec![agent_header()];
            s.streams = true;
            s
        }
        ("GET", "/api/ai/usage") => {
            let mut s = spec(None, Answer::Data(r("AiUsage")));
            s.query = vec![
                query(
                    "from",
                    json!({"type": "string", "format": "date"}),
                    "First day (the company's), default the month's first",
                ),
                query(
                    "to",
                    json!({"type": "string", "format": "date"}),
                    "Last day, default today (before `from`: no rows)",
                ),
                enum_query("group_by", &["day", "model", "agent"], "Default day"),
            ];
            s
        }

        ("GET", "/api/analytics/overview") => analytics("AnalyticsOverview", false, false),
        ("GET", "/api/analytics/leads") => analytics("AnalyticsLeads", true, true),
        ("GET", "/api/analytics/messages") => analytics("AnalyticsMessages", true, false),
        ("GET", "/api/analytics/ai") => analytics("AnalyticsAi", true, false),

        ("GET", "/api/webhooks/inbound") => spec(None, Answer::Data(array(r("InboundEndpoint")))),
        ("POST", "/api/webhooks/inbound") => {
            let mut s = spec(
                Some(r("InboundEndpointInput")),
                Answer::Data(r("InboundEndpoint")),
            );
            s.links = links_to(&[("DeleteEndpoint", "webhooks_custom_delete")]);
            s
        }
        ("DELETE", "/api/webhooks/inbound/{id}") => spec(None, Answer::Message),
        ("GET", "/api/webhooks") => spec(None, Answer::Data(array(r("Webhook")))),
        ("POST", "/api/webhooks" | "/api/webhooks/register") => {
            let mut s = spec(Some(r("WebhookInput")), Answer::Data(r("Webhook")));
            s.links = links_to(&[
                ("GetWebhook", "webhooks_outbound_get"),
                ("UpdateWebhook", "webhooks_outbound_update"),
                ("DeleteWebhook", "webhooks_outbound_delete"),
                ("Deliveries", "webhooks_outbound_deliveries"),
                ("TestWebhook", "webhooks_outbound_test"),
            ]);
            s
        }
        ("GET", "/api/webhooks/{id}") => spec(None, Answer::Data(r("Webhook"))),
        ("PATCH", "/api/webhooks/{id}") => {
            spec(Some(r("WebhookPatch")), Answer::Data(r("Webhook")))
        }
        ("DELETE", "/api/webhooks/{id}") => spec(None, Answer::Message),
        ("GET", "/api/webhooks/{id}/deliveries") => {
            let mut s = spec(None, Answer::Data(array(r("Delivery"))));
            s.query = vec![query(
                "limit",
                json!({"type": "integer", "minimum": 1, "maximum": 100, "default": 20}),
                "How many, newest first",
            )];
            s
        }
        ("POST", "/api/webhooks/{id}/test") => spec(None, Answer::Data(r("Delivery"))),
        ("POST", "/api/webhooks/{id}/deliveries/{delivery_id}/retry") => {
            spec(None, Answer::Data(r("Delivery")))
        }
        ("GET", "/webhooks/meta") => {
            let mut s = spec(None, Answer::Text);
            s.query = vec![
                query(
                    "hub.mode",
                    json!({"const": "subscribe"}),
                    "Meta's verification request",
                ),
                query(
                    "hub.verify_token",
                    json!({"type": "string"}),
                    "META_VERIFY_TOKEN",
                ),
                query(
                    "hub.challenge",
                    json!({"type": "string"}),
                    "Answered back as text",
                ),
            ];
            s
        }
        ("POST", "/webhooks/meta") => {
            let mut s = spec(
                Some(json!({
                    "type": "object", "required": ["object", "entry"],
                    "description": "Meta's webhook batch: WhatsApp Cloud API (`whatsapp_business_account`), Instagram (`instagram`) or Messenger (`page`)",
                    "properties": {"object": {"type": "string"}, "entry": {"type": "array"}}
                })),
                Answer::Data(
                    json!({"type": "object", "description": "How many messages and statuses were stored"}),
                ),
            );
            s.headers = vec![signature_header(
                "X-Hub-Signature-256",
                "`sha256=` and the hex HMAC-SHA256 of the raw body with the Meta app secret",
            )];
            s
        }
        ("POST", "/webhooks/{client_id}") => {
            let mut s = spec(
                Some(json!({
                    "type": "object",
                    "description": "An event of the company's own system: a lead to create or update",
                    "examples": [{"event": "lead.created", "data": {"name": "Carlos Lima", "phone": "+55 21 99876-5432"}}]
                })),
                Answer::Data(json!({"type": "object", "properties": {
                    "lead_id": uuid(), "action": {"type": "string"},
                    "duplicate": {"type": "boolean"}, "delivery_id": {"type": "string"}
                }})),
            );
            s.headers = vec![
                signature_header(
                    "X-Webhook-Signature",
                    "`sha256=` and the hex HMAC-SHA256 of the raw body with the endpoint's secret",
                ),
                json!({"name": "Webhook-Id", "in": "header", "required": false, "schema": {"type": "string"},
                       "description": "The delivery's id: a repeated id is answered as a duplicate"}),
            ];
            s
        }
        _ => return None,
    })
}

fn to_phone() -> Value {
    json!({
        "to": phone(),
        "context": {"type": ["object", "null"], "properties": {
            "message_id": {"type": ["string", "null"], "minLength": 1, "description": "The message this one answers"},
            "conversation_id": {"anyOf": [uuid(), {"type": "null"}], "description": "Send on this conversation instead of the phone's"}
        }}
    })
}

fn agent_header() -> Value {
    json!({"name": "X-Agent-Id", "in": "header", "required": false, "schema": uuid(),
           "description": "The agent whose prompt, model and parameters apply (or `agent_id` in the body)"})
}

fn signature_header(name: &str, description: &str) -> Value {
    json!({"name": name, "in": "header", "required": true, "schema": {"type": "string"}, "description": description})
}
