//! `/api/webhooks`: a company's outbound endpoints (the seed's `/api/webhooks/register`
//! too), their delivery log, a test ping and a resend.

use serde_json::{json, Value};
use shared::domain::account::AccessToken;
use shared::domain::webhook::{new_secret, EndpointFields, WebhookEndpoint};
use shared::error::{Concerning, Entity};
use shared::http::{Ctx, Reply};
use shared::usecase::webhooks::{check_destination, deliver, payload};
use shared::{ApiError, App};

pub async fn list(app: &App, ctx: &Ctx) -> Result<Reply, ApiError> {
    Reply::ok(
        app.store
            .list_webhooks(&ctx.principal()?.company_id)
            .await?,
    )
}

/// `POST /api/webhooks` `{url, events, description?, active?, secret?}`.
pub async fn create(app: &App, ctx: &Ctx) -> Result<Reply, ApiError> {
    let company = &ctx.principal()?.company_id;
    let (fields, secret) = EndpointFields::parse(ctx.json_object()?)?;
    check_destination(app, &fields.url).await?;
    let secret = AccessToken::new(match secret {
        Some(s) => s,
        None => new_secret()?,
    });
    let endpoint = app.store.create_webhook(company, fields, &secret).await?;
    let mut data =
        serde_json::to_value(&endpoint).map_err(|e| ApiError::Internal(e.to_string()))?;
    data["secret"] = json!(secret.expose());
    Ok(Reply::created(data)?
        .with_message("Store the secret now: it is shown only once")
        .with_secret("secret"))
}

/// The seed's `POST /api/webhooks/register {url, events, secret?}`: the same as creating.
pub async fn register(app: &App, ctx: &Ctx) -> Result<Reply, ApiError> {
    create(app, ctx).await
}

async fn endpoint(app: &App, ctx: &Ctx) -> Result<WebhookEndpoint, ApiError> {
    app.store
        .get_webhook(&ctx.principal()?.company_id, ctx.id(Entity::Webhook)?)
        .await
        .concerning(Entity::Webhook)
}

pub async fn get(app: &App, ctx: &Ctx) -> Result<Reply, ApiError> {
    Reply::ok(endpoint(app, ctx).await?)
}

/// A merge patch of `url`, `events`, `description`, `active`; turning an endpoint back on
/// clears why it was off.
pub async fn update(app: &App, ctx: &Ctx) -> Result<Reply, ApiError> {
    let company = &ctx.principal()?.company_id;
    let current = endpoint(app, ctx).await?;
    let was = EndpointFields {
        url: current.url.clone(),
        events: current.events.clone(),
        description: current.description.clone(),
        active: current.active,
    };
    let fields = was.patched(&ctx.json_object()?)?;
    if fields.url != current.url {
        check_destination(app, &fields.url).await?;
    }
    let reason = current.disabled_reason.filter(|_| !fields.active);
    let updated = app
        .store
        .update_webhook(company, current.id, fields, reason)
        .await
        .concerning(Entity::Webhook)?;
    Reply::ok(updated)
}

pub async fn delete(app: &App, ctx: &Ctx) -> Result<Reply, ApiError> {
    app.store
        .delete_webhook(&ctx.principal()?.company_id, ctx.id(Entity::Webhook)?)
        .await
        .concerning(Entity::Webhook)?;
    Ok(Reply::message("Webhook deleted"))
}

/// `GET /api/webhooks/{id}/deliveries?limit`: the newest attempts first.
pub async fn deliveries(app: &App, ctx: &Ctx) -> Result<Reply, ApiError> {
    let company = &ctx.principal()?.company_id;
    let mut errors = shared::FieldErrors::new();
    for (key, _) in &ctx.query {
        if key != "limit" {
            errors.add(key.clone(), "is not a parameter of this list");
        }
    }
    let limit = match ctx.query_param("limit") {
        None => 20,
        Some(l) => l
            .parse::<u32>()
            .ok()
            .filter(|n| (1..=100).contains(n))
            .unwrap_or_else(|| {
                errors.add("limit", "must be an integer from 1 to 100");
                20
            }),
    };
    errors.into_result()?;
    let log = app
        .store
        .list_deliveries(company, ctx.id(Entity::Webhook)?, limit)
        .await
        .concerning(Entity::Webhook)?;
    Reply::ok(log)
}

/// `POST /api/webhooks/{id}/test`: a `webhook.test` event, delivered now.
pub async fn test(app: &App, ctx: &Ctx) -> Result<Reply, ApiError> {
    let company = &ctx.principal()?.company_id;
    let endpoint = endpoint(app, ctx).await?;
    let ping = payload(
        &format!("msg_{}", uuid::Uuid::now_v7().simple()),
        "webhook.test",
        json!({"endpoint_id": endpoint.id, "message": "Teste de webhook do WiizoChat"}),
    );
    Reply::ok(deliver(app, company, &endpoint, &ping, 1, None).await?)
}

/// `POST /api/webhooks/{id}/deliveries/{delivery_id}/retry`: the same event again, as
/// the next attempt.
pub async fn retry(app: &App, ctx: &Ctx) -> Result<Reply, ApiError> {
    let company = &ctx.principal()?.company_id;
    let endpoint = endpoint(app, ctx).await?;
    let delivery_id = Entity::Delivery.id(ctx.param("delivery_id"))?;
    let earlier = app
        .store
        .get_delivery(company, endpoint.id, delivery_id)
        .await
        .concerning(Entity::Delivery)?;
    let payload: Value = earlier.payload.clone();
    let next = earlier.attempt + 1;
    Reply::ok(deliver(app, company, &endpoint, &payload, next, earlier.lead_id).await?)
}
