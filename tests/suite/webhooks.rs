//! webhooks: Meta's deliveries land once, in the right company, whatever the batching,
//! retries and ordering.

use std::sync::Arc;

use serde_json::{json, Value};
use shared::domain::account::{AccessToken, NewChannelAccount};
use shared::domain::conversation::{Channel, Message, NewMessage, Role};
use shared::domain::inbound::DeliveryStatus;
use shared::domain::lead::{LeadFields, LeadQuery};
use shared::domain::CompanyId;
use shared::signature::sign_sha256;
use shared::store::{Store, StoreError};
use shared::App;
use wiizo_tests::{
    app_on, send, sqlite_store, sqlite_store_at, temp_db_path, Event, TEST_META_APP_SECRET,
    TEST_META_VERIFY_TOKEN,
};

const A_WHATSAPP: &str = "106540352242922";
const B_WHATSAPP: &str = "106540352242999";
const A_INSTAGRAM: &str = "17841405822304914";
const A_PAGE: &str = "112233445566778";

/// The webhooks function on `store`, with companies A (WhatsApp, Instagram, page) and B (WhatsApp).
async fn setup(store: Arc<dyn Store>) -> (App, CompanyId, CompanyId) {
    let a = CompanyId::new(uuid::Uuid::now_v7().to_string());
    let b = CompanyId::new(uuid::Uuid::now_v7().to_string());
    for (company, channel, id) in [
        (&a, Channel::Whatsapp, A_WHATSAPP),
        (&a, Channel::Instagram, A_INSTAGRAM),
        (&a, Channel::Facebook, A_PAGE),
        (&b, Channel::Whatsapp, B_WHATSAPP),
    ] {
        let account = NewChannelAccount {
            channel,
            external_id: id.into(),
            name: "canal".into(),
            token: AccessToken::new("EAAG-token".into()),
        };
        store
            .create_channel(company, account)
            .await
            .expect("channel");
    }
    (app_on("webhooks", store), a, b)
}

use wiizo_tests::meta_delivery as delivery;

/// An event file's body, re-signed with the test secret.
fn resigned(name: &str) -> Event {
    let e = Event::load(&format!("webhooks/{name}.json"));
    let body = e.0["body"].as_str().expect("a body").to_string();
    delivery(&body)
}

fn wa_batch(entries: &[Vec<(&str, Vec<Value>)>]) -> String {
    let entry: Vec<Value> = entries
        .iter()
        .map(|changes| {
            let changes: Vec<Value> = changes
                .iter()
                .map(|(pnid, messages)| {
                    let contacts: Vec<Value> = messages.iter().map(|m| json!({"profile": {"name": format!("Cliente {}", m["from"].as_str().unwrap_or_default())}, "wa_id": m["from"]})).collect();
                    json!({"field": "messages", "value": {"messaging_product": "whatsapp", "metadata": {"display_phone_number": "551130000000", "phone_number_id": pnid}, "contacts": contacts, "messages": messages}})
                })
                .collect();
            json!({"id": "102290129340398", "changes": changes})
        })
        .collect();
    json!({"object": "whatsapp_business_account", "entry": entry}).to_string()
}

fn text(from: &str, id: &str, body: &str) -> Value {
    json!({"from": from, "id": id, "timestamp": "1795766400", "type": "text", "text": {"body": body}})
}

fn statuses(items: &[(&str, &str)]) -> String {
    let statuses: Vec<Value> = items
        .iter()
        .map(|(id, status)| {
            let mut s = json!({"id": id, "status": status, "timestamp": "1795766500", "recipient_id": "5511987654321"});
            if *status == "failed" {
                s["errors"] = json!([{"code": 131047, "title": "Re-engagement message", "message": "Re-engagement message", "error_data": {"details": "More than 24 hours have passed since the customer last replied."}}]);
            }
            s
        })
        .collect();
    json!({"object": "whatsapp_business_account", "entry": [{"id": "1", "changes": [{"field": "messages", "value": {"metadata": {"phone_number_id": A_WHATSAPP}, "statuses": statuses}}]}]}).to_string()
}

/// Every message of a company, over all its leads' conversations on `channel`.
async fn messages(store: &dyn Store, c: &CompanyId, channel: Channel) -> Vec<Message> {
    let all = LeadQuery::parse(&[("limit".into(), "100".into())]).expect("query");
    let mut out = Vec::new();
    for lead in store.list_leads(c, &all).await.expect("leads").items {
        let conversation = match store.create_conversation(c, lead.id, channel).await {
            Err(StoreError::Duplicate { existing_id, .. }) => {
                uuid::Uuid::parse_str(&existing_id).expect("id")
            }
            Ok(fresh) => fresh.id,
            Err(e) => panic!("{e}"),
        };
        out.extend(
            wiizo_tests::all_messages(store, c, conversation)
                .await
                .expect("messages"),
        );
    }
    out
}

async fn lead_count(store: &dyn Store, c: &CompanyId) -> u64 {
    store
        .list_leads(c, &LeadQuery::parse(&[]).expect("query"))
        .await
        .expect("leads")
        .total
}

#[tokio::test]
async fn verification_answers_the_challenge_only_for_the_right_token() {
    let (app, _, _) = setup(sqlite_store()).await;
    let verify = |mode: &str, token: &str| {
        Event::load("webhooks/verify.json").query(&[
            ("hub.mode", mode),
            ("hub.verify_token", token),
            ("hub.challenge", "1158201444"),
        ])
    };
    let ok = send(&app, &verify("subscribe", TEST_META_VERIFY_TOKEN)).await;
    assert_eq!((ok.status, ok.text.as_str()), (200, "1158201444"));
    assert!(ok
        .header("content-type")
        .is_some_and(|c| c.starts_with("text/plain")));
    for (mode, token) in [
        ("subscribe", "wrong"),
        ("unsubscribe", TEST_META_VERIFY_TOKEN),
        ("subscribe", ""),
    ] {
        assert_eq!(
            send(&app, &verify(mode, token)).await.status,
            403,
            "{mode} {token}"
        );
    }
}

#[tokio::test]
async fn only_a_correct_signature_over_the_raw_bytes_is_accepted() {
    let store = sqlite_store();
    let (app, a, _) = setup(store.clone()).await;
    let body = Event::load("webhooks/whatsapp-messages.json").0["body"]
        .as_str()
        .expect("body")
        .to_string();
    let good = sign_sha256(TEST_META_APP_SECRET.as_bytes(), body.as_bytes());
    let base = Event::load("webhooks/whatsapp-messages.json").raw_body(&body);
    for (what, event) in [
        (
            "missing",
            base.clone().without_header("x-hub-signature-256"),
        ),
        (
            "wrong secret",
            base.clone().header(
                "x-hub-signature-256",
                &sign_sha256(b"other", body.as_bytes()),
            ),
        ),
        (
            "truncated",
            base.clone()
                .header("x-hub-signature-256", &good[..good.len() - 4]),
        ),
        (
            "of another body",
            base.clone().header(
                "x-hub-signature-256",
                &sign_sha256(TEST_META_APP_SECRET.as_bytes(), b"{}"),
            ),
        ),
    ] {
        let a = send(&app, &event).await;
        assert_eq!((a.status, a.error_code()), (401, "UNAUTHORIZED"), "{what}");
    }
    assert_eq!(lead_count(store.as_ref(), &a).await, 0, "nothing stored");
    // "têm", "ção" and emoji in the body: the signature is over the bytes, as sent or base64-encoded.
    let ok = send(&app, &base.clone().header("x-hub-signature-256", &good)).await;
    assert_eq!(ok.status, 200, "{}", ok.text);
    let encoded = send(
        &app,
        &base
            .base64_body(body.as_bytes())
            .header("x-hub-signature-256", &good),
    )
    .await;
    assert_eq!(encoded.status, 200, "{}", encoded.text);
    let stored = messages(store.as_ref(), &a, Channel::Whatsapp).await;
    assert_eq!(stored.len(), 3, "text, image and button reply, once");
    assert!(stored
        .iter()
        .any(|m| m.content == "Olá! Vocês têm pão de queijo? 🧀"));
}

async fn batches_land_once_in_their_companies(store: Arc<dyn Store>) {
    let (app, a, b) = setup(store.clone()).await;
    // 2 entries × 2 changes (one per company's number) × 3 messages
    let batch = wa_batch(&[
        vec![
            (
                A_WHATSAPP,
                (0..3)
                    .map(|k| text(&format!("55119876500{k}1"), &format!("wamid.A0{k}"), "oi"))
                    .collect(),
            ),
            (
                B_WHATSAPP,
                (0..3)
                    .map(|k| text(&format!("55119876500{k}2"), &format!("wamid.B0{k}"), "olá"))
                    .collect(),
            ),
        ],
        vec![
            (
                A_WHATSAPP,
                (0..3)
                    .map(|k| {
                        text(
                            &format!("55119876500{k}3"),
                            &format!("wamid.A1{k}"),
                            "bom dia",
                        )
                    })
                    .collect(),
            ),
            (
                B_WHATSAPP,
                (0..3)
                    .map(|k| {
                        text(
                            &format!("55119876500{k}4"),
                            &format!("wamid.B1{k}"),
                            "boa tarde",
                        )
                    })
                    .collect(),
            ),
        ],
    ]);
    let app = Arc::new(app);
    let first = send(&app, &delivery(&batch)).await;
    assert_eq!(first.status, 200, "{}", first.text);
    assert_eq!(first.json["data"]["messages"], 12);
    // Meta delivers it 9 more times, 5 of them at once.
    let concurrent: Vec<_> = (0..5)
        .map(|_| {
            let (app, event) = (app.clone(), delivery(&batch));
            tokio::spawn(async move { send(&app, &event).await.status })
        })
        .collect();
    for t in concurrent {
        assert_eq!(t.await.expect("task"), 200);
    }
    for _ in 0..4 {
        assert_eq!(
            send(&app, &delivery(&batch)).await.json["data"]["duplicates"],
            12
        );
    }
    let in_a = messages(store.as_ref(), &a, Channel::Whatsapp).await;
    let in_b = messages(store.as_ref(), &b, Channel::Whatsapp).await;
    assert_eq!((in_a.len(), in_b.len()), (6, 6));
    assert!(in_a.iter().all(|m| m
        .external_id
        .as_deref()
        .is_some_and(|e| e.starts_with("wamid.A"))));
    assert!(in_b.iter().all(|m| m
        .external_id
        .as_deref()
        .is_some_and(|e| e.starts_with("wamid.B"))));
    assert_eq!(
        (
            lead_count(store.as_ref(), &a).await,
            lead_count(store.as_ref(), &b).await
        ),
        (6, 6)
    );
    // Delivered ten times, told once: each customer a lead.created, each message a
    // message.received, in its own company.
    let told = store.pending_events(10_000).await.expect("events");
    for c in [&a, &b] {
        let count = |kind: &str| {
            told.iter()
                .filter(|e| e.company_id == *c && e.kind == kind)
                .count()
        };
        assert_eq!(
            (count("lead.created"), count("message.received")),
            (6, 6),
            "{c}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn batches_land_once_in_their_companies_on_sqlite() {
    batches_land_once_in_their_companies(sqlite_store()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn batches_land_once_in_their_companies_on_dynamodb() {
    batches_land_once_in_their_companies(wiizo_tests::dynamo_store().await).await;
}

#[tokio::test]
async fn statuses_only_move_forward_and_wait_for_their_message() {
    let store = sqlite_store();
    let (app, a, _) = setup(store.clone()).await;
    let lead = store
        .create_lead(
            &a,
            LeadFields::parse(json!({"name": "Ana", "phone": "+5511987654321"})).expect("fields"),
            "t",
        )
        .await
        .expect("lead");
    let conv = store
        .create_conversation(&a, lead.id, Channel::Whatsapp)
        .await
        .expect("conversation");
    for id in ["wamid.OUT1", "wamid.OUT2"] {
        let mut out = NewMessage::plain(Role::Assistant, "Temos sim!", "text");
        out.external_id = Some(id.into());
        out.status = Some(DeliveryStatus::Sent);
        store.add_message(&a, conv.id, out).await.expect("outbound");
    }
    for status in ["read", "delivered", "sent"] {
        assert_eq!(
            send(&app, &delivery(&statuses(&[("wamid.OUT1", status)])))
                .await
                .status,
            200
        );
    }
    assert_eq!(
        send(
            &app,
            &delivery(&statuses(&[
                ("wamid.OUT2", "failed"),
                ("wamid.OUT2", "read")
            ]))
        )
        .await
        .status,
        200
    );
    // A status for a message not stored yet waits for it.
    assert_eq!(
        send(&app, &delivery(&statuses(&[("wamid.LATER", "delivered")])))
            .await
            .status,
        200
    );
    let mut later = NewMessage::plain(Role::Assistant, "Chegou?", "text");
    later.external_id = Some("wamid.LATER".into());
    later.status = Some(DeliveryStatus::Sent);
    let stored = store.add_message(&a, conv.id, later).await.expect("later");
    assert_eq!(stored.status, Some(DeliveryStatus::Delivered));
    let all = wiizo_tests::all_messages(store.as_ref(), &a, conv.id)
        .await
        .expect("messages");
    let by_id = |id: &str| {
        all.iter()
            .find(|m| m.external_id.as_deref() == Some(id))
            .expect("message")
            .clone()
    };
    assert_eq!(by_id("wamid.OUT1").status, Some(DeliveryStatus::Read));
    let failed = by_id("wamid.OUT2");
    assert_eq!(failed.status, Some(DeliveryStatus::Failed));
    let error = failed.error.expect("the error is kept");
    assert_eq!(error["code"], 131047);
    assert_eq!(error["title"], "Re-engagement message");
    assert!(error["details"]
        .as_str()
        .is_some_and(|d| d.contains("24 hours")));
    assert_eq!(by_id("wamid.LATER").status, Some(DeliveryStatus::Delivered));
}

#[tokio::test]
async fn a_number_with_or_without_the_ninth_digit_is_one_lead() {
    let store = sqlite_store();
    let (app, a, _) = setup(store.clone()).await;
    let with_nine = store
        .create_lead(
            &a,
            LeadFields::parse(json!({"name": "Com nove", "phone": "+5511987654321"})).expect("f"),
            "t",
        )
        .await
        .expect("lead");
    let without = store
        .create_lead(
            &a,
            LeadFields::parse(json!({"name": "Sem nove", "phone": "+551187654322"})).expect("f"),
            "t",
        )
        .await
        .expect("lead");
    let batch = wa_batch(&[vec![(
        A_WHATSAPP,
        vec![
            text("551187654321", "wamid.N1", "sem o nove"),
            text("5511987654322", "wamid.N2", "com o nove"),
        ],
    )]]);
    assert_eq!(
        send(&app, &delivery(&batch)).await.json["data"]["messages"],
        2
    );
    assert_eq!(lead_count(store.as_ref(), &a).await, 2, "no duplicate lead");
    for (lead, id) in [(with_nine.id, "wamid.N1"), (without.id, "wamid.N2")] {
        let conv = match store.create_conversation(&a, lead, Channel::Whatsapp).await {
            Err(StoreError::Duplicate { existing_id, .. }) => {
                uuid::Uuid::parse_str(&existing_id).expect("id")
            }
            other => panic!("the message made the conversation: {other:?}"),
        };
        let msgs = wiizo_tests::all_messages(store.as_ref(), &a, conv)
            .await
            .expect("messages");
        assert_eq!(
            msgs.iter()
                .map(|m| m.external_id.as_deref())
                .collect::<Vec<_>>(),
            vec![Some(id)]
        );
        assert_eq!(
            store
                .get_conversation(&a, conv)
                .await
                .expect("c")
                .last_inbound_at,
            Some(msgs[0].created_at)
        );
    }
}

#[tokio::test]
async fn the_odd_and_the_unknown_are_acknowledged_and_echoes_store_nothing() {
    let store = sqlite_store();
    let (app, a, _) = setup(store.clone()).await;
    // The example batch has a reaction and an unsupported message beside three real ones.
    let wa = send(&app, &resigned("whatsapp-messages")).await;
    assert_eq!(wa.status, 200);
    assert_eq!(
        (
            wa.json["data"]["messages"].as_u64(),
            wa.json["data"]["ignored"].as_u64()
        ),
        (Some(3), Some(2))
    );
    let lead = store
        .list_leads(&a, &LeadQuery::parse(&[]).expect("q"))
        .await
        .expect("leads")
        .items;
    assert_eq!(lead[0].fields.name, "João da Conceição");
    assert_eq!(lead[0].fields.source.as_deref(), Some("whatsapp"));
    // Instagram: a message and an echo of the page's answer.
    let ig = send(&app, &resigned("instagram")).await;
    assert_eq!(
        (
            ig.status,
            ig.json["data"]["messages"].as_u64(),
            ig.json["data"]["ignored"].as_u64()
        ),
        (200, Some(1), Some(1))
    );
    let ig_messages = messages(store.as_ref(), &a, Channel::Instagram).await;
    assert_eq!(
        ig_messages
            .iter()
            .map(|m| m.content.as_str())
            .collect::<Vec<_>>(),
        vec!["Oi, qual o preço?"]
    );
    // Messenger: a message and a postback from one user make one lead; a delivery for an unknown mid waits.
    let fb = send(&app, &resigned("messenger")).await;
    assert_eq!(
        (
            fb.status,
            fb.json["data"]["messages"].as_u64(),
            fb.json["data"]["statuses"].as_u64()
        ),
        (200, Some(2), Some(1))
    );
    assert_eq!(
        messages(store.as_ref(), &a, Channel::Facebook).await.len(),
        2
    );
    assert_eq!(
        lead_count(store.as_ref(), &a).await,
        3,
        "one lead per contact: WhatsApp, Instagram, Messenger"
    );
    // A number no company has connected, and an object this service does not handle.
    let unknown = wa_batch(&[vec![(
        "999999999",
        vec![text("5511900000000", "wamid.X", "oi")],
    )]]);
    let answer = send(&app, &delivery(&unknown)).await;
    assert_eq!(
        (answer.status, answer.json["data"]["ignored"].as_u64()),
        (200, Some(1))
    );
    let other = send(
        &app,
        &delivery(&json!({"object": "user", "entry": []}).to_string()),
    )
    .await;
    assert_eq!(other.status, 200);
    assert_eq!(lead_count(store.as_ref(), &a).await, 3);
}

#[tokio::test]
async fn a_store_failure_answers_500_and_the_retry_stores_everything_once() {
    let db = temp_db_path();
    let store = sqlite_store_at(&db);
    let (app, a, _) = setup(store.clone()).await;
    let batch = wa_batch(&[vec![(
        A_WHATSAPP,
        (0..3)
            .map(|k| text(&format!("55119876511{k}0"), &format!("wamid.F{k}"), "oi"))
            .collect(),
    )]]);
    // Another process holds the database's write lock past the store's patience.
    let blocker = rusqlite::Connection::open(&db).expect("open");
    blocker.execute_batch("BEGIN EXCLUSIVE").expect("lock");
    let failed = send(&app, &delivery(&batch)).await;
    assert_eq!(
        (failed.status, failed.error_code()),
        (500, "INTERNAL_SERVER_ERROR")
    );
    blocker.execute_batch("COMMIT").expect("unlock");
    let retried = send(&app, &delivery(&batch)).await;
    assert_eq!(retried.status, 200, "{}", retried.text);
    let again = send(&app, &delivery(&batch)).await;
    assert_eq!(again.json["data"]["duplicates"], 3);
    assert_eq!(
        messages(store.as_ref(), &a, Channel::Whatsapp).await.len(),
        3
    );
    assert_eq!(lead_count(store.as_ref(), &a).await, 3);
}

/// A custom delivery of `event` with `data`, sent `age_secs` ago, signed with `secret`.
use wiizo_tests::custom_delivery as custom;

async fn endpoint(app: &App, c: &CompanyId) -> (String, String, String) {
    let created = send(
        app,
        &Event::load("leads-management/list.json")
            .as_user(c, shared::auth::Role::Admin)
            .method("POST")
            .path("/api/webhooks/inbound")
            .json(&json!({"name": "ERP"})),
    )
    .await;
    assert_eq!(created.status, 201, "{}", created.text);
    let d = &created.json["data"];
    (
        d["client_id"].as_str().expect("client id").into(),
        d["secret"].as_str().expect("secret").into(),
        d["id"].as_str().expect("id").into(),
    )
}

#[tokio::test]
async fn custom_inbound_upserts_leads_by_phone_and_email() {
    let store = sqlite_store();
    let (app, a, _) = setup(store.clone()).await;
    let (client_id, secret, _) = endpoint(&app, &a).await;
    let created = send(
        &app,
        &custom(
            &client_id,
            &secret,
            "lead.created",
            json!({"name": "Rafa", "phone": "+55 11 9 8765-1234", "email": "rafa@loja.com.br"}),
            20,
        ),
    )
    .await;
    assert_eq!(
        (created.status, created.json["data"]["action"].as_str()),
        (200, Some("created")),
        "{}",
        created.text
    );
    let id = created.json["data"]["lead_id"]
        .as_str()
        .expect("id")
        .to_string();
    let lead = store
        .get_lead(&a, shared::domain::lead::LeadId::parse(&id).expect("id"))
        .await
        .expect("lead");
    assert_eq!(lead.fields.source.as_deref(), Some("webhook:ERP"));
    // The same person by the number without the ninth digit is an update of that lead.
    let updated = send(
        &app,
        &custom(
            &client_id,
            &secret,
            "lead.updated",
            json!({"phone": "+551187651234", "status": "qualificado"}),
            10,
        ),
    )
    .await;
    assert_eq!(
        (
            updated.status,
            updated.json["data"]["lead_id"].as_str(),
            updated.json["data"]["action"].as_str()
        ),
        (200, Some(id.as_str()), Some("updated"))
    );
    let again = send(
        &app,
        &custom(
            &client_id,
            &secret,
            "lead.created",
            json!({"name": "Rafa", "email": "RAFA@loja.com.br"}),
            0,
        ),
    )
    .await;
    assert_eq!(again.json["data"]["lead_id"].as_str(), Some(id.as_str()));
    assert_eq!(lead_count(store.as_ref(), &a).await, 1);
    let history = store.lead_history(&a, lead.id).await.expect("history");
    assert_eq!(
        history.last().map(|e| e.to.as_deref()),
        Some(Some("qualificado"))
    );
    // Refusals.
    let bad_sig = custom(
        &client_id,
        "whsec_wrong",
        "lead.created",
        json!({"name": "X"}),
        0,
    );
    assert_eq!(send(&app, &bad_sig).await.status, 401);
    let stale = custom(
        &client_id,
        &secret,
        "lead.created",
        json!({"name": "X"}),
        600,
    );
    assert_eq!(send(&app, &stale).await.status, 401);
    let future = custom(
        &client_id,
        &secret,
        "lead.created",
        json!({"name": "X"}),
        -600,
    );
    assert_eq!(send(&app, &future).await.status, 401);
    assert_eq!(
        send(
            &app,
            &custom(
                "wh_unknown",
                &secret,
                "lead.created",
                json!({"name": "X"}),
                0
            )
        )
        .await
        .status,
        404
    );
    let unknown_event = send(
        &app,
        &custom(&client_id, &secret, "order.paid", json!({}), 0),
    )
    .await;
    assert_eq!(unknown_event.status, 422);
    let invalid = send(
        &app,
        &custom(
            &client_id,
            &secret,
            "lead.created",
            json!({"name": "Y", "email": "nope"}),
            0,
        ),
    )
    .await;
    assert!(
        invalid.json["error"]["details"]["email"].is_array(),
        "{}",
        invalid.text
    );
    assert_eq!(
        lead_count(store.as_ref(), &a).await,
        1,
        "nothing refused was stored"
    );
}

#[tokio::test]
async fn the_101st_delivery_in_a_minute_is_refused() {
    let (app, a, _) = setup(sqlite_store()).await;
    let (client_id, secret, _) = endpoint(&app, &a).await;
    let mut statuses = Vec::new();
    for i in 0..101 {
        let e = custom(
            &client_id,
            &secret,
            "lead.created",
            json!({"name": format!("L{i}"), "phone": format!("+5511988{:06}", i)}),
            0,
        );
        statuses.push(send(&app, &e).await);
    }
    assert!(
        statuses[..100].iter().all(|a| a.status == 200),
        "{}",
        statuses[99].text
    );
    let last = &statuses[100];
    assert_eq!(
        (last.status, last.error_code()),
        (429, "RATE_LIMIT_EXCEEDED")
    );
    assert!(last.header("retry-after").is_some());
}

#[tokio::test]
async fn inbound_endpoints_are_their_companys_alone() {
    let (app, a, b) = setup(sqlite_store()).await;
    let (client_id, _, id) = endpoint(&app, &a).await;
    let as_user = |c: &CompanyId, role, method: &str, path: &str| {
        Event::load("leads-management/list.json")
            .as_user(c, role)
            .method(method)
            .path(path)
    };
    let theirs = send(
        &app,
        &as_user(
            &b,
            shared::auth::Role::Owner,
            "GET",
            "/api/webhooks/inbound",
        ),
    )
    .await;
    assert_eq!(theirs.json["data"], json!([]));
    let delete = send(
        &app,
        &as_user(
            &b,
            shared::auth::Role::Owner,
            "DELETE",
            &format!("/api/webhooks/inbound/{id}"),
        ),
    )
    .await;
    assert_eq!(delete.status, 404);
    let agent = send(
        &app,
        &as_user(
            &a,
            shared::auth::Role::Agent,
            "GET",
            "/api/webhooks/inbound",
        ),
    )
    .await;
    assert_eq!(agent.status, 403);
    let mine = send(
        &app,
        &as_user(
            &a,
            shared::auth::Role::Admin,
            "GET",
            "/api/webhooks/inbound",
        ),
    )
    .await;
    assert_eq!(
        mine.json["data"][0]["client_id"].as_str(),
        Some(client_id.as_str())
    );
    assert!(
        !mine.text.contains("whsec_"),
        "the secret is never shown again"
    );
    let gone = send(
        &app,
        &as_user(
            &a,
            shared::auth::Role::Admin,
            "DELETE",
            &format!("/api/webhooks/inbound/{id}"),
        ),
    )
    .await;
    assert_eq!(gone.status, 200);
    assert_eq!(
        send(
            &app,
            &custom(&client_id, "x", "lead.created", json!({"name": "X"}), 0)
        )
        .await
        .status,
        404
    );
}
