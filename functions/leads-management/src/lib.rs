//! leads-management: the CRM's leads API. [`ROUTES`] is the function: who may call
//! what, and which handler answers.

use std::convert::Infallible;

use lambda_http::{Body, Request, Response};
use shared::domain::lead::{LeadFields, LeadId, LeadQuery};
use shared::domain::page::{Cursor, Pagination};
use shared::error::{Concerning, Entity};
use shared::http::{respond, Ctx, Reply, Route};
use shared::{route, usecase, ApiError, App};

pub const ROUTES: &[Route] = &[
    route!(GET "/api/leads", Read, list),
    route!(POST "/api/leads", Write, create),
    route!(GET "/api/leads/{id}", Read, get),
    route!(PUT "/api/leads/{id}", Write, update),
    route!(PATCH "/api/leads/{id}", Write, update),
    route!(DELETE "/api/leads/{id}", Write, delete),
    route!(GET "/api/leads/{id}/history", Read, history),
];

pub async fn handle(app: &App, req: Request) -> Result<Response<Body>, Infallible> {
    Ok(respond(app, req, ROUTES).await)
}

fn lead_id(ctx: &Ctx) -> Result<LeadId, ApiError> {
    ctx.id(Entity::Lead).map(LeadId)
}

pub async fn list(app: &App, ctx: &Ctx) -> Result<Reply, ApiError> {
    let company = &ctx.principal()?.company_id;
    let query = LeadQuery::parse(&ctx.query)?;
    let page = app
        .store
        .list_leads(company, &query)
        .await
        .concerning(Entity::Lead)?;
    // After the last lead shown, or, when a filter's read budget ran out, the last read.
    let after = page
        .resume
        .as_ref()
        .or_else(|| page.items.last().filter(|_| page.has_more));
    let next_cursor = after.map(|last| {
        Cursor {
            sort: query.sort.as_str().to_string(),
            order: query.page.order,
            value: last.sort_value(query.sort),
            id: last.id.to_string(),
            position: None,
        }
        .encode()
    });
    Reply::list(
        &page.items,
        Pagination::new(&query.page, page.total, page.has_more),
        next_cursor,
    )
}

pub async fn create(app: &App, ctx: &Ctx) -> Result<Reply, ApiError> {
    let principal = ctx.principal()?;
    let fields = LeadFields::parse(ctx.json_object()?)?;
    let lead = app
        .store
        .create_lead(&principal.company_id, fields, &principal.user_id)
        .await
        .concerning(Entity::Lead)?;
    Reply::created(&lead)
}

pub async fn get(app: &App, ctx: &Ctx) -> Result<Reply, ApiError> {
    let company = &ctx.principal()?.company_id;
    let lead = app
        .store
        .get_lead(company, lead_id(ctx)?)
        .await
        .concerning(Entity::Lead)?;
    Reply::ok(&lead)
}

pub async fn update(app: &App, ctx: &Ctx) -> Result<Reply, ApiError> {
    let principal = ctx.principal()?;
    let patch = ctx.json_object()?;
    let lead = usecase::leads::patch(
        app.store.as_ref(),
        &principal.company_id,
        lead_id(ctx)?,
        &patch,
        &principal.user_id,
    )
    .await?;
    Reply::ok(&lead.lead)
}

pub async fn delete(app: &App, ctx: &Ctx) -> Result<Reply, ApiError> {
    let principal = ctx.principal()?;
    app.store
        .delete_lead(&principal.company_id, lead_id(ctx)?)
        .await
        .concerning(Entity::Lead)?;
    Ok(Reply::message("Lead deleted successfully"))
}

pub async fn history(app: &App, ctx: &Ctx) -> Result<Reply, ApiError> {
    let company = &ctx.principal()?.company_id;
    let events = app
        .store
        .lead_history(company, lead_id(ctx)?)
        .await
        .concerning(Entity::Lead)?;
    Reply::ok(&events)
}
