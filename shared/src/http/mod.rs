//! The HTTP glue every function shares: [`respond`] turns a gateway request into an
//! answer, doing what all routes have in common around the function's route table.

mod ctx;
mod guard;
pub mod openapi;
mod reply;
mod router;
pub mod stream;

use std::time::Instant;

use lambda_http::http::{header, HeaderValue};
use lambda_http::{Body, Request, RequestExt, Response};
use serde_json::json;

pub use ctx::Ctx;
use guard::Guard;
pub use lambda_http::http::Method;
pub use reply::Reply;
pub use router::{Access, Handler, HandlerFuture, Route};

use crate::domain::Timestamp;
use crate::error::ApiError;
use crate::telemetry;
use crate::App;

const CORS_ALLOW_HEADERS: &str =
    "authorization, x-client-info, apikey, content-type, x-api-key, idempotency-key, x-request-id";
const CORS_ALLOW_METHODS: &str = "GET, POST, PUT, PATCH, DELETE, OPTIONS";

/// Answers one request: preflight and health here, everything else through the route
/// `routes` declares for it, with request id, CORS and security headers, the envelope,
/// and one log line. In order: paths under `/api/` are authenticated, the route is
/// matched (404, 405), its access checked (401, 403), the guard passed (429, replay),
/// and only then does the handler run.
pub async fn respond(app: &App, req: Request, routes: &[Route]) -> Response<Body> {
    let (mut response, stream) = answer(app, req, routes).await;
    if let Some(mut rx) = stream {
        // A buffered runner (the HTTP API, the tests) gathers a stream into one body.
        let mut gathered = Vec::new();
        while let Some(chunk) = rx.recv().await {
            gathered.extend_from_slice(&chunk);
        }
        *response.body_mut() = Body::Text(String::from_utf8_lossy(&gathered).into_owned());
    }
    response
}

/// [`respond`] for the streaming runner: a streamed answer goes out chunk by chunk, as
/// it comes; any other goes out whole.
pub async fn respond_streaming(
    app: &App,
    req: Request,
    routes: &[Route],
) -> Response<stream::Streamed> {
    let (response, rx) = answer(app, req, routes).await;
    let (parts, body) = response.into_parts();
    Response::from_parts(parts, stream::Streamed::new(body, rx))
}

/// The answer to `req`, with the chunks of a streamed one apart.
async fn answer(
    app: &App,
    req: Request,
    routes: &[Route],
) -> (
    Response<Body>,
    Option<tokio::sync::mpsc::Receiver<bytes::Bytes>>,
) {
    let started = Instant::now();
    let cold_start = telemetry::take_cold_start();
    let lambda_request_id = req.lambda_context_ref().map(|c| c.request_id.clone());
    let request_id = caller_request_id(&req)
        .or_else(|| lambda_request_id.clone())
        .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
    let method = req.method().clone();
    let path = req.raw_http_path().to_string();
    let origin = req
        .headers()
        .get(header::ORIGIN)
        .and_then(|o| o.to_str().ok())
        .map(str::to_string);

    let mut company_id = None;
    let mut guard = Guard::default();
    let result = if method == Method::OPTIONS {
        Ok(Reply::no_content())
    } else if let Some(reply) = health(app, &method, &path).await {
        Ok(reply)
    } else if method == Method::GET
        && path == "/openapi.json"
        && !routes.iter().any(|r| r.pattern == "/openapi.json")
    {
        // This function's part of the contract; the whole is `openapi.json` in the repository,
        // served by the function whose table routes it.
        Ok(Reply::raw_json(
            200,
            openapi::document(&[(app.service, routes)]),
        ))
    } else {
        match Ctx::new(app, req, request_id.clone()).await {
            Ok(mut ctx) => {
                company_id = ctx.principal.as_ref().map(|p| p.company_id.to_string());
                match router::find(routes, &ctx.method, &ctx.path) {
                    Ok((route, params)) => {
                        ctx.params = params;
                        match route.access.check(ctx.principal.as_ref()) {
                            Ok(()) => match guard.enter(app, &ctx, route).await {
                                Ok(Some(replay)) => Ok(replay),
                                Ok(None) => (route.handler)(app, &ctx).await,
                                Err(e) => Err(e),
                            },
                            Err(e) => Err(e),
                        }
                    }
                    Err(e) => Err(e),
                }
            }
            Err(e) => Err(e),
        }
    };

    let mut secrets: Vec<&'static str> = Vec::new();
    let mut stream = None;
    let mut response = match result {
        Ok(mut reply) => {
            secrets = reply.secrets().to_vec();
            stream = reply.take_stream();
            reply.into_response()
        }
        Err(e) => {
            if e.status() >= 500 {
                tracing::error!(correlation_id = %request_id, error = %e, "request failed");
            }
            // The OpenAI-compatible routes answer in OpenAI's error shape, so that its SDKs
            // raise their own errors.
            if path.starts_with(OPENAI_COMPATIBLE) {
                Reply::openai_error(&e).into_response()
            } else {
                Reply::error(&e).into_response()
            }
        }
    };

    guard
        .leave(app, &mut response, &secrets, stream.is_some())
        .await;
    let headers = response.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&request_id) {
        headers.insert("x-request-id", v);
    }
    // Nothing is cached unless its route says how (the analytics reports do).
    headers
        .entry(header::CACHE_CONTROL)
        .or_insert(HeaderValue::from_static("no-store"));
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    if let Some(allowed) = app.config.allowed_origins.allow(origin.as_deref()) {
        if let Ok(v) = HeaderValue::from_str(&allowed) {
            headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, v);
        }
        headers.insert(header::VARY, HeaderValue::from_static("Origin"));
        if method == Method::OPTIONS {
            headers.insert(
                header::ACCESS_CONTROL_ALLOW_HEADERS,
                HeaderValue::from_static(CORS_ALLOW_HEADERS),
            );
            headers.insert(
                header::ACCESS_CONTROL_ALLOW_METHODS,
                HeaderValue::from_static(CORS_ALLOW_METHODS),
            );
            headers.insert(
                header::ACCESS_CONTROL_MAX_AGE,
                HeaderValue::from_static("86400"),
            );
        }
        headers.insert(
            header::ACCESS_CONTROL_EXPOSE_HEADERS,
            HeaderValue::from_static(
                "x-request-id, x-ratelimit-limit, x-ratelimit-remaining, x-ratelimit-reset, retry-after",
            ),
        );
    }

    tracing::info!(
        service = app.service,
        cold_start,
        function_request_id = lambda_request_id.as_deref().unwrap_or_default(),
        correlation_id = %request_id,
        company_id = company_id.as_deref().unwrap_or_default(),
        method = %method,
        path = %path,
        status = response.status().as_u16(),
        duration_ms = started.elapsed().as_secs_f64() * 1000.0,
        "request"
    );
    (response, stream)
}

/// Where the routes that answer in OpenAI's shapes live.
pub const OPENAI_COMPATIBLE: &str = "/api/ai/v1/";

/// The caller's `X-Request-ID` when it is sane enough to echo and log.
fn caller_request_id(req: &Request) -> Option<String> {
    let v = req.headers().get("x-request-id")?.to_str().ok()?.trim();
    let sane = (1..=128).contains(&v.len())
        && v.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.:/+=".contains(&b));
    sane.then(|| v.to_string())
}

/// `GET /health` and `GET /health/<function>`: the store's round trip, 200 or 503.
async fn health(app: &App, method: &Method, path: &str) -> Option<Reply> {
    let path = path.trim_end_matches('/');
    let ours = path == "/health" || path.strip_prefix("/health/") == Some(app.service);
    if !ours {
        return None;
    }
    if method != Method::GET {
        return Some(Reply::error(&ApiError::MethodNotAllowed(vec![
            "GET", "OPTIONS",
        ])));
    }
    let started = Instant::now();
    let store = app.store.ping().await;
    let latency_ms = started.elapsed().as_secs_f64() * 1000.0;
    let healthy = store.is_ok();
    Some(Reply::raw_json(
        if healthy { 200 } else { 503 },
        json!({
            "status": if healthy { "healthy" } else { "unhealthy" },
            "service": app.service,
            "version": env!("CARGO_PKG_VERSION"),
            "timestamp": Timestamp::now(),
            "checks": {
                "store": {
                    "status": if healthy { "up" } else { "down" },
                    "latency_ms": (latency_ms * 1000.0).round() / 1000.0,
                }
            }
        }),
    ))
}
