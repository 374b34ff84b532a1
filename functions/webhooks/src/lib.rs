//! webhooks: what Meta's platform and a company's own systems deliver, and a company's
//! inbound endpoints. [`ROUTES`] is the function: who may call what, and which handler
//! answers.
//!
//! Delivery is at least once and in any order: every message is stored once by its channel
//! id, statuses only move forward, and a store failure answers 500 so that Meta retries.

mod custom;
mod ingest;
mod outbound;

use std::convert::Infallible;

use lambda_http::{Body, Request, Response};
use serde_json::{json, Value};
use shared::config::ConfigError;
use shared::http::{respond, Ctx, Reply, Route};
use shared::{route, ApiError, App};
use subtle::ConstantTimeEq;

pub const ROUTES: &[Route] = &[
    route!(GET "/webhooks/meta", Public, verify),
    route!(POST "/webhooks/meta", Public, receive),
    route!(POST "/webhooks/{client_id}", Public, custom::receive),
    route!(GET "/api/webhooks/inbound", Admin, custom::list),
    route!(POST "/api/webhooks/inbound", Admin, custom::create),
    route!(DELETE "/api/webhooks/inbound/{id}", Admin, custom::delete),
    route!(GET "/api/webhooks", Admin, outbound::list),
    route!(POST "/api/webhooks", Admin, outbound::create),
    route!(POST "/api/webhooks/register", Admin, outbound::register),
    route!(GET "/api/webhooks/{id}", Admin, outbound::get),
    route!(PATCH "/api/webhooks/{id}", Admin, outbound::update),
    route!(DELETE "/api/webhooks/{id}", Admin, outbound::delete),
    route!(GET "/api/webhooks/{id}/deliveries", Admin, outbound::deliveries),
    route!(POST "/api/webhooks/{id}/test", Admin, outbound::test),
    route!(POST "/api/webhooks/{id}/deliveries/{delivery_id}/retry", Admin, outbound::retry),
];

/// Meta sends batches of up to a few megabytes.
pub const BODY_LIMIT: usize = 3 * 1024 * 1024;

/// What this function needs beyond the common configuration.
pub fn check_config(app: &App) -> Result<(), ConfigError> {
    for (var, value) in [
        ("META_APP_SECRET", &app.config.meta_app_secret),
        ("META_VERIFY_TOKEN", &app.config.meta_verify_token),
    ] {
        if value.is_none() {
            return Err(ConfigError {
                var,
                reason: "is required by the webhooks function".into(),
            });
        }
    }
    Ok(())
}

pub async fn handle(app: &App, req: Request) -> Result<Response<Body>, Infallible> {
    Ok(respond(app, req, ROUTES).await)
}

/// `hub.mode=subscribe` with the right `hub.verify_token` gets `hub.challenge` back as text.
pub async fn verify(app: &App, ctx: &Ctx) -> Result<Reply, ApiError> {
    let expected = app.config.meta_verify_token.as_deref().unwrap_or_default();
    let given = ctx.query_param("hub.verify_token").unwrap_or_default();
    let token_ok = !expected.is_empty() && bool::from(given.as_bytes().ct_eq(expected.as_bytes()));
    match (
        ctx.query_param("hub.mode"),
        ctx.query_param("hub.challenge"),
    ) {
        (Some("subscribe"), Some(challenge)) if token_ok => Ok(Reply::text(
            200,
            "text/plain; charset=utf-8",
            challenge.to_string(),
        )),
        _ => Err(ApiError::Forbidden("Webhook verification failed".into())),
    }
}

/// A signed batch: every event of it, each into its own company's data.
pub async fn receive(app: &App, ctx: &Ctx) -> Result<Reply, ApiError> {
    let secret = app.config.meta_app_secret.as_deref().unwrap_or_default();
    let signature = ctx.header("x-hub-signature-256");
    if secret.is_empty()
        || !shared::signature::verify_sha256(secret.as_bytes(), &ctx.body, signature)
    {
        return Err(ApiError::Unauthorized(
            "Invalid or missing X-Hub-Signature-256".into(),
        ));
    }
    let body: Value = serde_json::from_slice(&ctx.body)
        .map_err(|e| ApiError::BadRequest(format!("Malformed JSON: {e}")))?;
    let counts = ingest::batch(app, &body).await.map_err(|e| {
        // Anything short of storing it all makes Meta deliver the batch again.
        ApiError::Internal(format!("ingest failed: {e}"))
    })?;
    Reply::ok(json!(counts))
}
