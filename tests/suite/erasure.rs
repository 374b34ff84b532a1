//! LGPD erasure, checked the way an auditor would: after a lead is deleted, every record of
//! the backend is read raw (every SQLite table, every DynamoDB item) and none may still
//! mention the lead: its id, phone (either ninth-digit spelling), e-mail, scoped contact
//! id, conversations or channel message ids. A record kind that a backend forgets to
//! declare as owned by a lead fails here.

use aws_sdk_dynamodb::types::AttributeValue;
use serde_json::json;
use shared::domain::conversation::{Channel, NewMessage, Role};
use shared::domain::lead::{Lead, LeadFields, LeadUpdate};
use shared::domain::CompanyId;
use shared::store::{DynamoStore, Store, StoreError};
use wiizo_tests::{company, dynamo_store_on, dynamodb_endpoint, sqlite_store_at, temp_db_path};

/// Messages per conversation in the fixture.
const MESSAGES: usize = 30;

fn fields(v: serde_json::Value) -> LeadFields {
    LeadFields::parse(v).expect("valid lead fields")
}

/// A lead with history, a WhatsApp and an Instagram conversation with messages, and an
/// Instagram contact; returns the lead and the strings any record of it would hold.
async fn lead_with_everything(
    store: &dyn Store,
    c: &CompanyId,
    name: &str,
    n: u32,
) -> (Lead, Vec<String>) {
    let phone = format!("+55119876500{n:02}");
    let email = format!("{name}@exemplo.com.br");
    let lead = store
        .create_lead(
            c,
            fields(json!({"name": name, "phone": phone, "email": email})),
            "t",
        )
        .await
        .expect("lead");
    let moved =
        fields(json!({"name": name, "phone": phone, "email": email, "status": "qualificado"}));
    let update = LeadUpdate {
        changes: lead.fields.changes_to(&moved),
        fields: moved,
        expected_version: lead.version,
        by: "t".into(),
    };
    store.update_lead(c, lead.id, update).await.expect("update");
    assert_eq!(
        store
            .advance_lead_mark(c, lead.id, "webhook:ERP", 100)
            .await,
        Ok(true)
    );
    let contact = format!("ig-user-{}", lead.id);
    store
        .claim_contact(c, Channel::Instagram, &contact, lead.id)
        .await
        .expect("contact");
    let mut traces = vec![
        lead.id.to_string(),
        phone.clone(),
        format!("+5511876500{n:02}"),
        email,
        contact,
    ];
    for channel in [Channel::Whatsapp, Channel::Instagram] {
        let conv = store
            .create_conversation(c, lead.id, channel)
            .await
            .expect("conversation");
        for i in 0..MESSAGES {
            let message = NewMessage {
                role: Role::User,
                content: format!("mensagem {i}"),
                kind: "text".into(),
                metadata: json!({}),
                created_at: None,
                external_id: Some(format!("wamid.{}.{i}", conv.id)),
                status: None,
            };
            store
                .add_message(c, conv.id, message)
                .await
                .expect("message");
        }
        // A turn of the customer's waiting for the AI agent.
        let turn = shared::domain::autoreply::Turn::new(c, conv.id, lead.id, conv.id, 1);
        store.schedule_turn(&turn).await.expect("turn");
        traces.push(conv.id.to_string());
    }
    (lead, traces)
}

/// Erases one of two leads and checks the raw records: nothing of the erased one, all of
/// the kept one.
async fn erase_and_audit(store: &dyn Store, records: impl AsyncFn() -> Vec<String>) -> usize {
    let c = company();
    let (doomed, gone) = lead_with_everything(store, &c, "apagar", 1).await;
    let (kept, stays) = lead_with_everything(store, &c, "manter", 2).await;
    // A delivery of an event about it, and its next attempt, carry its data too.
    let (fields, _) = shared::domain::webhook::EndpointFields::parse(
        json!({"url": "https://erp.exemplo.com.br/h", "events": ["*"]}),
    )
    .expect("endpoint");
    let secret = shared::domain::account::AccessToken::new(
        "whsec_ZXJhc3VyZS10ZXN0LXNlY3JldC0wMTIzNDU=".into(),
    );
    let endpoint = store
        .create_webhook(&c, fields, &secret)
        .await
        .expect("endpoint");
    let payload = json!({"event": "lead.created", "data": {"id": doomed.id, "phone": gone[1]}});
    let delivery = shared::store::Delivery {
        id: uuid::Uuid::now_v7(),
        endpoint_id: endpoint.id,
        event_id: "evt_1".into(),
        event_type: "lead.created".into(),
        payload: payload.clone(),
        status: "failed".into(),
        http_status: Some(500),
        latency_ms: 3,
        response: "erro".into(),
        attempt: 1,
        at: shared::domain::Timestamp::now(),
        retry_after: None,
        lead_id: Some(doomed.id),
    };
    store.add_delivery(&c, &delivery).await.expect("delivery");
    let retry = shared::store::Retry::new(&c, endpoint.id, payload, 2, 1, Some(doomed.id));
    store.schedule_retry(&retry).await.expect("retry");
    let before = records().await.len();

    store.delete_lead(&c, doomed.id).await.expect("delete");

    let after = records().await;
    for record in &after {
        // The one record left that names the lead: the outbox's `lead.deleted`, its id
        // alone, until the worker has told the subscribers.
        if record.contains("lead.deleted") && record.contains(&doomed.id.to_string()) {
            let personal = gone.iter().filter(|t| **t != doomed.id.to_string());
            for trace in personal {
                assert!(
                    !record.contains(trace.as_str()),
                    "{record}\nstill mentions {trace}"
                );
            }
            continue;
        }
        for trace in &gone {
            assert!(
                !record.contains(trace.as_str()),
                "{record}\nstill mentions {trace}"
            );
        }
    }
    for trace in &stays {
        assert!(
            after.iter().any(|r| r.contains(trace.as_str())),
            "the kept lead lost {trace}"
        );
    }
    assert_eq!(
        store.get_lead(&c, doomed.id).await.map(|_| ()),
        Err(StoreError::NotFound)
    );
    assert!(store.get_lead(&c, kept.id).await.is_ok());
    before - after.len()
}

#[tokio::test]
async fn an_erased_lead_leaves_no_row_in_any_sqlite_table() {
    let path = temp_db_path();
    let store = sqlite_store_at(&path);
    let rows = || async {
        let conn = rusqlite::Connection::open(&path).expect("open the file");
        let tables: Vec<String> = conn
            .prepare("SELECT name FROM sqlite_master WHERE type = 'table'")
            .and_then(|mut s| s.query_map([], |r| r.get(0))?.collect())
            .expect("tables");
        let mut out = Vec::new();
        for table in tables {
            let mut stmt = conn
                .prepare(&format!("SELECT * FROM \"{table}\""))
                .expect("select");
            let columns = stmt.column_count();
            let mut rows = stmt.query([]).expect("rows");
            while let Some(row) = rows.next().expect("row") {
                let values: Vec<String> = (0..columns)
                    .map(|i| match row.get_ref(i) {
                        Ok(rusqlite::types::ValueRef::Text(t)) => {
                            String::from_utf8_lossy(t).into_owned()
                        }
                        Ok(other) => format!("{other:?}"),
                        Err(e) => format!("{e}"),
                    })
                    .collect();
                out.push(format!("{table}: {}", values.join(" | ")));
            }
        }
        out
    };
    let erased = erase_and_audit(store.as_ref(), rows).await;
    // The lead, its 2 history entries, 2 conversations with their messages, 1 contact,
    // 1 mark, and its pending events (created, updated, status changed, 2 conversations
    // started, a message received each) for 1 deleted, a delivery and a retry about it, and
    // a waiting AI turn per conversation.
    assert_eq!(
        erased,
        1 + 2 + 2 + 2 * MESSAGES + 1 + 1 + 3 + 2 + 2 * MESSAGES - 1 + 2 + 2
    );
}

#[tokio::test]
async fn an_erased_lead_leaves_no_row_in_any_postgres_table() {
    let url = wiizo_tests::pg_database().await;
    let store = wiizo_tests::store_at(&url);
    let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
        .await
        .expect("the test database answers");
    tokio::spawn(connection);
    let client = &client;
    // Every row of every table, as its owner reads it (row-level security does not apply).
    let rows = || async move {
        let tables = client
            .query(
                "SELECT tablename::text FROM pg_tables WHERE schemaname = 'public'",
                &[],
            )
            .await
            .expect("tables");
        let mut out = Vec::new();
        for t in tables {
            let table: String = t.get(0);
            for row in client
                .query(&format!("SELECT t::text FROM \"{table}\" t"), &[])
                .await
                .expect("rows")
            {
                out.push(format!("{table}: {}", row.get::<_, String>(0)));
            }
        }
        out
    };
    let erased = erase_and_audit(store.as_ref(), rows).await;
    // As on SQLite.
    assert_eq!(
        erased,
        1 + 2 + 2 + 2 * MESSAGES + 1 + 1 + 3 + 2 + 2 * MESSAGES - 1 + 2 + 2
    );
}

/// Every item of the table, read with a Scan (never on a request path).
async fn table_items(store: &DynamoStore) -> Vec<String> {
    let mut out = Vec::new();
    let mut start = None;
    loop {
        let page = store
            .client()
            .scan()
            .table_name(store.table())
            .set_exclusive_start_key(start)
            .send()
            .await
            .expect("scan");
        for item in page.items() {
            let mut flat: Vec<String> = item
                .iter()
                .map(|(k, v)| match v {
                    AttributeValue::S(s) => format!("{k}={s}"),
                    other => format!("{k}={other:?}"),
                })
                .collect();
            flat.sort();
            out.push(flat.join(" "));
        }
        match page.last_evaluated_key {
            Some(k) if !k.is_empty() => start = Some(k),
            _ => return out,
        }
    }
}

#[tokio::test]
async fn an_erased_lead_leaves_no_dynamodb_item() {
    let store = dynamo_store_on(&dynamodb_endpoint()).await;
    let erased = erase_and_audit(&store, || table_items(&store)).await;
    // The lead, its phone and e-mail claims, 2 history entries, 2 conversation links,
    // 1 contact link and 1 contact claim, 2 conversations with their messages and each
    // message's channel-id claim, 2 active-conversation claims, 1 mark, and its pending
    // events (created, updated, status changed, 2 conversations started, a message
    // received each) for 1 deleted, a delivery (with its link) and a retry about it, and a
    // waiting AI turn per conversation.
    assert_eq!(
        erased,
        1 + 2 + 2 + 2 + 2 + 2 + 2 * MESSAGES * 2 + 2 + 1 + 3 + 2 + 2 * MESSAGES - 1 + 3 + 2
    );
}
