//! The OpenAI client: its base URL from configuration, the key never leaving it. Transient refusals (429, 5xx, connection errors) are retried with backoff,
//! honouring `Retry-After`, but only before anything reached the caller.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{json, Value};

/// How often a call is tried in all.
const ATTEMPTS: u32 = 3;
/// The longest `Retry-After` honoured; a longer one is the caller's to wait for.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(5);

pub struct OpenAiClient {
    http: reqwest::Client,
    base: String,
    key: Option<String>,
    timeout: Duration,
}

#[derive(Debug)]
pub enum UpstreamError {
    /// OpenAI answered with an error: its status and its `error` object.
    Refused { status: u16, error: Value },
    /// No answer (or no first byte of a stream) within the timeout.
    Timeout,
    /// No connection, after the retries.
    Unreachable(String),
}

impl UpstreamError {
    /// OpenAI's message, for our error answer.
    pub fn message(&self) -> String {
        match self {
            UpstreamError::Refused { error, status } => error["message"]
                .as_str()
                .map(str::to_string)
                .unwrap_or_else(|| format!("OpenAI answered {status}")),
            UpstreamError::Timeout => "OpenAI did not answer in time".into(),
            UpstreamError::Unreachable(e) => format!("OpenAI could not be reached: {e}"),
        }
    }
}

impl OpenAiClient {
    /// Over the process's one HTTP client; an answer (or a stream's first byte) may take
    /// `timeout`.
    pub fn new(
        http: reqwest::Client,
        base: &str,
        key: Option<String>,
        timeout: Duration,
    ) -> OpenAiClient {
        OpenAiClient {
            http,
            base: base.trim_end_matches('/').to_string(),
            key,
            timeout,
        }
    }

    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// `GET {base}/{path}` as JSON.
    pub async fn get(&self, path: &str) -> Result<Value, UpstreamError> {
        let response = self
            .send(|| self.authorized(self.http.get(self.url(path))))
            .await?;
        self.json(response).await
    }

    /// `POST {base}/{path}` with `body`, answered as JSON.
    pub async fn post(&self, path: &str, body: &Value) -> Result<Value, UpstreamError> {
        let response = self.open(path, body).await?;
        self.json(response).await
    }

    /// `POST {base}/{path}` with `body`, its answer's head received and its body still to
    /// read (a stream): only then may nothing more be retried.
    pub async fn open(&self, path: &str, body: &Value) -> Result<reqwest::Response, UpstreamError> {
        self.send(|| self.authorized(self.http.post(self.url(path)).json(body)))
            .await
    }

    fn url(&self, path: &str) -> String {
        format!("{}/{}", self.base, path.trim_start_matches('/'))
    }

    fn authorized(&self, req: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        match &self.key {
            Some(k) => req.bearer_auth(k),
            None => req,
        }
    }

    async fn json(&self, response: reqwest::Response) -> Result<Value, UpstreamError> {
        match tokio::time::timeout(self.timeout, response.json::<Value>()).await {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(e)) => Err(UpstreamError::Unreachable(e.to_string())),
            Err(_) => Err(UpstreamError::Timeout),
        }
    }

    /// Sends, retrying what may pass on a second try, until a success or a final refusal.
    async fn send(
        &self,
        request: impl Fn() -> reqwest::RequestBuilder,
    ) -> Result<reqwest::Response, UpstreamError> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            let outcome = tokio::time::timeout(self.timeout, request().send()).await;
            let wait = match outcome {
                Err(_) => return Err(UpstreamError::Timeout),
                Ok(Err(e)) if attempt < ATTEMPTS && (e.is_connect() || e.is_request()) => None,
                Ok(Err(e)) => return Err(UpstreamError::Unreachable(e.to_string())),
                Ok(Ok(r)) if r.status().is_success() => return Ok(r),
                Ok(Ok(r)) => {
                    let status = r.status();
                    let transient =
                        status == StatusCode::TOO_MANY_REQUESTS || status.is_server_error();
                    let retry_after = r
                        .headers()
                        .get(reqwest::header::RETRY_AFTER)
                        .and_then(|v| v.to_str().ok())
                        .and_then(|v| v.trim().parse::<f64>().ok())
                        .map(|s| Duration::from_secs_f64(s.max(0.0)));
                    if !transient
                        || attempt >= ATTEMPTS
                        || retry_after.is_some_and(|d| d > MAX_RETRY_AFTER)
                    {
                        let body = tokio::time::timeout(self.timeout, r.json::<Value>())
                            .await
                            .ok()
                            .and_then(Result::ok)
                            .unwrap_or(Value::Null);
                        let error = match body.get("error") {
                            Some(e) if e.is_object() => e.clone(),
                            _ => json!({"message": format!("OpenAI answered {}", status.as_u16())}),
                        };
                        return Err(UpstreamError::Refused {
                            status: status.as_u16(),
                            error,
                        });
                    }
                    retry_after
                }
            };
            let backoff = Duration::from_millis(200 * 2u64.pow(attempt - 1))
                + Duration::from_millis((uuid::Uuid::new_v4().as_u128() % 100) as u64);
            tokio::time::sleep(wait.unwrap_or(backoff)).await;
        }
    }
}
