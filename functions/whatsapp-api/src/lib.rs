//! whatsapp-api: a company's conversations and their messages, and sending on WhatsApp,
//! Instagram and Messenger. [`ROUTES`] is the function: who may call what, and which
//! handler answers.

mod send;

use std::convert::Infallible;

use lambda_http::{Body, Request, Response};
use serde::Deserialize;
use serde_json::Value;
use shared::domain::conversation::{Channel, ConversationChange, ConversationQuery};
use shared::domain::lead::LeadId;
use shared::domain::page::{parse_page, Cursor, Order, Pagination};
use shared::domain::parse_body;
use shared::error::{Concerning, Entity};
use shared::http::{respond, Ctx, Reply, Route};
use shared::usecase::{self, Outcome};
use shared::{route, ApiError, App, FieldErrors};
use uuid::Uuid;

pub const ROUTES: &[Route] = &[
    route!(GET "/api/conversations", Read, list),
    route!(POST "/api/conversations", Write, create),
    route!(GET "/api/conversations/{id}", Read, get),
    route!(PUT "/api/conversations/{id}", Write, update),
    route!(PATCH "/api/conversations/{id}", Write, update),
    route!(GET "/api/conversations/{id}/messages", Read, messages),
    route!(POST "/api/conversations/{id}/messages", Write, send::send),
    route!(POST "/api/conversations/{id}/read", Write, send::mark_read),
    route!(GET "/api/messages", Read, messages_by_query),
    route!(POST "/api/messages", Write, send::send_by_body),
    route!(POST "/api/whatsapp/send-message", Write, send::send_message),
    route!(POST "/api/whatsapp/send-template", Write, send::send_template),
];

pub async fn handle(app: &App, req: Request) -> Result<Response<Body>, Infallible> {
    Ok(respond(app, req, ROUTES).await)
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
    let outcome =
        usecase::conversations::ensure_active(app.store.as_ref(), company, lead, channel).await?;
    let conversation = app
        .store
        .get_conversation(company, outcome.into_inner())
        .await
        .concerning(Entity::Conversation)?;
    match outcome {
        Outcome::Created(_) => Reply::created(&conversation),
        Outcome::Existing(_) => Reply::ok(&conversation),
    }
}

pub async fn get(app: &App, ctx: &Ctx) -> Result<Reply, ApiError> {
    let company = &ctx.principal()?.company_id;
    let c = app
        .store
        .get_conversation(company, ctx.id(Entity::Conversation)?)
        .await
        .concerning(Entity::Conversation)?;
    Reply::ok(&c)
}

pub async fn update(app: &App, ctx: &Ctx) -> Result<Reply, ApiError> {
    let principal = ctx.principal()?;
    let id = ctx.id(Entity::Conversation)?;
    let change = ConversationChange::parse(ctx.json_object()?)?;
    let current = app
        .store
        .get_conversation(&principal.company_id, id)
        .await
        .concerning(Entity::Conversation)?;
    change.check_against(&current)?;
    usecase::autoreply::check_assignment(app, &principal.company_id, change.agent_id).await?;
    let c = app
        .store
        .update_conversation(&principal.company_id, id, change)
        .await
        .concerning(Entity::Conversation)?;
    Reply::ok(&c)
}

/// `GET /api/conversations/{id}/messages`.
pub async fn messages(app: &App, ctx: &Ctx) -> Result<Reply, ApiError> {
    let id = ctx.id(Entity::Conversation)?;
    messages_of(app, ctx, id).await
}

/// `GET /api/messages?conversation_id=`.
pub async fn messages_by_query(app: &App, ctx: &Ctx) -> Result<Reply, ApiError> {
    let Some(id) = ctx.query_param("conversation_id") else {
        let mut e = FieldErrors::new();
        e.missing("conversation_id");
        return Err(e.into());
    };
    messages_of(app, ctx, Entity::Conversation.id(id)?).await
}

/// A conversation's messages in time order, `limit` at a time, continued with `cursor`.
async fn messages_of(app: &App, ctx: &Ctx, id: Uuid) -> Result<Reply, ApiError> {
    let company = &ctx.principal()?.company_id;
    let get = |k: &str| ctx.query_param(k).map(str::to_string);
    let mut errors = FieldErrors::new();
    for (key, _) in &ctx.query {
        if !["limit", "cursor", "page", "conversation_id"].contains(&key.as_str()) {
            errors.add(key.clone(), "is not a parameter of this list");
        }
    }
    let page = parse_page(get, "created_at", Order::Asc, &mut errors);
    errors.into_result()?;
    let found = app
        .store
        .list_messages(company, id, &page)
        .await
        .concerning(Entity::Conversation)?;
    let before = page
        .cursor
        .as_ref()
        .map_or(page.offset(), |c| c.position.unwrap_or_default());
    let next_cursor = found.items.last().filter(|_| found.has_more).map(|m| {
        Cursor {
            sort: "created_at".into(),
            order: Order::Asc,
            value: Value::from(m.created_at.as_string()),
            id: m.id.to_string(),
            position: Some(before + found.items.len() as u64),
        }
        .encode()
    });
    Reply::list(
        &found.items,
        Pagination::new(&page, found.total, found.has_more),
        next_cursor,
    )
}
