//! A company's own inbound webhooks: admins create endpoints (`client_id` + secret), other
//! systems post signed `{"event","data","timestamp"}` to `/webhooks/{client_id}`.

use serde_json::{json, Map, Value};
use shared::domain::account::{parse_inbound_endpoint, random_token, AccessToken};
use shared::domain::idempotency::{self, Claim, StoredResponse};
use shared::domain::lead::{LeadFields, LeadId};
use shared::domain::rate_limit::{self, limit_for, Limit};
use shared::domain::{CompanyId, Timestamp};
use shared::error::{Concerning, Entity};
use shared::http::{Ctx, Reply};
use shared::usecase::limits;
use shared::usecase::{self, Outcome};
use shared::{ApiError, App};

/// How far a delivery's `timestamp` may be from now before it is taken for a replay.
const MAX_SKEW_SECS: u64 = 300;

/// The route deliveries come to, as idempotency records name it.
const ROUTE: &str = "/webhooks/{client_id}";

/// Requests that fail the signature check: their own bucket, per endpoint.
const UNSIGNED_LIMIT: Limit = Limit::new(100, 60, 20);

/// A delivery's id: the sender's `Webhook-Id` / `X-Webhook-Id`, else the hash of the
/// signed body (a byte-identical repeat is the same delivery).
fn delivery_id(ctx: &Ctx) -> String {
    ctx.header("webhook-id")
        .or_else(|| ctx.header("x-webhook-id"))
        .map(str::trim)
        .filter(|id| (1..=255).contains(&id.len()))
        .map_or_else(
            || idempotency::fingerprint("POST", ROUTE, &ctx.body),
            str::to_string,
        )
}

/// The endpoint's limit: the `webhooks` group's, with the company's override.
async fn endpoint_limit(app: &App, company: &CompanyId) -> Result<Limit, ApiError> {
    let group = rate_limit::group("webhooks")
        .ok_or_else(|| ApiError::Internal("no `webhooks` rate-limit group".into()))?;
    Ok(limit_for(group, &app.company_settings(company).await?))
}

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
    Ok(Reply::created(data)?
        .with_message("Store the secret now: it is shown only once")
        .with_secret("secret"))
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
    let signature = ctx.header("x-webhook-signature");
    if !shared::signature::verify_sha256(secret.expose().as_bytes(), &ctx.body, signature) {
        // Guesses have their own bucket: they cannot spend the signed sender's.
        let key = format!("inbound-unsigned:{client_id}");
        limits::check(&limits::take_key(app, &key, &UNSIGNED_LIMIT).await?)?;
        return Err(ApiError::Unauthorized(
            "Invalid or missing X-Webhook-Signature".into(),
        ));
    }
    let limit = endpoint_limit(app, company).await?;
    let decision = limits::take_key(app, &format!("inbound:{client_id}"), &limit).await?;
    limits::check(&decision)?;
    let body: Value = serde_json::from_slice(&ctx.body)
        .map_err(|e| ApiError::BadRequest(format!("Malformed JSON: {e}")))?;
    let sent_at = match &body["timestamp"] {
        Value::String(t) => Timestamp::parse(t).map(|t| t.inner().timestamp()),
        Value::Number(n) => n.as_i64(),
        _ => None,
    }
    .ok_or_else(|| ApiError::validation("timestamp", "is required: RFC 3339 or Unix seconds"))?;
    if Timestamp::now().inner().timestamp().abs_diff(sent_at) > MAX_SKEW_SECS {
        return Err(ApiError::Unauthorized(
            "The timestamp is more than 5 minutes from now".into(),
        ));
    }
    let Value::Object(data) = &body["data"] else {
        return Err(ApiError::validation("data", "must be a JSON object"));
    };
    // Applied once: a repeat of the same delivery (by its id, else its body) is
    // acknowledged and changes nothing.
    let delivery = delivery_id(ctx);
    let key = idempotency::scoped_key(&format!("inbound:{client_id}"), "POST", ROUTE, &delivery);
    let fingerprint = idempotency::fingerprint("POST", ROUTE, &ctx.body);
    match app
        .store
        .claim_idempotency_key(company, &key, &fingerprint, Timestamp::now())
        .await?
    {
        Claim::Started => {}
        Claim::Replay(_) | Claim::InProgress => {
            return Reply::ok(json!({"duplicate": true, "delivery_id": delivery}));
        }
        Claim::Mismatch => {
            return Err(ApiError::Conflict {
                message: "This delivery id was already used for another delivery".into(),
                details: Some(json!({"delivery_id": delivery})),
            })
        }
    }
    let applied = match body["event"].as_str() {
        Some("lead.created" | "lead.updated") => {
            let sent = Sent {
                endpoint: &endpoint.name,
                client_id,
                at: sent_at,
            };
            upsert_lead(app, company, data, &sent).await
        }
        _ => Err(ApiError::validation(
            "event",
            "must be one of: lead.created, lead.updated",
        )),
    };
    let (lead, action) = match applied {
        Ok(done) => {
            let kept = StoredResponse {
                status: 200,
                content_type: "application/json".into(),
                body: json!({"lead_id": done.0, "action": done.1}).to_string(),
            };
            app.store
                .finish_idempotency_key(company, &key, &kept)
                .await?;
            done
        }
        Err(e) => {
            // Not applied: the sender may correct it and send it again.
            app.store.abandon_idempotency_key(company, &key).await?;
            return Err(e);
        }
    };
    Ok(Reply::ok(json!({"lead_id": lead, "action": action}))?
        .header("x-ratelimit-limit", decision.limit.to_string())
        .header("x-ratelimit-remaining", decision.remaining.to_string()))
}

/// Who sent a delivery, and as of when.
struct Sent<'a> {
    endpoint: &'a str,
    client_id: &'a str,
    /// The delivery's own `timestamp`, Unix seconds.
    at: i64,
}

/// Creates the lead, or updates the one that has its phone or e-mail already, unless this
/// endpoint already applied a newer change to it.
async fn upsert_lead(
    app: &App,
    company: &CompanyId,
    data: &Map<String, Value>,
    sent: &Sent<'_>,
) -> Result<(LeadId, &'static str), ApiError> {
    let endpoint = sent.endpoint;
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
    let source = format!("webhook:{}", sent.client_id);
    let outcome = usecase::leads::create_or_find(store, company, fields, &by).await?;
    let fresh = store
        .advance_lead_mark(company, outcome.into_inner(), &source, sent.at)
        .await
        .concerning(Entity::Lead)?;
    let existing = match outcome {
        Outcome::Created(id) => return Ok((id, "created")),
        Outcome::Existing(_) if !fresh => return Ok((outcome.into_inner(), "ignored_stale")),
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
