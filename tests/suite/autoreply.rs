//! The AI agent at work, end to end in-process: signed Meta deliveries into the webhooks
//! function, the events worker taking the turns, a fake OpenAI (`wiremock`, OpenAI's wire
//! format, scripted tool calls) and a fake Graph API; what a company sees is checked: the
//! model's context, the messages sent, the conversation, the lead, the events delivered.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};
use shared::auth::Role;
use shared::domain::account::{AccessToken, NewChannelAccount};
use shared::domain::conversation::{Channel, Conversation, Message};
use shared::domain::lead::LeadEventKind;
use shared::domain::CompanyId;
use shared::store::prelude::*;
use shared::App;
use wiizo_tests::{call, dynamo_store, meta_delivery, send, sqlite_store, test_config};
use wiremock::matchers::{method, path, path_regex};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

const PNID: &str = "106540352242922";
const IG_ACCOUNT: &str = "17841405822304914";
const PAGE: &str = "109876543210987";

/// OpenAI's chat completion answer: text, or tool calls `(name, arguments)`.
fn completion(text: Option<&str>, calls: &[(&str, Value)]) -> ResponseTemplate {
    let tool_calls: Vec<Value> = calls
        .iter()
        .enumerate()
        .map(|(i, (name, args))| {
            json!({"id": format!("call_{i}"), "type": "function",
            "function": {"name": name, "arguments": args.to_string()}})
        })
        .collect();
    let mut message = json!({"role": "assistant", "content": text, "refusal": null});
    if !tool_calls.is_empty() {
        message["tool_calls"] = json!(tool_calls);
    }
    let finish = if calls.is_empty() {
        "stop"
    } else {
        "tool_calls"
    };
    ResponseTemplate::new(200).set_body_json(json!({
        "id": "chatcmpl-AR1", "object": "chat.completion", "created": 1_800_000_000, "model": "gpt-4o-mini-2024-07-18",
        "choices": [{"index": 0, "message": message, "logprobs": null, "finish_reason": finish}],
        "usage": {"prompt_tokens": 420, "completion_tokens": 30, "total_tokens": 450}
    }))
}

/// A fake model that answers with each of its answers in turn, then the last one again.
struct Script {
    answers: Vec<ResponseTemplate>,
    next: AtomicUsize,
}

impl Respond for Script {
    fn respond(&self, _: &Request) -> ResponseTemplate {
        let i = self.next.fetch_add(1, Ordering::SeqCst);
        self.answers[i.min(self.answers.len() - 1)].clone()
    }
}

/// A company with an agent answering its WhatsApp number, Instagram account and page on
/// their own, with the fake upstreams and the functions involved.
struct Rig {
    store: Arc<dyn Store>,
    company: CompanyId,
    agent: String,
    graph: MockServer,
    openai: MockServer,
    receiver: MockServer,
    webhooks: App,
    whatsapp: App,
    worker: App,
}

async fn rig(store: Arc<dyn Store>, model: Vec<ResponseTemplate>, settings: Value) -> Rig {
    let (graph, openai, receiver) = (
        MockServer::start().await,
        MockServer::start().await,
        MockServer::start().await,
    );
    let openai_url = format!("{}/v1", openai.uri());
    let vars = [
        ("META_GRAPH_URL", graph.uri()),
        ("OPENAI_BASE_URL", openai_url),
        ("OPENAI_API_KEY", "sk-test".to_string()),
    ];
    let vars: Vec<(&str, &str)> = vars.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let app = |name| App::new(name, test_config(&vars), store.clone());
    let (webhooks, whatsapp, worker, admin) = (
        app("webhooks"),
        app("whatsapp-api"),
        app("events-worker"),
        app("accounts"),
    );
    let company = store
        .create_company(&format!("Ótica {}", uuid::Uuid::new_v4()))
        .await
        .expect("company")
        .id;
    let mut all = json!({"ai_replies": {"quiet_seconds": 1}});
    shared::domain::merge_patch::apply(&mut all, &settings);
    let patched = send(
        &admin,
        &call(
            &company,
            Role::Admin,
            "PATCH",
            "/api/company",
            Some(json!({"settings": all})),
        ),
    )
    .await;
    assert_eq!(patched.status, 200, "{}", patched.text);
    let proxy = App::new("openai-proxy", test_config(&vars), store.clone());
    let agent = send(
        &proxy,
        &call(
            &company,
            Role::Admin,
            "POST",
            "/api/agents",
            Some(json!({
                "name": "Vendas", "type": "sales", "model": "gpt-4o-mini", "max_tokens": 300
            })),
        ),
    )
    .await;
    assert_eq!(agent.status, 201, "{}", agent.text);
    let agent = agent.json["data"]["id"].as_str().expect("id").to_string();
    for (channel, account) in [
        (Channel::Whatsapp, PNID),
        (Channel::Instagram, IG_ACCOUNT),
        (Channel::Facebook, PAGE),
    ] {
        let connected = store
            .create_channel(
                &company,
                NewChannelAccount {
                    channel,
                    external_id: account.into(),
                    name: channel.label().into(),
                    token: AccessToken::new("EAAG-token".into()),
                },
            )
            .await
            .expect("channel");
        // A person assigns the agent, as the web app does.
        let assigned = send(
            &admin,
            &call(
                &company,
                Role::Admin,
                "PATCH",
                &format!("/api/channels/{}", connected.id),
                Some(json!({"agent_id": agent, "auto_reply": true})),
            ),
        )
        .await;
        assert_eq!(assigned.status, 200, "{}", assigned.text);
        assert_eq!(assigned.json["data"]["agent_id"], json!(agent));
        assert_eq!(assigned.json["data"]["auto_reply"], json!(true));
    }
    let hooked = send(
        &webhooks,
        &call(
            &company,
            Role::Admin,
            "POST",
            "/api/webhooks",
            Some(json!({
                "url": format!("{}/hooks", receiver.uri()),
                "events": ["lead.status_changed", "conversation.handoff"]
            })),
        ),
    )
    .await;
    assert_eq!(hooked.status, 201, "{}", hooked.text);
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(204))
        .mount(&receiver)
        .await;
    Mock::given(method("POST"))
        .and(path("/v1/chat/completions"))
        .respond_with(Script {
            answers: model,
            next: AtomicUsize::new(0),
        })
        .mount(&openai)
        .await;
    Mock::given(method("POST"))
        .and(path_regex(r"^/\d+/messages$"))
        .respond_with(|_: &Request| {
            let n = uuid::Uuid::new_v4().simple();
            ResponseTemplate::new(200).set_body_json(json!({"messaging_product": "whatsapp",
                "contacts": [{"input": "5511987654321", "wa_id": "5511987654321"}],
                "messages": [{"id": format!("wamid.AI{}", uuid::Uuid::new_v4().simple())}],
                "recipient_id": "1234567890123456", "message_id": format!("mid.AI{n}")}))
        })
        .mount(&graph)
        .await;
    Rig {
        store,
        company,
        agent,
        graph,
        openai,
        receiver,
        webhooks,
        whatsapp,
        worker,
    }
}

fn now_s() -> i64 {
    chrono::Utc::now().timestamp()
}

/// A WhatsApp delivery of `texts` from `from`, each `(text, seconds ago)`.
fn whatsapp(from: &str, texts: &[(&str, i64)]) -> String {
    let messages: Vec<Value> = texts
        .iter()
        .map(|(text, ago)| {
            json!({"from": from, "id": format!("wamid.{}", uuid::Uuid::new_v4().simple()),
            "timestamp": (now_s() - ago).to_string(), "type": "text", "text": {"body": text}})
        })
        .collect();
    json!({"object": "whatsapp_business_account", "entry": [{"id": "102290129340398", "changes": [{"field": "messages",
        "value": {"messaging_product": "whatsapp", "metadata": {"display_phone_number": "551130000000", "phone_number_id": PNID},
                  "contacts": [{"profile": {"name": "Marina"}, "wa_id": from}], "messages": messages}}]}]})
    .to_string()
}

/// The JSON bodies a fake server received, in order.
async fn bodies(server: &MockServer) -> Vec<Value> {
    server
        .received_requests()
        .await
        .unwrap_or_default()
        .iter()
        .map(|r| serde_json::from_slice(&r.body).expect("json"))
        .collect()
}

impl Rig {
    async fn deliver(&self, body: &str) {
        let answer = send(&self.webhooks, &meta_delivery(body)).await;
        assert_eq!(answer.status, 200, "{}", answer.text);
    }

    /// One invocation of the worker, as the table's stream makes it.
    async fn work(&self) {
        events_worker::handle(&self.worker).await.expect("worker");
    }

    async fn model_requests(&self) -> Vec<Value> {
        bodies(&self.openai).await
    }

    /// The messages sent to Graph: path and body.
    async fn sent_to(&self) -> Vec<(String, Value)> {
        self.graph
            .received_requests()
            .await
            .unwrap_or_default()
            .iter()
            .filter(|r| r.method.as_str() == "POST" && r.url.path().ends_with("/messages"))
            .map(|r| {
                (
                    r.url.path().to_string(),
                    serde_json::from_slice(&r.body).expect("json"),
                )
            })
            .collect()
    }

    async fn sent(&self) -> Vec<Value> {
        self.sent_to()
            .await
            .into_iter()
            .map(|(_, body)| body)
            .collect()
    }

    async fn told(&self) -> Vec<Value> {
        bodies(&self.receiver).await
    }

    async fn conversation(&self, channel: Channel) -> Conversation {
        let all = self
            .store
            .list_conversations(
                &self.company,
                &shared::domain::conversation::ConversationQuery::parse(&[(
                    "channel".into(),
                    channel.as_str().into(),
                )])
                .expect("query"),
            )
            .await
            .expect("conversations");
        all.items
            .first()
            .expect("a conversation")
            .conversation
            .clone()
    }

    /// The conversation's messages as a client reads them.
    async fn messages(&self, conv: &Conversation) -> Vec<Message> {
        wiizo_tests::all_messages(self.store.as_ref(), &self.company, conv.id)
            .await
            .expect("messages")
    }
}

/// The user messages of a model request, in order.
fn said_by_customer(request: &Value) -> Vec<String> {
    request["messages"]
        .as_array()
        .expect("messages")
        .iter()
        .filter(|m| m["role"] == "user")
        .map(|m| m["content"].as_str().unwrap_or_default().to_string())
        .collect()
}

async fn a_burst_is_answered_once_however_often_it_arrives(store: Arc<dyn Store>) {
    let r = rig(
        store,
        vec![completion(Some("Oi, Marina! Temos sim. Qual o grau?"), &[])],
        json!({}),
    )
    .await;
    // GIVEN three messages sent a second apart, in one signed delivery
    let body = whatsapp(
        "5511987654321",
        &[("oi", 3), ("vocês têm óculos de grau?", 2), ("pra hoje", 1)],
    );
    r.deliver(&body).await;
    // WHEN the worker runs, and Meta delivers the same batch five more times (two of them at
    // once) while workers run twice at once and again after a restart
    r.work().await;
    r.deliver(&body).await;
    tokio::join!(r.deliver(&body), r.deliver(&body), r.work(), r.work());
    r.deliver(&body).await;
    r.deliver(&body).await;
    r.work().await;

    // THEN one model call held all three messages, with the agent's prompt and the lead
    let calls = r.model_requests().await;
    assert_eq!(calls.len(), 1, "{calls:#?}");
    assert_eq!(
        said_by_customer(&calls[0]),
        ["oi", "vocês têm óculos de grau?", "pra hoje"]
    );
    assert_eq!(calls[0]["model"], "gpt-4o-mini");
    assert_eq!(calls[0]["messages"][0]["role"], "system");
    assert!(calls[0]["messages"][1]["content"]
        .as_str()
        .is_some_and(|c| c.contains("Marina")));
    assert!(calls[0]["tools"].as_array().is_some_and(|t| t.len() == 3));
    // one message went to Graph, to the customer
    let sent = r.sent().await;
    assert_eq!(sent.len(), 1, "{sent:#?}");
    assert_eq!(sent[0]["to"], "5511987654321");
    assert_eq!(
        sent[0]["text"]["body"],
        "Oi, Marina! Temos sim. Qual o grau?"
    );
    // recorded as the assistant's, by the agent, visible in the conversation
    let conv = r.conversation(Channel::Whatsapp).await;
    let messages = r.messages(&conv).await;
    assert_eq!(messages.len(), 4);
    let reply = &messages[3];
    assert_eq!(reply.role, shared::domain::conversation::Role::Assistant);
    assert_eq!(reply.content, "Oi, Marina! Temos sim. Qual o grau?");
    assert_eq!(reply.metadata["agent_id"], json!(r.agent));
    assert_eq!(reply.metadata["model"], "gpt-4o-mini-2024-07-18");
    assert_eq!(reply.metadata["sent_by"], format!("agent:{}", r.agent));
    assert_eq!(reply.status.map(|s| s.as_str()), Some("sent"));
    assert_eq!(conv.ai.ai_answered_through, Some(messages[2].id));
    // and the call was metered against the agent
    let usage = send(
        &App::new("openai-proxy", test_config(&[]), r.store.clone()),
        &call(&r.company, Role::Admin, "GET", "/api/ai/usage", None),
    )
    .await;
    assert_eq!(usage.status, 200, "{}", usage.text);
    assert_eq!(usage.json["data"]["totals"]["calls"], 1, "{}", usage.text);
    assert_eq!(
        usage.json["data"]["totals"]["total_tokens"], 450,
        "{}",
        usage.text
    );
}

#[tokio::test]
async fn a_burst_is_answered_once_however_often_it_arrives_on_sqlite() {
    a_burst_is_answered_once_however_often_it_arrives(sqlite_store()).await;
}

#[tokio::test]
async fn a_burst_is_answered_once_however_often_it_arrives_on_dynamodb() {
    a_burst_is_answered_once_however_often_it_arrives(dynamo_store().await).await;
}

#[tokio::test]
async fn a_burst_is_answered_once_however_often_it_arrives_on_postgres() {
    a_burst_is_answered_once_however_often_it_arrives(wiizo_tests::pg_store().await).await;
}

#[tokio::test]
async fn a_worker_that_dies_mid_turn_leaves_the_turn_to_the_next_one() {
    // The first model call never comes back in time: the worker dies waiting for it.
    let slow = completion(Some("resposta perdida"), &[]).set_delay(Duration::from_secs(5));
    let r = rig(
        sqlite_store(),
        vec![slow, completion(Some("Oi! Como posso ajudar?"), &[])],
        json!({}),
    )
    .await;
    r.deliver(&whatsapp("5511987654321", &[("oi", 2)])).await;
    let died = tokio::time::timeout(Duration::from_millis(1500), r.work()).await;
    assert!(
        died.is_err(),
        "the first worker was still waiting for the model"
    );
    assert!(r.sent().await.is_empty());
    // The restarted worker takes the turn again: one reply, the second model's.
    r.work().await;
    r.work().await;
    let sent = r.sent().await;
    assert_eq!(sent.len(), 1, "{sent:#?}");
    assert_eq!(sent[0]["text"]["body"], "Oi! Como posso ajudar?");
}

#[tokio::test]
async fn a_message_arriving_while_the_reply_is_made_is_answered_in_the_next_turn() {
    let r = rig(
        sqlite_store(),
        vec![
            completion(Some("Temos armações a partir de R$ 199."), &[])
                .set_delay(Duration::from_millis(1500)),
            completion(Some("Sim, aceitamos Pix."), &[]),
        ],
        json!({}),
    )
    .await;
    r.deliver(&whatsapp(
        "5511987654321",
        &[("oi", 3), ("quanto custa uma armação?", 2)],
    ))
    .await;
    let worker = r.work();
    let late = async {
        tokio::time::sleep(Duration::from_millis(500)).await;
        r.deliver(&whatsapp("5511987654321", &[("aceita pix?", 0)]))
            .await;
    };
    tokio::join!(worker, late);
    r.work().await;
    let calls = r.model_requests().await;
    assert_eq!(calls.len(), 2, "{calls:#?}");
    assert_eq!(
        said_by_customer(&calls[0]),
        ["oi", "quanto custa uma armação?"]
    );
    // The second turn sees the whole conversation, its one new message last.
    assert_eq!(
        said_by_customer(&calls[1]),
        ["oi", "quanto custa uma armação?", "aceita pix?"]
    );
    let sent: Vec<Value> = r
        .sent()
        .await
        .iter()
        .map(|m| m["text"]["body"].clone())
        .collect();
    assert_eq!(
        sent,
        [
            json!("Temos armações a partir de R$ 199."),
            json!("Sim, aceitamos Pix.")
        ]
    );
}

#[tokio::test]
async fn the_agent_qualifies_the_lead_with_its_tools_and_a_refused_call_changes_nothing() {
    let r = rig(
        sqlite_store(),
        vec![
            completion(
                None,
                &[("update_lead", json!({"status": "vip", "score": 10}))],
            ),
            completion(
                None,
                &[
                    ("update_lead", json!({"status": "qualificado", "score": 80})),
                    (
                        "schedule_follow_up",
                        json!({"at": "2099-12-01T14:00:00-03:00", "note": "ligar"}),
                    ),
                ],
            ),
            completion(Some("Perfeito! Já anotei seu interesse."), &[]),
        ],
        json!({}),
    )
    .await;
    r.deliver(&whatsapp(
        "5511987654321",
        &[("quero comprar 3 óculos para a empresa", 2)],
    ))
    .await;
    r.work().await;

    let calls = r.model_requests().await;
    assert_eq!(calls.len(), 3);
    // The refused call's result is the validation error, as the API would answer it.
    let result = calls[1]["messages"]
        .as_array()
        .and_then(|m| m.iter().find(|m| m["role"] == "tool"))
        .and_then(|m| m["content"].as_str())
        .map(|c| serde_json::from_str::<Value>(c).expect("json"))
        .expect("a tool result");
    assert_eq!(result["error"]["code"], "VALIDATION_ERROR");
    assert!(result["error"]["details"]["status"][0]
        .as_str()
        .is_some_and(|m| m.contains("qualificado")));
    // The lead is qualified once, by the agent; the refused call changed nothing.
    let conv = r.conversation(Channel::Whatsapp).await;
    let lead = r
        .store
        .get_lead(&r.company, conv.lead_id)
        .await
        .expect("lead");
    assert_eq!(
        (lead.fields.status.as_str(), lead.fields.score),
        ("qualificado", 80)
    );
    assert_eq!(lead.version, 2, "one update, the valid one");
    let history = r
        .store
        .lead_history(&r.company, lead.id)
        .await
        .expect("history");
    let by_agent = format!("agent:{}", r.agent);
    let changed = history
        .iter()
        .find(|e| e.kind == LeadEventKind::StatusChanged)
        .expect("status change");
    assert_eq!(
        (changed.to.as_deref(), changed.by.as_deref()),
        (Some("qualificado"), Some(by_agent.as_str()))
    );
    let tools: Vec<&str> = history
        .iter()
        .filter(|e| e.kind == LeadEventKind::ToolCall)
        .map(|e| e.to.as_deref().unwrap_or_default())
        .collect();
    assert_eq!(tools.len(), 2, "{tools:?}");
    assert!(tools[0].starts_with("update_lead") && tools[1].starts_with("schedule_follow_up"));
    assert!(history
        .iter()
        .filter(|e| e.kind == LeadEventKind::ToolCall)
        .all(|e| e.by.as_deref() == Some(by_agent.as_str())));
    assert_eq!(
        conv.ai.follow_up_at.map(|t| t.as_string()),
        Some("2099-12-01T17:00:00.000Z".into())
    );
    // lead.status_changed reached the company's endpoint; the reply went out.
    r.work().await;
    let told = r.told().await;
    let changed: Vec<&Value> = told
        .iter()
        .filter(|e| e["event"] == "lead.status_changed")
        .collect();
    assert_eq!(changed.len(), 1, "{told:#?}");
    assert_eq!(changed[0]["data"]["to"], "qualificado");
    assert_eq!(r.sent().await.len(), 1);
}

#[tokio::test]
async fn a_person_replying_pauses_the_agent_and_asking_for_one_hands_off() {
    let r = rig(
        sqlite_store(),
        vec![completion(Some("Oi! Em que posso ajudar?"), &[])],
        json!({}),
    )
    .await;
    r.deliver(&whatsapp("5511987654321", &[("oi", 2)])).await;
    r.work().await;
    assert_eq!(r.model_requests().await.len(), 1);
    // A person of the company answers in the conversation.
    let conv = r.conversation(Channel::Whatsapp).await;
    let human = send(
        &r.whatsapp,
        &call(
            &r.company,
            Role::Agent,
            "POST",
            &format!("/api/conversations/{}/messages", conv.id),
            Some(json!({"type": "text", "text": "Aqui é a Ana, eu te ajudo."})),
        ),
    )
    .await;
    assert_eq!(human.status, 201, "{}", human.text);
    // The customer's next message gets no AI answer.
    r.deliver(&whatsapp("5511987654321", &[("obrigada, Ana", 1)]))
        .await;
    tokio::time::sleep(Duration::from_millis(1100)).await;
    r.work().await;
    assert_eq!(r.model_requests().await.len(), 1);
    assert_eq!(r.sent().await.len(), 2, "the AI's and Ana's");

    // Another customer asks for a person: handed off, no model call, nothing sent.
    r.deliver(&whatsapp(
        "5511912345678",
        &[("quero falar com um atendente", 2)],
    ))
    .await;
    r.work().await;
    r.work().await;
    assert_eq!(r.model_requests().await.len(), 1);
    assert_eq!(r.sent().await.len(), 2);
    let handoffs: Vec<Value> = r
        .told()
        .await
        .into_iter()
        .filter(|e| e["event"] == "conversation.handoff")
        .collect();
    assert_eq!(handoffs.len(), 1, "{handoffs:#?}");
    assert_eq!(
        handoffs[0]["data"]["reason"],
        "the customer asked for a person"
    );
    let paused = r
        .store
        .get_conversation(
            &r.company,
            Value::as_str(&handoffs[0]["data"]["conversation_id"])
                .and_then(|id| uuid::Uuid::parse_str(id).ok())
                .expect("id"),
        )
        .await
        .expect("conversation");
    assert!(paused.ai.ai_paused);
    // A person resumes the AI there: the next message is answered.
    let resumed = send(
        &r.whatsapp,
        &call(
            &r.company,
            Role::Agent,
            "PATCH",
            &format!("/api/conversations/{}", paused.id),
            Some(json!({"ai_paused": false})),
        ),
    )
    .await;
    assert_eq!(resumed.status, 200, "{}", resumed.text);
    assert_eq!(resumed.json["data"]["ai_paused"], false);
    r.deliver(&whatsapp(
        "5511912345678",
        &[("deixa, qual o horário de vocês?", 1)],
    ))
    .await;
    tokio::time::sleep(Duration::from_millis(1100)).await;
    r.work().await;
    assert_eq!(r.model_requests().await.len(), 2);
}

#[tokio::test]
async fn no_budget_or_a_closed_window_hands_off_without_a_call_or_a_send() {
    let r = rig(
        sqlite_store(),
        vec![completion(Some("nunca enviada"), &[])],
        json!({"ai_budget_usd": 0}),
    )
    .await;
    r.deliver(&whatsapp("5511987654321", &[("oi", 2)])).await;
    r.work().await;
    // A customer whose message is 25 hours old: Meta would refuse a free-form reply.
    r.deliver(&whatsapp(
        "5511912345678",
        &[("oi, ainda estão aí?", 25 * 3600)],
    ))
    .await;
    r.work().await;
    r.work().await;
    assert!(r.model_requests().await.is_empty());
    assert!(r.sent().await.is_empty());
    let mut reasons: Vec<String> = r
        .told()
        .await
        .iter()
        .filter(|e| e["event"] == "conversation.handoff")
        .map(|e| e["data"]["reason"].as_str().unwrap_or_default().to_string())
        .collect();
    reasons.sort();
    assert_eq!(
        reasons,
        [
            "the channel's 24-hour window is closed",
            "the company's AI budget for the month is spent"
        ]
    );
    // Nothing half-recorded: each conversation holds the customer's message alone.
    let all = r
        .store
        .list_conversations(
            &r.company,
            &shared::domain::conversation::ConversationQuery::parse(&[]).expect("query"),
        )
        .await
        .expect("conversations");
    for view in all.items {
        let messages = r.messages(&view.conversation).await;
        assert_eq!(messages.len(), 1, "{messages:#?}");
        assert!(view.conversation.ai.ai_paused);
    }
}

#[tokio::test]
async fn instagram_and_messenger_are_answered_the_same_way() {
    let r = rig(
        sqlite_store(),
        vec![completion(Some("Oi! Posso ajudar?"), &[])],
        json!({}),
    )
    .await;
    for (object, account, user) in [
        ("instagram", IG_ACCOUNT, "1234567890123456"),
        ("page", PAGE, "2345678901234567"),
    ] {
        let at = (now_s() - 2) * 1000;
        let body = json!({"object": object, "entry": [{"id": account, "time": at, "messaging": [
            {"sender": {"id": user}, "recipient": {"id": account}, "timestamp": at,
             "message": {"mid": format!("m_{}", uuid::Uuid::new_v4().simple()), "text": "oi, tem loja física?"}}]}]})
        .to_string();
        r.deliver(&body).await;
    }
    r.work().await;
    assert_eq!(r.model_requests().await.len(), 2);
    let mut sent: Vec<(String, String)> = r
        .sent_to()
        .await
        .into_iter()
        .map(|(path, body)| {
            (
                path,
                body["recipient"]["id"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
            )
        })
        .collect();
    sent.sort();
    assert_eq!(
        sent,
        [
            (format!("/{PAGE}/messages"), "2345678901234567".to_string()),
            (
                format!("/{IG_ACCOUNT}/messages"),
                "1234567890123456".to_string()
            ),
        ]
    );
    for channel in [Channel::Instagram, Channel::Facebook] {
        let conv = r.conversation(channel).await;
        let messages = r.messages(&conv).await;
        assert_eq!(messages.len(), 2);
        assert_eq!(messages[1].metadata["agent_id"], json!(r.agent));
    }
}

#[tokio::test]
async fn only_the_companys_own_agents_can_be_assigned() {
    let r = rig(sqlite_store(), vec![completion(Some("oi"), &[])], json!({})).await;
    let elsewhere = wiizo_tests::company();
    let fields =
        shared::domain::agent::AgentFields::parse(json!({"name": "Outra", "type": "sales"}))
            .expect("agent");
    let theirs = r
        .store
        .create_agent(&elsewhere, fields)
        .await
        .expect("agent")
        .id;
    let accounts = App::new("accounts", test_config(&[]), r.store.clone());
    let channel = r.store.list_channels(&r.company).await.expect("channels")[0].id;
    // Another company's agent is not found, on a channel account or a conversation.
    let refused = send(
        &accounts,
        &call(
            &r.company,
            Role::Admin,
            "PATCH",
            &format!("/api/channels/{channel}"),
            Some(json!({"agent_id": theirs})),
        ),
    )
    .await;
    assert_eq!(
        (refused.status, refused.error_code()),
        (404, "NOT_FOUND"),
        "{}",
        refused.text
    );
    assert_eq!(refused.json["error"]["message"], "Agent not found");
    r.deliver(&whatsapp("5511987654321", &[("oi", 2)])).await;
    let conv = r.conversation(Channel::Whatsapp).await;
    let path = format!("/api/conversations/{}", conv.id);
    let whatsapp = &r.whatsapp;
    let patch = |body: Value| {
        let event = call(&r.company, Role::Agent, "PATCH", &path, Some(body));
        async move { send(whatsapp, &event).await }
    };
    let refused = patch(json!({"agent_id": theirs})).await;
    assert_eq!(refused.status, 404, "{}", refused.text);
    // Turned off for this conversation, it is not answered.
    let off = patch(json!({"auto_reply": false})).await;
    assert_eq!(off.json["data"]["auto_reply"], false, "{}", off.text);
    r.work().await;
    assert!(r.model_requests().await.is_empty());
    assert!(r.sent().await.is_empty());
}
