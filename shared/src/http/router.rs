//! Routes as data: each function declares its table of method, path pattern, the access
//! it needs and its handler. Matching, 404, 405 with `Allow`, and role refusals happen
//! here and nowhere else (`docs/architecture.md`, "A request's path").

use std::future::Future;
use std::pin::Pin;

use lambda_http::http::Method;

use super::{Ctx, Reply};
use crate::auth::{Principal, Role};
use crate::error::{ApiError, Entity};
use crate::App;

/// Who may call a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// No principal: Meta's and integrators' webhooks, which prove themselves by signature.
    Public,
    /// Anyone of the company, viewers included.
    Read,
    /// Everyone but viewers.
    Write,
    /// Admins and owners: keys, channels, settings, webhooks.
    Admin,
}

impl Access {
    /// Refuses a principal this access does not admit.
    pub fn check(self, principal: Option<&Principal>) -> Result<(), ApiError> {
        let role = match (self, principal) {
            (Access::Public, _) => return Ok(()),
            (_, None) => return Err(ApiError::Unauthorized("Authentication required".into())),
            (_, Some(p)) => p.role,
        };
        match (self, role) {
            (Access::Write, Role::Viewer) => {
                Err(ApiError::Forbidden("Viewers have read-only access".into()))
            }
            (Access::Admin, Role::Agent | Role::Viewer) => Err(ApiError::Forbidden(
                "This needs the admin or owner role".into(),
            )),
            _ => Ok(()),
        }
    }
}

pub type HandlerFuture<'a> = Pin<Box<dyn Future<Output = Result<Reply, ApiError>> + Send + 'a>>;

/// A route's handler: a plain async function over the app and the request.
pub type Handler = for<'a> fn(&'a App, &'a Ctx) -> HandlerFuture<'a>;

/// A matched route's path parameters, in pattern order: `{id}` → `("id", "…")`.
pub type Params = Vec<(&'static str, String)>;

pub struct Route {
    pub method: Method,
    /// `/api/leads/{id}/history`: literal segments and `{name}` parameters.
    pub pattern: &'static str,
    pub access: Access,
    pub handler: Handler,
    /// The handler's name, as the contract's `operationId` is made from it.
    pub name: &'static str,
}

/// One row of a route table: `route!(GET "/api/leads/{id}", Read, get)`.
#[macro_export]
macro_rules! route {
    ($method:ident $pattern:literal, $access:ident, $handler:path) => {
        $crate::http::Route {
            method: $crate::http::Method::$method,
            pattern: $pattern,
            access: $crate::http::Access::$access,
            handler: |app, ctx| Box::pin($handler(app, ctx)),
            name: stringify!($handler),
        }
    };
}

impl Route {
    /// The path's parameters when the path has this route's shape.
    fn captures(&self, segments: &[&str]) -> Option<Params> {
        let pattern: Vec<&'static str> =
            self.pattern.split('/').filter(|s| !s.is_empty()).collect();
        if pattern.len() != segments.len() {
            return None;
        }
        let mut params = Vec::new();
        for (p, s) in pattern.iter().zip(segments) {
            match p.strip_prefix('{').and_then(|p| p.strip_suffix('}')) {
                Some(name) => params.push((name, (*s).to_string())),
                None if p == s => {}
                None => return None,
            }
        }
        Some(params)
    }
}

/// The route for `method` on `path`, with its parameters. Only the routes of the most
/// specific pattern that matches count (`/api/webhooks/register` before
/// `/api/webhooks/{id}`): a literal path is its own resource, so a method it does not
/// answer is a 405, never another route's.
pub fn find<'r>(
    routes: &'r [Route],
    method: &Method,
    path: &str,
) -> Result<(&'r Route, Params), ApiError> {
    let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    let matching: Vec<(&Route, Params)> = routes
        .iter()
        .filter_map(|r| r.captures(&segments).map(|p| (r, p)))
        .collect();
    let Some(fewest) = matching.iter().map(|(_, p)| p.len()).min() else {
        return Err(ApiError::NotFound(Entity::Route));
    };
    let mut allow: Vec<&'static str> = Vec::new();
    for (route, params) in matching.into_iter().filter(|(_, p)| p.len() == fewest) {
        if route.method == method {
            return Ok((route, params));
        }
        let m = method_name(&route.method);
        if !allow.contains(&m) {
            allow.push(m);
        }
    }
    allow.push("OPTIONS");
    Err(ApiError::MethodNotAllowed(allow))
}

fn method_name(m: &Method) -> &'static str {
    match *m {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        _ => "OPTIONS",
    }
}
