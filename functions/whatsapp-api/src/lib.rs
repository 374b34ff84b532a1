//! whatsapp-api: a company's conversations and their messages.
//!
//! | route | handler |
//! |---|---|
//! | `GET /api/conversations` | [`list`]: `page`, `limit`, `status`, `channel`, `lead_id`; each with `lead_name` and `last_message` |
//! | `POST /api/conversations` | [`create`]: `{lead_id, channel}`; the lead's active one on that channel if it exists (200) |
//! | `GET/PUT/PATCH /api/conversations/{id}` | [`get`], [`update`] (`status`, `metadata` merge-patched) |
//! | `GET /api/conversations/{id}/messages`, `GET /api/messages?conversation_id=` | [`messages`]: time order, keyset `cursor` |
//!
//! | `POST /api/conversations/{id}/messages`, `POST /api/messages` | [`send::send`]: WhatsApp text, template, media, interactive |
//!
//! | `POST /api/conversations/{id}/read` | [`send::mark_read`]: the customer's last WhatsApp message, read upstream |
//! | `POST /api/whatsapp/send-message`, `POST /api/whatsapp/send-template` | [`send::send_to_phone`]: the seed's routes, by phone |
//!
//! Not built yet: Instagram/Messenger sends (422).

mod send;

use std::convert::Infallible;

use lambda_http::http::Method;
use lambda_http::{Body, Request, Response};
use serde::Deserialize;
use serde_json::Value;
use shared::domain::conversation::{Channel, ConversationChange, ConversationQuery};
use shared::domain::lead::LeadId;
use shared::domain::page::{parse_page, Cursor, Order, Pagination};
use shared::domain::parse_body;
use shared::http::{respond, Ctx, Reply};
use shared::store::StoreError;
use shared::{ApiError, App, FieldErrors};
use uuid::Uuid;

pub async fn handle(app: &App, req: Request) -> Result<Response<Body>, Infallible> {
    Ok(respond(app, req, |ctx| route(app, ctx)).await)
}

async fn route(app: &App, ctx: Ctx) -> Result<Reply, ApiError> {
    let path = ctx.path.clone();
    let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    match (segments.as_slice(), &ctx.method) {
        (["api", "conversations"], &Method::GET) => list(app, &ctx).await,
        (["api", "conversations"], &Method::POST) => create(app, &ctx).await,
        (["api", "conversations", id], &Method::GET) => get(app, &ctx, conversation_id(id)?).await,
        (["api", "conversations", id], &Method::PUT | &Method::PATCH) => {
            update(app, &ctx, conversation_id(id)?).await
        }
        (["api", "conversations", id, "messages"], &Method::GET) => {
            messages(app, &ctx, conversation_id(id)?).await
        }
        (["api", "conversations", id, "messages"], &Method::POST) => {
            send::send(app, &ctx, conversation_id(id)?).await
        }
        (["api", "conversations", id, "read"], &Method::POST) => {
            send::mark_read(app, &ctx, conversation_id(id)?).await
        }
        (["api", "whatsapp", "send-message"], &Method::POST) => {
            send::send_to_phone(app, &ctx, false).await
        }
        (["api", "whatsapp", "send-template"], &Method::POST) => {
            send::send_to_phone(app, &ctx, true).await
        }
        (["api", "messages"], &Method::POST) => {
            let body = ctx.json_object()?;
            let id = body["conversation_id"]
                .as_str()
                .map(str::to_string)
                .ok_or_else(|| {
                    let mut e = FieldErrors::new();
                    e.missing("conversation_id");
                    ApiError::Validation(e)
                })?;
            send::send(app, &ctx, conversation_id(&id)?).await
        }
        (["api", "messages"], &Method::GET) => {
            let id = ctx
                .query
                .iter()
                .find(|(k, _)| k == "conversation_id")
                .map(|(_, v)| v.clone())
                .ok_or_else(|| {
                    let mut e = FieldErrors::new();
                    e.missing("conversation_id");
                    ApiError::Validation(e)
                })?;
            messages(app, &ctx, conversation_id(&id)?).await
        }
        (["api", "conversations"] | ["api", "conversations", _], _) => {
            Err(ApiError::MethodNotAllowed)
        }
        _ => Err(ApiError::NotFound(
            "NOT_FOUND",
            "Route not found (sending messages is not available yet)".into(),
        )),
    }
}

fn conversation_id(s: &str) -> Result<Uuid, ApiError> {
    Uuid::parse_str(s).map_err(|_| not_found())
}

fn not_found() -> ApiError {
    ApiError::NotFound("CONVERSATION_NOT_FOUND", "Conversation not found".into())
}

fn conversation_error(e: StoreError) -> ApiError {
    match e {
        StoreError::NotFound => not_found(),
        other => other.into(),
    }
}

pub async fn list(app: &App, ctx: &Ctx) -> Result<Reply, ApiError> {
    let company = &ctx.principal()?.company_id;
    let query = ConversationQuery::parse(&ctx.query)?;
    let page = app.store.list_conversations(company, &query).await?;
    Reply::list(
        &page.items,
        Pagination::new(&query.page, page.total, page.has_more),
        None,
    )
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewConversation {
    lead_id: Option<String>,
    channel: Option<String>,
}

pub async fn create(app: &App, ctx: &Ctx) -> Result<Reply, ApiError> {
    let principal = ctx.principal()?;
    principal.require_write()?;
    let input: NewConversation = parse_body(ctx.json_object()?)?;
    let mut errors = FieldErrors::new();
    let lead = match input.lead_id.as_deref() {
        None => {
            errors.missing("lead_id");
            None
        }
        Some(l) => LeadId::parse(l).or_else(|| {
            errors.add("lead_id", "must be a lead id");
            None
        }),
    };
    let channel = match input.channel.as_deref() {
        None => {
            errors.missing("channel");
            None
        }
        Some(c) => Channel::parse(c).or_else(|| {
            errors.add("channel", "must be one of: whatsapp, instagram, facebook");
            None
        }),
    };
    errors.into_result()?;
    let (Some(lead), Some(channel)) = (lead, channel) else {
        return Err(ApiError::Internal("validated fields missing".into()));
    };
    let company = &principal.company_id;
    match app.store.create_conversation(company, lead, channel).await {
        Ok(c) => Reply::created(&c),
        Err(StoreError::Duplicate { existing_id, .. }) => {
            let existing = conversation_id(&existing_id)?;
            let c = app
                .store
                .get_conversation(company, existing)
                .await
                .map_err(conversation_error)?;
            Reply::ok(&c)
        }
        Err(StoreError::NotFound) => Err(ApiError::lead_not_found()),
        Err(e) => Err(e.into()),
    }
}

pub async fn get(app: &App, ctx: &Ctx, id: Uuid) -> Result<Reply, ApiError> {
    let company = &ctx.principal()?.company_id;
    let c = app
        .store
        .get_conversation(company, id)
        .await
        .map_err(conversation_error)?;
    Reply::ok(&c)
}

pub async fn update(app: &App, ctx: &Ctx, id: Uuid) -> Result<Reply, ApiError> {
    let principal = ctx.principal()?;
    principal.require_write()?;
    let change = ConversationChange::parse(ctx.json_object()?)?;
    let c = app
        .store
        .update_conversation(&principal.company_id, id, change)
        .await
        .map_err(conversation_error)?;
    Reply::ok(&c)
}

/// A conversation's messages in time order, `limit` at a time, continued with `cursor`.
pub async fn messages(app: &App, ctx: &Ctx, id: Uuid) -> Result<Reply, ApiError> {
    let company = &ctx.principal()?.company_id;
    let get = |k: &str| {
        ctx.query
            .iter()
            .find(|(key, _)| key == k)
            .map(|(_, v)| v.clone())
    };
    let mut errors = FieldErrors::new();
    for (key, _) in &ctx.query {
        if !["limit", "cursor", "page", "conversation_id"].contains(&key.as_str()) {
            errors.add(key.clone(), "is not a parameter of this list");
        }
    }
    let page = parse_page(get, "created_at", Order::Asc, &mut errors);
    errors.into_result()?;
    let all = app
        .store
        .list_messages(company, id)
        .await
        .map_err(conversation_error)?;
    let after = |m: &&shared::domain::conversation::Message| match &page.cursor {
        None => true,
        Some(c) => {
            let at = Value::from(m.created_at.as_string());
            (at.as_str(), m.id.to_string()) > (c.v.as_str(), c.id.clone())
        }
    };
    let skip = if page.cursor.is_some() {
        0
    } else {
        page.offset() as usize
    };
    let rest: Vec<_> = all.iter().filter(after).skip(skip).collect();
    let has_more = rest.len() > page.limit as usize;
    let items: Vec<_> = rest.into_iter().take(page.limit as usize).collect();
    let next_cursor = items.last().filter(|_| has_more).map(|m| {
        Cursor {
            s: "created_at".into(),
            o: Order::Asc,
            v: Value::from(m.created_at.as_string()),
            id: m.id.to_string(),
        }
        .encode()
    });
    Reply::list(
        &items,
        Pagination::new(&page, all.len() as u64, has_more),
        next_cursor,
    )
}
