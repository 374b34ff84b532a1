//! An AI call, metered and budgeted: the agent's configuration applied, the worst case
//! reserved against the month's budget before OpenAI is asked, and the real cost settled
//! with the usage the answer (or the stream) reported. The one way every function calls a
//! model (`docs/architecture.md`, "AI calls").

use std::sync::Arc;

use bytes::Bytes;
use chrono::Utc;
use serde_json::{json, Value};
use tokio::sync::mpsc;
use uuid::Uuid;

use crate::domain::agent::{valid_model, Agent};
use crate::domain::ai::{
    budget_month, estimate_prompt_tokens, usage_day, usd_to_nano, worst_case_nano, Usage,
};
use crate::domain::{CompanyId, FieldErrors, Timestamp};
use crate::error::{ApiError, Concerning, Entity};
use crate::openai::UpstreamError;
use crate::store::{AiCall, Store};
use crate::App;

/// The roles a chat message may have.
const ROLES: &[&str] = &["system", "developer", "user", "assistant", "tool"];

/// OpenAI's bounds of its numeric parameters.
const PARAMETER_RANGES: &[(&str, f64, f64)] = &[
    ("temperature", 0.0, 2.0),
    ("top_p", 0.0, 1.0),
    ("presence_penalty", -2.0, 2.0),
    ("frequency_penalty", -2.0, 2.0),
];

/// A chat completion request, ready for OpenAI.
#[derive(Debug, Clone)]
pub struct Prepared {
    pub body: Value,
    pub model: String,
    pub agent_id: Option<Uuid>,
    pub max_tokens: Option<i64>,
    pub stream: bool,
    /// The caller asked for the usage chunk of a stream (it is always asked upstream).
    pub client_wants_usage: bool,
    pub prompt_estimate: i64,
}

/// The agent a request names (`X-Agent-Id`, or `agent_id` in the body), if any.
pub async fn agent_named(
    app: &App,
    company: &CompanyId,
    header: Option<&str>,
    body: &Value,
) -> Result<Option<Agent>, ApiError> {
    let named = header.map(str::to_string).or_else(|| {
        body.get("agent_id")
            .and_then(Value::as_str)
            .map(str::to_string)
    });
    let Some(id) = named else {
        if body.get("agent_id").is_some_and(|v| !v.is_null()) {
            return Err(ApiError::validation("agent_id", "must be an agent id"));
        }
        return Ok(None);
    };
    let id = Entity::Agent.id(&id)?;
    let agent = app
        .store
        .get_agent(company, id)
        .await
        .concerning(Entity::Agent)?;
    if !agent.fields.active {
        return Err(ApiError::Conflict {
            message: "This agent is paused: activate it to use it".into(),
            details: Some(json!({"agent_id": agent.id})),
        });
    }
    Ok(Some(agent))
}

/// Checks an OpenAI chat request and applies `agent`: its prompt first, its model and
/// parameters where the request sets none. `agent_id` is not sent on.
pub fn prepare(mut body: Value, agent: Option<&Agent>) -> Result<Prepared, FieldErrors> {
    let Value::Object(map) = &mut body else {
        return Err(FieldErrors::one("body", "must be a JSON object"));
    };
    map.remove("agent_id");
    let mut errors = FieldErrors::new();
    match map.get("messages").and_then(Value::as_array) {
        Some(list) if !list.is_empty() => {
            let well_formed = |m: &Value| {
                m.as_object().is_some_and(|o| {
                    o.get("role")
                        .and_then(Value::as_str)
                        .is_some_and(|r| ROLES.contains(&r))
                        && o.get("content")
                            .is_none_or(|c| c.is_string() || c.is_array() || c.is_null())
                })
            };
            if !list.iter().all(well_formed) {
                errors.add(
                    "messages",
                    "each message needs a `role` (system, developer, user, assistant or tool) and a `content` of text, parts or null",
                );
            }
        }
        _ => errors.add("messages", "must be a non-empty list of messages"),
    }
    // The parameters OpenAI bounds are checked here, so that a bad one is the caller's 422
    // and not OpenAI's 400 behind a 502.
    for (name, low, high) in PARAMETER_RANGES {
        match map.get(*name) {
            None | Some(Value::Null) => {}
            Some(v) if v.as_f64().is_some_and(|x| (*low..=*high).contains(&x)) => {}
            Some(_) => errors.add(*name, format!("must be a number from {low} to {high}")),
        }
    }
    for (name, ok, rule) in [
        (
            "tools",
            map.get("tools")
                .is_none_or(|t| t.as_array().is_some_and(|a| a.iter().all(Value::is_object))),
            "must be a list of tool objects",
        ),
        (
            "tool_choice",
            map.get("tool_choice")
                .is_none_or(|t| t.is_string() || t.is_object()),
            "must be a string or an object",
        ),
        (
            "response_format",
            map.get("response_format").is_none_or(Value::is_object),
            "must be an object",
        ),
        (
            "stream_options",
            map.get("stream_options")
                .is_none_or(|o| o.is_object() || o.is_null()),
            "must be an object",
        ),
    ] {
        if !ok {
            errors.add(name, rule);
        }
    }
    if let Some(agent) = agent {
        let f = &agent.fields;
        if let (Some(prompt), Some(Value::Array(list))) =
            (&f.system_prompt, map.get_mut("messages"))
        {
            list.insert(0, json!({"role": "system", "content": prompt}));
        }
        map.entry("model").or_insert_with(|| json!(f.model));
        map.entry("temperature")
            .or_insert_with(|| json!(f.temperature));
        if !map.contains_key("max_tokens") && !map.contains_key("max_completion_tokens") {
            map.insert("max_tokens".into(), json!(f.max_tokens));
        }
    }
    let model = match map.get("model") {
        Some(Value::String(m)) if valid_model(m) => m.clone(),
        Some(_) => {
            errors.add("model", "must be a model id such as gpt-4o-mini");
            String::new()
        }
        None => {
            errors.missing("model");
            String::new()
        }
    };
    let max_tokens = ["max_tokens", "max_completion_tokens"]
        .iter()
        .find_map(|k| map.get(*k))
        .filter(|v| !v.is_null());
    let max_tokens = match max_tokens {
        None => None,
        Some(v) => match v
            .as_i64()
            .or_else(|| {
                v.as_f64()
                    .filter(|f| f.fract() == 0.0 && f.abs() < 1e15)
                    .map(|f| f as i64)
            })
            .filter(|n| (1..=i64::from(crate::domain::agent::MAX_TOKENS)).contains(n))
        {
            Some(n) => Some(n),
            None => {
                errors.add(
                    "max_tokens",
                    format!(
                        "must be an integer from 1 to {}",
                        crate::domain::agent::MAX_TOKENS
                    ),
                );
                None
            }
        },
    };
    let stream = match map.get("stream") {
        None | Some(Value::Null) | Some(Value::Bool(false)) => false,
        Some(Value::Bool(true)) => true,
        Some(_) => {
            errors.add("stream", "must be true or false");
            false
        }
    };
    errors.into_result()?;
    let client_wants_usage = map
        .get("stream_options")
        .and_then(|o| o.get("include_usage"))
        == Some(&json!(true));
    if stream {
        // Usage is metered from the stream's last chunk, whether the caller wants it or not.
        map.insert("stream_options".into(), json!({"include_usage": true}));
    }
    let prompt_estimate = estimate_prompt_tokens(&body);
    Ok(Prepared {
        body,
        model,
        agent_id: agent.map(|a| a.id),
        max_tokens,
        stream,
        client_wants_usage,
        prompt_estimate,
    })
}

/// What a call holds of the month's budget until it is settled.
struct Reservation {
    month: String,
    amount: i64,
    timezone: String,
}

async fn reserve(app: &App, company: &CompanyId, p: &Prepared) -> Result<Reservation, ApiError> {
    let settings = app.company_settings(company).await?;
    let timezone = settings["timezone"]
        .as_str()
        .unwrap_or("America/Sao_Paulo")
        .to_string();
    let (month, resets) = budget_month(Utc::now(), &timezone);
    let budget = settings["ai_budget_usd"].as_f64().map(usd_to_nano);
    let amount = worst_case_nano(&p.model, p.prompt_estimate, p.max_tokens);
    if !app
        .store
        .reserve_ai_spend(company, &month, amount, budget)
        .await?
    {
        let retry_after = (resets - Utc::now()).num_seconds().max(1) as u64;
        return Err(ApiError::BudgetExceeded {
            resets_at: Timestamp::from_unix_seconds(resets.timestamp())
                .unwrap_or_else(Timestamp::now),
            retry_after,
        });
    }
    Ok(Reservation {
        month,
        amount,
        timezone,
    })
}

/// Settles `reservation` with what the call used: spend and usage, one write.
async fn settle(
    store: &dyn Store,
    company: &CompanyId,
    reservation: &Reservation,
    p: &Prepared,
    usage: Usage,
    estimated: bool,
) {
    let call = AiCall {
        day: usage_day(Utc::now(), &reservation.timezone),
        month: reservation.month.clone(),
        agent_id: p.agent_id.map(|a| a.to_string()).unwrap_or_default(),
        model: p.model.clone(),
        usage,
        cost_nano: usage.cost_nano(&p.model),
        estimated,
    };
    if let Err(e) = store
        .settle_ai_call(company, reservation.amount, &call)
        .await
    {
        // The call happened: losing its record is a defect to see, not to answer with.
        tracing::error!(error = %e, company = %company, "could not record an AI call's usage");
    }
}

fn upstream_error(e: UpstreamError) -> ApiError {
    match e {
        UpstreamError::Timeout => ApiError::UpstreamTimeout(e.message()),
        UpstreamError::Refused { ref error, status } => ApiError::Upstream {
            code: "OPENAI_API_ERROR",
            message: e.message(),
            details: Some(json!({"status": status, "error": error})),
        },
        UpstreamError::Unreachable(_) => ApiError::Upstream {
            code: "OPENAI_API_ERROR",
            message: e.message(),
            details: None,
        },
    }
}

/// A completion's estimated usage, when the upstream reported none.
fn estimated(p: &Prepared, completion_chars: usize) -> Usage {
    Usage {
        prompt_tokens: p.prompt_estimate,
        completion_tokens: (completion_chars as i64 + 3) / 4,
        ..Usage::default()
    }
}

/// A non-streamed completion: OpenAI's answer, metered.
pub async fn complete(app: &App, company: &CompanyId, p: &Prepared) -> Result<Value, ApiError> {
    let client = app.openai()?;
    let reservation = reserve(app, company, p).await?;
    match client.post("chat/completions", &p.body).await {
        Ok(answer) => {
            let (usage, guessed) = match Usage::from_openai(&answer["usage"]) {
                Some(u) => (u, false),
                None => (estimated(p, answer["choices"].to_string().len()), true),
            };
            settle(app.store.as_ref(), company, &reservation, p, usage, guessed).await;
            Ok(answer)
        }
        Err(e) => {
            if let Err(err) = app
                .store
                .release_ai_spend(company, &reservation.month, reservation.amount)
                .await
            {
                tracing::error!(error = %err, "could not release an AI reservation");
            }
            Err(upstream_error(e))
        }
    }
}

/// A streamed completion: the events as OpenAI sends them, `[DONE]` kept. The upstream is
/// read to its end even when the caller goes away, and its usage is recorded before the
/// last event goes out; the usage chunk reaches only a caller that asked for it.
pub async fn stream(
    app: &App,
    company: &CompanyId,
    p: &Prepared,
) -> Result<mpsc::Receiver<Bytes>, ApiError> {
    let client = app.openai()?;
    let reservation = reserve(app, company, p).await?;
    let response = match client.open("chat/completions", &p.body).await {
        Ok(r) => r,
        Err(e) => {
            let _ = app
                .store
                .release_ai_spend(company, &reservation.month, reservation.amount)
                .await;
            return Err(upstream_error(e));
        }
    };
    let (tx, rx) = mpsc::channel::<Bytes>(64);
    let store: Arc<dyn Store> = app.store.clone();
    let company = company.clone();
    let p = p.clone();
    let idle = client.timeout();
    tokio::spawn(async move {
        let mut relay = Relay {
            tx,
            caller_gone: false,
        };
        let mut meter = Meter {
            store,
            company,
            reservation,
            p,
            settled: false,
        };
        let mut response = response;
        let mut buffer: Vec<u8> = Vec::new();
        let mut completion_chars = 0usize;
        let mut failure = None;
        loop {
            let chunk = match tokio::time::timeout(idle, response.chunk()).await {
                Ok(Ok(Some(c))) => c,
                Ok(Ok(None)) => break,
                Ok(Err(e)) => {
                    failure = Some(format!("the stream from OpenAI broke: {e}"));
                    break;
                }
                Err(_) => {
                    failure = Some("OpenAI stopped sending".to_string());
                    break;
                }
            };
            buffer.extend_from_slice(&chunk);
            while let Some(end) = find_event_end(&buffer) {
                let event: Vec<u8> = buffer.drain(..end).collect();
                let data = event_data(&event);
                if data.as_deref() == Some("[DONE]") {
                    // The usage is recorded before the last event goes out.
                    let guess = estimated(&meter.p, completion_chars);
                    meter.settle(guess, true).await;
                    relay.send(event).await;
                    continue;
                }
                let parsed = data.and_then(|d| serde_json::from_str::<Value>(&d).ok());
                let Some(json) = parsed else {
                    relay.send(event).await;
                    continue;
                };
                completion_chars += json["choices"][0]["delta"]["content"]
                    .as_str()
                    .map_or(0, str::len);
                if let Some(u) = Usage::from_openai(&json["usage"]) {
                    meter.settle(u, false).await;
                    let usage_only = json["choices"].as_array().is_none_or(|c| c.is_empty());
                    if usage_only && !meter.p.client_wants_usage {
                        continue;
                    }
                }
                relay.send(event).await;
            }
        }
        let guess = estimated(&meter.p, completion_chars);
        meter.settle(guess, true).await;
        if let Some(message) = failure {
            let error = json!({"error": {"message": message, "type": "api_error", "param": null, "code": "upstream_error"}});
            relay.send(format!("data: {error}\n\n").into_bytes()).await;
        }
    });
    Ok(rx)
}

/// A stream's call, settled once: with the usage it reported, or else with an estimate.
struct Meter {
    store: Arc<dyn Store>,
    company: CompanyId,
    reservation: Reservation,
    p: Prepared,
    settled: bool,
}

impl Meter {
    async fn settle(&mut self, usage: Usage, estimated: bool) {
        if !self.settled {
            self.settled = true;
            settle(
                self.store.as_ref(),
                &self.company,
                &self.reservation,
                &self.p,
                usage,
                estimated,
            )
            .await;
        }
    }
}

/// Sends events on to the caller while it listens; after it has gone, the upstream is
/// still read (and metered) to its end.
struct Relay {
    tx: mpsc::Sender<Bytes>,
    caller_gone: bool,
}

impl Relay {
    async fn send(&mut self, event: Vec<u8>) {
        if !self.caller_gone && self.tx.send(Bytes::from(event)).await.is_err() {
            self.caller_gone = true;
        }
    }
}

/// Where the first complete server-sent event of `buffer` ends (after its blank line).
fn find_event_end(buffer: &[u8]) -> Option<usize> {
    let lf = buffer.windows(2).position(|w| w == b"\n\n").map(|i| i + 2);
    let crlf = buffer
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|i| i + 4);
    match (lf, crlf) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// The `data:` of an event, its lines joined.
fn event_data(event: &[u8]) -> Option<String> {
    let text = String::from_utf8_lossy(event);
    let lines: Vec<&str> = text
        .lines()
        .filter_map(|l| l.strip_prefix("data:"))
        .map(str::trim_start)
        .collect();
    (!lines.is_empty()).then(|| lines.join("\n"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_split_on_blank_lines_and_keep_their_data() {
        let b = b"data: {\"a\":1}\n\ndata: [DONE]\n\n";
        let end = find_event_end(b).unwrap();
        assert_eq!(event_data(&b[..end]).as_deref(), Some("{\"a\":1}"));
        assert_eq!(event_data(&b[end..]).as_deref(), Some("[DONE]"));
        assert_eq!(find_event_end(b"data: {\"a\""), None);
    }
}
