//! `/api/agents`: a company's AI agents, and the reply an agent suggests for a conversation.

use serde::Deserialize;
use serde_json::{json, Value};
use shared::domain::agent::AgentFields;
use shared::domain::ai::estimate_prompt_tokens;
use shared::domain::conversation::Role;
use shared::domain::parse_body;
use shared::error::{Concerning, Entity};
use shared::http::{Ctx, Reply};
use shared::usecase::ai;
use shared::{ApiError, App};

/// The tokens of conversation a suggested reply reads at most, newest messages first.
pub const CONTEXT_TOKENS: i64 = 3000;

pub async fn list(app: &App, ctx: &Ctx) -> Result<Reply, ApiError> {
    let company = &ctx.principal()?.company_id;
    Reply::ok(app.store.list_agents(company).await?)
}

pub async fn create(app: &App, ctx: &Ctx) -> Result<Reply, ApiError> {
    let company = &ctx.principal()?.company_id;
    let fields = AgentFields::parse(ctx.json_object()?)?;
    Reply::created(app.store.create_agent(company, fields).await?)
}

pub async fn get(app: &App, ctx: &Ctx) -> Result<Reply, ApiError> {
    let company = &ctx.principal()?.company_id;
    let agent = app
        .store
        .get_agent(company, ctx.id(Entity::Agent)?)
        .await
        .concerning(Entity::Agent)?;
    Reply::ok(agent)
}

pub async fn update(app: &App, ctx: &Ctx) -> Result<Reply, ApiError> {
    let company = &ctx.principal()?.company_id;
    let id = ctx.id(Entity::Agent)?;
    let patch = ctx.json_object()?;
    let current = app
        .store
        .get_agent(company, id)
        .await
        .concerning(Entity::Agent)?;
    let fields = current.fields.patched(&patch)?;
    let agent = app
        .store
        .update_agent(company, id, fields)
        .await
        .concerning(Entity::Agent)?;
    Reply::ok(agent)
}

pub async fn delete(app: &App, ctx: &Ctx) -> Result<Reply, ApiError> {
    let company = &ctx.principal()?.company_id;
    app.store
        .delete_agent(company, ctx.id(Entity::Agent)?)
        .await
        .concerning(Entity::Agent)?;
    Ok(Reply::message("Agent deleted"))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ReplyRequest {
    conversation_id: Option<String>,
}

/// `POST /api/agents/{id}/reply {"conversation_id"}`: what the agent would answer now,
/// from its prompt, the lead's data and the newest messages that fit [`CONTEXT_TOKENS`].
/// Nothing is sent.
pub async fn reply(app: &App, ctx: &Ctx) -> Result<Reply, ApiError> {
    let company = &ctx.principal()?.company_id;
    let agent_id = ctx.id(Entity::Agent)?;
    let input: ReplyRequest = parse_body(ctx.json_object()?)?;
    let Some(conversation_id) = input.conversation_id else {
        let mut e = shared::FieldErrors::new();
        e.missing("conversation_id");
        return Err(e.into());
    };
    let conversation_id = Entity::Conversation.id(&conversation_id)?;
    let agent = ai::agent_named(app, company, Some(&agent_id.to_string()), &Value::Null).await?;
    let conversation = app
        .store
        .get_conversation(company, conversation_id)
        .await
        .concerning(Entity::Conversation)?;
    let lead = app
        .store
        .get_lead(company, conversation.lead_id)
        .await
        .concerning(Entity::Lead)?;
    let l = &lead.fields;
    let about = json!({
        "nome": l.name, "telefone": l.phone.as_ref().map(|p| p.as_str()), "email": l.email,
        "empresa": l.company, "status": l.status, "pipeline": l.pipeline, "score": l.score,
        "notas": l.notes, "campos": l.custom_fields, "canal": conversation.channel,
    });
    let recent = app
        .store
        .recent_messages(company, conversation_id, 100)
        .await
        .concerning(Entity::Conversation)?;
    // Newest first until the budget is spent, then back in time order.
    let mut kept = Vec::new();
    let mut tokens = 0;
    for m in &recent {
        let role = match m.role {
            Role::User => "user",
            Role::Assistant => "assistant",
            Role::System => "system",
        };
        let message = json!({"role": role, "content": m.content});
        let cost = estimate_prompt_tokens(&json!({"messages": [&message]}));
        if tokens + cost > CONTEXT_TOKENS {
            break;
        }
        tokens += cost;
        kept.push(message);
    }
    kept.reverse();
    let mut messages = vec![
        json!({"role": "system", "content": format!("Dados do cliente desta conversa: {about}")}),
    ];
    let context_messages = kept.len();
    messages.extend(kept);
    let p = ai::prepare(json!({"messages": messages}), agent.as_ref())?;
    let answer = ai::complete(app, company, &p).await?;
    Reply::ok(json!({
        "reply": answer["choices"][0]["message"]["content"],
        "agent_id": agent_id,
        "conversation_id": conversation_id,
        "model": answer["model"],
        "usage": answer["usage"],
        "context": {"messages": context_messages, "estimated_tokens": tokens},
    }))
}
