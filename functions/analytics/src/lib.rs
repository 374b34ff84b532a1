//! analytics: the dashboard's figures — overview, leads, messages and AI — summed from the
//! company's daily tallies (`shared::domain::analytics`), in the company's time zone.
//! [`ROUTES`] is the function: who may call what, and which handler answers.

mod report;

use std::convert::Infallible;

use lambda_http::{Body, Request, Response};
use shared::http::{respond, Route};
use shared::{route, App};

pub const ROUTES: &[Route] = &[
    route!(GET "/api/analytics/overview", Read, report::overview),
    route!(GET "/api/analytics/leads", Read, report::leads),
    route!(GET "/api/analytics/messages", Read, report::messages),
    route!(GET "/api/analytics/ai", Read, report::ai),
];

pub async fn handle(app: &App, req: Request) -> Result<Response<Body>, Infallible> {
    Ok(respond(app, req, ROUTES).await)
}
