//! The sending routes: each finds its conversation and hands the message to
//! [`usecase::send`], which records it before the call and after Meta's answer.

use serde_json::{json, Map, Value};
use shared::domain::conversation::Channel;
use shared::domain::lead::{LeadFields, LeadId};
use shared::domain::outgoing::Outgoing;
use shared::domain::phone::Phone;
use shared::error::Entity;
use shared::http::{Ctx, Reply};
use shared::{usecase, ApiError, App, FieldErrors};
use uuid::Uuid;

/// The body as an object, whatever its fields.
fn body(ctx: &Ctx) -> Result<Map<String, Value>, ApiError> {
    match ctx.json_object()? {
        Value::Object(body) => Ok(body),
        _ => Err(ApiError::validation("body", "must be a JSON object")),
    }
}

async fn send_on(
    app: &App,
    ctx: &Ctx,
    conversation: Uuid,
    outgoing: &Outgoing,
) -> Result<Reply, ApiError> {
    let principal = ctx.principal()?;
    let sent = usecase::send::send(
        app,
        &principal.company_id,
        &principal.user_id,
        conversation,
        outgoing,
    )
    .await?;
    Reply::created(&sent)
}

/// `POST /api/conversations/{id}/messages`.
pub async fn send(app: &App, ctx: &Ctx) -> Result<Reply, ApiError> {
    let conversation = ctx.id(Entity::Conversation)?;
    let outgoing = Outgoing::parse(&body(ctx)?)?;
    send_on(app, ctx, conversation, &outgoing).await
}

/// `POST /api/messages`: the conversation is named in the body.
pub async fn send_by_body(app: &App, ctx: &Ctx) -> Result<Reply, ApiError> {
    let body = body(ctx)?;
    let Some(id) = body.get("conversation_id").and_then(Value::as_str) else {
        let mut e = FieldErrors::new();
        e.missing("conversation_id");
        return Err(e.into());
    };
    let conversation = Entity::Conversation.id(id)?;
    let outgoing = Outgoing::parse(&body)?;
    send_on(app, ctx, conversation, &outgoing).await
}

/// The seed's `POST /api/whatsapp/send-message` (`{to, type, text|…, context}`).
pub async fn send_message(app: &App, ctx: &Ctx) -> Result<Reply, ApiError> {
    send_to_phone(app, ctx, false).await
}

/// The seed's `POST /api/whatsapp/send-template` (`{to, template}`).
pub async fn send_template(app: &App, ctx: &Ctx) -> Result<Reply, ApiError> {
    send_to_phone(app, ctx, true).await
}

/// The lead and conversation are found by phone, or made.
async fn send_to_phone(app: &App, ctx: &Ctx, template_only: bool) -> Result<Reply, ApiError> {
    let principal = ctx.principal()?;
    let mut body = body(ctx)?;
    let to = body.remove("to");
    let context = match body.remove("context") {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Object(c)) => c,
        Some(_) => return Err(ApiError::validation("context", "must be a JSON object")),
    };
    // WhatsApp's own `context.message_id` is the message this one answers.
    match context.get("message_id") {
        None | Some(Value::Null) => {}
        Some(Value::String(id)) if !id.is_empty() => {
            body.entry("reply_to").or_insert_with(|| json!(id));
        }
        Some(_) => {
            return Err(ApiError::validation(
                "context.message_id",
                "must be the id of a message",
            ))
        }
    }
    if template_only {
        match body.get("type") {
            None => {
                body.insert("type".into(), json!("template"));
            }
            Some(t) if t == "template" => {}
            Some(_) => {
                return Err(ApiError::validation(
                    "type",
                    "is always template on this route",
                ))
            }
        }
    }
    let phone = match to.as_ref().and_then(Value::as_str).map(Phone::parse) {
        Some(Ok(p)) => p,
        Some(Err(m)) => return Err(ApiError::validation("to", m)),
        None => {
            let mut e = FieldErrors::new();
            e.missing("to");
            return Err(e.into());
        }
    };
    let outgoing = Outgoing::parse(&body)?;
    let company = &principal.company_id;
    let store = app.store.as_ref();
    let conversation = match context.get("conversation_id") {
        Some(Value::String(id)) => Entity::Conversation.id(id)?,
        Some(v) if !v.is_null() => {
            return Err(ApiError::validation(
                "context.conversation_id",
                "must be a conversation id",
            ))
        }
        _ => {
            let fields = LeadFields::parse(
                json!({"name": phone.as_str(), "phone": phone.as_str(), "source": "whatsapp"}),
            )?;
            let lead: LeadId =
                usecase::leads::create_or_find(store, company, fields, &principal.user_id)
                    .await?
                    .into_inner();
            usecase::conversations::ensure_active(store, company, lead, Channel::Whatsapp)
                .await?
                .into_inner()
        }
    };
    send_on(app, ctx, conversation, &outgoing).await
}

/// `POST /api/conversations/{id}/read`: the customer's last WhatsApp message, read upstream.
pub async fn mark_read(app: &App, ctx: &Ctx) -> Result<Reply, ApiError> {
    let company = &ctx.principal()?.company_id;
    let conversation = ctx.id(Entity::Conversation)?;
    if usecase::send::mark_read(app, company, conversation).await? {
        Ok(Reply::message("Marked as read"))
    } else {
        Ok(Reply::message("Nothing to mark as read"))
    }
}
