//! accounts: a company's own configuration. [`ROUTES`] is the function: who may call
//! what, and which handler answers.

mod docs;

use std::convert::Infallible;

use lambda_http::{Body, Request, Response};
use serde::Deserialize;
use serde_json::{json, Value};
use shared::domain::account::{
    generate_api_key, patch_settings, ApiKeyInput, ChannelAccount, ChannelChange, NewApiKey,
    NewChannelAccount,
};
use shared::domain::company::CompanyChange;
use shared::domain::parse_body;
use shared::domain::text::{control_free, label};
use shared::error::{Concerning, Entity};
use shared::http::{respond, Ctx, Reply, Route};
use shared::store::StoreError;
use shared::{route, usecase, ApiError, App};

pub const ROUTES: &[Route] = &[
    route!(GET "/openapi.json", Public, docs::contract),
    route!(GET "/docs", Public, docs::page),
    route!(GET "/api/company", Read, get_company),
    route!(PATCH "/api/company", Admin, update_company),
    route!(GET "/api/api-keys", Admin, list_keys),
    route!(POST "/api/api-keys", Admin, create_key),
    route!(DELETE "/api/api-keys/{id}", Admin, revoke_key),
    route!(GET "/api/channels", Read, list_channels),
    route!(POST "/api/channels", Admin, create_channel),
    route!(GET "/api/channels/{id}", Read, get_channel),
    route!(PATCH "/api/channels/{id}", Admin, update_channel),
    route!(DELETE "/api/channels/{id}", Admin, delete_channel),
];

pub async fn handle(app: &App, req: Request) -> Result<Response<Body>, Infallible> {
    Ok(respond(app, req, ROUTES).await)
}

pub async fn get_company(app: &App, ctx: &Ctx) -> Result<Reply, ApiError> {
    let company = &ctx.principal()?.company_id;
    let found = app
        .store
        .get_company(company)
        .await
        .concerning(Entity::Company)?;
    Reply::ok(&found)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CompanyPatch {
    #[serde(default, deserialize_with = "present")]
    name: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    domain: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    settings: Option<Option<Value>>,
}

/// Tells `"domain": null` (clear it) from no `domain` at all.
fn present<'de, D: serde::Deserializer<'de>, T: Deserialize<'de>>(
    d: D,
) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

pub async fn update_company(app: &App, ctx: &Ctx) -> Result<Reply, ApiError> {
    let principal = ctx.principal()?;
    let patch: CompanyPatch = parse_body(ctx.json_object()?)?;
    let company = app
        .store
        .get_company(&principal.company_id)
        .await
        .concerning(Entity::Company)?;
    let mut errors = shared::FieldErrors::new();
    for (field, cleared) in [
        ("name", matches!(patch.name, Some(None))),
        ("settings", matches!(patch.settings, Some(None))),
    ] {
        if cleared {
            errors.add(field, "cannot be removed");
        }
    }
    let name = patch
        .name
        .flatten()
        .map(|n| label("name", &n, 255, &mut errors));
    // As sent at most 255 characters; blank clears it.
    if patch
        .domain
        .as_ref()
        .is_some_and(|d| d.as_ref().is_some_and(|d| d.chars().count() > 255))
    {
        errors.add("domain", "must be at most 255 characters");
    }
    let domain = patch
        .domain
        .map(|d| d.map(|d| d.trim().to_lowercase()).filter(|d| !d.is_empty()));
    if domain.as_ref().is_some_and(|d| {
        d.as_ref().is_some_and(|d| {
            !d.contains('.') || d.contains(char::is_whitespace) || !control_free(d, false)
        })
    }) {
        errors.add("domain", "must be a domain name such as padaria.com.br");
    }
    errors.into_result()?;
    let settings = patch
        .settings
        .flatten()
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
        .concerning(Entity::Company)?;
    app.forget_company_settings(&principal.company_id);
    Reply::ok(&updated)
}

pub async fn list_keys(app: &App, ctx: &Ctx) -> Result<Reply, ApiError> {
    let principal = ctx.principal()?;
    Reply::ok(app.store.list_api_keys(&principal.company_id).await?)
}

pub async fn create_key(app: &App, ctx: &Ctx) -> Result<Reply, ApiError> {
    let principal = ctx.principal()?;
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
    Ok(Reply::created(data)?
        .with_message("Store this key now: it is shown only once")
        .with_secret("key"))
}

pub async fn revoke_key(app: &App, ctx: &Ctx) -> Result<Reply, ApiError> {
    let principal = ctx.principal()?;
    let key_id = ctx.id(Entity::ApiKey)?;
    app.store
        .revoke_api_key(&principal.company_id, key_id)
        .await
        .concerning(Entity::ApiKey)?;
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
    let new = NewChannelAccount::parse(ctx.json_object()?)?;
    let company = &principal.company_id;
    // Meta first: an id is taken only by a token that can act for it, and whether it is
    // connected elsewhere is told only to such a token's holder.
    let meta = usecase::channels::verify(app, new.channel, &new.external_id, &new.token).await?;
    match app.store.create_channel(company, new).await {
        Ok(channel) => Reply::created(with_meta(&channel, meta)?),
        Err(StoreError::Duplicate { existing_id, .. }) => {
            // Name the existing channel only when it is this company's own.
            let ours = Entity::Channel
                .id(&existing_id)
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

/// A channel as answered after Meta was asked: with what Meta showed (`meta`).
fn with_meta(channel: &ChannelAccount, meta: Value) -> Result<Value, ApiError> {
    let mut data = serde_json::to_value(channel).map_err(|e| ApiError::Internal(e.to_string()))?;
    data["meta"] = meta;
    Ok(data)
}

pub async fn get_channel(app: &App, ctx: &Ctx) -> Result<Reply, ApiError> {
    let channel_id = ctx.id(Entity::Channel)?;
    let found = app
        .store
        .get_channel(&ctx.principal()?.company_id, channel_id)
        .await
        .concerning(Entity::Channel)?;
    Reply::ok(&found)
}

pub async fn update_channel(app: &App, ctx: &Ctx) -> Result<Reply, ApiError> {
    let principal = ctx.principal()?;
    let channel_id = ctx.id(Entity::Channel)?;
    let change = ChannelChange::parse(ctx.json_object()?)?;
    let company = &principal.company_id;
    usecase::autoreply::check_assignment(app, company, change.agent_id).await?;
    let meta = match &change.token {
        Some(token) => {
            let current = app
                .store
                .get_channel(company, channel_id)
                .await
                .concerning(Entity::Channel)?;
            Some(
                usecase::channels::verify(app, current.channel, &current.external_id, token)
                    .await?,
            )
        }
        None => None,
    };
    let updated = app
        .store
        .update_channel(company, channel_id, change)
        .await
        .concerning(Entity::Channel)?;
    match meta {
        Some(meta) => Reply::ok(with_meta(&updated, meta)?),
        None => Reply::ok(&updated),
    }
}

pub async fn delete_channel(app: &App, ctx: &Ctx) -> Result<Reply, ApiError> {
    let principal = ctx.principal()?;
    let channel_id = ctx.id(Entity::Channel)?;
    app.store
        .delete_channel(&principal.company_id, channel_id)
        .await
        .concerning(Entity::Channel)?;
    Ok(Reply::message("Channel disconnected"))
}
