//! The Meta Graph API client: sends on a channel account's behalf, retrying what Meta
//! says is transient and nothing else (`docs/architecture.md`, "Meta").

use std::time::Duration;

use serde_json::{json, Value};

use crate::domain::account::AccessToken;

/// Meta's codes for throughput and transient trouble: worth another try.
const TRANSIENT_CODES: &[i64] = &[1, 2, 4, 17, 341, 80007, 130429, 131016, 131056];
const ATTEMPTS: u32 = 3;

/// What Meta answered instead of a message id.
#[derive(Debug, Clone, PartialEq)]
pub enum GraphError {
    /// Meta's error object: code, title, message and details as the stores keep them.
    Refused {
        status: u16,
        code: i64,
        error: Value,
    },
    /// No answer in time (the message may or may not have gone).
    Timeout,
    /// The call could not be made.
    Unreachable(String),
}

impl GraphError {
    pub fn code(&self) -> Option<i64> {
        match self {
            GraphError::Refused { code, .. } => Some(*code),
            _ => None,
        }
    }

    fn transient(&self) -> bool {
        match self {
            GraphError::Refused { status, code, .. } => {
                *status >= 500 || *status == 429 || TRANSIENT_CODES.contains(code)
            }
            GraphError::Unreachable(_) => true,
            GraphError::Timeout => false,
        }
    }
}

pub struct GraphClient {
    http: reqwest::Client,
    base: String,
    timeout: Duration,
}

impl GraphClient {
    /// Over the process's one HTTP client; each call may take `timeout`.
    pub fn new(http: reqwest::Client, base: &str, timeout: Duration) -> GraphClient {
        GraphClient {
            http,
            base: base.trim_end_matches('/').to_string(),
            timeout,
        }
    }

    /// `POST {base}/{account}/messages` with `body`; the sent message's id (`wamid`/`mid`).
    pub async fn send_message(
        &self,
        account: &str,
        token: &AccessToken,
        body: &Value,
    ) -> Result<String, GraphError> {
        let url = format!("{}/{account}/messages", self.base);
        let mut attempt = 0;
        loop {
            attempt += 1;
            match self.post(&url, token, body).await {
                Ok(answer) => {
                    let id = answer["messages"][0]["id"]
                        .as_str()
                        .or_else(|| answer["message_id"].as_str())
                        .unwrap_or_default()
                        .to_string();
                    return Ok(id);
                }
                Err(e) if e.transient() && attempt < ATTEMPTS => {
                    // Bounded exponential backoff with jitter: 100–150 ms, then 200–250 ms.
                    let jitter = (uuid::Uuid::new_v4().as_u128() % 50) as u64;
                    tokio::time::sleep(Duration::from_millis((100 << (attempt - 1)) + jitter))
                        .await;
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// `GET {base}/{id}?fields=…` with `token`: what Meta shows that token of a phone
    /// number, page or Instagram account. A token that cannot act for the id is refused.
    pub async fn describe(
        &self,
        id: &str,
        fields: &str,
        token: &AccessToken,
    ) -> Result<Value, GraphError> {
        let url = format!("{}/{id}", self.base);
        let request = self
            .http
            .get(url)
            .timeout(self.timeout)
            .query(&[("fields", fields)])
            .bearer_auth(token.expose());
        self.call(request).await
    }

    async fn post(
        &self,
        url: &str,
        token: &AccessToken,
        body: &Value,
    ) -> Result<Value, GraphError> {
        self.call(
            self.http
                .post(url)
                .timeout(self.timeout)
                .bearer_auth(token.expose())
                .json(body),
        )
        .await
    }

    /// Sends a request and reads Meta's answer: its JSON, or its error object.
    async fn call(&self, request: reqwest::RequestBuilder) -> Result<Value, GraphError> {
        let response = request.send().await.map_err(|e| {
            if e.is_timeout() {
                GraphError::Timeout
            } else {
                GraphError::Unreachable(e.to_string())
            }
        })?;
        let status = response.status().as_u16();
        let answer: Value = response.json().await.map_err(|e| {
            if e.is_timeout() {
                GraphError::Timeout
            } else {
                GraphError::Unreachable(e.to_string())
            }
        })?;
        if (200..300).contains(&status) {
            return Ok(answer);
        }
        let e = &answer["error"];
        Err(GraphError::Refused {
            status,
            code: e["code"].as_i64().unwrap_or_default(),
            error: json!({
                "code": e["code"],
                "title": e["error_user_title"].as_str().or(e["type"].as_str()),
                "message": e["message"],
                "details": e["error_data"]["details"],
            }),
        })
    }
}
