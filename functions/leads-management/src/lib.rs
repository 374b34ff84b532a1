//! leads-management: the CRM's leads API.
//!
//! | route | handler |
//! |---|---|
//! | `GET /api/leads` | [`list`] |
//! | `POST /api/leads` | [`create`] |
//! | `GET /api/leads/{id}` | [`get`] |
//! | `PUT/PATCH /api/leads/{id}` | [`update`] (JSON Merge Patch) |
//! | `DELETE /api/leads/{id}` | [`delete`] |
//! | `GET /api/leads/{id}/history` | [`history`] |

use std::convert::Infallible;

use lambda_http::http::Method;
use lambda_http::{Body, Request, Response};
use serde_json::json;
use shared::domain::lead::{LeadFields, LeadId, LeadQuery, LeadUpdate};
use shared::domain::page::{Cursor, Pagination};
use shared::http::{respond, Ctx, Reply};
use shared::store::StoreError;
use shared::{ApiError, App};

pub async fn handle(app: &App, req: Request) -> Result<Response<Body>, Infallible> {
    Ok(respond(app, req, |ctx| route(app, ctx)).await)
}

async fn route(app: &App, ctx: Ctx) -> Result<Reply, ApiError> {
    let path = ctx.path.clone();
    let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    match (segments.as_slice(), &ctx.method) {
        (["api", "leads"], &Method::GET) => list(app, &ctx).await,
        (["api", "leads"], &Method::POST) => create(app, &ctx).await,
        (["api", "leads", id], &Method::GET) => get(app, &ctx, lead_id(id)?).await,
        (["api", "leads", id], &Method::PUT | &Method::PATCH) => {
            update(app, &ctx, lead_id(id)?).await
        }
        (["api", "leads", id], &Method::DELETE) => delete(app, &ctx, lead_id(id)?).await,
        (["api", "leads", id, "history"], &Method::GET) => history(app, &ctx, lead_id(id)?).await,
        (["api", "leads"] | ["api", "leads", _] | ["api", "leads", _, "history"], _) => {
            Err(ApiError::MethodNotAllowed)
        }
        _ => Err(ApiError::not_found("Route")),
    }
}

/// An id that is not a UUID names no lead.
fn lead_id(s: &str) -> Result<LeadId, ApiError> {
    LeadId::parse(s).ok_or_else(ApiError::lead_not_found)
}

/// Store errors in the words of leads.
fn lead_error(e: StoreError) -> ApiError {
    match e {
        StoreError::NotFound => ApiError::lead_not_found(),
        StoreError::Duplicate { field, existing_id } => ApiError::Conflict {
            message: format!("A lead with this {field} already exists: {existing_id}"),
            details: Some(json!({ "field": field, "existing_lead_id": existing_id })),
        },
        other => other.into(),
    }
}

pub async fn list(app: &App, ctx: &Ctx) -> Result<Reply, ApiError> {
    let company = &ctx.principal()?.company_id;
    let query = LeadQuery::parse(&ctx.query)?;
    let page = app
        .store
        .list_leads(company, &query)
        .await
        .map_err(lead_error)?;
    let next_cursor = page.items.last().filter(|_| page.has_more).map(|last| {
        Cursor {
            s: query.sort.as_str().to_string(),
            o: query.page.order,
            v: last.sort_value(query.sort),
            id: last.id.to_string(),
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
    principal.require_write()?;
    let fields = LeadFields::parse(ctx.json_object()?)?;
    let lead = app
        .store
        .create_lead(&principal.company_id, fields, &principal.user_id)
        .await
        .map_err(lead_error)?;
    Reply::created(&lead)
}

pub async fn get(app: &App, ctx: &Ctx, id: LeadId) -> Result<Reply, ApiError> {
    let company = &ctx.principal()?.company_id;
    let lead = app.store.get_lead(company, id).await.map_err(lead_error)?;
    Reply::ok(&lead)
}

pub async fn update(app: &App, ctx: &Ctx, id: LeadId) -> Result<Reply, ApiError> {
    let principal = ctx.principal()?;
    principal.require_write()?;
    let patch = ctx.json_object()?;
    let company = &principal.company_id;
    let current = app.store.get_lead(company, id).await.map_err(lead_error)?;
    let fields = current.fields.patched(&patch)?;
    if fields == current.fields {
        return Reply::ok(&current);
    }
    let update = LeadUpdate {
        changes: current.fields.changes_to(&fields),
        fields,
        expected_version: current.version,
        by: principal.user_id.clone(),
    };
    let lead = app
        .store
        .update_lead(company, id, update)
        .await
        .map_err(lead_error)?;
    Reply::ok(&lead)
}

pub async fn delete(app: &App, ctx: &Ctx, id: LeadId) -> Result<Reply, ApiError> {
    let principal = ctx.principal()?;
    principal.require_write()?;
    app.store
        .delete_lead(&principal.company_id, id)
        .await
        .map_err(lead_error)?;
    Ok(Reply::message("Lead deleted successfully"))
}

pub async fn history(app: &App, ctx: &Ctx, id: LeadId) -> Result<Reply, ApiError> {
    let company = &ctx.principal()?.company_id;
    let events = app
        .store
        .lead_history(company, id)
        .await
        .map_err(lead_error)?;
    Reply::ok(&events)
}
