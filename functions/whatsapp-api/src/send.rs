//! Sending on a conversation's channel: validated before any call, recorded before the
//! call (`pending`), then `sent` with Meta's id or `failed` with Meta's error.

use chrono::Duration;
use serde_json::{json, Map, Value};
use shared::domain::account::ChannelAccount;
use shared::domain::conversation::{Channel, Conversation, NewMessage, Role};
use shared::domain::inbound::DeliveryStatus;
use shared::domain::Timestamp;
use shared::http::{Ctx, Reply};
use shared::meta::GraphError;
use shared::store::StoreError;
use shared::{ApiError, App, FieldErrors};
use uuid::Uuid;

/// A message to send, checked against WhatsApp's limits.
#[derive(Debug, Clone, PartialEq)]
pub struct Outgoing {
    kind: String,
    /// The `type`-named part of the Cloud API payload.
    part: Value,
    reply_to: Option<String>,
    /// What the stored message shows as its content.
    summary: String,
}

fn text_len_ok(s: &str, max: usize) -> bool {
    !s.trim().is_empty() && s.chars().count() <= max
}

impl Outgoing {
    pub fn parse(body: &Map<String, Value>) -> Result<Outgoing, ApiError> {
        let mut errors = FieldErrors::new();
        for key in body.keys() {
            if ![
                "type",
                "text",
                "template",
                "media",
                "interactive",
                "reply_to",
                "conversation_id",
            ]
            .contains(&key.as_str())
            {
                errors.add(key.clone(), "is not a field of a message");
            }
        }
        let kind = body
            .get("type")
            .and_then(Value::as_str)
            .unwrap_or("text")
            .to_string();
        let (part, summary) = match kind.as_str() {
            "text" => {
                let text = body.get("text").and_then(Value::as_str).unwrap_or_default();
                if !text_len_ok(text, 4096) {
                    errors.add("text", "must be 1 to 4096 characters");
                }
                (
                    json!({"preview_url": false, "body": text}),
                    text.to_string(),
                )
            }
            "template" => {
                let t = body.get("template").cloned().unwrap_or(Value::Null);
                let name = t["name"].as_str().unwrap_or_default();
                let language = t["language"]
                    .as_str()
                    .or(t["language"]["code"].as_str())
                    .unwrap_or_default();
                if name.is_empty() || name.len() > 512 {
                    errors.add("template.name", "is required");
                }
                if language.is_empty() {
                    errors.add("template.language", "is required, e.g. pt_BR");
                }
                if !(t["components"].is_null() || t["components"].is_array()) {
                    errors.add("template.components", "must be a list");
                }
                let mut part = json!({"name": name, "language": {"code": language}});
                if t["components"].is_array() {
                    part["components"] = t["components"].clone();
                }
                (part, format!("[template {name}]"))
            }
            "image" | "document" | "audio" | "video" => {
                let m = body.get("media").cloned().unwrap_or(Value::Null);
                let mut part = Map::new();
                match (m["link"].as_str(), m["id"].as_str()) {
                    (Some(link), None)
                        if link.starts_with("https://") || link.starts_with("http://") =>
                    {
                        part.insert("link".into(), json!(link));
                    }
                    (None, Some(id)) if !id.is_empty() => {
                        part.insert("id".into(), json!(id));
                    }
                    _ => errors.add(
                        "media",
                        "needs exactly one of an http(s) `link` or a media `id`",
                    ),
                }
                if let Some(caption) = m["caption"].as_str() {
                    if kind == "audio" || caption.chars().count() > 1024 {
                        errors.add(
                            "media.caption",
                            "is up to 1024 characters, and not for audio",
                        );
                    }
                    part.insert("caption".into(), json!(caption));
                }
                if let Some(filename) = m["filename"].as_str() {
                    if kind != "document" || filename.is_empty() || filename.len() > 240 {
                        errors.add("media.filename", "is for documents, 1 to 240 characters");
                    }
                    part.insert("filename".into(), json!(filename));
                }
                let summary = m["caption"]
                    .as_str()
                    .map(str::to_string)
                    .unwrap_or_else(|| format!("[{kind}]"));
                (Value::Object(part), summary)
            }
            "interactive" => {
                let i = body.get("interactive").cloned().unwrap_or(Value::Null);
                let text = i["body"]["text"].as_str().unwrap_or_default();
                if !text_len_ok(text, 1024) {
                    errors.add("interactive.body.text", "must be 1 to 1024 characters");
                }
                match i["type"].as_str() {
                    Some("button") => {
                        let buttons = i["action"]["buttons"]
                            .as_array()
                            .map(Vec::as_slice)
                            .unwrap_or_default();
                        if buttons.is_empty() || buttons.len() > 3 {
                            errors.add("interactive.action.buttons", "must be 1 to 3 buttons");
                        }
                        if buttons.iter().any(|b| {
                            !b["reply"]["id"].is_string()
                                || !b["reply"]["title"]
                                    .as_str()
                                    .is_some_and(|t| text_len_ok(t, 20))
                        }) {
                            errors.add(
                                "interactive.action.buttons",
                                "each needs a reply id and a title of 1 to 20 characters",
                            );
                        }
                    }
                    Some("list") => {
                        let sections = i["action"]["sections"]
                            .as_array()
                            .map(Vec::as_slice)
                            .unwrap_or_default();
                        let rows: Vec<&Value> = sections
                            .iter()
                            .flat_map(|s| {
                                s["rows"].as_array().map(Vec::as_slice).unwrap_or_default()
                            })
                            .collect();
                        if rows.is_empty() || rows.len() > 10 {
                            errors.add(
                                "interactive.action.sections",
                                "must hold 1 to 10 rows in all",
                            );
                        }
                        if rows.iter().any(|r| {
                            !r["id"].is_string()
                                || !r["title"].as_str().is_some_and(|t| text_len_ok(t, 24))
                        }) {
                            errors.add(
                                "interactive.action.sections",
                                "each row needs an id and a title of 1 to 24 characters",
                            );
                        }
                        if !i["action"]["button"]
                            .as_str()
                            .is_some_and(|t| text_len_ok(t, 20))
                        {
                            errors.add("interactive.action.button", "must be 1 to 20 characters");
                        }
                    }
                    _ => errors.add("interactive.type", "must be one of: button, list"),
                }
                let summary = text.to_string();
                (i, summary)
            }
            other => {
                errors.add("type", format!("{other:?} is not one of: text, template, image, document, audio, video, interactive"));
                (Value::Null, String::new())
            }
        };
        let reply_to = match body.get("reply_to") {
            None | Some(Value::Null) => None,
            Some(Value::String(id)) if !id.is_empty() => Some(id.clone()),
            Some(_) => {
                errors.add("reply_to", "must be the id of a message");
                None
            }
        };
        errors.into_result()?;
        Ok(Outgoing {
            kind,
            part,
            reply_to,
            summary,
        })
    }

    pub fn is_template(&self) -> bool {
        self.kind == "template"
    }

    /// The Send API body (Instagram, Messenger) for a message to a page-scoped `user`:
    /// text, or media by link.
    pub fn messenger_payload(&self, user: &str) -> Result<Value, ApiError> {
        let message = match self.kind.as_str() {
            "text" => {
                let text = self.part["body"].as_str().unwrap_or_default();
                if text.chars().count() > 2000 {
                    return Err(ApiError::validation(
                        "text",
                        "must be at most 2000 characters on Instagram and Messenger",
                    ));
                }
                json!({"text": text})
            }
            "image" | "video" | "audio" | "document" => {
                let Some(url) = self.part["link"].as_str() else {
                    return Err(ApiError::validation(
                        "media",
                        "Instagram and Messenger take media by link",
                    ));
                };
                let kind = if self.kind == "document" {
                    "file"
                } else {
                    self.kind.as_str()
                };
                json!({"attachment": {"type": kind, "payload": {"url": url, "is_reusable": true}}})
            }
            other => {
                return Err(ApiError::validation(
                    "type",
                    format!("{other} messages go on WhatsApp only"),
                ));
            }
        };
        let mut payload =
            json!({"recipient": {"id": user}, "messaging_type": "RESPONSE", "message": message});
        if let Some(id) = &self.reply_to {
            payload["message"]["reply_to"] = json!({"mid": id});
        }
        Ok(payload)
    }

    /// The Cloud API request body for a message to `to` (E.164 digits).
    pub fn whatsapp_payload(&self, to: &str) -> Value {
        let mut payload = json!({
            "messaging_product": "whatsapp",
            "recipient_type": "individual",
            "to": to,
            "type": self.kind,
        });
        payload[&self.kind] = self.part.clone();
        if let Some(id) = &self.reply_to {
            payload["context"] = json!({"message_id": id});
        }
        payload
    }
}

/// Free-form messages may go within 24 hours of the customer's last message, unless Meta
/// said the window closed (131047) after that message.
pub fn window_open(conv: &Conversation) -> bool {
    let Some(last_inbound) = conv.last_inbound_at else {
        return false;
    };
    let closed_since = conv.metadata["window_closed_at"]
        .as_str()
        .and_then(Timestamp::parse)
        .is_some_and(|closed| closed > last_inbound);
    !closed_since && Timestamp::now().inner() - last_inbound.inner() <= Duration::hours(24)
}

/// Sends on `conversation` and answers with the recorded message.
pub async fn send(app: &App, ctx: &Ctx, conversation: Uuid) -> Result<Reply, ApiError> {
    let principal = ctx.principal()?;
    principal.require_write()?;
    let body = ctx.json_object()?;
    let Value::Object(body) = body else {
        return Err(ApiError::validation("body", "must be a JSON object"));
    };
    let outgoing = Outgoing::parse(&body)?;
    send_on(app, principal, conversation, &outgoing).await
}

/// The seed's `POST /api/whatsapp/send-message` (`{to, type, text|…, context}`) and
/// `send-template` (`{to, template}`): the lead and conversation are found by phone, or
/// made.
pub async fn send_to_phone(app: &App, ctx: &Ctx, template_only: bool) -> Result<Reply, ApiError> {
    let principal = ctx.principal()?;
    principal.require_write()?;
    let Value::Object(mut body) = ctx.json_object()? else {
        return Err(ApiError::validation("body", "must be a JSON object"));
    };
    let to = body.remove("to");
    let context = body.remove("context");
    if template_only {
        body.insert("type".into(), json!("template"));
    }
    let phone = match to
        .as_ref()
        .and_then(Value::as_str)
        .map(shared::domain::phone::Phone::parse)
    {
        Some(Ok(p)) => p,
        Some(Err(m)) => return Err(ApiError::validation("to", m)),
        None => {
            let mut e = FieldErrors::new();
            e.missing("to");
            return Err(ApiError::Validation(e));
        }
    };
    let outgoing = Outgoing::parse(&body)?;
    let company = &principal.company_id;
    let conversation = match context.as_ref().and_then(|c| c["conversation_id"].as_str()) {
        Some(id) => Uuid::parse_str(id).map_err(|_| {
            ApiError::NotFound("CONVERSATION_NOT_FOUND", "Conversation not found".into())
        })?,
        None => {
            let fields = shared::domain::lead::LeadFields::parse(
                json!({"name": phone.as_str(), "phone": phone.as_str(), "source": "whatsapp"}),
            )?;
            let lead = match app
                .store
                .create_lead(company, fields, &principal.user_id)
                .await
            {
                Ok(l) => l.id,
                Err(StoreError::Duplicate { existing_id, .. }) => {
                    shared::domain::lead::LeadId::parse(&existing_id)
                        .ok_or_else(|| ApiError::Internal("unreadable lead id".into()))?
                }
                Err(e) => return Err(e.into()),
            };
            match app
                .store
                .create_conversation(company, lead, Channel::Whatsapp)
                .await
            {
                Ok(c) => c.id,
                Err(StoreError::Duplicate { existing_id, .. }) => Uuid::parse_str(&existing_id)
                    .map_err(|_| ApiError::Internal("unreadable conversation id".into()))?,
                Err(e) => return Err(e.into()),
            }
        }
    };
    send_on(app, principal, conversation, &outgoing).await
}

async fn send_on(
    app: &App,
    principal: &shared::auth::Principal,
    conversation: Uuid,
    outgoing: &Outgoing,
) -> Result<Reply, ApiError> {
    let company = &principal.company_id;
    let conv: Conversation = app
        .store
        .get_conversation(company, conversation)
        .await
        .map_err(|e| match e {
            StoreError::NotFound => {
                ApiError::NotFound("CONVERSATION_NOT_FOUND", "Conversation not found".into())
            }
            other => other.into(),
        })?;
    if !outgoing.is_template() && !window_open(&conv) {
        return Err(ApiError::WindowClosed(
            "More than 24 hours since the customer last wrote: only templates may be sent".into(),
        ));
    }
    let payload = match conv.channel {
        Channel::Whatsapp => {
            let lead = app.store.get_lead(company, conv.lead_id).await?;
            let to = lead
                .fields
                .phone
                .as_ref()
                .map(|p| p.as_str().trim_start_matches('+').to_string())
                .ok_or_else(|| ApiError::validation("lead", "has no phone number to send to"))?;
            outgoing.whatsapp_payload(&to)
        }
        Channel::Instagram | Channel::Facebook => {
            let user = app
                .store
                .contact_of(company, conv.lead_id, conv.channel)
                .await?
                .ok_or_else(|| {
                    ApiError::validation("lead", "has not written on this channel yet")
                })?;
            outgoing.messenger_payload(&user)?
        }
    };
    let (account, token) = channel_account(app, company, conv.channel).await?;
    let graph = app.graph()?;

    // Recorded first: whatever happens to the call, the message is not lost.
    let mut record = NewMessage::plain(Role::Assistant, &outgoing.summary, &outgoing.kind);
    record.metadata = json!({"request": payload, "sent_by": principal.user_id});
    record.status = Some(DeliveryStatus::Pending);
    let stored = app.store.add_message(company, conv.id, record).await?;

    match graph
        .send_message(&account.external_id, &token, &payload)
        .await
    {
        Ok(id) => {
            let sent = app
                .store
                .record_delivery(company, &stored, Some(&id), DeliveryStatus::Sent, None)
                .await?;
            Reply::created(&sent)
        }
        Err(GraphError::Timeout) => Err(ApiError::UpstreamTimeout(format!(
            "Meta did not answer in time; message {} is kept as pending",
            stored.id
        ))),
        Err(e) => {
            let (code, error) = match &e {
                GraphError::Refused { code, error, .. } => (*code, error.clone()),
                GraphError::Unreachable(m) => (0, json!({"message": m})),
                GraphError::Timeout => (0, Value::Null),
            };
            app.store
                .record_delivery(
                    company,
                    &stored,
                    None,
                    DeliveryStatus::Failed,
                    Some(error.clone()),
                )
                .await?;
            if code == 131047 {
                let closed = shared::domain::conversation::ConversationChange {
                    status: None,
                    metadata: Some(json!({"window_closed_at": Timestamp::now()})),
                };
                app.store
                    .update_conversation(company, conv.id, closed)
                    .await?;
                return Err(ApiError::WindowClosed(
                    "Meta refused a free-form message: more than 24 hours since the customer last wrote".into(),
                ));
            }
            Err(ApiError::Upstream {
                code: "WHATSAPP_API_ERROR",
                message: "Meta refused the message".into(),
                details: Some(json!({"message_id": stored.id, "meta": error})),
            })
        }
    }
}

/// The company's account on `channel` (its WhatsApp number, Instagram account or page),
/// with its token.
async fn channel_account(
    app: &App,
    company: &shared::domain::CompanyId,
    channel: Channel,
) -> Result<(ChannelAccount, shared::domain::account::AccessToken), ApiError> {
    let account = app
        .store
        .list_channels(company)
        .await?
        .into_iter()
        .find(|c| c.channel == channel)
        .ok_or_else(|| {
            ApiError::validation(
                "channel",
                format!(
                    "no {} account is connected (see /api/channels)",
                    channel.as_str()
                ),
            )
        })?;
    let token = app.store.channel_token(company, account.id).await?;
    Ok((account, token))
}

/// `POST /api/conversations/{id}/read`: marks the customer's last WhatsApp message read.
pub async fn mark_read(app: &App, ctx: &Ctx, conversation: Uuid) -> Result<Reply, ApiError> {
    let principal = ctx.principal()?;
    principal.require_write()?;
    let company = &principal.company_id;
    let messages = app
        .store
        .list_messages(company, conversation)
        .await
        .map_err(|e| match e {
            StoreError::NotFound => {
                ApiError::NotFound("CONVERSATION_NOT_FOUND", "Conversation not found".into())
            }
            other => other.into(),
        })?;
    let Some(last) = messages
        .iter()
        .rev()
        .find(|m| m.role == Role::User && m.external_id.is_some())
    else {
        return Ok(Reply::message("Nothing to mark as read"));
    };
    let (account, token) = channel_account(app, company, Channel::Whatsapp).await?;
    let body =
        json!({"messaging_product": "whatsapp", "status": "read", "message_id": last.external_id});
    match app
        .graph()?
        .send_message(&account.external_id, &token, &body)
        .await
    {
        Ok(_) => Ok(Reply::message("Marked as read")),
        Err(GraphError::Timeout) => Err(ApiError::UpstreamTimeout(
            "Meta did not answer in time".into(),
        )),
        Err(e) => Err(ApiError::Upstream {
            code: "WHATSAPP_API_ERROR",
            message: "Meta refused to mark the message read".into(),
            details: match e {
                GraphError::Refused { error, .. } => Some(error),
                GraphError::Unreachable(m) => Some(json!({"message": m})),
                GraphError::Timeout => None,
            },
        }),
    }
}
