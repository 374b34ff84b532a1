//! The machine-readable contract, made from the route tables themselves: a route cannot
//! exist without being in it (`docs/architecture.md`, "Contract"). It names every path,
//! method, parameter, security requirement, body and answer with its fields and limits
//! (`operations`, `schemas`), the envelope and every error answer with its headers.

mod operations;
mod schemas;

use serde_json::{json, Map, Value};

use self::operations::Answer;
use super::router::{Access, Route};

/// Whether `route` has its bodies and answers described (`operations::of`).
pub fn describes(route: &Route) -> bool {
    operations::of(&route.method, route.pattern).is_some()
}

/// One function's routes, by the function's name.
pub type Table<'a> = (&'a str, &'a [Route]);

/// The OpenAPI 3.1 document of `tables`.
pub fn document(tables: &[Table<'_>]) -> Value {
    let mut paths = Map::new();
    for (function, routes) in tables {
        for route in routes.iter() {
            let item = paths
                .entry(route.pattern.to_string())
                .or_insert_with(|| json!({}));
            let mut op = operation(function, route);
            // A handler that serves PUT beside PATCH: operation ids are unique.
            let shared = routes
                .iter()
                .any(|r| r.name == route.name && r.method == super::Method::PATCH);
            if route.method == super::Method::PUT && shared {
                op["operationId"] = json!(format!(
                    "{}_put",
                    op["operationId"].as_str().unwrap_or_default()
                ));
            }
            item[route.method.as_str().to_ascii_lowercase()] = op;
        }
    }
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "WiizoChat API",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Leads, conversations and sending over WhatsApp, Instagram and Messenger, a company's accounts, and Meta's webhooks. Every answer but the OpenAI-compatible one is the envelope; every answer carries X-Request-ID, and /api answers the X-RateLimit headers.",
        },
        "servers": [{"url": "/", "description": "the API gateway; locally http://127.0.0.1:9000/lambda-url/<function>"}],
        "paths": paths,
        "components": components(),
    })
}

fn operation(function: &str, route: &Route) -> Value {
    let id: String = format!("{function}_{}", route.name)
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect::<String>()
        .split('_')
        .filter(|s| !s.is_empty())
        .collect::<Vec<_>>()
        .join("_");
    let spec = operations::of(&route.method, route.pattern);
    let mut parameters: Vec<Value> = route
        .pattern
        .split('/')
        .filter_map(|s| s.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
        .map(|name| {
            let schema = if name == "id" || name.ends_with("_id") && name != "client_id" {
                schemas::uuid()
            } else {
                json!({"type": "string", "minLength": 1})
            };
            json!({"name": name, "in": "path", "required": true, "schema": schema})
        })
        .collect();
    if let Some(spec) = &spec {
        parameters.extend(spec.query.iter().cloned());
        parameters.extend(spec.headers.iter().cloned());
    }
    if route.method == super::Method::POST && route.access != Access::Public {
        parameters.push(json!({"$ref": "#/components/parameters/IdempotencyKey"}));
    }
    let mut responses = Map::new();
    let ok = spec.as_ref().map_or(200, |s| s.status).to_string();
    let mut success = spec.as_ref().map_or_else(
        || json!({"$ref": "#/components/responses/Success"}),
        |s| success(s, route.access != Access::Public),
    );
    // A list with a cursor links to its own next page, carrying what named the list.
    if parameters.iter().any(|p| p["name"] == "cursor") {
        let mut carried = json!({"cursor": "$response.body#/next_cursor"});
        for p in &parameters {
            match (p["in"].as_str(), p["name"].as_str()) {
                (Some("path"), Some(name)) => {
                    carried[name] = json!(format!("$request.path.{name}"))
                }
                (Some("query"), Some("conversation_id")) => {
                    carried["conversation_id"] = json!("$request.query.conversation_id")
                }
                _ => {}
            }
        }
        success["links"] = json!({"NextPage": {"operationId": id, "parameters": carried}});
    }
    if spec.as_ref().is_some_and(|s| s.may_exist) {
        let mut existing = success.clone();
        existing["description"] = json!("The record existed already: it is answered as it is");
        existing.as_object_mut().map(|e| e.remove("links"));
        responses.insert("200".into(), existing);
    }
    responses.insert(ok, success);
    let mut errors = vec!["404", "405", "422"];
    match route.access {
        Access::Public => errors.extend(["401", "403", "429"]),
        Access::Read => errors.extend(["401", "429"]),
        Access::Write | Access::Admin => errors.extend(["401", "403", "409", "429"]),
    }
    if route.method != super::Method::GET {
        errors.extend(["400", "413"]);
    }
    errors.extend(["500", "502", "503", "504"]);
    // The OpenAI-compatible routes refuse in OpenAI's shape.
    let shape = if route.pattern.starts_with(super::OPENAI_COMPATIBLE) {
        "O"
    } else {
        "E"
    };
    for code in errors {
        responses.insert(
            code.into(),
            json!({"$ref": format!("#/components/responses/{shape}{code}")}),
        );
    }
    let mut op = json!({
        "operationId": id,
        "tags": [function],
        "summary": format!("{} {}", route.method, route.pattern),
        "x-access": format!("{:?}", route.access).to_lowercase(),
        "parameters": parameters,
        "responses": responses,
    });
    match route.access {
        Access::Public => op["security"] = json!([]),
        _ => op["security"] = json!([{"bearer": []}, {"apiKeyHeader": []}, {"apikey": []}]),
    }
    if let Some(body) = spec.and_then(|s| s.body) {
        op["requestBody"] = json!({
            "required": true,
            "content": {"application/json": {"schema": body}}
        });
    }
    op
}

/// The success answer of an operation: the envelope around its data.
fn success(spec: &operations::Spec, rate_limited: bool) -> Value {
    let mut headers = json!({"X-Request-ID": {"$ref": "#/components/headers/X-Request-ID"}});
    if rate_limited {
        for h in [
            "X-RateLimit-Limit",
            "X-RateLimit-Remaining",
            "X-RateLimit-Reset",
        ] {
            headers[h] = json!({"$ref": format!("#/components/headers/{h}")});
        }
    }
    let envelope = |extra: Value, required: &[&str]| {
        let mut properties = json!({
            "success": {"const": true},
            "message": {"type": "string"},
            "timestamp": {"type": "string", "format": "date-time"}
        });
        if let (Some(p), Some(e)) = (properties.as_object_mut(), extra.as_object()) {
            p.extend(e.clone());
        }
        let mut req = vec!["success", "timestamp"];
        req.extend(required);
        json!({"type": "object", "required": req, "properties": properties, "additionalProperties": false})
    };
    let content = match &spec.answer {
        Answer::Text => json!({"text/plain": {"schema": {"type": "string"}}}),
        Answer::Document("application/json") => {
            json!({"application/json": {"schema": {"type": "object", "required": ["openapi", "paths"]}}})
        }
        Answer::Document(other) => json!({ *other: {"schema": {"type": "string"}}}),
        Answer::OpenAi(schema) => json!({"application/json": {"schema": schema}}),
        Answer::Message => json!({"application/json": {"schema":
            envelope(json!({"message": {"type": "string"}}), &["message"])}}),
        Answer::Data(data) => json!({"application/json": {"schema":
            envelope(json!({"data": data}), &["data"])}}),
        Answer::Page(item) => json!({"application/json": {"schema": envelope(
            json!({
                "data": {"type": "array", "items": item},
                "pagination": {"$ref": "#/components/schemas/Pagination"},
                "next_cursor": {"type": ["string", "null"]}
            }),
            &["data", "pagination", "next_cursor"],
        )}}),
    };
    let mut content = content;
    if spec.streams {
        // Each server-sent event: its `data` is one of OpenAI's chunks as JSON, or `[DONE]`.
        content["text/event-stream"] = json!({"schema": {
            "type": "object", "required": ["data"],
            "properties": {"data": {"type": "string"}, "event": {"type": "string"}, "id": {"type": "string"}},
            "description": "With `stream: true`: OpenAI's chunks as `data:` events, then `data: [DONE]`"}});
    }
    let mut answer = json!({"description": "Done", "headers": headers, "content": content});
    if spec.links.as_object().is_some_and(|l| !l.is_empty()) {
        answer["links"] = spec.links.clone();
    }
    answer
}

fn components() -> Value {
    let header = |description: &str, required: bool| json!({"description": description, "required": required, "schema": {"type": "string"}});
    let error = |description: &str, schema: &str| {
        json!({
            "description": description,
            "headers": {"X-Request-ID": {"$ref": "#/components/headers/X-Request-ID"}},
            "content": {"application/json": {"schema": {"$ref": format!("#/components/schemas/{schema}")}}}
        })
    };
    let mut responses = Map::new();
    responses.insert(
        "Success".into(),
        json!({
            "description": "The envelope: `data`, and for lists `pagination` and `next_cursor`",
            "headers": {
                "X-Request-ID": {"$ref": "#/components/headers/X-Request-ID"},
                "X-RateLimit-Limit": {"$ref": "#/components/headers/X-RateLimit-Limit"},
                "X-RateLimit-Remaining": {"$ref": "#/components/headers/X-RateLimit-Remaining"},
                "X-RateLimit-Reset": {"$ref": "#/components/headers/X-RateLimit-Reset"}
            },
            "content": {
                "application/json": {"schema": {"$ref": "#/components/schemas/Success"}},
                "text/plain": {"schema": {"type": "string"}}
            }
        }),
    );
    for (code, what) in [
        ("400", "BAD_REQUEST: malformed JSON or a wrong content type"),
        (
            "401",
            "UNAUTHORIZED or INVALID_API_KEY, or a webhook whose signature does not verify",
        ),
        ("403", "FORBIDDEN: the caller's role may not do this"),
        (
            "404",
            "NOT_FOUND, LEAD_NOT_FOUND or CONVERSATION_NOT_FOUND: absent, or another company's",
        ),
        ("405", "METHOD_NOT_ALLOWED, with `Allow`"),
        (
            "409",
            "CONFLICT (a duplicate, a stale version) or WINDOW_CLOSED (24-hour rule)",
        ),
        ("413", "PAYLOAD_TOO_LARGE"),
        (
            "422",
            "VALIDATION_ERROR or MISSING_REQUIRED_FIELD: `details` names each field",
        ),
        (
            "429",
            "RATE_LIMIT_EXCEEDED or AI_BUDGET_EXCEEDED, with `Retry-After`",
        ),
        ("500", "INTERNAL_SERVER_ERROR"),
        (
            "502",
            "WHATSAPP_API_ERROR or OPENAI_API_ERROR: the upstream refused",
        ),
        ("503", "STORE_UNAVAILABLE"),
        ("504", "UPSTREAM_TIMEOUT"),
    ] {
        responses.insert(format!("E{code}"), error(what, "Failure"));
        responses.insert(format!("O{code}"), error(what, "OpenAiError"));
    }
    json!({
        "securitySchemes": {
            "bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT (HS256; or an API key)"},
            "apiKeyHeader": {"type": "apiKey", "in": "header", "name": "X-API-Key"},
            "apikey": {"type": "apiKey", "in": "header", "name": "apikey"}
        },
        "parameters": {
            "IdempotencyKey": {
                "name": "Idempotency-Key", "in": "header", "required": false,
                "description": "1 to 255 visible characters; a retry with the same key, route and body answers the first answer",
                "schema": {"type": "string", "pattern": "^[!-~]{1,255}$"}
            }
        },
        "headers": {
            "X-Request-ID": header("The caller's, when sane, else the request's own id", true),
            "X-RateLimit-Limit": header("The caller's burst in the route's group", false),
            "X-RateLimit-Remaining": header("Requests left in the caller's bucket", false),
            "X-RateLimit-Reset": header("Unix time when the bucket is full again", false)
        },
        "schemas": schemas_with_envelope(),
        "responses": responses,
    })
}

fn schemas_with_envelope() -> Value {
    let mut named = schemas::named();
    let envelope = json!({
            "Success": {
                "type": "object",
                "required": ["success", "timestamp"],
                "properties": {
                    "success": {"const": true},
                    "data": {},
                    "message": {"type": "string"},
                    "pagination": {"$ref": "#/components/schemas/Pagination"},
                    "next_cursor": {"type": ["string", "null"]},
                    "timestamp": {"type": "string", "format": "date-time"}
                }
            },
            "Pagination": {
                "type": "object",
                "required": ["page", "limit", "total", "pages", "hasNext", "hasPrev"],
                "properties": {
                    "page": {"type": "integer", "minimum": 1},
                    "limit": {"type": "integer", "minimum": 1, "maximum": 100},
                    "total": {"type": "integer", "minimum": 0},
                    "pages": {"type": "integer", "minimum": 0},
                    "hasNext": {"type": "boolean"},
                    "hasPrev": {"type": "boolean"}
                }
            },
            "Failure": {
                "type": "object",
                "required": ["success", "error", "timestamp"],
                "properties": {
                    "success": {"const": false},
                    "error": {
                        "type": "object",
                        "required": ["code", "message"],
                        "properties": {
                            "code": {"type": "string"},
                            "message": {"type": "string"},
                            "details": {},
                            "retry_after": {"type": "integer"}
                        }
                    },
                    "timestamp": {"type": "string", "format": "date-time"}
                }
            }
    });
    if let Value::Object(e) = envelope {
        named.extend(e);
    }
    Value::Object(named)
}
