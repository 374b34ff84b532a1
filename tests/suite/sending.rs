//! Sending on WhatsApp through the Graph API, against a local fake Graph server that
//! answers as Meta documents.

use std::sync::Arc;

use serde_json::{json, Value};
use shared::auth::Role;
use shared::domain::account::{AccessToken, NewChannelAccount};
use shared::domain::conversation::{Channel, NewMessage, Role as MessageRole};
use shared::domain::lead::LeadFields;
use shared::domain::{CompanyId, Timestamp};
use shared::store::Store;
use shared::App;
use wiizo_tests::{company, send, sqlite_store, test_config, Event};
use wiremock::matchers::{body_json, header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

const PNID: &str = "106540352242922";

fn sent(id: &str) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(json!({"messaging_product": "whatsapp", "contacts": [{"input": "5511987654321", "wa_id": "5511987654321"}], "messages": [{"id": id}]}))
}

fn refused(status: u16, code: i64, title: &str) -> ResponseTemplate {
    ResponseTemplate::new(status).set_body_json(json!({"error": {"message": format!("({code}) {title}"), "type": "OAuthException", "code": code, "error_data": {"messaging_product": "whatsapp", "details": format!("{title}: details")}, "error_user_title": title, "fbtrace_id": "Az8or2yhqkZfEZ-_4Qn_Bam"}}))
}

/// The whatsapp-api function talking to `graph`, a company with a connected number, a lead
/// and a conversation whose customer last wrote `hours_ago`.
async fn setup(graph: &MockServer, hours_ago: i64) -> (App, Arc<dyn Store>, CompanyId, String) {
    setup_on(sqlite_store(), graph, hours_ago).await
}

async fn setup_on(
    store: Arc<dyn Store>,
    graph: &MockServer,
    hours_ago: i64,
) -> (App, Arc<dyn Store>, CompanyId, String) {
    let config = test_config(&[("META_GRAPH_URL", &graph.uri()), ("META_TIMEOUT_MS", "500")]);
    let app = App::new("whatsapp-api", config, store.clone());
    let c = store
        .create_company(&format!("Loja {}", uuid::Uuid::new_v4()))
        .await
        .expect("company")
        .id;
    store
        .create_channel(
            &c,
            NewChannelAccount {
                channel: Channel::Whatsapp,
                external_id: PNID.into(),
                name: "Vendas".into(),
                token: AccessToken::new("EAAG-token".into()),
            },
        )
        .await
        .expect("channel");
    let lead = store
        .create_lead(
            &c,
            LeadFields::parse(json!({"name": "João", "phone": "+5511987654321"})).expect("f"),
            "t",
        )
        .await
        .expect("lead");
    let conv = store
        .create_conversation(&c, lead.id, Channel::Whatsapp)
        .await
        .expect("conversation");
    let mut inbound = NewMessage::plain(MessageRole::User, "oi", "text");
    inbound.created_at =
        Timestamp::from_unix_seconds(chrono::Utc::now().timestamp() - hours_ago * 3600);
    store
        .add_message(&c, conv.id, inbound)
        .await
        .expect("inbound");
    (app, store, c, conv.id.to_string())
}

fn post(c: &CompanyId, conv: &str, body: Value) -> Event {
    Event::load("leads-management/list.json")
        .as_user(c, Role::Agent)
        .method("POST")
        .path(&format!("/api/conversations/{conv}/messages"))
        .json(&body)
}

fn graph_body(kind: &str, part: Value) -> Value {
    let mut b = json!({"messaging_product": "whatsapp", "recipient_type": "individual", "to": "5511987654321", "type": kind});
    b[kind] = part;
    b
}

#[tokio::test]
async fn the_exact_bodies_meta_documents_are_sent() {
    exact_bodies(sqlite_store()).await;
}

#[tokio::test]
async fn the_exact_bodies_meta_documents_are_sent_on_dynamodb() {
    exact_bodies(wiizo_tests::dynamo_store().await).await;
}

async fn exact_bodies(store: Arc<dyn Store>) {
    let graph = MockServer::start().await;
    let (app, _, c, conv) = setup_on(store, &graph, 1).await;
    let buttons = json!({"type": "button", "body": {"text": "Confirma o pedido?"}, "action": {"buttons": [{"type": "reply", "reply": {"id": "sim", "title": "Sim"}}, {"type": "reply", "reply": {"id": "nao", "title": "Não"}}]}});
    let list = json!({"type": "list", "body": {"text": "Escolha"}, "action": {"button": "Ver opções", "sections": [{"title": "Pães", "rows": [{"id": "p1", "title": "Pão francês"}, {"id": "p2", "title": "Pão de queijo", "description": "Mineiro"}]}]}});
    let template = json!({"name": "pedido_confirmado", "language": "pt_BR", "components": [
        {"type": "header", "parameters": [{"type": "image", "image": {"link": "https://cdn.exemplo.com/pao.jpg"}}]},
        {"type": "body", "parameters": [{"type": "text", "text": "João"}, {"type": "currency", "currency": {"fallback_value": "R$ 10,00", "code": "BRL", "amount_1000": 10000}}]},
        {"type": "button", "sub_type": "quick_reply", "index": "0", "parameters": [{"type": "payload", "payload": "CONFIRMAR"}]}]});
    let cases = vec![
        (
            json!({"type": "text", "text": "Olá! Temos sim 🧀"}),
            graph_body(
                "text",
                json!({"preview_url": false, "body": "Olá! Temos sim 🧀"}),
            ),
        ),
        (
            json!({"type": "template", "template": template.clone()}),
            graph_body(
                "template",
                json!({"name": "pedido_confirmado", "language": {"code": "pt_BR"}, "components": template["components"]}),
            ),
        ),
        (
            json!({"type": "image", "media": {"link": "https://cdn.exemplo.com/pao.jpg", "caption": "Fresquinho"}}),
            graph_body(
                "image",
                json!({"link": "https://cdn.exemplo.com/pao.jpg", "caption": "Fresquinho"}),
            ),
        ),
        (
            json!({"type": "document", "media": {"id": "1013859600285441", "filename": "orçamento.pdf"}}),
            graph_body(
                "document",
                json!({"id": "1013859600285441", "filename": "orçamento.pdf"}),
            ),
        ),
        (
            json!({"type": "interactive", "interactive": buttons.clone()}),
            graph_body("interactive", buttons),
        ),
        (
            json!({"type": "interactive", "interactive": list.clone()}),
            graph_body("interactive", list),
        ),
        (
            json!({"type": "text", "text": "Respondendo", "reply_to": "wamid.IN1"}),
            {
                let mut b =
                    graph_body("text", json!({"preview_url": false, "body": "Respondendo"}));
                b["context"] = json!({"message_id": "wamid.IN1"});
                b
            },
        ),
    ];
    for (i, (request, expected)) in cases.into_iter().enumerate() {
        graph.reset().await;
        Mock::given(method("POST"))
            .and(path(format!("/{PNID}/messages")))
            .and(header("authorization", "Bearer EAAG-token"))
            .and(body_json(&expected))
            .respond_with(sent(&format!("wamid.OUT{i}")))
            .expect(1)
            .mount(&graph)
            .await;
        let a = send(&app, &post(&c, &conv, request.clone())).await;
        assert_eq!(a.status, 201, "{request}: {}", a.text);
        assert_eq!(
            a.json["data"]["external_id"].as_str(),
            Some(format!("wamid.OUT{i}").as_str())
        );
        assert_eq!(a.json["data"]["status"], "sent");
        assert_eq!(a.json["data"]["role"], "assistant");
        graph.verify().await;
    }
}

#[tokio::test]
async fn transient_errors_are_retried_and_permanent_ones_are_not() {
    let graph = MockServer::start().await;
    let (app, store, c, conv) = setup(&graph, 1).await;
    let text = json!({"type": "text", "text": "Oi"});
    // 500 twice, then 200: one message, sent.
    Mock::given(method("POST"))
        .respond_with(refused(500, 2, "Service temporarily unavailable"))
        .up_to_n_times(2)
        .with_priority(1)
        .mount(&graph)
        .await;
    Mock::given(method("POST"))
        .respond_with(sent("wamid.AFTER500"))
        .with_priority(2)
        .mount(&graph)
        .await;
    let a = send(&app, &post(&c, &conv, text.clone())).await;
    assert_eq!(
        (a.status, a.json["data"]["status"].as_str()),
        (201, Some("sent")),
        "{}",
        a.text
    );
    assert_eq!(graph.received_requests().await.map(|r| r.len()), Some(3));
    // 130429 (throughput): retried.
    graph.reset().await;
    Mock::given(method("POST"))
        .respond_with(refused(400, 130429, "Rate limit hit"))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&graph)
        .await;
    Mock::given(method("POST"))
        .respond_with(sent("wamid.AFTER130429"))
        .with_priority(2)
        .mount(&graph)
        .await;
    assert_eq!(send(&app, &post(&c, &conv, text.clone())).await.status, 201);
    assert_eq!(graph.received_requests().await.map(|r| r.len()), Some(2));
    // 131026 (undeliverable): 502 with Meta's code.
    graph.reset().await;
    Mock::given(method("POST"))
        .respond_with(refused(400, 131026, "Message undeliverable"))
        .mount(&graph)
        .await;
    let undeliverable = send(&app, &post(&c, &conv, text.clone())).await;
    assert_eq!(
        (undeliverable.status, undeliverable.error_code()),
        (502, "WHATSAPP_API_ERROR")
    );
    assert_eq!(
        undeliverable.json["error"]["details"]["meta"]["code"],
        131026
    );
    assert_eq!(graph.received_requests().await.map(|r| r.len()), Some(1));
    // A hang past the timeout: 504, and the message stays pending.
    graph.reset().await;
    Mock::given(method("POST"))
        .respond_with(sent("wamid.LATE").set_delay(std::time::Duration::from_secs(3)))
        .mount(&graph)
        .await;
    let hung = send(&app, &post(&c, &conv, text.clone())).await;
    assert_eq!((hung.status, hung.error_code()), (504, "UPSTREAM_TIMEOUT"));
    // 131047 (re-engagement): not retried, 409 WINDOW_CLOSED, the message failed.
    graph.reset().await;
    Mock::given(method("POST"))
        .respond_with(refused(400, 131047, "Re-engagement message"))
        .mount(&graph)
        .await;
    let closed = send(&app, &post(&c, &conv, text.clone())).await;
    assert_eq!((closed.status, closed.error_code()), (409, "WINDOW_CLOSED"));
    assert_eq!(graph.received_requests().await.map(|r| r.len()), Some(1));
    // From then on free-form messages are refused without a call, until the customer writes.
    graph.reset().await;
    let after = send(&app, &post(&c, &conv, text.clone())).await;
    assert_eq!((after.status, after.error_code()), (409, "WINDOW_CLOSED"));
    assert_eq!(graph.received_requests().await.map(|r| r.len()), Some(0));
    let messages = wiizo_tests::all_messages(
        store.as_ref(),
        &c,
        uuid::Uuid::parse_str(&conv).expect("id"),
    )
    .await
    .expect("messages");
    let states: Vec<Option<&str>> = messages
        .iter()
        .filter(|m| m.role == MessageRole::Assistant)
        .map(|m| m.status.map(|s| s.as_str()))
        .collect();
    assert_eq!(
        states,
        vec![
            Some("sent"),
            Some("sent"),
            Some("failed"),
            Some("pending"),
            Some("failed")
        ],
        "every send recorded, none lost"
    );
    let failed = messages
        .iter()
        .rev()
        .find(|m| m.role == MessageRole::Assistant)
        .expect("the last send");
    assert_eq!(
        failed.error.as_ref().map(|e| e["code"].clone()),
        Some(json!(131047))
    );
}

#[tokio::test]
async fn past_24_hours_only_templates_go_and_nothing_reaches_meta_otherwise() {
    let graph = MockServer::start().await;
    let (app, _, c, conv) = setup(&graph, 25).await;
    let closed = send(
        &app,
        &post(&c, &conv, json!({"type": "text", "text": "Oi?"})),
    )
    .await;
    assert_eq!((closed.status, closed.error_code()), (409, "WINDOW_CLOSED"));
    assert_eq!(graph.received_requests().await.map(|r| r.len()), Some(0));
    Mock::given(method("POST"))
        .respond_with(sent("wamid.TEMPLATE"))
        .expect(1)
        .mount(&graph)
        .await;
    let template = send(&app, &post(&c, &conv, json!({"type": "template", "template": {"name": "retomar_contato", "language": "pt_BR"}}))).await;
    assert_eq!(
        (template.status, template.json["data"]["status"].as_str()),
        (201, Some("sent")),
        "{}",
        template.text
    );
}

#[tokio::test]
async fn an_idempotent_retry_calls_meta_once() {
    let graph = MockServer::start().await;
    let (app, _, c, conv) = setup(&graph, 1).await;
    Mock::given(method("POST"))
        .respond_with(sent("wamid.ONCE"))
        .expect(1)
        .mount(&graph)
        .await;
    let e = post(&c, &conv, json!({"type": "text", "text": "Só uma vez"}))
        .header("idempotency-key", "envio-1");
    let first = send(&app, &e).await;
    let second = send(&app, &e).await;
    assert_eq!((first.status, second.status), (201, 201));
    assert_eq!(first.text, second.text);
}

#[tokio::test]
async fn invalid_sends_never_reach_meta() {
    let graph = MockServer::start().await;
    let (app, _, c, conv) = setup(&graph, 1).await;
    let button = |title: &str| json!({"type": "reply", "reply": {"id": title, "title": title}});
    for (body, field) in [
        (
            json!({"type": "interactive", "interactive": {"type": "button", "body": {"text": "?"}, "action": {"buttons": [button("a"), button("b"), button("c"), button("d")]}}}),
            "interactive.action.buttons",
        ),
        (
            json!({"type": "interactive", "interactive": {"type": "button", "body": {"text": "?"}, "action": {"buttons": [button("um título bem comprido")]}}}),
            "interactive.action.buttons",
        ),
        (json!({"type": "text", "text": ""}), "text"),
        (json!({"type": "sticker"}), "type"),
        (json!({"type": "image", "media": {}}), "media"),
        (
            json!({"type": "text", "text": "x", "colour": "red"}),
            "colour",
        ),
    ] {
        let a = send(&app, &post(&c, &conv, body.clone())).await;
        assert_eq!(a.status, 422, "{body}: {}", a.text);
        assert!(
            a.json["error"]["details"][field].is_array(),
            "{field}: {}",
            a.text
        );
    }
    let other = send(
        &app,
        &post(&company(), &conv, json!({"type": "text", "text": "oi"})),
    )
    .await;
    assert_eq!(
        (other.status, other.error_code()),
        (404, "CONVERSATION_NOT_FOUND")
    );
    assert_eq!(graph.received_requests().await.map(|r| r.len()), Some(0));
}

#[tokio::test]
async fn delivery_statuses_from_the_webhook_show_on_the_sent_message() {
    statuses_show(sqlite_store()).await;
}

#[tokio::test]
async fn delivery_statuses_from_the_webhook_show_on_the_sent_message_on_dynamodb() {
    statuses_show(wiizo_tests::dynamo_store().await).await;
}

async fn statuses_show(store: Arc<dyn Store>) {
    let graph = MockServer::start().await;
    let (app, store, c, conv) = setup_on(store, &graph, 1).await;
    // A status can even beat the send's own answer: it waits for the message id.
    let early = json!({"object": "whatsapp_business_account", "entry": [{"changes": [{"value": {"metadata": {"phone_number_id": PNID}, "statuses": [{"id": "wamid.EARLY", "status": "delivered", "timestamp": "1795766500", "recipient_id": "5511987654321"}]}}]}]}).to_string();
    let hooks = wiizo_tests::app_on("webhooks", store.clone());
    let signed = wiizo_tests::meta_delivery;
    assert_eq!(send(&hooks, &signed(&early)).await.status, 200);
    Mock::given(method("POST"))
        .respond_with(sent("wamid.EARLY"))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&graph)
        .await;
    let first = send(&app, &post(&c, &conv, json!({"text": "Pedido confirmado"}))).await;
    assert_eq!(
        (first.status, first.json["data"]["status"].as_str()),
        (201, Some("delivered")),
        "{}",
        first.text
    );
    Mock::given(method("POST"))
        .respond_with(sent("wamid.TRACKED"))
        .mount(&graph)
        .await;
    assert_eq!(
        send(&app, &post(&c, &conv, json!({"text": "Saiu para entrega"})))
            .await
            .status,
        201
    );
    let hooks = wiizo_tests::app_on("webhooks", store.clone());
    for status in ["delivered", "read"] {
        let body = json!({"object": "whatsapp_business_account", "entry": [{"changes": [{"value": {"metadata": {"phone_number_id": PNID}, "statuses": [{"id": "wamid.TRACKED", "status": status, "timestamp": "1795766500", "recipient_id": "5511987654321"}]}}]}]}).to_string();
        assert_eq!(send(&hooks, &signed(&body)).await.status, 200);
        let listed = send(
            &app,
            &Event::load("leads-management/list.json")
                .as_user(&c, Role::Agent)
                .path(&format!("/api/conversations/{conv}/messages")),
        )
        .await;
        let mine = listed.json["data"]
            .as_array()
            .and_then(|l| {
                l.iter()
                    .find(|m| m["external_id"] == "wamid.TRACKED")
                    .cloned()
            })
            .expect("the sent message");
        assert_eq!(mine["status"], status);
    }
}

#[tokio::test]
async fn the_seed_routes_send_by_phone_and_make_the_lead_and_conversation() {
    let graph = MockServer::start().await;
    let (app, store, c, conv) = setup(&graph, 1).await;
    let seed = |route: &str, body: Value| {
        Event::load("leads-management/list.json")
            .as_user(&c, Role::Agent)
            .method("POST")
            .path(&format!("/api/whatsapp/{route}"))
            .json(&body)
    };
    let template = json!({"name": "boas_vindas", "language": {"code": "pt_BR"}});
    Mock::given(method("POST"))
        .and(body_json(json!({"messaging_product": "whatsapp", "recipient_type": "individual", "to": "5521996543210", "type": "template", "template": template})))
        .respond_with(sent("wamid.SEED1"))
        .expect(1)
        .mount(&graph)
        .await;
    let a = send(
        &app,
        &seed(
            "send-template",
            json!({"to": "+55 21 99654-3210", "template": template}),
        ),
    )
    .await;
    assert_eq!(a.status, 201, "{}", a.text);
    let leads = store
        .list_leads(
            &c,
            &shared::domain::lead::LeadQuery::parse(&[("search".into(), "996543210".into())])
                .expect("q"),
        )
        .await
        .expect("leads");
    assert_eq!(
        (leads.total, leads.items[0].fields.source.as_deref()),
        (1, Some("whatsapp"))
    );
    // A free-form message to that new number: the customer has not written, the window is closed.
    let closed = send(
        &app,
        &seed(
            "send-message",
            json!({"to": "+5521996543210", "type": "text", "text": "Oi"}),
        ),
    )
    .await;
    assert_eq!((closed.status, closed.error_code()), (409, "WINDOW_CLOSED"));
    // To the conversation the customer wrote in, by its id.
    graph.reset().await;
    Mock::given(method("POST"))
        .respond_with(sent("wamid.SEED2"))
        .expect(1)
        .mount(&graph)
        .await;
    let ok = send(&app, &seed("send-message", json!({"to": "+5511987654321", "type": "text", "text": "Oi de novo", "context": {"conversation_id": conv}}))).await;
    assert_eq!(ok.status, 201, "{}", ok.text);
    assert_eq!(
        store
            .list_leads(&c, &shared::domain::lead::LeadQuery::parse(&[]).expect("q"))
            .await
            .expect("l")
            .total,
        2,
        "no lead made twice"
    );
    let missing = send(
        &app,
        &seed("send-message", json!({"type": "text", "text": "x"})),
    )
    .await;
    assert_eq!(missing.error_code(), "MISSING_REQUIRED_FIELD");
}

#[tokio::test]
async fn read_marks_the_customers_last_message_read_upstream() {
    let graph = MockServer::start().await;
    let (app, store, c, conv) = setup(&graph, 1).await;
    let mut inbound = NewMessage::plain(MessageRole::User, "Tem pão?", "text");
    inbound.external_id = Some("wamid.IN42".into());
    store
        .add_message(&c, uuid::Uuid::parse_str(&conv).expect("id"), inbound)
        .await
        .expect("inbound");
    Mock::given(method("POST"))
        .and(path(format!("/{PNID}/messages")))
        .and(body_json(
            json!({"messaging_product": "whatsapp", "status": "read", "message_id": "wamid.IN42"}),
        ))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"success": true})))
        .expect(1)
        .mount(&graph)
        .await;
    let a = send(
        &app,
        &Event::load("leads-management/list.json")
            .as_user(&c, Role::Agent)
            .method("POST")
            .path(&format!("/api/conversations/{conv}/read")),
    )
    .await;
    assert_eq!(
        (a.status, a.json["message"].as_str()),
        (200, Some("Marked as read")),
        "{}",
        a.text
    );
}

#[tokio::test]
async fn instagram_and_messenger_answers_go_to_the_scoped_user() {
    let graph = MockServer::start().await;
    let (app, store, c, _) = setup(&graph, 1).await;
    for (channel, account, user, request, message) in [
        (
            Channel::Instagram,
            "17841405822304914",
            "IGSID1",
            json!({"type": "text", "text": "Oi! Custa R$ 10"}),
            json!({"text": "Oi! Custa R$ 10"}),
        ),
        (
            Channel::Facebook,
            "112233445566778",
            "PSID1",
            json!({"type": "image", "media": {"link": "https://cdn.exemplo.com/cardapio.jpg"}}),
            json!({"attachment": {"type": "image", "payload": {"url": "https://cdn.exemplo.com/cardapio.jpg", "is_reusable": true}}}),
        ),
    ] {
        store
            .create_channel(
                &c,
                NewChannelAccount {
                    channel,
                    external_id: account.into(),
                    name: "Loja".into(),
                    token: AccessToken::new("EAAG-page".into()),
                },
            )
            .await
            .expect("channel");
        let lead = store
            .create_lead(
                &c,
                LeadFields::parse(json!({"name": format!("{} {user}", channel.as_str())}))
                    .expect("f"),
                "t",
            )
            .await
            .expect("lead");
        store
            .claim_contact(&c, channel, user, lead.id)
            .await
            .expect("contact");
        let conv = store
            .create_conversation(&c, lead.id, channel)
            .await
            .expect("conversation");
        store
            .add_message(
                &c,
                conv.id,
                NewMessage::plain(MessageRole::User, "oi", "text"),
            )
            .await
            .expect("inbound");
        graph.reset().await;
        Mock::given(method("POST"))
            .and(path(format!("/{account}/messages")))
            .and(header("authorization", "Bearer EAAG-page"))
            .and(body_json(json!({"recipient": {"id": user}, "messaging_type": "RESPONSE", "message": message})))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({"recipient_id": user, "message_id": format!("mid.{user}")})))
            .expect(1)
            .mount(&graph)
            .await;
        let a = send(&app, &post(&c, &conv.id.to_string(), request)).await;
        assert_eq!(
            (a.status, a.json["data"]["external_id"].as_str()),
            (201, Some(format!("mid.{user}").as_str())),
            "{}",
            a.text
        );
        graph.verify().await;
        // And plain text on the same channel.
        graph.reset().await;
        Mock::given(method("POST"))
            .and(path(format!("/{account}/messages")))
            .and(body_json(json!({"recipient": {"id": user}, "messaging_type": "RESPONSE", "message": {"text": "Obrigado!"}})))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({"recipient_id": user, "message_id": format!("mid.text.{user}")})))
            .expect(1)
            .mount(&graph)
            .await;
        let t = send(
            &app,
            &post(&c, &conv.id.to_string(), json!({"text": "Obrigado!"})),
        )
        .await;
        assert_eq!(t.status, 201, "{}", t.text);
        graph.verify().await;
        let template = send(
            &app,
            &post(
                &c,
                &conv.id.to_string(),
                json!({"type": "template", "template": {"name": "x", "language": "pt_BR"}}),
            ),
        )
        .await;
        assert_eq!(template.status, 422, "templates are WhatsApp's");
    }
}

#[tokio::test]
async fn a_131047_closes_the_window_sync_or_async() {
    let graph = MockServer::start().await;
    let (app, store, c, conv) = setup(&graph, 1).await;
    let text = json!({"type": "text", "text": "Oi"});
    // Async: a send went out, then its failed status (131047) arrives through the webhook.
    Mock::given(method("POST"))
        .respond_with(sent("wamid.LATEFAIL"))
        .expect(1)
        .mount(&graph)
        .await;
    assert_eq!(send(&app, &post(&c, &conv, text.clone())).await.status, 201);
    let body = json!({"object": "whatsapp_business_account", "entry": [{"changes": [{"value": {"metadata": {"phone_number_id": PNID}, "statuses": [{"id": "wamid.LATEFAIL", "status": "failed", "timestamp": "1795766500", "recipient_id": "5511987654321", "errors": [{"code": 131047, "title": "Re-engagement message", "message": "Re-engagement message", "error_data": {"details": "More than 24 hours"}}]}]}}]}]}).to_string();
    let hooks = wiizo_tests::app_on("webhooks", store.clone());
    assert_eq!(
        send(&hooks, &wiizo_tests::meta_delivery(&body))
            .await
            .status,
        200
    );
    graph.verify().await;
    // Now free-form is refused without a call, though our clock says 1 hour.
    graph.reset().await;
    let closed = send(&app, &post(&c, &conv, text.clone())).await;
    assert_eq!((closed.status, closed.error_code()), (409, "WINDOW_CLOSED"));
    assert_eq!(graph.received_requests().await.map(|r| r.len()), Some(0));
    // Until the customer writes again.
    let mut again = NewMessage::plain(MessageRole::User, "voltei", "text");
    again.created_at =
        Some(Timestamp::from_unix_seconds(chrono::Utc::now().timestamp() + 1).expect("t"));
    store
        .add_message(&c, uuid::Uuid::parse_str(&conv).expect("id"), again)
        .await
        .expect("inbound");
    Mock::given(method("POST"))
        .respond_with(sent("wamid.REOPENED"))
        .expect(1)
        .mount(&graph)
        .await;
    assert_eq!(send(&app, &post(&c, &conv, text)).await.status, 201);
}

#[tokio::test]
async fn every_whatsapp_api_event_is_a_valid_request() {
    let graph = MockServer::start().await;
    let (app, store, c, conv) = setup(&graph, 1).await;
    let conversation = store
        .get_conversation(&c, uuid::Uuid::parse_str(&conv).expect("id"))
        .await
        .expect("conversation");
    let example = "0196f3a2-7c4e-7b1a-9e2f-3d4c5b6a7990";
    for (name, status) in [
        ("list-conversations", 200),
        ("create-conversation", 200),
        ("get-conversation", 200),
        ("list-messages", 200),
        ("list-messages-flat", 200),
        ("send-message", 201),
        ("send-message-flat", 201),
        ("mark-read", 200),
        ("whatsapp-send-message", 201),
        ("whatsapp-send-template", 201),
        ("patch-conversation", 200),
    ] {
        graph.reset().await;
        Mock::given(method("POST"))
            .respond_with(sent(&format!("wamid.{name}")))
            .mount(&graph)
            .await;
        let mut e = Event::load(&format!("whatsapp-api/{name}.json")).as_user(&c, Role::Agent);
        let text = e.0.to_string().replace(example, &conv).replace(
            "0196f3a2-7c4e-7b1a-9e2f-3d4c5b6a7980",
            &conversation.lead_id.to_string(),
        );
        e.0 = serde_json::from_str(&text).expect("json");
        let a = send(&app, &e).await;
        assert_eq!(a.status, status, "{name}: {}", a.text);
    }
}

/// Whatsapp's daily cap (2 a day here) counts the messages of all three send routes.
async fn whatsapp_cap(store: Arc<dyn Store>) {
    let graph = MockServer::start().await;
    let n = std::sync::atomic::AtomicUsize::new(0);
    Mock::given(method("POST"))
        .respond_with(move |_: &wiremock::Request| {
            sent(&format!(
                "wamid.CAP{}",
                n.fetch_add(1, std::sync::atomic::Ordering::SeqCst)
            ))
        })
        .expect(2)
        .mount(&graph)
        .await;
    let (app, store, c, conv) = setup_on(store, &graph, 1).await;
    let settings = json!({"timezone": "America/Sao_Paulo", "rate_limits": {"whatsapp": {"per_day": 2, "burst": 2}}});
    store
        .update_company(
            &c,
            shared::domain::company::CompanyChange {
                settings: Some(settings),
                ..Default::default()
            },
        )
        .await
        .expect("settings");
    let by_route = [
        post(&c, &conv, json!({"text": "um"})),
        Event::load("leads-management/list.json")
            .as_user(&c, Role::Agent)
            .method("POST")
            .path("/api/messages")
            .json(&json!({"conversation_id": conv, "text": "dois"})),
        Event::load("leads-management/list.json")
            .as_user(&c, Role::Agent)
            .method("POST")
            .path("/api/whatsapp/send-message")
            .json(&json!({"to": "+5511987654321", "type": "text", "text": "três", "context": {"conversation_id": conv}})),
    ];
    let mut statuses = Vec::new();
    for e in &by_route {
        statuses.push(send(&app, e).await.status);
    }
    assert_eq!(statuses, [201, 201, 429], "the third route hits the cap");
    let messages = wiizo_tests::all_messages(store.as_ref(), &c, conv.parse().expect("id"))
        .await
        .expect("messages");
    assert_eq!(messages.len(), 3, "the refused send left no record");
}

#[tokio::test]
async fn whatsapp_s_daily_cap_counts_every_send_route_on_sqlite() {
    whatsapp_cap(sqlite_store()).await;
}

#[tokio::test]
async fn whatsapp_s_daily_cap_counts_every_send_route_on_dynamodb() {
    whatsapp_cap(wiizo_tests::dynamo_store().await).await;
}

#[tokio::test]
async fn the_seeds_documented_bodies_send_as_documented() {
    // GIVEN a conversation whose customer wrote an hour ago, and Meta accepting text
    let graph = MockServer::start().await;
    let (app, store, c, conv) = setup(&graph, 1).await;
    for text in ["Olá! Como posso ajudar?", "Olá!"] {
        Mock::given(method("POST"))
            .and(path(format!("/{PNID}/messages")))
            .and(body_json(graph_body(
                "text",
                json!({"preview_url": false, "body": text}),
            )))
            .respond_with(sent(&format!("wamid.{}", text.len())))
            .expect(1)
            .mount(&graph)
            .await;
    }
    // WHEN the seed's conversation body is sent: `content`, `type`, `metadata`
    let a = send(
        &app,
        &post(
            &c,
            &conv,
            json!({"content": "Olá! Como posso ajudar?", "type": "text", "metadata": {"origem": "painel", "campanha": "black-friday"}}),
        ),
    )
    .await;
    // THEN 201, Meta got the text, and the metadata is on the message
    assert_eq!(a.status, 201, "{}", a.text);
    assert_eq!(a.json["data"]["content"], "Olá! Como posso ajudar?");
    assert_eq!(a.json["data"]["metadata"]["origem"], "painel");
    assert_eq!(a.json["data"]["metadata"]["campanha"], "black-friday");
    // WHEN the seed's send-message body is sent: `text: {"body"}` and a `context`
    let seed = Event::load("leads-management/list.json")
        .as_user(&c, Role::Agent)
        .method("POST")
        .path("/api/whatsapp/send-message")
        .json(&json!({"to": "+55 11 98765-4321", "type": "text", "text": {"body": "Olá!"}, "context": {"conversation_id": conv}}));
    let a = send(&app, &seed).await;
    assert_eq!(a.status, 201, "{}", a.text);
    assert_eq!(a.json["data"]["content"], "Olá!");
    // AND both are stored, in order
    let messages = wiizo_tests::all_messages(store.as_ref(), &c, conv.parse().expect("id"))
        .await
        .expect("messages");
    let contents: Vec<&str> = messages.iter().map(|m| m.content.as_str()).collect();
    assert_eq!(contents, ["oi", "Olá! Como posso ajudar?", "Olá!"]);
    // AND a body with both `text` and `content`, or `content` on a template, is refused
    for body in [
        json!({"text": "a", "content": "b"}),
        json!({"type": "template", "template": {"name": "x", "language": "pt_BR"}, "content": "b"}),
    ] {
        let a = send(&app, &post(&c, &conv, body.clone())).await;
        assert_eq!(a.status, 422, "{body}: {}", a.text);
        assert!(
            a.json["error"]["details"]["content"].is_array(),
            "{}",
            a.text
        );
    }
}
