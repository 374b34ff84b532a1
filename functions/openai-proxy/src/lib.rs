//! openai-proxy: AI agents, the OpenAI-compatible gateway and the seed's enveloped form,
//! suggested replies, and AI usage. [`ROUTES`] is the function: who may call what, and
//! which handler answers. Streamed answers go out as they come under the streaming runner
//! (`WIIZO_STREAMING=1`, the Lambda Function URL), gathered under the buffered one.

mod agents;
mod chat;
mod usage;

use std::convert::Infallible;

use lambda_http::{Body, Request, Response};
use shared::http::{respond, respond_streaming, stream::Streamed, Route};
use shared::{route, App};

pub const ROUTES: &[Route] = &[
    route!(GET "/api/agents", Read, agents::list),
    route!(POST "/api/agents", Admin, agents::create),
    route!(GET "/api/agents/{id}", Read, agents::get),
    route!(PUT "/api/agents/{id}", Admin, agents::update),
    route!(PATCH "/api/agents/{id}", Admin, agents::update),
    route!(DELETE "/api/agents/{id}", Admin, agents::delete),
    route!(POST "/api/agents/{id}/reply", Write, agents::reply),
    route!(POST "/api/ai/v1/chat/completions", Write, chat::completions),
    route!(GET "/api/ai/v1/models", Read, chat::models),
    route!(POST "/api/openai-proxy", Write, chat::seed_form),
    route!(GET "/api/ai/usage", Read, usage::report),
];

pub async fn handle(app: &App, req: Request) -> Result<Response<Body>, Infallible> {
    Ok(respond(app, req, ROUTES).await)
}

pub async fn handle_streaming(app: &App, req: Request) -> Result<Response<Streamed>, Infallible> {
    Ok(respond_streaming(app, req, ROUTES).await)
}
