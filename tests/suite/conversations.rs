//! whatsapp-api: a company's conversations and their messages, as agents read them.

use std::sync::Arc;

use serde_json::json;
use shared::auth::Role;
use shared::domain::conversation::{Channel, NewMessage, Role as MessageRole};
use shared::domain::lead::LeadFields;
use shared::domain::{CompanyId, Timestamp};
use shared::store::Store;
use wiizo_tests::{app_on, company, send, sqlite_store, Event};

fn req(c: &CompanyId, method: &str, path: &str) -> Event {
    Event::load("leads-management/list.json")
        .as_user(c, Role::Agent)
        .method(method)
        .path(path)
}

async fn story(store: Arc<dyn Store>) {
    let app = app_on("whatsapp-api", store.clone());
    let (a, b) = (company(), company());
    let ana = store
        .create_lead(
            &a,
            LeadFields::parse(json!({"name": "Ana Conceição"})).expect("f"),
            "t",
        )
        .await
        .expect("lead");
    let bia = store
        .create_lead(
            &a,
            LeadFields::parse(json!({"name": "Bia"})).expect("f"),
            "t",
        )
        .await
        .expect("lead");
    // GIVEN conversations made through the API
    let created = send(
        &app,
        &req(&a, "POST", "/api/conversations")
            .json(&json!({"lead_id": ana.id, "channel": "whatsapp"})),
    )
    .await;
    assert_eq!(created.status, 201, "{}", created.text);
    let ana_wa = created.json["data"]["id"].as_str().expect("id").to_string();
    let again = send(
        &app,
        &req(&a, "POST", "/api/conversations")
            .json(&json!({"lead_id": ana.id, "channel": "whatsapp"})),
    )
    .await;
    assert_eq!(
        (again.status, again.json["data"]["id"].as_str()),
        (200, Some(ana_wa.as_str())),
        "the active one, not a second"
    );
    let bia_ig = send(
        &app,
        &req(&a, "POST", "/api/conversations")
            .json(&json!({"lead_id": bia.id, "channel": "instagram"})),
    )
    .await;
    assert_eq!(bia_ig.status, 201);
    let bia_ig = bia_ig.json["data"]["id"].as_str().expect("id").to_string();
    // AND messages in them, the latest in Ana's
    let at = |s: &str| Timestamp::parse(s).expect("time");
    for (conv, content, time) in [
        (&bia_ig, "oi", "2026-11-27T10:00:00.000Z"),
        (&ana_wa, "Olá, tudo bem?", "2026-11-27T10:01:00.000Z"),
        (
            &ana_wa,
            "Quero pão de queijo 🧀",
            "2026-11-27T10:02:00.000Z",
        ),
    ] {
        let mut m = NewMessage::plain(MessageRole::User, content, "text");
        m.created_at = Some(at(time));
        store
            .add_message(&a, uuid::Uuid::parse_str(conv).expect("uuid"), m)
            .await
            .expect("message");
    }
    // WHEN the list is read THEN newest activity first, with the lead's name and the last message
    let list = send(&app, &req(&a, "GET", "/api/conversations")).await;
    assert_eq!(list.status, 200, "{}", list.text);
    let first = &list.json["data"][0];
    assert_eq!(first["id"].as_str(), Some(ana_wa.as_str()));
    assert_eq!(first["lead_name"], "Ana Conceição");
    assert_eq!(
        first["last_message"],
        json!({"content": "Quero pão de queijo 🧀", "timestamp": "2026-11-27T10:02:00.000Z"})
    );
    assert_eq!(list.json["pagination"]["total"], 2);
    let ig = send(
        &app,
        &req(&a, "GET", "/api/conversations").query(&[("channel", "instagram")]),
    )
    .await;
    assert_eq!(ig.json["data"].as_array().map(Vec::len), Some(1));
    let by_lead = send(
        &app,
        &req(&a, "GET", "/api/conversations").query(&[("lead_id", &ana.id.to_string())]),
    )
    .await;
    assert_eq!(
        by_lead.json["data"][0]["id"].as_str(),
        Some(ana_wa.as_str())
    );
    let paged = send(
        &app,
        &req(&a, "GET", "/api/conversations").query(&[("limit", "1"), ("page", "2")]),
    )
    .await;
    assert_eq!(
        (
            paged.json["data"][0]["id"].as_str(),
            paged.json["pagination"]["hasPrev"].as_bool()
        ),
        (Some(bia_ig.as_str()), Some(true))
    );
    for bad in [
        ("status", "open"),
        ("channel", "telegram"),
        ("lead_id", "x"),
        ("limit", "0"),
    ] {
        assert_eq!(
            send(&app, &req(&a, "GET", "/api/conversations").query(&[bad]))
                .await
                .status,
            422,
            "{bad:?}"
        );
    }
    // Messages in time order, a page at a time.
    let path = format!("/api/conversations/{ana_wa}/messages");
    let p1 = send(&app, &req(&a, "GET", &path).query(&[("limit", "1")])).await;
    assert_eq!(p1.json["data"][0]["content"], "Olá, tudo bem?");
    let cursor = p1.json["next_cursor"].as_str().expect("more").to_string();
    let p2 = send(
        &app,
        &req(&a, "GET", &path).query(&[("limit", "1"), ("cursor", &cursor)]),
    )
    .await;
    assert_eq!(p2.json["data"][0]["content"], "Quero pão de queijo 🧀");
    assert_eq!(p2.json["next_cursor"], json!(null));
    let flat = send(
        &app,
        &req(&a, "GET", "/api/messages").query(&[("conversation_id", &ana_wa)]),
    )
    .await;
    assert_eq!(flat.json["data"].as_array().map(Vec::len), Some(2));
    assert_eq!(
        send(&app, &req(&a, "GET", "/api/messages"))
            .await
            .error_code(),
        "MISSING_REQUIRED_FIELD"
    );
    // Closing frees the channel for a new active conversation; reopening the old one then conflicts.
    let closed = send(
        &app,
        &req(&a, "PATCH", &format!("/api/conversations/{ana_wa}"))
            .json(&json!({"status": "closed", "metadata": {"motivo": "resolvido"}})),
    )
    .await;
    assert_eq!(
        (closed.status, closed.json["data"]["status"].as_str()),
        (200, Some("closed")),
        "{}",
        closed.text
    );
    assert_eq!(closed.json["data"]["metadata"]["motivo"], "resolvido");
    let fresh = send(
        &app,
        &req(&a, "POST", "/api/conversations")
            .json(&json!({"lead_id": ana.id, "channel": "whatsapp"})),
    )
    .await;
    assert_eq!(fresh.status, 201);
    let reopen = send(
        &app,
        &req(&a, "PUT", &format!("/api/conversations/{ana_wa}")).json(&json!({"status": "active"})),
    )
    .await;
    assert_eq!((reopen.status, reopen.error_code()), (409, "CONFLICT"));
    // Another company sees none of it.
    for e in [
        req(&b, "GET", &format!("/api/conversations/{ana_wa}")),
        req(&b, "GET", &path),
        req(&b, "PATCH", &format!("/api/conversations/{ana_wa}"))
            .json(&json!({"status": "archived"})),
    ] {
        let r = send(&app, &e).await;
        assert_eq!((r.status, r.error_code()), (404, "CONVERSATION_NOT_FOUND"));
    }
    assert_eq!(
        send(&app, &req(&b, "GET", "/api/conversations")).await.json["data"],
        json!([])
    );
    let theirs = send(
        &app,
        &req(&b, "POST", "/api/conversations")
            .json(&json!({"lead_id": ana.id, "channel": "whatsapp"})),
    )
    .await;
    assert_eq!(
        (theirs.status, theirs.error_code()),
        (404, "LEAD_NOT_FOUND")
    );
    // Bad input.
    let bad = send(
        &app,
        &req(&a, "POST", "/api/conversations").json(&json!({"channel": "sms"})),
    )
    .await;
    assert_eq!(bad.error_code(), "MISSING_REQUIRED_FIELD");
    assert!(
        bad.json["error"]["details"]["channel"].is_array()
            && bad.json["error"]["details"]["lead_id"].is_array()
    );
    let viewer = send(
        &app,
        &req(&a, "POST", "/api/conversations")
            .as_user(&a, Role::Viewer)
            .json(&json!({"lead_id": bia.id, "channel": "facebook"})),
    )
    .await;
    assert_eq!(viewer.status, 403);
    let _ = Channel::Whatsapp;
}

#[tokio::test]
async fn agents_read_and_manage_conversations_on_sqlite() {
    story(sqlite_store()).await;
}

#[tokio::test]
async fn agents_read_and_manage_conversations_on_dynamodb() {
    story(wiizo_tests::dynamo_store().await).await;
}
