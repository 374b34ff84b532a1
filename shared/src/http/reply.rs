use lambda_http::http::{header, HeaderValue, StatusCode};
use lambda_http::{Body, Response};
use serde::Serialize;
use serde_json::{json, Map, Value};

use crate::domain::page::Pagination;
use crate::domain::Timestamp;
use crate::error::ApiError;

/// A route's answer, before it is wrapped in the envelope.
#[derive(Debug)]
pub struct Reply {
    status: u16,
    body: ReplyBody,
    headers: Vec<(&'static str, String)>,
    /// Fields of `data` that hold a secret shown once: never kept for a replay.
    secrets: Vec<&'static str>,
}

#[derive(Debug)]
enum ReplyBody {
    Envelope(Map<String, Value>),
    Json(Value),
    Text(&'static str, String),
    Stored(String, String),
    /// Server-sent events, chunk by chunk as they come (`respond_streaming`), or gathered
    /// into one body by a buffered runner.
    Stream(tokio::sync::mpsc::Receiver<bytes::Bytes>),
    Empty,
}

fn to_value(data: impl Serialize) -> Result<Value, ApiError> {
    serde_json::to_value(data).map_err(|e| ApiError::Internal(format!("serialising a reply: {e}")))
}

impl Reply {
    fn envelope(success: bool) -> Map<String, Value> {
        let mut m = Map::new();
        m.insert("success".into(), Value::Bool(success));
        m
    }

    /// 200 `{"success":true,"data":…}`.
    pub fn ok(data: impl Serialize) -> Result<Reply, ApiError> {
        Self::with_status(200, data)
    }

    /// 201 `{"success":true,"data":…}`.
    pub fn created(data: impl Serialize) -> Result<Reply, ApiError> {
        Self::with_status(201, data)
    }

    pub fn with_status(status: u16, data: impl Serialize) -> Result<Reply, ApiError> {
        let mut m = Self::envelope(true);
        m.insert("data".into(), to_value(data)?);
        Ok(Reply {
            status,
            body: ReplyBody::Envelope(m),
            headers: Vec::new(),
            secrets: Vec::new(),
        })
    }

    /// Adds a `message` beside the data.
    pub fn with_message(mut self, message: &str) -> Reply {
        if let ReplyBody::Envelope(m) = &mut self.body {
            m.insert("message".into(), Value::String(message.into()));
        }
        self
    }

    /// 200 `{"success":true,"message":…}`, for answers that carry no data.
    pub fn message(message: impl Into<String>) -> Reply {
        let mut m = Self::envelope(true);
        m.insert("message".into(), Value::String(message.into()));
        Reply {
            status: 200,
            body: ReplyBody::Envelope(m),
            headers: Vec::new(),
            secrets: Vec::new(),
        }
    }

    /// A list: `data` is the array, `pagination` beside it, and `next_cursor` for keyset paging.
    pub fn list(
        items: impl Serialize,
        pagination: Pagination,
        next_cursor: Option<String>,
    ) -> Result<Reply, ApiError> {
        let mut m = Self::envelope(true);
        m.insert("data".into(), to_value(items)?);
        m.insert("pagination".into(), to_value(pagination)?);
        m.insert("next_cursor".into(), to_value(next_cursor)?);
        Ok(Reply {
            status: 200,
            body: ReplyBody::Envelope(m),
            headers: Vec::new(),
            secrets: Vec::new(),
        })
    }

    /// JSON outside the envelope (health, OpenAI-compatible answers).
    pub fn raw_json(status: u16, value: Value) -> Reply {
        Reply {
            status,
            body: ReplyBody::Json(value),
            headers: Vec::new(),
            secrets: Vec::new(),
        }
    }

    /// An answer kept earlier, replayed as it was.
    pub fn stored(status: u16, content_type: String, body: String) -> Reply {
        Reply {
            status,
            body: ReplyBody::Stored(content_type, body),
            headers: Vec::new(),
            secrets: Vec::new(),
        }
    }

    pub fn text(status: u16, content_type: &'static str, text: String) -> Reply {
        Reply {
            status,
            body: ReplyBody::Text(content_type, text),
            headers: Vec::new(),
            secrets: Vec::new(),
        }
    }

    /// `text/event-stream` from the chunks `rx` receives, until its sender is dropped.
    pub fn stream(rx: tokio::sync::mpsc::Receiver<bytes::Bytes>) -> Reply {
        Reply {
            status: 200,
            body: ReplyBody::Stream(rx),
            headers: Vec::new(),
            secrets: Vec::new(),
        }
    }

    /// The chunks of a streamed answer, taken out: the answer keeps its status and headers.
    pub fn take_stream(&mut self) -> Option<tokio::sync::mpsc::Receiver<bytes::Bytes>> {
        match std::mem::replace(&mut self.body, ReplyBody::Empty) {
            ReplyBody::Stream(rx) => {
                self.body = ReplyBody::Text("text/event-stream", String::new());
                Some(rx)
            }
            other => {
                self.body = other;
                None
            }
        }
    }

    pub fn no_content() -> Reply {
        Reply {
            status: 204,
            body: ReplyBody::Empty,
            headers: Vec::new(),
            secrets: Vec::new(),
        }
    }

    pub fn error(e: &ApiError) -> Reply {
        let mut m = Self::envelope(false);
        m.insert("error".into(), e.body());
        let mut reply = Reply {
            status: e.status(),
            body: ReplyBody::Envelope(m),
            headers: Vec::new(),
            secrets: Vec::new(),
        };
        match e {
            ApiError::RateLimited { retry_after }
            | ApiError::BudgetExceeded { retry_after, .. } => {
                reply = reply.header("retry-after", retry_after.to_string());
            }
            ApiError::MethodNotAllowed(allow) => {
                reply = reply.header("allow", allow.join(", "));
            }
            _ => {}
        }
        reply
    }

    /// An error in OpenAI's shape: `{"error": {"message", "type", "param", "code"}}`.
    pub fn openai_error(e: &ApiError) -> Reply {
        let kind = match e.status() {
            400 | 404 | 405 | 409 | 413 | 422 => "invalid_request_error",
            401 => "authentication_error",
            403 => "permission_error",
            429 => "rate_limit_error",
            _ => "api_error",
        };
        let body = e.body();
        let param = body["details"]
            .as_object()
            .and_then(|d| d.keys().next().cloned());
        let mut reply = Reply::raw_json(
            e.status(),
            json!({"error": {
                "message": body["message"],
                "type": kind,
                "param": param,
                "code": e.code(),
                "details": body.get("details"),
            }}),
        );
        // The same headers as the envelope's refusal: Retry-After, Allow.
        reply.headers = Reply::error(e).headers;
        reply
    }

    /// Marks a field of `data` as a secret shown only in this answer.
    pub fn with_secret(mut self, field: &'static str) -> Reply {
        self.secrets.push(field);
        self
    }

    pub fn secrets(&self) -> &[&'static str] {
        &self.secrets
    }

    /// Adds a response header.
    pub fn header(mut self, name: &'static str, value: String) -> Reply {
        self.headers.push((name, value));
        self
    }

    pub fn status(&self) -> u16 {
        self.status
    }

    pub fn into_response(self) -> Response<Body> {
        let mut stored_type = None;
        let (content_type, body) = match self.body {
            ReplyBody::Envelope(mut m) => {
                m.insert("timestamp".into(), json!(Timestamp::now()));
                ("application/json", Body::Text(Value::Object(m).to_string()))
            }
            ReplyBody::Json(v) => ("application/json", Body::Text(v.to_string())),
            ReplyBody::Text(ct, t) => (ct, Body::Text(t)),
            ReplyBody::Stored(ct, t) => {
                stored_type = Some(ct);
                ("", Body::Text(t))
            }
            ReplyBody::Stream(_) => ("text/event-stream", Body::Empty),
            ReplyBody::Empty => ("", Body::Empty),
        };
        let mut response = Response::new(body);
        *response.status_mut() =
            StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        for (name, value) in self.headers {
            if let Ok(v) = HeaderValue::from_str(&value) {
                response.headers_mut().insert(name, v);
            }
        }
        if let Some(ct) = stored_type.and_then(|ct| HeaderValue::from_str(&ct).ok()) {
            response.headers_mut().insert(header::CONTENT_TYPE, ct);
        }
        if !content_type.is_empty() {
            response
                .headers_mut()
                .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
        }
        response
    }
}
