//! The chat routes: OpenAI's own shapes at `/api/ai/v1/…`, the seed's enveloped form at
//! `/api/openai-proxy`. Both go through [`usecase::ai`].

use serde_json::{json, Value};
use shared::domain::ai::known_models;
use shared::http::{Ctx, Reply};
use shared::usecase::ai;
use shared::{ApiError, App};

/// A request made ready: its agent applied.
async fn prepared(app: &App, ctx: &Ctx, body: Value) -> Result<ai::Prepared, ApiError> {
    let company = &ctx.principal()?.company_id;
    let agent = ai::agent_named(app, company, ctx.header("x-agent-id"), &body).await?;
    Ok(ai::prepare(body, agent.as_ref())?)
}

/// `POST /api/ai/v1/chat/completions`: OpenAI's request, OpenAI's answer or SSE stream.
pub async fn completions(app: &App, ctx: &Ctx) -> Result<Reply, ApiError> {
    let company = ctx.principal()?.company_id.clone();
    let p = prepared(app, ctx, ctx.json_object()?).await?;
    if p.stream {
        Ok(Reply::stream(ai::stream(app, &company, &p).await?))
    } else {
        Ok(Reply::raw_json(200, ai::complete(app, &company, &p).await?))
    }
}

/// `GET /api/ai/v1/models`: the models this gateway meters, in OpenAI's list shape.
pub async fn models(_app: &App, _ctx: &Ctx) -> Result<Reply, ApiError> {
    let data: Vec<Value> = known_models()
        .map(|id| json!({"id": id, "object": "model", "created": 0, "owned_by": "openai"}))
        .collect();
    Ok(Reply::raw_json(
        200,
        json!({"object": "list", "data": data}),
    ))
}

/// `POST /api/openai-proxy` `{"action":"response","payload":{…}}`: the completion as the
/// envelope's `data`, or with `payload.stream: true` the same stream as the compatible route.
pub async fn seed_form(app: &App, ctx: &Ctx) -> Result<Reply, ApiError> {
    let company = ctx.principal()?.company_id.clone();
    let Value::Object(mut body) = ctx.json_object()? else {
        return Err(ApiError::validation("body", "must be a JSON object"));
    };
    let mut errors = shared::FieldErrors::new();
    for key in body.keys() {
        if !["action", "payload"].contains(&key.as_str()) {
            errors.add(key.clone(), "is not a field of this request");
        }
    }
    match body.get("action") {
        Some(Value::String(a)) if a == "response" => {}
        None => errors.missing("action"),
        Some(_) => errors.add("action", "must be: response"),
    }
    let payload = body.remove("payload");
    if payload.is_none() {
        errors.missing("payload");
    }
    errors.into_result()?;
    let p = prepared(app, ctx, payload.unwrap_or(Value::Null)).await?;
    if p.stream {
        Ok(Reply::stream(ai::stream(app, &company, &p).await?))
    } else {
        Reply::ok(ai::complete(app, &company, &p).await?)
    }
}
