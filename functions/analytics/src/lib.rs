//! Leads, messages and AI analytics. Until its routes land, this function answers its health route and a clear 404.

use std::convert::Infallible;

use lambda_http::{Body, Request, Response};
use shared::http::respond;
use shared::{ApiError, App};

pub async fn handle(app: &App, req: Request) -> Result<Response<Body>, Infallible> {
    Ok(respond(app, req, |_ctx| async { Err(ApiError::not_found("Route")) }).await)
}
