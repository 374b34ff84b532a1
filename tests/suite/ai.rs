//! openai-proxy against a fake OpenAI (`wiremock`) that answers in OpenAI's wire format:
//! agents applied exactly, usage metered exactly, budgets reserved before the call,
//! upstream failures retried or answered, suggested replies within their context budget.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use shared::auth::Role;
use shared::domain::conversation::{Channel, NewMessage, Role as MessageRole};
use shared::domain::lead::LeadFields;
use shared::domain::CompanyId;
use shared::store::prelude::*;
use shared::App;
use wiizo_tests::{send, sqlite_store, test_config, Answer, Event};
use wiremock::matchers::{body_json, header, method, path};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

const KEY: &str = "sk-test-upstream-key-never-shown";

fn completion(text: &str, prompt: i64, completion: i64) -> Value {
    json!({
        "id": "chatcmpl-1", "object": "chat.completion", "created": 1_800_000_000, "model": "gpt-4o-mini",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion,
                  "prompt_tokens_details": {"cached_tokens": 0}, "completion_tokens_details": {"reasoning_tokens": 0}}
    })
}

/// SSE the way OpenAI streams: content chunks, the usage chunk (asked for), `[DONE]`.
fn sse(pieces: &[&str], prompt: i64, completion: i64) -> String {
    let mut out = String::new();
    for p in pieces {
        let chunk = json!({"id": "chatcmpl-2", "object": "chat.completion.chunk", "created": 1, "model": "gpt-4o-mini",
                           "choices": [{"index": 0, "delta": {"content": p}, "finish_reason": null}]});
        out.push_str(&format!("data: {chunk}\n\n"));
    }
    let usage = json!({"id": "chatcmpl-2", "object": "chat.completion.chunk", "created": 1, "model": "gpt-4o-mini",
                       "choices": [], "usage": {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}});
    out.push_str(&format!("data: {usage}\n\ndata: [DONE]\n\n"));
    out
}

struct Setup {
    app: App,
    store: Arc<dyn Store>,
    company: CompanyId,
}

async fn setup(upstream: &MockServer, extra: &[(&str, &str)]) -> Setup {
    let store = sqlite_store();
    setup_on(store, upstream, extra).await
}

async fn setup_on(store: Arc<dyn Store>, upstream: &MockServer, extra: &[(&str, &str)]) -> Setup {
    let base = format!("{}/v1", upstream.uri());
    let mut vars = vec![("OPENAI_BASE_URL", base.as_str()), ("OPENAI_API_KEY", KEY)];
    vars.extend_from_slice(extra);
    let app = App::new("openai-proxy", test_config(&vars), store.clone());
    let company = store
        .create_company(&format!("Padaria {}", uuid::Uuid::new_v4()))
        .await
        .expect("company")
        .id;
    Setup {
        app,
        store,
        company,
    }
}

async fn chat(s: &Setup, body: Value) -> Answer {
    send(
        &s.app,
        &wiizo_tests::call(
            &s.company,
            Role::Agent,
            "POST",
            "/api/ai/v1/chat/completions",
            Some(body),
        ),
    )
    .await
}

async fn usage(s: &Setup) -> Value {
    let a = send(
        &s.app,
        &wiizo_tests::call(&s.company, Role::Viewer, "GET", "/api/ai/usage", None),
    )
    .await;
    assert_eq!(a.status, 200, "{}", a.text);
    a.json["data"].clone()
}

#[tokio::test]
async fn an_agents_prompt_and_parameters_reach_the_upstream_exactly_and_the_key_never_leaves() {
    let upstream = MockServer::start().await;
    let s = setup(&upstream, &[]).await;
    // GIVEN an admin's sales agent
    let agent = send(
        &s.app,
        &wiizo_tests::call(&s.company, Role::Admin, "POST", "/api/agents", Some(json!({
            "name": "Vendas", "type": "sales", "model": "gpt-4o", "temperature": 0.2, "max_tokens": 300
        }))),
    )
    .await;
    assert_eq!(agent.status, 201, "{}", agent.text);
    let prompt = agent.json["data"]["system_prompt"]
        .as_str()
        .expect("the sales prompt")
        .to_string();
    assert!(prompt.contains("consultor de vendas"));
    let id = agent.json["data"]["id"].as_str().expect("id").to_string();
    // WHEN a completion names it, setting its own temperature
    Mock::given(method("POST"))
        .and(path("/v1/chat/completions"))
        .and(header("authorization", format!("Bearer {KEY}").as_str()))
        .and(body_json(json!({
            "model": "gpt-4o", "temperature": 0.9, "max_tokens": 300,
            "messages": [{"role": "system", "content": prompt}, {"role": "user", "content": "Tem pão de queijo?"}]
        })))
        .respond_with(ResponseTemplate::new(200).set_body_json(completion("Tem sim!", 40, 5)))
        .expect(1)
        .mount(&upstream)
        .await;
    let a = chat(
        &s,
        json!({"agent_id": id, "temperature": 0.9,
                            "messages": [{"role": "user", "content": "Tem pão de queijo?"}]}),
    )
    .await;
    // THEN the upstream got exactly the agent's request, and the answer is OpenAI's
    assert_eq!(a.status, 200, "{}", a.text);
    assert_eq!(a.json["choices"][0]["message"]["content"], "Tem sim!");
    assert!(!a.text.contains(KEY));
    // A viewer reads agents but cannot write them; another company does not see them.
    let viewer = send(
        &s.app,
        &wiizo_tests::call(
            &s.company,
            Role::Viewer,
            "POST",
            "/api/agents",
            Some(json!({"name": "X"})),
        ),
    )
    .await;
    assert_eq!(viewer.status, 403);
    let other = send(
        &s.app,
        &wiizo_tests::call(
            &wiizo_tests::company(),
            Role::Admin,
            "GET",
            &format!("/api/agents/{id}"),
            None,
        ),
    )
    .await;
    assert_eq!(other.status, 404);
}

#[tokio::test]
async fn usage_is_metered_exactly_streamed_or_not_and_cost_follows_the_price_table() {
    let upstream = MockServer::start().await;
    let s = setup(&upstream, &[]).await;
    Mock::given(method("POST"))
        .and(path("/v1/chat/completions"))
        .and(|r: &Request| !String::from_utf8_lossy(&r.body).contains("\"stream\":true"))
        .respond_with(ResponseTemplate::new(200).set_body_json(completion("Olá", 1000, 500)))
        .mount(&upstream)
        .await;
    Mock::given(method("POST"))
        .and(path("/v1/chat/completions"))
        .and(|r: &Request| {
            let b: Value = serde_json::from_slice(&r.body).unwrap_or_default();
            // The usage chunk is always asked for upstream.
            b["stream"] == true && b["stream_options"]["include_usage"] == true
        })
        .respond_with(
            ResponseTemplate::new(200)
                .insert_header("content-type", "text/event-stream")
                .set_body_string(sse(&["Ol", "á ", "mundo"], 200, 30)),
        )
        .mount(&upstream)
        .await;
    let body = |stream: bool| json!({"model": "gpt-4o-mini", "stream": stream, "messages": [{"role": "user", "content": "oi"}]});
    assert_eq!(chat(&s, body(false)).await.status, 200);
    // A stream whose caller did not ask for usage: the usage chunk is not passed on.
    let streamed = chat(&s, body(true)).await;
    assert_eq!(streamed.status, 200);
    assert_eq!(streamed.header("content-type"), Some("text/event-stream"));
    assert!(streamed.text.contains("mundo") && streamed.text.ends_with("data: [DONE]\n\n"));
    assert!(
        !streamed.text.contains("prompt_tokens"),
        "{}",
        streamed.text
    );
    // A caller that asked gets it.
    let mut asked = body(true);
    asked["stream_options"] = json!({"include_usage": true});
    assert!(chat(&s, asked).await.text.contains("\"prompt_tokens\":200"));
    // A stream the caller abandons after its first chunk is still read and metered.
    let p = shared::usecase::ai::prepare(body(true), None).expect("prepared");
    let mut rx = shared::usecase::ai::stream(&s.app, &s.company, &p)
        .await
        .expect("stream");
    assert!(rx.recv().await.is_some());
    drop(rx);
    let mut waited = 0;
    let u = loop {
        let u = usage(&s).await;
        if u["totals"]["calls"] == 4 || waited > 50 {
            break u;
        }
        waited += 1;
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let t = &u["totals"];
    assert_eq!(
        (
            t["calls"].as_i64(),
            t["prompt_tokens"].as_i64(),
            t["completion_tokens"].as_i64()
        ),
        (Some(4), Some(1000 + 3 * 200), Some(500 + 3 * 30)),
        "{u}"
    );
    assert_eq!(t["estimated_calls"], 0);
    // gpt-4o-mini: $0.15 per million prompt tokens, $0.60 per million completion tokens.
    let expected = (1600.0 * 0.15 + 590.0 * 0.60) / 1e6;
    assert!(
        (t["cost_usd"].as_f64().unwrap_or_default() - expected).abs() < 1e-12,
        "{t}"
    );
    let by_model = send(
        &s.app,
        &wiizo_tests::call(&s.company, Role::Viewer, "GET", "/api/ai/usage", None)
            .query(&[("group_by", "model")]),
    )
    .await;
    assert_eq!(by_model.json["data"]["rows"][0]["model"], "gpt-4o-mini");
}

#[tokio::test]
async fn a_budget_is_reserved_before_the_call_and_refuses_without_reaching_the_upstream() {
    let upstream = MockServer::start().await;
    let s = setup(&upstream, &[]).await;
    Mock::given(method("POST"))
        .and(path("/v1/chat/completions"))
        .respond_with(ResponseTemplate::new(200).set_body_json(completion("ok", 10, 10)))
        .mount(&upstream)
        .await;
    // GIVEN a budget that holds five worst cases of gpt-4o with max_tokens 1000 ($0.01 each)
    s.store
        .update_company(
            &s.company,
            shared::domain::company::CompanyChange {
                settings: Some(json!({"timezone": "America/Sao_Paulo", "ai_budget_usd": 0.0525})),
                ..Default::default()
            },
        )
        .await
        .expect("budget");
    let body = json!({"model": "gpt-4o", "max_tokens": 1000, "messages": [{"role": "user", "content": "oi"}]});
    // WHEN twenty calls come at once
    let mut answers = Vec::new();
    let calls = (0..20).map(|_| chat(&s, body.clone()));
    for a in wiizo_tests::join_all(calls).await {
        answers.push(a);
    }
    // THEN at most five reached the upstream; the rest are 429 with the reset time
    let reached = upstream.received_requests().await.map_or(0, |r| r.len());
    let refused: Vec<_> = answers.iter().filter(|a| a.status == 429).collect();
    assert!(reached <= 5, "{reached} reached the upstream");
    assert_eq!(reached + refused.len(), 20);
    let r = &refused[0];
    assert_eq!(r.json["error"]["code"], "AI_BUDGET_EXCEEDED", "{}", r.text);
    assert!(r.header("retry-after").is_some());
    assert!(
        r.json["error"]["details"]["resets_at"].is_string(),
        "{}",
        r.text
    );
    // Another company is unaffected.
    let other = setup_on(s.store.clone(), &upstream, &[]).await;
    assert_eq!(chat(&other, body).await.status, 200);
}

#[tokio::test]
async fn upstream_failures_are_retried_refused_or_timed_out() {
    let body = json!({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "oi"}]});
    // 500 then 200: one completion, two upstream requests.
    let upstream = MockServer::start().await;
    let s = setup(&upstream, &[]).await;
    Mock::given(method("POST"))
        .respond_with(
            ResponseTemplate::new(500)
                .set_body_json(json!({"error": {"message": "boom", "type": "server_error"}})),
        )
        .up_to_n_times(1)
        .mount(&upstream)
        .await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200).set_body_json(completion("ok", 5, 1)))
        .mount(&upstream)
        .await;
    assert_eq!(chat(&s, body.clone()).await.status, 200);
    assert_eq!(upstream.received_requests().await.map_or(0, |r| r.len()), 2);
    // 401: 502 OPENAI_API_ERROR with OpenAI's message, one request, nothing spent.
    let upstream = MockServer::start().await;
    let s = setup(&upstream, &[]).await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(401).set_body_json(json!({"error": {"message": "Incorrect API key provided", "type": "invalid_request_error", "code": "invalid_api_key"}})))
        .mount(&upstream)
        .await;
    let a = chat(&s, body.clone()).await;
    assert_eq!(
        (a.status, &a.json["error"]["code"]),
        (502, &json!("OPENAI_API_ERROR")),
        "{}",
        a.text
    );
    assert!(a.json["error"]["message"]
        .as_str()
        .unwrap_or_default()
        .contains("Incorrect API key"));
    assert_eq!(upstream.received_requests().await.map_or(0, |r| r.len()), 1);
    assert_eq!(usage(&s).await["budget"]["reserved_usd"], 0.0);
    // The seed's form answers the same refusal in the envelope.
    let seed = send(
        &s.app,
        &wiizo_tests::call(
            &s.company,
            Role::Agent,
            "POST",
            "/api/openai-proxy",
            Some(json!({"action": "response", "payload": body.clone()})),
        ),
    )
    .await;
    assert_eq!((seed.status, seed.error_code()), (502, "OPENAI_API_ERROR"));
    // A hang: 504 within the configured timeout.
    let upstream = MockServer::start().await;
    let s = setup(&upstream, &[("OPENAI_TIMEOUT_MS", "300")]).await;
    Mock::given(method("POST"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_delay(Duration::from_secs(5))
                .set_body_json(completion("late", 1, 1)),
        )
        .mount(&upstream)
        .await;
    let started = Instant::now();
    let a = chat(&s, body).await;
    assert_eq!(
        (a.status, &a.json["error"]["code"]),
        (504, &json!("UPSTREAM_TIMEOUT")),
        "{}",
        a.text
    );
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn bad_requests_are_refused_in_openais_shape_before_any_upstream_call() {
    let upstream = MockServer::start().await;
    let s = setup(&upstream, &[]).await;
    for (body, param) in [
        (json!({"model": "gpt-4o-mini", "messages": []}), "messages"),
        (
            json!({"model": "gpt-4o-mini", "messages": [{"role": "robot", "content": "x"}]}),
            "messages",
        ),
        (
            json!({"messages": [{"role": "user", "content": "x"}]}),
            "model",
        ),
        (
            json!({"model": "gpt-4o-mini", "temperature": 3, "messages": [{"role": "user", "content": "x"}]}),
            "temperature",
        ),
    ] {
        let a = chat(&s, body).await;
        assert_eq!(a.status, 422, "{}", a.text);
        assert_eq!(a.json["error"]["type"], "invalid_request_error");
        assert_eq!(a.json["error"]["param"], param, "{}", a.text);
    }
    let none = send(
        &s.app,
        &Event::load("leads-management/list.json")
            .without_header("authorization")
            .method("POST")
            .path("/api/ai/v1/chat/completions")
            .json(&json!({})),
    )
    .await;
    assert_eq!(
        (none.status, &none.json["error"]["type"]),
        (401, &json!("authentication_error"))
    );
    assert_eq!(upstream.received_requests().await.map_or(0, |r| r.len()), 0);
    let models = send(
        &s.app,
        &wiizo_tests::call(&s.company, Role::Viewer, "GET", "/api/ai/v1/models", None),
    )
    .await;
    assert_eq!(models.json["object"], "list");
    assert!(models.json["data"]
        .as_array()
        .is_some_and(|d| d.iter().any(|m| m["id"] == "gpt-4o-mini")));
}

#[tokio::test]
async fn a_suggested_reply_reads_the_newest_messages_within_its_budget() {
    let upstream = MockServer::start().await;
    let s = setup(&upstream, &[]).await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200).set_body_json(completion(
            "Posso ajudar com o pedido 499?",
            900,
            12,
        )))
        .mount(&upstream)
        .await;
    // GIVEN a conversation of 500 messages
    let lead = s
        .store
        .create_lead(
            &s.company,
            LeadFields::parse(
                json!({"name": "Carla", "phone": "+5521987654321", "status": "qualificado"}),
            )
            .expect("lead"),
            "t",
        )
        .await
        .expect("lead");
    let conv = s
        .store
        .create_conversation(&s.company, lead.id, Channel::Whatsapp)
        .await
        .expect("conversation");
    for i in 0..500 {
        let role = if i % 2 == 0 {
            MessageRole::User
        } else {
            MessageRole::Assistant
        };
        let mut m = NewMessage::plain(
            role,
            &format!("mensagem {i}: quero saber do pedido {i}, obrigado"),
            "text",
        );
        m.created_at = shared::domain::Timestamp::from_unix_seconds(1_790_000_000 + i);
        s.store
            .add_message(&s.company, conv.id, m)
            .await
            .expect("message");
    }
    let agent = send(
        &s.app,
        &wiizo_tests::call(
            &s.company,
            Role::Admin,
            "POST",
            "/api/agents",
            Some(json!({"name": "Atendimento", "type": "customer_service"})),
        ),
    )
    .await;
    let id = agent.json["data"]["id"].as_str().expect("id").to_string();
    // WHEN a reply is suggested
    let a = send(
        &s.app,
        &wiizo_tests::call(
            &s.company,
            Role::Agent,
            "POST",
            &format!("/api/agents/{id}/reply"),
            Some(json!({"conversation_id": conv.id})),
        ),
    )
    .await;
    assert_eq!(a.status, 200, "{}", a.text);
    assert_eq!(a.json["data"]["reply"], "Posso ajudar com o pedido 499?");
    // THEN the upstream got the prompt, the lead's data, and the newest messages that fit
    let requests = upstream.received_requests().await.unwrap_or_default();
    let sent: Value = serde_json::from_slice(&requests[0].body).expect("json");
    let messages = sent["messages"].as_array().expect("messages");
    assert_eq!(messages[0]["role"], "system");
    assert!(messages[1]["content"]
        .as_str()
        .unwrap_or_default()
        .contains("Carla"));
    let conversation = &messages[2..];
    assert!(
        conversation.len() > 10 && conversation.len() < 500,
        "{}",
        conversation.len()
    );
    assert!(conversation
        .last()
        .and_then(|m| m["content"].as_str())
        .unwrap_or_default()
        .starts_with("mensagem 499"));
    let tokens = shared::domain::ai::estimate_prompt_tokens(&json!({"messages": conversation}));
    assert!(tokens <= 3000 + 16, "{tokens}");
    assert_eq!(a.json["data"]["context"]["messages"], conversation.len());
}

/// An upstream that breaks its stream midway: the caller's stream ends with an error event
/// in OpenAI's shape, and the call is still recorded (estimated).
#[tokio::test]
async fn a_stream_broken_upstream_ends_with_an_error_event() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        if let Ok((mut socket, _)) = listener.accept().await {
            let mut buf = [0u8; 8192];
            let _ = socket.read(&mut buf).await;
            let chunk = "data: {\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Ol\u{e1}\"}}]}\n\n";
            let head = format!(
                "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n{:x}\r\n{chunk}\r\n",
                chunk.len()
            );
            let _ = socket.write_all(head.as_bytes()).await;
            // The connection drops in the middle of the next chunk.
            let _ = socket.write_all(b"40\r\ndata: {\"trunc").await;
        }
    });
    let upstream = MockServer::start().await;
    let mut s = setup(&upstream, &[]).await;
    s.app = App::new(
        "openai-proxy",
        test_config(&[
            ("OPENAI_BASE_URL", &format!("http://{addr}/v1")),
            ("OPENAI_API_KEY", KEY),
        ]),
        s.store.clone(),
    );
    let a = chat(
        &s,
        json!({"model": "gpt-4o-mini", "stream": true,
                            "messages": [{"role": "user", "content": "oi"}]}),
    )
    .await;
    assert_eq!(a.status, 200);
    assert!(a.text.contains("Ol\u{e1}"), "{}", a.text);
    let last = a
        .text
        .trim_end()
        .lines()
        .last()
        .unwrap_or_default()
        .to_string();
    let error: Value =
        serde_json::from_str(last.trim_start_matches("data: ")).expect("an error event");
    assert_eq!(error["error"]["type"], "api_error", "{last}");
    assert_eq!(usage(&s).await["totals"]["estimated_calls"], 1);
}
