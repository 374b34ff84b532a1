//! Leads, messages and AI analytics. Until its routes land, this function answers its health route and a clear 404.

use std::convert::Infallible;

use lambda_http::{Body, Request, Response};
use shared::http::{respond, Route};
use shared::App;

/// No routes yet: every path but the health route answers 404.
pub const ROUTES: &[Route] = &[];

pub async fn handle(app: &App, req: Request) -> Result<Response<Body>, Infallible> {
    Ok(respond(app, req, ROUTES).await)
}
