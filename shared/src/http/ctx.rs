use lambda_http::http::{HeaderMap, Method};
use lambda_http::{Body, Request, RequestExt};
use serde_json::Value;

use crate::auth::Principal;
use crate::error::{ApiError, Entity};
use crate::App;

/// One request as a route sees it: parsed, size-checked and, under `/api/`, authenticated.
pub struct Ctx {
    pub method: Method,
    pub path: String,
    pub query: Vec<(String, String)>,
    pub headers: HeaderMap,
    pub body: Body,
    pub request_id: String,
    pub principal: Option<Principal>,
    /// The matched route's path parameters (`{id}` → `("id", "…")`).
    pub params: super::router::Params,
}

impl Ctx {
    pub(super) async fn new(app: &App, req: Request, request_id: String) -> Result<Ctx, ApiError> {
        let path = req.raw_http_path().to_string();
        let query = req
            .query_string_parameters_ref()
            .map(|q| {
                q.iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect()
            })
            .unwrap_or_default();
        let (parts, body) = req.into_parts();
        if body.len() > app.body_limit {
            return Err(ApiError::PayloadTooLarge {
                limit: app.body_limit,
            });
        }
        let principal = if path.starts_with("/api/") {
            Some(app.authenticate(&parts.headers).await?)
        } else {
            None
        };
        Ok(Ctx {
            method: parts.method,
            path,
            query,
            headers: parts.headers,
            body,
            request_id,
            principal,
            params: Vec::new(),
        })
    }

    /// The authenticated caller.
    pub fn principal(&self) -> Result<&Principal, ApiError> {
        self.principal
            .as_ref()
            .ok_or_else(|| ApiError::Unauthorized("Authentication required".into()))
    }

    /// A path parameter of the matched route; empty when the route has none by that name.
    pub fn param(&self, name: &str) -> &str {
        self.params
            .iter()
            .find(|(n, _)| *n == name)
            .map_or("", |(_, v)| v.as_str())
    }

    /// The `{id}` of the path as the id of `what`: not a UUID is that entity's 404.
    pub fn id(&self, what: Entity) -> Result<uuid::Uuid, ApiError> {
        what.id(self.param("id"))
    }

    /// A query parameter's value, the first if repeated.
    pub fn query_param(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The body as a JSON object: wrong content type or malformed JSON is a 400,
    /// JSON that is not an object a 422.
    pub fn json_object(&self) -> Result<Value, ApiError> {
        let content_type = self.header("content-type").unwrap_or_default();
        let media = content_type
            .split(';')
            .next()
            .unwrap_or_default()
            .trim()
            .to_ascii_lowercase();
        if media != "application/json" {
            return Err(ApiError::BadRequest(
                "Content-Type must be application/json".into(),
            ));
        }
        if self.body.is_empty() {
            return Err(ApiError::BadRequest("A JSON body is required".into()));
        }
        let value: Value = serde_json::from_slice(&self.body)
            .map_err(|e| ApiError::BadRequest(format!("Malformed JSON: {e}")))?;
        if !value.is_object() {
            return Err(ApiError::validation("body", "must be a JSON object"));
        }
        Ok(value)
    }
}
