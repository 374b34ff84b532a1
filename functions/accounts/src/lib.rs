//! accounts: a company's own configuration.
//!
//! | route | handler | who |
//! |---|---|---|
//! | `GET /api/company` | [`get_company`] | anyone of the company |
//! | `PATCH /api/company` | [`update_company`] (settings merge-patched) | admin, owner |
//! | `GET/POST /api/api-keys`, `DELETE /api/api-keys/{id}` | [`list_keys`], [`create_key`], [`revoke_key`] | admin, owner |
//! | `GET/POST /api/channels`, `GET/PATCH/DELETE /api/channels/{id}` | [`list_channels`], [`create_channel`], [`get_channel`], [`update_channel`], [`delete_channel`] | reads: anyone; writes: admin, owner |

use std::convert::Infallible;

use lambda_http::http::Method;
use lambda_http::{Body, Request, Response};
use serde::Deserialize;
use serde_json::{json, Value};
use shared::domain::account::{
    generate_api_key, patch_settings, ApiKeyInput, ChannelChange, NewApiKey, NewChannelAccount,
};
use shared::domain::company::CompanyChange;
use shared::domain::parse_body;
use shared::http::{respond, Ctx, Reply};
use shared::store::StoreError;
use shared::{ApiError, App};
use uuid::Uuid;

pub async fn handle(app: &App, req: Request) -> Result<Response<Body>, Infallible> {
    Ok(respond(app, req, |ctx| route(app, ctx)).await)
}

async fn route(app: &App, ctx: Ctx) -> Result<Reply, ApiError> {
    let path = ctx.path.clone();
    let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    match (segments.as_slice(), &ctx.method) {
        (["api", "company"], &Method::GET) => get_company(app, &ctx).await,
        (["api", "company"], &Method::PATCH) => update_company(app, &ctx).await,
        (["api", "api-keys"], &Method::GET) => list_keys(app, &ctx).await,
        (["api", "api-keys"], &Method::POST) => create_key(app, &ctx).await,
        (["api", "api-keys", id], &Method::DELETE) => revoke_key(app, &ctx, id).await,
        (["api", "channels"], &Method::GET) => list_channels(app, &ctx).await,
        (["api", "channels"], &Method::POST) => create_channel(app, &ctx).await,
        (["api", "channels", id], &Method::GET) => get_channel(app, &ctx, id).await,
        (["api", "channels", id], &Method::PATCH) => update_channel(app, &ctx, id).await,
        (["api", "channels", id], &Method::DELETE) => delete_channel(app, &ctx, id).await,
        (
            ["api", "company"]
            | ["api", "api-keys"]
            | ["api", "api-keys", _]
            | ["api", "channels"]
            | ["api", "channels", _],
            _,
        ) => Err(ApiError::MethodNotAllowed),
        _ => Err(ApiError::not_found("Route")),
    }
}

fn not_found(what: &'static str) -> impl Fn(StoreError) -> ApiError {
    move |e| match e {
        StoreError::NotFound => ApiError::not_found(what),
        other => other.into(),
    }
}

/// An id that is not a UUID names nothing.
fn id(s: &str, what: &str) -> Result<Uuid, ApiError> {
    Uuid::parse_str(s).map_err(|_| ApiError::not_found(what))
}

pub async fn get_company(app: &App, ctx: &Ctx) -> Result<Reply, ApiError> {
    let company = &ctx.principal()?.company_id;
    let found = app
        .store
        .get_company(company)
        .await
        .map_err(not_found("Company"))?;
    Reply::ok(&found)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CompanyPatch {
    name: Option<String>,
    #[serde(default, deserialize_with = "present")]
    domain: Option<Option<String>>,
    settings: Option<Value>,
}

/// Tells `"domain": null` (clear it) from no `domain` at all.
fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Option<String>>, D::Error> {
    Option::<String>::deserialize(d).map(Some)
}

pub async fn update_company(app: &App, ctx: &Ctx) -> Result<Reply, ApiError> {
    let principal = ctx.principal()?;
    principal.require_admin()?;
    let patch: CompanyPatch = parse_body(ctx.json_object()?)?;
    let company = app
        .store
        .get_company(&principal.company_id)
        .await
        .map_err(not_found("Company"))?;
    let mut errors = shared::FieldErrors::new();
    let name = patch.name.map(|n| n.trim().to_string());
    if name
        .as_ref()
        .is_some_and(|n| n.is_empty() || n.chars().count() > 255)
    {
        errors.add("name", "must be 1 to 255 characters");
    }
    let domain = patch
        .domain
        .map(|d| d.map(|d| d.trim().to_lowercase()).filter(|d| !d.is_empty()));
    if domain.as_ref().is_some_and(|d| {
        d.as_ref()
            .is_some_and(|d| d.len() > 255 || !d.contains('.') || d.contains(char::is_whitespace))
    }) {
        errors.add("domain", "must be a domain name such as padaria.com.br");
    }
    errors.into_result()?;
    let settings = patch
        .settings
        .as_ref()
        .map(|p| patch_settings(&company.settings, p))
        .transpose()?;
    let updated = app
        .store
        .update_company(
            &principal.company_id,
            CompanyChange {
                name,
                domain,
                settings,
            },
        )
        .await
        .map_err(|e| match e {
            StoreError::Duplicate { .. } => ApiError::Conflict {
                message: "Another company has this name".into(),
                details: None,
            },
            other => not_found("Company")(other),
        })?;
    app.forget_company_settings(&principal.company_id);
    Reply::ok(&updated)
}

pub async fn list_keys(app: &App, ctx: &Ctx) -> Result<Reply, ApiError> {
    let principal = ctx.principal()?;
    principal.require_admin()?;
    Reply::ok(app.store.list_api_keys(&principal.company_id).await?)
}

pub async fn create_key(app: &App, ctx: &Ctx) -> Result<Reply, ApiError> {
    let principal = ctx.principal()?;
    principal.require_admin()?;
    let (name, scopes) = ApiKeyInput::parse(ctx.json_object()?)?;
    let (hash, prefix, key) = generate_api_key()?;
    let stored = app
        .store
        .create_api_key(
            &principal.company_id,
            NewApiKey {
                name,
                scopes,
                hash,
                prefix,
                created_by: principal.user_id.clone(),
            },
        )
        .await?;
    let mut data = serde_json::to_value(&stored).map_err(|e| ApiError::Internal(e.to_string()))?;
    data["key"] = json!(key);
    Ok(Reply::created(data)?.with_message("Store this key now: it is shown only once"))
}

pub async fn revoke_key(app: &App, ctx: &Ctx, key_id: &str) -> Result<Reply, ApiError> {
    let principal = ctx.principal()?;
    principal.require_admin()?;
    let key_id = id(key_id, "API key")?;
    app.store
        .revoke_api_key(&principal.company_id, key_id)
        .await
        .map_err(not_found("API key"))?;
    Ok(Reply::message("API key revoked"))
}

pub async fn list_channels(app: &App, ctx: &Ctx) -> Result<Reply, ApiError> {
    Reply::ok(
        app.store
            .list_channels(&ctx.principal()?.company_id)
            .await?,
    )
}

pub async fn create_channel(app: &App, ctx: &Ctx) -> Result<Reply, ApiError> {
    let principal = ctx.principal()?;
    principal.require_admin()?;
    let new = NewChannelAccount::parse(ctx.json_object()?)?;
    let company = &principal.company_id;
    match app.store.create_channel(company, new).await {
        Ok(channel) => Reply::created(&channel),
        Err(StoreError::Duplicate { existing_id, .. }) => {
            // Name the existing channel only when it is this company's own.
            let ours = Uuid::parse_str(&existing_id)
                .ok()
                .map(|id| app.store.get_channel(company, id));
            let details = match ours {
                Some(f) => f.await.ok().map(|c| json!({"existing_channel_id": c.id})),
                None => None,
            };
            Err(ApiError::Conflict {
                message: "This channel account is already connected".into(),
                details,
            })
        }
        Err(e) => Err(e.into()),
    }
}

pub async fn get_channel(app: &App, ctx: &Ctx, channel_id: &str) -> Result<Reply, ApiError> {
    let channel_id = id(channel_id, "Channel")?;
    let found = app
        .store
        .get_channel(&ctx.principal()?.company_id, channel_id)
        .await
        .map_err(not_found("Channel"))?;
    Reply::ok(&found)
}

pub async fn update_channel(app: &App, ctx: &Ctx, channel_id: &str) -> Result<Reply, ApiError> {
    let principal = ctx.principal()?;
    principal.require_admin()?;
    let channel_id = id(channel_id, "Channel")?;
    let change = ChannelChange::parse(ctx.json_object()?)?;
    let updated = app
        .store
        .update_channel(&principal.company_id, channel_id, change)
        .await
        .map_err(not_found("Channel"))?;
    Reply::ok(&updated)
}

pub async fn delete_channel(app: &App, ctx: &Ctx, channel_id: &str) -> Result<Reply, ApiError> {
    let principal = ctx.principal()?;
    principal.require_admin()?;
    let channel_id = id(channel_id, "Channel")?;
    app.store
        .delete_channel(&principal.company_id, channel_id)
        .await
        .map_err(not_found("Channel"))?;
    Ok(Reply::message("Channel disconnected"))
}
