//! A company's own inbound webhooks: admins create endpoints (`client_id` + secret), other
//! systems post signed `{"event","data","timestamp"}` to `/webhooks/{client_id}`.

use serde_json::{json, Map, Value};
use shared::domain::account::{parse_inbound_endpoint, random_token, AccessToken};
use shared::domain::lead::{LeadFields, LeadId};
use shared::domain::rate_limit::{group_for, limit_for};
use shared::domain::{CompanyId, Timestamp};
use shared::error::{Concerning, Entity};
use shared::http::{Ctx, Reply};
use shared::usecase::{self, Outcome};
use shared::{ApiError, App};

/// How far a delivery's `timestamp` may be from now before it is taken for a replay.
const MAX_SKEW_SECS: i64 = 300;

pub async fn list(app: &App, ctx: &Ctx) -> Result<Reply, ApiError> {
    let principal = ctx.principal()?;
    Reply::ok(
        app.store
            .list_inbound_endpoints(&principal.company_id)
            .await?,
    )
}

pub async fn create(app: &App, ctx: &Ctx) -> Result<Reply, ApiError> {
    let principal = ctx.principal()?;
    let name = parse_inbound_endpoint(ctx.json_object()?)?;
    let client_id = random_token("wh_", 16)?;
    let secret = AccessToken::new(random_token("whsec_", 32)?);
    let endpoint = app
        .store
        .create_inbound_endpoint(&principal.company_id, &name, &client_id, &secret)
        .await?;
    let mut data =
        serde_json::to_value(&endpoint).map_err(|e| ApiError::Internal(e.to_string()))?;
    data["secret"] = json!(secret.expose());
    data["url_path"] = json!(format!("/webhooks/{client_id}"));
    Ok(Reply::created(data)?.with_message("Store the secret now: it is shown only once"))
}

pub async fn delete(app: &App, ctx: &Ctx) -> Result<Reply, ApiError> {
    let principal = ctx.principal()?;
    let id = ctx.id(Entity::InboundEndpoint)?;
    app.store
        .delete_inbound_endpoint(&principal.company_id, id)
        .await
        .concerning(Entity::InboundEndpoint)?;
    Ok(Reply::message("Inbound webhook deleted"))
}

/// `POST /webhooks/{client_id}`: limited per endpoint, signed, fresh, then applied.
pub async fn receive(app: &App, ctx: &Ctx) -> Result<Reply, ApiError> {
    let client_id = ctx.param("client_id");
    let (endpoint, secret) = app
        .store
        .find_inbound_endpoint(client_id)
        .await?
        .ok_or(ApiError::NotFound(Entity::InboundEndpoint))?;
    let company = &endpoint.company_id;
    // The limit comes before the signature check, so guessing signatures is limited too.
    let decision = match group_for(&ctx.path) {
        Some(group) => {
            let limit = limit_for(group, &app.company_settings(company).await?);
            let now = Timestamp::now().inner().timestamp_millis();
            Some(
                app.store
                    .take_rate_token(&format!("inbound:{client_id}"), &limit, now)
                    .await?,
            )
        }
        None => None,
    };
    if let Some(d) = decision.filter(|d| !d.allowed) {
        return Err(ApiError::RateLimited {
            retry_after: d.retry_after_secs,
        });
    }
    let signature = ctx.header("x-webhook-signature");
    if !shared::signature::verify_sha256(secret.expose().as_bytes(), &ctx.body, signature) {
        return Err(ApiError::Unauthorized(
            "Invalid or missing X-Webhook-Signature".into(),
        ));
    }
    let body: Value = serde_json::from_slice(&ctx.body)
        .map_err(|e| ApiError::BadRequest(format!("Malformed JSON: {e}")))?;
    let sent_at = match &body["timestamp"] {
        Value::String(t) => Timestamp::parse(t).map(|t| t.inner().timestamp()),
        Value::Number(n) => n.as_i64(),
        _ => None,
    }
    .ok_or_else(|| ApiError::validation("timestamp", "is required: RFC 3339 or Unix seconds"))?;
    if (Timestamp::now().inner().timestamp() - sent_at).abs() > MAX_SKEW_SECS {
        return Err(ApiError::Unauthorized(
            "The timestamp is more than 5 minutes from now".into(),
        ));
    }
    let Value::Object(data) = &body["data"] else {
        return Err(ApiError::validation("data", "must be a JSON object"));
    };
    let (lead, action) = match body["event"].as_str() {
        Some("lead.created" | "lead.updated") => {
            upsert_lead(app, company, data, &endpoint.name).await?
        }
        _ => {
            return Err(ApiError::validation(
                "event",
                "must be one of: lead.created, lead.updated",
            ))
        }
    };
    let mut reply = Reply::ok(json!({"lead_id": lead, "action": action}))?;
    if let Some(d) = decision {
        reply = reply
            .header("x-ratelimit-limit", d.limit.to_string())
            .header("x-ratelimit-remaining", d.remaining.to_string());
    }
    Ok(reply)
}

/// Creates the lead, or updates the one that has its phone or e-mail already.
async fn upsert_lead(
    app: &App,
    company: &CompanyId,
    data: &Map<String, Value>,
    endpoint: &str,
) -> Result<(LeadId, &'static str), ApiError> {
    let mut create = data.clone();
    if !create.contains_key("source") {
        create.insert(
            "source".into(),
            json!(format!("webhook:{endpoint}")
                .chars()
                .take(100)
                .collect::<String>()),
        );
    }
    // A lead is named by whoever sends it; without a name, by its phone or e-mail.
    if create.get("name").is_none_or(Value::is_null) {
        if let Some(contact) = ["phone", "email"]
            .iter()
            .find_map(|k| create.get(*k).filter(|v| v.is_string()).cloned())
        {
            create.insert("name".into(), contact);
        }
    }
    let fields = LeadFields::parse(Value::Object(create))?;
    let by = format!("webhook:{endpoint}");
    let store = app.store.as_ref();
    let existing = match usecase::leads::create_or_find(store, company, fields, &by).await? {
        Outcome::Created(id) => return Ok((id, "created")),
        Outcome::Existing(id) => id,
    };
    let patched =
        usecase::leads::patch(store, company, existing, &Value::Object(data.clone()), &by).await?;
    Ok((
        existing,
        if patched.changed {
            "updated"
        } else {
            "unchanged"
        },
    ))
}
