//! The store conformance suite: every backend runs these very cases, unchanged.
//!
//! A backend's test module writes `wiizo_tests::conformance_tests!(<future of an
//! Arc<dyn Store> on an empty store>);` and gets one test per case, and a test that fails
//! when a `pub async fn …(store: &dyn Store)` of this file is missing from the list below:
//! a case that is written is a case that runs, on every backend.

use serde_json::{json, Value};
use shared::domain::conversation::{Channel, NewMessage, Role};
use shared::domain::lead::{LeadFields, LeadId, LeadQuery, LeadUpdate};
use shared::domain::CompanyId;
use shared::store::{Store, StoreError};

use crate::company;

#[macro_export]
macro_rules! conformance_tests {
    ($open:expr) => {
        $crate::conformance_tests!(@cases $open;
            companies_are_unique_by_name,
            lead_round_trips_byte_exact_with_defaults,
            phone_and_email_belong_to_one_lead_per_company,
            another_companys_lead_is_not_found,
            updates_bump_version_and_append_history,
            a_stale_update_is_a_conflict_and_writes_nothing,
            an_update_cannot_take_another_leads_phone,
            deleting_a_lead_erases_its_conversations_and_messages,
            list_filters_and_accent_insensitive_search,
            list_sorts_and_pages_by_offset,
            cursor_pages_are_stable_under_inserts,
            one_active_conversation_per_lead_and_channel,
            messages_keep_order_and_move_the_conversation,
            company_settings_change_and_names_stay_unique,
            api_keys_are_found_by_hash_until_revoked,
            channel_ids_belong_to_one_company_and_tokens_stay_inside,
            rate_buckets_allow_the_burst_then_refill,
            rate_buckets_hold_under_concurrency,
            idempotency_keys_replay_refuse_and_release,
            channel_messages_are_stored_once_by_their_id,
            delivery_statuses_move_forward_and_wait_for_their_message,
            scoped_contacts_belong_to_one_lead,
            inbound_endpoints_are_found_by_client_id,
            lead_marks_only_move_forward,
            rate_buckets_hold_at_every_accepted_extreme,
            rate_buckets_taken_together_stop_at_the_first_refusal,
            a_sent_message_cannot_take_another_messages_channel_id,
            agents_round_trip_and_stay_in_their_company,
            ai_reservations_hold_a_budget_under_concurrency,
            ai_calls_settle_into_spend_and_daily_usage,
            webhook_endpoints_keep_their_secret_and_log,
            lead_changes_write_their_events_in_the_same_write,
            conversations_and_inbound_messages_write_their_events,
            sent_messages_and_their_statuses_write_their_events,
            a_turn_is_claimed_once_and_a_handoff_tells_why,
            turns_wait_until_due_and_are_kept_once,
            tallies_count_an_event_once_and_stay_in_their_company,
        );
    };
    (@cases $open:expr; $($case:ident),* $(,)?) => {
        #[test]
        fn every_case_is_registered() {
            $crate::conformance::assert_registered(&[$(stringify!($case)),*]);
        }

        $(
            #[tokio::test]
            async fn $case() {
                let store = $open.await;
                $crate::conformance::$case(store.as_ref()).await;
            }
        )*
    };
}

/// Fails unless `registered` names exactly the cases this file defines.
pub fn assert_registered(registered: &[&str]) {
    let defined: Vec<&str> = include_str!("conformance.rs")
        .lines()
        .filter_map(|l| l.strip_prefix("pub async fn "))
        .filter(|l| l.contains("(store: &dyn Store)"))
        .filter_map(|l| l.split('(').next())
        .collect();
    for case in &defined {
        assert!(
            registered.contains(case),
            "the conformance case {case} is defined but not listed in conformance_tests!, so it never runs"
        );
    }
    for case in registered {
        assert!(defined.contains(case), "{case} is listed but not defined");
    }
    assert!(defined.len() >= 20, "the case scan found only {defined:?}");
}

fn fields(v: Value) -> LeadFields {
    LeadFields::parse(v).expect("valid lead fields")
}

fn query(params: &[(&str, &str)]) -> LeadQuery {
    let params: Vec<(String, String)> = params
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    LeadQuery::parse(&params).expect("a valid query")
}

async fn names(store: &dyn Store, c: &CompanyId, params: &[(&str, &str)]) -> Vec<String> {
    store
        .list_leads(c, &query(params))
        .await
        .expect("list")
        .items
        .into_iter()
        .map(|l| l.fields.name)
        .collect()
}

async fn create(store: &dyn Store, c: &CompanyId, v: Value) -> shared::domain::lead::Lead {
    store
        .create_lead(c, fields(v), "tester")
        .await
        .expect("create lead")
}

/// The pending events of company `c` whose kind starts with `kind`: kind and data, in order.
async fn told(store: &dyn Store, c: &CompanyId, kind: &str) -> Vec<(String, Value)> {
    store
        .pending_events(1000)
        .await
        .expect("pending events")
        .into_iter()
        .filter(|e| e.company_id == *c && e.kind.starts_with(kind))
        .map(|e| (e.kind, e.data))
        .collect()
}

/// A new lead named `name` and its WhatsApp conversation.
async fn lead_on_whatsapp(
    store: &dyn Store,
    c: &CompanyId,
    name: &str,
) -> (
    shared::domain::lead::Lead,
    shared::domain::conversation::Conversation,
) {
    let lead = create(store, c, json!({"name": name})).await;
    let conv = store
        .create_conversation(c, lead.id, Channel::Whatsapp)
        .await
        .expect("conversation");
    (lead, conv)
}

pub async fn companies_are_unique_by_name(store: &dyn Store) {
    let acme = store.create_company("Acme Ltda").await.expect("create");
    assert_eq!(store.get_company(&acme.id).await.expect("get"), acme);
    assert_eq!(acme.settings["timezone"], "America/Sao_Paulo");
    let found = store.find_company_by_name("acme ltda").await.expect("find");
    assert_eq!(found.map(|c| c.id), Some(acme.id.clone()));
    match store.create_company("ACME LTDA").await {
        Err(StoreError::Duplicate { existing_id, .. }) => {
            assert_eq!(existing_id, acme.id.to_string())
        }
        other => panic!("expected a duplicate, got {other:?}"),
    }
    assert_eq!(
        store.find_company_by_name("nobody").await.expect("find"),
        None
    );
}

pub async fn lead_round_trips_byte_exact_with_defaults(store: &dyn Store) {
    let c = company();
    let lead = create(
        store,
        &c,
        json!({"name": "João da Conceição", "notes": "não 🎉", "custom_fields": {"orçamento": 1500, "tags": ["pão"]}}),
    )
    .await;
    assert_eq!(lead.fields.pipeline, "novos-leads");
    assert_eq!(lead.fields.status, "novo");
    assert_eq!(lead.fields.score, 0);
    let read = store.get_lead(&c, lead.id).await.expect("get");
    assert_eq!(read, lead);
    assert_eq!(read.fields.name, "João da Conceição");
    assert_eq!(read.fields.notes.as_deref(), Some("não 🎉"));
    assert_eq!(read.fields.custom_fields["orçamento"], 1500);
}

pub async fn phone_and_email_belong_to_one_lead_per_company(store: &dyn Store) {
    let (a, b) = (company(), company());
    let first = create(
        store,
        &a,
        json!({"name": "Ana", "phone": "+55 11 9 8765-4321", "email": "Ana@Exemplo.com"}),
    )
    .await;
    for dup in [
        json!({"name": "x", "phone": "+5511987654321"}),
        json!({"name": "x", "phone": "+551187654321"}),
        json!({"name": "x", "email": "ana@exemplo.COM"}),
    ] {
        match store.create_lead(&a, fields(dup.clone()), "t").await {
            Err(StoreError::Duplicate { existing_id, .. }) => {
                assert_eq!(existing_id, first.id.to_string(), "{dup}")
            }
            other => panic!("{dup}: expected a duplicate, got {other:?}"),
        }
    }
    // Another company may have the same contact.
    create(
        store,
        &b,
        json!({"name": "Ana", "phone": "+551187654321", "email": "ana@exemplo.com"}),
    )
    .await;
    // A landline is never padded: 3333-4444 and 9 3333-4444 are different numbers.
    create(store, &a, json!({"name": "Fixo", "phone": "+551133334444"})).await;
    create(
        store,
        &a,
        json!({"name": "Outro", "phone": "+5511933334444"}),
    )
    .await;
    assert_eq!(
        store.list_leads(&a, &query(&[])).await.expect("list").total,
        3
    );
}

pub async fn another_companys_lead_is_not_found(store: &dyn Store) {
    let (a, b) = (company(), company());
    let lead = create(store, &a, json!({"name": "Privado"})).await;
    assert_eq!(store.get_lead(&b, lead.id).await, Err(StoreError::NotFound));
    assert_eq!(
        store.lead_history(&b, lead.id).await,
        Err(StoreError::NotFound)
    );
    assert_eq!(
        store.delete_lead(&b, lead.id).await,
        Err(StoreError::NotFound)
    );
    let update = LeadUpdate {
        fields: fields(json!({"name": "Roubado"})),
        expected_version: lead.version,
        changes: vec![],
        by: "intruder".into(),
    };
    assert_eq!(
        store.update_lead(&b, lead.id, update).await,
        Err(StoreError::NotFound)
    );
    assert!(names(store, &b, &[]).await.is_empty());
    assert_eq!(
        store
            .get_lead(&a, lead.id)
            .await
            .expect("still there")
            .fields
            .name,
        "Privado"
    );
    let missing = LeadId(uuid::Uuid::now_v7());
    assert_eq!(store.get_lead(&a, missing).await, Err(StoreError::NotFound));
}

pub async fn updates_bump_version_and_append_history(store: &dyn Store) {
    let c = company();
    let lead = create(store, &c, json!({"name": "Bia"})).await;
    let next = lead
        .fields
        .patched(&json!({"status": "qualificado", "pipeline": "vendas"}))
        .expect("patch");
    let update = LeadUpdate {
        changes: lead.fields.changes_to(&next),
        fields: next,
        expected_version: lead.version,
        by: "maria".into(),
    };
    let updated = store
        .update_lead(&c, lead.id, update)
        .await
        .expect("update");
    assert_eq!(updated.fields.status, "qualificado");
    assert!(updated.version > lead.version);
    assert!(updated.updated_at >= lead.updated_at);
    assert_eq!(updated.created_at, lead.created_at);
    let history = store.lead_history(&c, lead.id).await.expect("history");
    let kinds: Vec<_> = history
        .iter()
        .map(|e| {
            (
                e.kind.as_str(),
                e.from.as_deref(),
                e.to.as_deref(),
                e.by.as_deref(),
            )
        })
        .collect();
    assert_eq!(
        kinds,
        vec![
            ("created", None, Some("novo"), Some("tester")),
            (
                "status_changed",
                Some("novo"),
                Some("qualificado"),
                Some("maria")
            ),
            (
                "pipeline_changed",
                Some("novos-leads"),
                Some("vendas"),
                Some("maria")
            ),
        ]
    );
}

pub async fn a_stale_update_is_a_conflict_and_writes_nothing(store: &dyn Store) {
    let c = company();
    let lead = create(store, &c, json!({"name": "Caio"})).await;
    let first = LeadUpdate {
        fields: fields(json!({"name": "Caio", "status": "contato"})),
        expected_version: lead.version,
        changes: lead
            .fields
            .changes_to(&fields(json!({"name": "Caio", "status": "contato"}))),
        by: "a".into(),
    };
    store
        .update_lead(&c, lead.id, first)
        .await
        .expect("first update");
    let stale = LeadUpdate {
        fields: fields(json!({"name": "Caio", "status": "perdido"})),
        expected_version: lead.version,
        changes: lead
            .fields
            .changes_to(&fields(json!({"name": "Caio", "status": "perdido"}))),
        by: "b".into(),
    };
    assert!(matches!(
        store.update_lead(&c, lead.id, stale).await,
        Err(StoreError::Conflict(_))
    ));
    assert_eq!(
        store
            .get_lead(&c, lead.id)
            .await
            .expect("get")
            .fields
            .status,
        "contato"
    );
    assert_eq!(
        store
            .lead_history(&c, lead.id)
            .await
            .expect("history")
            .len(),
        2
    );
}

pub async fn an_update_cannot_take_another_leads_phone(store: &dyn Store) {
    let c = company();
    let ana = create(store, &c, json!({"name": "Ana", "phone": "+5521996543210"})).await;
    let bia = create(store, &c, json!({"name": "Bia", "phone": "+5521996543211"})).await;
    let update = LeadUpdate {
        fields: fields(json!({"name": "Bia", "phone": "+552196543210"})),
        expected_version: bia.version,
        changes: vec![],
        by: "t".into(),
    };
    match store.update_lead(&c, bia.id, update).await {
        Err(StoreError::Duplicate { field, existing_id }) => {
            assert_eq!(field, "phone");
            assert_eq!(existing_id, ana.id.to_string());
        }
        other => panic!("expected a duplicate, got {other:?}"),
    }
    // Keeping one's own phone is no conflict.
    let same = LeadUpdate {
        fields: fields(json!({"name": "Bianca", "phone": "+5521996543211"})),
        expected_version: bia.version,
        changes: vec![],
        by: "t".into(),
    };
    store
        .update_lead(&c, bia.id, same)
        .await
        .expect("own phone kept");
}

pub async fn deleting_a_lead_erases_its_conversations_and_messages(store: &dyn Store) {
    let c = company();
    let lead = create(store, &c, json!({"name": "Apagar"})).await;
    let keep = create(store, &c, json!({"name": "Manter"})).await;
    let conv = store
        .create_conversation(&c, lead.id, Channel::Whatsapp)
        .await
        .expect("conversation");
    let other = store
        .create_conversation(&c, keep.id, Channel::Whatsapp)
        .await
        .expect("conversation");
    for conversation in [conv.id, other.id] {
        store
            .add_message(
                &c,
                conversation,
                NewMessage {
                    role: Role::User,
                    content: "oi".into(),
                    kind: "text".into(),
                    metadata: json!({}),
                    created_at: None,
                    external_id: None,
                    status: None,
                },
            )
            .await
            .expect("message");
    }
    store.delete_lead(&c, lead.id).await.expect("delete");
    assert_eq!(store.get_lead(&c, lead.id).await, Err(StoreError::NotFound));
    assert_eq!(
        store.get_conversation(&c, conv.id).await,
        Err(StoreError::NotFound)
    );
    assert_eq!(
        crate::all_messages(store, &c, conv.id).await,
        Err(StoreError::NotFound)
    );
    assert_eq!(
        store.lead_history(&c, lead.id).await,
        Err(StoreError::NotFound)
    );
    assert_eq!(
        store.delete_lead(&c, lead.id).await,
        Err(StoreError::NotFound)
    );
    // The other lead's conversation is untouched.
    assert_eq!(
        crate::all_messages(store, &c, other.id)
            .await
            .expect("messages")
            .len(),
        1
    );
}

pub async fn list_filters_and_accent_insensitive_search(store: &dyn Store) {
    let c = company();
    create(
        store,
        &c,
        json!({"name": "João Silva", "status": "novo", "source": "whatsapp", "user_id": "u1"}),
    )
    .await;
    create(store, &c, json!({"name": "Maria", "email": "maria@conceicao.com.br", "status": "qualificado", "pipeline": "vendas"})).await;
    create(store, &c, json!({"name": "Pedro", "company": "Padaria São João", "phone": "+5511987650000", "source": "instagram"})).await;
    create(store, &c, json!({"name": "100%_real", "source": "site"})).await;
    let mut joao = names(
        store,
        &c,
        &[("search", "joao"), ("sort", "name"), ("order", "asc")],
    )
    .await;
    joao.sort();
    assert_eq!(joao, vec!["João Silva", "Pedro"]);
    assert_eq!(
        names(store, &c, &[("search", "CONCEIÇÃO")]).await,
        vec!["Maria"]
    );
    assert_eq!(
        names(store, &c, &[("search", "98765")]).await,
        vec!["Pedro"]
    );
    assert_eq!(
        names(store, &c, &[("search", "%_")]).await,
        vec!["100%_real"]
    );
    assert_eq!(
        names(store, &c, &[("status", "qualificado")]).await,
        vec!["Maria"]
    );
    assert_eq!(
        names(store, &c, &[("pipeline", "vendas")]).await,
        vec!["Maria"]
    );
    assert_eq!(
        names(store, &c, &[("source", "instagram")]).await,
        vec!["Pedro"]
    );
    assert_eq!(
        names(store, &c, &[("user_id", "u1")]).await,
        vec!["João Silva"]
    );
    assert_eq!(
        names(store, &c, &[("created_from", "2999-01-01")]).await,
        Vec::<String>::new()
    );
    assert_eq!(
        names(store, &c, &[("created_to", "2000-01-01")]).await,
        Vec::<String>::new()
    );
    assert_eq!(
        names(store, &c, &[("created_from", "2000-01-01T00:00:00Z")])
            .await
            .len(),
        4
    );
}

pub async fn list_sorts_and_pages_by_offset(store: &dyn Store) {
    let c = company();
    for (name, score) in [
        ("Carla", 30),
        ("ana", 90),
        ("Bruno", 60),
        ("Émile", 10),
        ("Davi", 60),
    ] {
        create(store, &c, json!({"name": name, "score": score})).await;
    }
    assert_eq!(
        names(store, &c, &[("sort", "name"), ("order", "asc")]).await,
        vec!["ana", "Bruno", "Carla", "Davi", "Émile"]
    );
    // Ties on score fall back to the id, i.e. creation order.
    assert_eq!(
        names(store, &c, &[("sort", "score"), ("order", "asc")]).await,
        vec!["Émile", "Carla", "Bruno", "Davi", "ana"]
    );
    assert_eq!(
        names(store, &c, &[]).await,
        vec!["Davi", "Émile", "Bruno", "ana", "Carla"]
    );
    let page2 = store
        .list_leads(
            &c,
            &query(&[
                ("sort", "name"),
                ("order", "asc"),
                ("limit", "2"),
                ("page", "2"),
            ]),
        )
        .await
        .expect("list");
    assert_eq!(page2.total, 5);
    assert!(page2.has_more);
    assert_eq!(
        page2
            .items
            .iter()
            .map(|l| l.fields.name.as_str())
            .collect::<Vec<_>>(),
        vec!["Carla", "Davi"]
    );
    let page3 = store
        .list_leads(
            &c,
            &query(&[
                ("sort", "name"),
                ("order", "asc"),
                ("limit", "2"),
                ("page", "3"),
            ]),
        )
        .await
        .expect("list");
    assert!(!page3.has_more);
    assert_eq!(page3.items.len(), 1);
}

pub async fn cursor_pages_are_stable_under_inserts(store: &dyn Store) {
    use shared::domain::page::Cursor;
    let c = company();
    let mut expected = Vec::new();
    for i in 0..25 {
        let name = format!("lead-{i:02}");
        create(store, &c, json!({"name": name, "score": i % 3})).await;
        expected.push(name);
    }
    for (sort, order) in [("created_at", "desc"), ("score", "asc"), ("name", "desc")] {
        let mut seen = Vec::new();
        let mut cursor: Option<String> = None;
        let mut inserted = 0;
        loop {
            let mut params = vec![("sort", sort), ("order", order), ("limit", "7")];
            if let Some(c) = cursor.as_deref() {
                params.push(("cursor", c));
            }
            let q = query(&params);
            let page = store.list_leads(&c, &q).await.expect("list");
            seen.extend(page.items.iter().map(|l| l.fields.name.clone()));
            // Someone adds a lead between every two pages.
            inserted += 1;
            create(
                store,
                &c,
                json!({"name": format!("new-{sort}-{inserted}"), "score": 1}),
            )
            .await;
            if !page.has_more {
                break;
            }
            let last = page.items.last().expect("a full page has a last item");
            cursor = Some(
                Cursor {
                    position: None,
                    sort: sort.into(),
                    order: q.page.order,
                    value: last.sort_value(q.sort),
                    id: last.id.to_string(),
                }
                .encode(),
            );
        }
        let originals: Vec<&String> = seen.iter().filter(|n| n.starts_with("lead-")).collect();
        let mut unique = originals.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(
            unique.len(),
            originals.len(),
            "{sort} {order}: no lead twice"
        );
        assert_eq!(
            originals.len(),
            25,
            "{sort} {order}: every lead that existed at the start is seen"
        );
    }
}

pub async fn one_active_conversation_per_lead_and_channel(store: &dyn Store) {
    let (c, other) = (company(), company());
    let lead = create(store, &c, json!({"name": "Conversa"})).await;
    let conv = store
        .create_conversation(&c, lead.id, Channel::Whatsapp)
        .await
        .expect("first");
    match store
        .create_conversation(&c, lead.id, Channel::Whatsapp)
        .await
    {
        Err(StoreError::Duplicate { existing_id, .. }) => {
            assert_eq!(existing_id, conv.id.to_string())
        }
        other => panic!("expected a duplicate, got {other:?}"),
    }
    store
        .create_conversation(&c, lead.id, Channel::Instagram)
        .await
        .expect("another channel");
    assert_eq!(
        store
            .create_conversation(&other, lead.id, Channel::Facebook)
            .await,
        Err(StoreError::NotFound)
    );
    assert_eq!(
        store.get_conversation(&other, conv.id).await,
        Err(StoreError::NotFound)
    );
}

pub async fn messages_keep_order_and_move_the_conversation(store: &dyn Store) {
    use shared::domain::Timestamp;
    let c = company();
    let lead = create(store, &c, json!({"name": "Mensagens"})).await;
    let conv = store
        .create_conversation(&c, lead.id, Channel::Whatsapp)
        .await
        .expect("conversation");
    let at = |s: &str| Timestamp::parse(s).expect("time");
    let msgs = [
        (Role::User, "Olá, tudo bem? 😀", "2026-11-27T10:00:00.000Z"),
        (
            Role::Assistant,
            "Tudo ótimo, não se preocupe",
            "2026-11-27T10:00:05.000Z",
        ),
    ];
    for (role, content, time) in msgs {
        store
            .add_message(
                &c,
                conv.id,
                NewMessage {
                    role,
                    content: content.into(),
                    kind: "text".into(),
                    metadata: json!({"wamid": "wamid.X"}),
                    created_at: Some(at(time)),
                    external_id: None,
                    status: None,
                },
            )
            .await
            .expect("message");
    }
    let listed = crate::all_messages(store, &c, conv.id).await.expect("list");
    assert_eq!(
        listed
            .iter()
            .map(|m| m.content.as_str())
            .collect::<Vec<_>>(),
        vec!["Olá, tudo bem? 😀", "Tudo ótimo, não se preocupe"]
    );
    assert_eq!(listed[0].created_at, at("2026-11-27T10:00:00.000Z"));
    let conv = store
        .get_conversation(&c, conv.id)
        .await
        .expect("conversation");
    assert_eq!(conv.last_message_at, Some(at("2026-11-27T10:00:05.000Z")));
    assert_eq!(conv.last_inbound_at, Some(at("2026-11-27T10:00:00.000Z")));
}

pub async fn company_settings_change_and_names_stay_unique(store: &dyn Store) {
    use shared::domain::company::CompanyChange;
    let a = store.create_company("Padaria Pão Quente").await.expect("a");
    let b = store.create_company("Oficina do Zé").await.expect("b");
    let settings = json!({"timezone": "America/Manaus", "rate_limits": {"leads": {"per_hour": 50, "burst": 5}}});
    let changed = store
        .update_company(
            &a.id,
            CompanyChange {
                name: Some("Padaria Pão Quentinho".into()),
                domain: Some(Some("paoquente.com.br".into())),
                settings: Some(settings.clone()),
            },
        )
        .await
        .expect("update");
    assert_eq!(changed.name, "Padaria Pão Quentinho");
    assert_eq!(changed.settings, settings);
    let read = store.get_company(&a.id).await.expect("get");
    assert_eq!(read.domain.as_deref(), Some("paoquente.com.br"));
    assert_eq!(read.settings, settings);
    assert_eq!(
        store
            .find_company_by_name("padaria pao quentinho")
            .await
            .expect("find")
            .map(|c| c.id),
        Some(a.id.clone())
    );
    // The old name is free again; another company's name is not.
    assert_eq!(
        store
            .find_company_by_name("Padaria Pão Quente")
            .await
            .expect("find"),
        None
    );
    let clash = store
        .update_company(
            &b.id,
            CompanyChange {
                name: Some("PADARIA PÃO QUENTINHO".into()),
                ..Default::default()
            },
        )
        .await;
    assert!(
        matches!(clash, Err(StoreError::Duplicate { .. })),
        "{clash:?}"
    );
    let cleared = store
        .update_company(
            &a.id,
            CompanyChange {
                domain: Some(None),
                ..Default::default()
            },
        )
        .await
        .expect("clear");
    assert_eq!(cleared.domain, None);
    assert_eq!(cleared.name, "Padaria Pão Quentinho");
    assert_eq!(
        store
            .update_company(&company(), CompanyChange::default())
            .await,
        Err(StoreError::NotFound)
    );
}

pub async fn api_keys_are_found_by_hash_until_revoked(store: &dyn Store) {
    use shared::domain::account::{generate_api_key, hash_api_key, NewApiKey};
    let (a, b) = (company(), company());
    let (hash, prefix, key) = generate_api_key().expect("a key");
    assert!(key.starts_with(&prefix) && key.starts_with("wzk_"));
    let created = store
        .create_api_key(
            &a,
            NewApiKey {
                name: "Integração ERP".into(),
                scopes: vec!["read".into(), "write".into()],
                hash: hash.clone(),
                prefix,
                created_by: "owner".into(),
            },
        )
        .await
        .expect("create");
    assert!(created.active);
    let found = store
        .find_api_key(&hash_api_key(&key))
        .await
        .expect("find")
        .expect("found");
    assert_eq!(found.id, created.id);
    assert_eq!(found.company_id, a);
    assert_eq!(
        store
            .find_api_key(&hash_api_key("wzk_other"))
            .await
            .expect("find"),
        None
    );
    let at = shared::domain::Timestamp::now();
    store
        .touch_api_key(&a, created.id, at)
        .await
        .expect("touch");
    let listed = store.list_api_keys(&a).await.expect("list");
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].last_used_at, Some(at));
    assert!(store.list_api_keys(&b).await.expect("list").is_empty());
    assert_eq!(
        store.revoke_api_key(&b, created.id).await,
        Err(StoreError::NotFound)
    );
    store.revoke_api_key(&a, created.id).await.expect("revoke");
    assert_eq!(store.find_api_key(&hash).await.expect("find"), None);
    let listed = store.list_api_keys(&a).await.expect("list");
    assert_eq!((listed.len(), listed[0].active), (1, false));
}

pub async fn channel_ids_belong_to_one_company_and_tokens_stay_inside(store: &dyn Store) {
    use shared::domain::account::{AccessToken, ChannelChange, NewChannelAccount};
    use shared::domain::autoreply::Assignment;
    let (a, b) = (company(), company());
    let agent = uuid::Uuid::now_v7();
    let new = |token: &str| NewChannelAccount {
        channel: Channel::Whatsapp,
        external_id: "106540352242922".into(),
        name: "Vendas".into(),
        token: AccessToken::new(token.into()),
    };
    let created = store
        .create_channel(&a, new("EAAG-secret-token-1234"))
        .await
        .expect("create");
    assert_eq!(created.token_hint, "…1234");
    let as_json = serde_json::to_string(&created).expect("json");
    assert!(!as_json.contains("secret"), "{as_json}");
    match store.create_channel(&b, new("EAAG-other")).await {
        Err(StoreError::Duplicate { existing_id, .. }) => {
            assert_eq!(existing_id, created.id.to_string())
        }
        other => panic!("expected a duplicate, got {other:?}"),
    }
    // The same id on another channel kind is another account.
    let page = NewChannelAccount {
        channel: Channel::Facebook,
        ..new("EAAG-page")
    };
    store
        .create_channel(&b, page)
        .await
        .expect("a page with the same number");
    assert_eq!(
        store
            .channel_token(&a, created.id)
            .await
            .expect("token")
            .expose(),
        "EAAG-secret-token-1234"
    );
    assert_eq!(
        store.channel_token(&b, created.id).await.map(|_| ()),
        Err(StoreError::NotFound)
    );
    let routed = store
        .find_channel(Channel::Whatsapp, "106540352242922")
        .await
        .expect("find")
        .expect("routed");
    assert_eq!(
        (routed.id, routed.company_id.clone()),
        (created.id, a.clone())
    );
    assert_eq!(
        store
            .find_channel(Channel::Instagram, "106540352242922")
            .await
            .expect("find"),
        None
    );
    let renamed = store
        .update_channel(
            &a,
            created.id,
            ChannelChange {
                name: Some("Suporte".into()),
                token: Some(AccessToken::new("EAAG-rotated-9876".into())),
                agent_id: Some(Some(agent)),
                auto_reply: Some(true),
            },
        )
        .await
        .expect("update");
    assert_eq!(
        (renamed.name.as_str(), renamed.token_hint.as_str()),
        ("Suporte", "…9876")
    );
    assert_eq!(
        store
            .channel_token(&a, created.id)
            .await
            .expect("token")
            .expose(),
        "EAAG-rotated-9876"
    );
    // The agent assigned is kept, and a later change of the name alone keeps it.
    let expected = Assignment {
        agent_id: Some(agent),
        auto_reply: true,
    };
    assert_eq!(renamed.assignment, expected);
    let rename = ChannelChange {
        name: Some("Suporte 2".into()),
        ..ChannelChange::default()
    };
    let again = store
        .update_channel(&a, created.id, rename)
        .await
        .expect("rename");
    assert_eq!(again.assignment, expected);
    assert_eq!(
        store
            .get_channel(&a, created.id)
            .await
            .expect("get")
            .assignment,
        expected
    );
    assert_eq!(store.list_channels(&a).await.expect("list").len(), 1);
    assert_eq!(
        store.delete_channel(&b, created.id).await,
        Err(StoreError::NotFound)
    );
    store.delete_channel(&a, created.id).await.expect("delete");
    assert_eq!(
        store
            .find_channel(Channel::Whatsapp, "106540352242922")
            .await
            .expect("find"),
        None
    );
    // Once disconnected, another company may connect the number.
    store
        .create_channel(&b, new("EAAG-b"))
        .await
        .expect("free again");
}

pub async fn rate_buckets_allow_the_burst_then_refill(store: &dyn Store) {
    use shared::domain::rate_limit::Limit;
    let key = format!("{}:leads", company());
    let other = format!("{}:leads", company());
    let limit = Limit::new(500, 3600, 100);
    let t0 = 1_800_000_000_000i64;
    let mut remaining = Vec::new();
    let mut refused = 0;
    for _ in 0..150 {
        let d = store.take_rate_token(&key, &limit, t0).await.expect("take");
        if d.allowed {
            remaining.push(d.remaining)
        } else {
            refused += 1;
            assert!(d.retry_after_secs >= 7)
        }
    }
    assert_eq!(remaining, (0..100).rev().collect::<Vec<u32>>());
    assert_eq!(refused, 50);
    // Another bucket is untouched.
    assert_eq!(
        store
            .take_rate_token(&other, &limit, t0)
            .await
            .expect("take")
            .remaining,
        99
    );
    // 500/h: one token back every 7.2 s.
    assert!(
        !store
            .take_rate_token(&key, &limit, t0 + 7_000)
            .await
            .expect("take")
            .allowed
    );
    assert!(
        store
            .take_rate_token(&key, &limit, t0 + 7_300)
            .await
            .expect("take")
            .allowed
    );
    assert!(
        !store
            .take_rate_token(&key, &limit, t0 + 7_400)
            .await
            .expect("take")
            .allowed
    );
}

pub async fn rate_buckets_hold_under_concurrency(store: &dyn Store) {
    use shared::domain::rate_limit::Limit;
    let key = format!("{}:conversations", company());
    let limit = Limit::new(300, 3600, 50);
    let now = 1_800_000_000_000i64;
    let takes = (0..80).map(|_| store.take_rate_token(&key, &limit, now));
    let decisions: Vec<_> = crate::join_all(takes).await;
    let allowed = decisions
        .iter()
        .filter(|d| d.as_ref().map(|d| d.allowed).unwrap_or(false))
        .count();
    assert!(decisions.iter().all(|d| d.is_ok()), "{decisions:?}");
    assert_eq!(allowed, 50);
}

pub async fn idempotency_keys_replay_refuse_and_release(store: &dyn Store) {
    use shared::domain::idempotency::{Claim, StoredResponse, LEASE_SECS, TTL_SECS};
    use shared::domain::Timestamp;
    let (a, b) = (company(), company());
    let now = Timestamp::now();
    let later =
        |secs: i64| Timestamp::from_unix_seconds(now.inner().timestamp() + secs).expect("time");
    assert_eq!(
        store
            .claim_idempotency_key(&a, "k-1", "fp-1", now)
            .await
            .expect("claim"),
        Claim::Started
    );
    assert_eq!(
        store
            .claim_idempotency_key(&a, "k-1", "fp-1", now)
            .await
            .expect("claim"),
        Claim::InProgress
    );
    assert_eq!(
        store
            .claim_idempotency_key(&a, "k-1", "fp-2", now)
            .await
            .expect("claim"),
        Claim::Mismatch
    );
    // Keys are per company.
    assert_eq!(
        store
            .claim_idempotency_key(&b, "k-1", "fp-9", now)
            .await
            .expect("claim"),
        Claim::Started
    );
    let answer = StoredResponse {
        status: 201,
        content_type: "application/json".into(),
        body: "{\"success\":true,\"data\":{\"name\":\"João\"}}".into(),
    };
    store
        .finish_idempotency_key(&a, "k-1", &answer)
        .await
        .expect("finish");
    assert_eq!(
        store
            .claim_idempotency_key(&a, "k-1", "fp-1", now)
            .await
            .expect("claim"),
        Claim::Replay(answer.clone())
    );
    assert_eq!(
        store
            .claim_idempotency_key(&a, "k-1", "fp-2", now)
            .await
            .expect("claim"),
        Claim::Mismatch
    );
    // After 24 hours the key is new again.
    assert_eq!(
        store
            .claim_idempotency_key(&a, "k-1", "fp-2", later(TTL_SECS + 1))
            .await
            .expect("claim"),
        Claim::Started
    );
    // A failed request releases its key; an abandoned lease is taken over after it lapses.
    assert_eq!(
        store
            .claim_idempotency_key(&a, "k-2", "fp", now)
            .await
            .expect("claim"),
        Claim::Started
    );
    store
        .abandon_idempotency_key(&a, "k-2")
        .await
        .expect("abandon");
    assert_eq!(
        store
            .claim_idempotency_key(&a, "k-2", "fp", now)
            .await
            .expect("claim"),
        Claim::Started
    );
    assert_eq!(
        store
            .claim_idempotency_key(&a, "k-2", "fp", later(LEASE_SECS + 1))
            .await
            .expect("claim"),
        Claim::Started
    );
}

fn channel_message(
    id: &str,
    status: Option<shared::domain::inbound::DeliveryStatus>,
) -> NewMessage {
    let mut m = NewMessage::plain(Role::User, "oi 👋", "text");
    m.external_id = Some(id.into());
    m.status = status;
    m
}

pub async fn channel_messages_are_stored_once_by_their_id(store: &dyn Store) {
    let (a, b) = (company(), company());
    let lead = create(store, &a, json!({"name": "Ana"})).await;
    let conv = store
        .create_conversation(&a, lead.id, Channel::Whatsapp)
        .await
        .expect("conversation");
    let first = store
        .add_message(&a, conv.id, channel_message("wamid.1", None))
        .await
        .expect("first");
    assert_eq!(first.external_id.as_deref(), Some("wamid.1"));
    match store
        .add_message(&a, conv.id, channel_message("wamid.1", None))
        .await
    {
        Err(StoreError::Duplicate { existing_id, .. }) => {
            assert_eq!(existing_id, first.id.to_string())
        }
        other => panic!("expected a duplicate, got {other:?}"),
    }
    // Ids are per company.
    let lead_b = create(store, &b, json!({"name": "Bia"})).await;
    let conv_b = store
        .create_conversation(&b, lead_b.id, Channel::Whatsapp)
        .await
        .expect("conversation");
    store
        .add_message(&b, conv_b.id, channel_message("wamid.1", None))
        .await
        .expect("another company");
    assert_eq!(
        crate::all_messages(store, &a, conv.id)
            .await
            .expect("list")
            .len(),
        1
    );
    // Erasing the lead frees its ids.
    store.delete_lead(&a, lead.id).await.expect("delete");
    let again = create(store, &a, json!({"name": "Ana de novo"})).await;
    let conv = store
        .create_conversation(&a, again.id, Channel::Whatsapp)
        .await
        .expect("conversation");
    store
        .add_message(&a, conv.id, channel_message("wamid.1", None))
        .await
        .expect("stored again after erasure");
}

pub async fn delivery_statuses_move_forward_and_wait_for_their_message(store: &dyn Store) {
    use shared::domain::conversation::StatusOutcome;
    use shared::domain::inbound::DeliveryStatus::*;
    let c = company();
    let lead = create(store, &c, json!({"name": "Caio"})).await;
    let conv = store
        .create_conversation(&c, lead.id, Channel::Whatsapp)
        .await
        .expect("conversation");
    store
        .add_message(&c, conv.id, channel_message("wamid.S", Some(Sent)))
        .await
        .expect("message");
    let apply = |id: &'static str, status, error| store.apply_message_status(&c, id, status, error);
    assert_eq!(
        apply("wamid.S", Read, None).await.expect("read"),
        StatusOutcome::Applied
    );
    assert_eq!(
        apply("wamid.S", Delivered, None).await.expect("delivered"),
        StatusOutcome::Unchanged
    );
    assert_eq!(
        apply("wamid.S", Sent, None).await.expect("sent"),
        StatusOutcome::Unchanged
    );
    let error = json!({"code": 131026, "title": "Message undeliverable"});
    store
        .add_message(&c, conv.id, channel_message("wamid.F", Some(Sent)))
        .await
        .expect("message");
    assert_eq!(
        apply("wamid.F", Failed, Some(error.clone()))
            .await
            .expect("failed"),
        StatusOutcome::Applied
    );
    assert_eq!(
        apply("wamid.F", Read, None).await.expect("read"),
        StatusOutcome::Unchanged
    );
    // Before its message: kept, the furthest one wins, applied on arrival.
    assert_eq!(
        apply("wamid.L", Delivered, None).await.expect("pending"),
        StatusOutcome::Pending
    );
    assert_eq!(
        apply("wamid.L", Sent, None).await.expect("pending"),
        StatusOutcome::Pending
    );
    let late = store
        .add_message(&c, conv.id, channel_message("wamid.L", Some(Sent)))
        .await
        .expect("late");
    assert_eq!(late.status, Some(Delivered));
    let listed = crate::all_messages(store, &c, conv.id).await.expect("list");
    let status = |id: &str| {
        listed
            .iter()
            .find(|m| m.external_id.as_deref() == Some(id))
            .map(|m| (m.status, m.error.clone()))
    };
    assert_eq!(status("wamid.S"), Some((Some(Read), None)));
    assert_eq!(status("wamid.F"), Some((Some(Failed), Some(error))));
    assert_eq!(status("wamid.L"), Some((Some(Delivered), None)));
}

pub async fn scoped_contacts_belong_to_one_lead(store: &dyn Store) {
    let (a, b) = (company(), company());
    let lead = create(store, &a, json!({"name": "Instagram 123"})).await;
    assert_eq!(
        store
            .find_contact(&a, Channel::Instagram, "123")
            .await
            .expect("find"),
        None
    );
    store
        .claim_contact(&a, Channel::Instagram, "123", lead.id)
        .await
        .expect("claim");
    assert_eq!(
        store
            .find_contact(&a, Channel::Instagram, "123")
            .await
            .expect("find"),
        Some(lead.id)
    );
    assert_eq!(
        store
            .find_contact(&a, Channel::Facebook, "123")
            .await
            .expect("find"),
        None
    );
    assert_eq!(
        store
            .find_contact(&b, Channel::Instagram, "123")
            .await
            .expect("find"),
        None
    );
    let other = create(store, &a, json!({"name": "Outro"})).await;
    match store
        .claim_contact(&a, Channel::Instagram, "123", other.id)
        .await
    {
        Err(StoreError::Duplicate { existing_id, .. }) => {
            assert_eq!(existing_id, lead.id.to_string())
        }
        other => panic!("expected a duplicate, got {other:?}"),
    }
    store.delete_lead(&a, lead.id).await.expect("delete");
    assert_eq!(
        store
            .find_contact(&a, Channel::Instagram, "123")
            .await
            .expect("find"),
        None,
        "erased with the lead"
    );
    store
        .claim_contact(&a, Channel::Instagram, "123", other.id)
        .await
        .expect("free again");
}

pub async fn inbound_endpoints_are_found_by_client_id(store: &dyn Store) {
    use shared::domain::account::AccessToken;
    let (a, b) = (company(), company());
    let client_id = format!("wh_{}", uuid::Uuid::new_v4().simple());
    let secret = AccessToken::new("whsec_segredo".into());
    let created = store
        .create_inbound_endpoint(&a, "ERP", &client_id, &secret)
        .await
        .expect("create");
    let (found, found_secret) = store
        .find_inbound_endpoint(&client_id)
        .await
        .expect("find")
        .expect("found");
    assert_eq!(
        (found, found_secret.expose()),
        (created.clone(), "whsec_segredo")
    );
    assert_eq!(
        store.list_inbound_endpoints(&a).await.expect("list"),
        vec![created.clone()]
    );
    assert!(store
        .list_inbound_endpoints(&b)
        .await
        .expect("list")
        .is_empty());
    assert_eq!(
        store.delete_inbound_endpoint(&b, created.id).await,
        Err(StoreError::NotFound)
    );
    store
        .delete_inbound_endpoint(&a, created.id)
        .await
        .expect("delete");
    assert_eq!(
        store.find_inbound_endpoint(&client_id).await.expect("find"),
        None
    );
}

pub async fn lead_marks_only_move_forward(store: &dyn Store) {
    let c = company();
    let lead = create(store, &c, json!({"name": "Marcada"})).await;
    let mark = |at| store.advance_lead_mark(&c, lead.id, "webhook:ERP", at);
    assert_eq!(mark(100).await, Ok(true), "the first mark");
    assert_eq!(mark(100).await, Ok(true), "the same time again");
    assert_eq!(mark(99).await, Ok(false), "an older change");
    assert_eq!(mark(150).await, Ok(true), "a newer one");
    assert_eq!(mark(120).await, Ok(false), "older than the newest");
    // Each source has its own mark; another company's lead is not found.
    assert_eq!(
        store.advance_lead_mark(&c, lead.id, "webhook:CRM", 1).await,
        Ok(true)
    );
    assert_eq!(
        store
            .advance_lead_mark(&company(), lead.id, "webhook:ERP", 500)
            .await,
        Err(StoreError::NotFound)
    );
}

/// Every limit a setting may hold, at its extremes and between them, at clock readings from
/// the epoch to the year 2100: a full bucket allows exactly its burst, never overflows, and
/// tells a refused caller when to come back.
pub async fn rate_buckets_hold_at_every_accepted_extreme(store: &dyn Store) {
    use shared::domain::rate_limit::{Limit, MAX_BURST, MAX_PER_PERIOD};
    let counts = [1, 2, 7, 999, MAX_PER_PERIOD / 3, MAX_PER_PERIOD];
    let bursts = [1, 3, MAX_BURST];
    let periods = [60, 3600, 86_400];
    let clocks = [0_i64, 1_700_000_000_000, 4_102_444_800_000];
    let mut seed = 0x9e37_79b9_u64;
    let mut cases = 0;
    for (i, per_period) in counts.iter().enumerate() {
        for burst in bursts {
            for period_secs in periods {
                // One clock per combination, spread over the three.
                seed = seed
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                let now = clocks[(seed >> 33) as usize % clocks.len()];
                let limit = Limit::new(*per_period, period_secs, burst);
                let key = format!("extreme:{}:{i}:{burst}:{period_secs}", uuid::Uuid::new_v4());
                let first = store
                    .take_rate_token(&key, &limit, now)
                    .await
                    .expect("take");
                assert!(first.allowed, "{limit:?} at {now}");
                assert_eq!(first.limit, burst);
                assert_eq!(first.remaining, burst - 1, "{limit:?}");
                if burst <= 3 {
                    for _ in 1..burst {
                        let d = store
                            .take_rate_token(&key, &limit, now)
                            .await
                            .expect("take");
                        assert!(d.allowed, "{limit:?}");
                    }
                    let refused = store
                        .take_rate_token(&key, &limit, now)
                        .await
                        .expect("take");
                    assert!(!refused.allowed, "{limit:?}: more than the burst at once");
                    assert!(refused.retry_after_secs >= 1, "{limit:?}");
                    assert!(
                        refused.retry_after_secs <= u64::from(period_secs),
                        "{limit:?}: {}",
                        refused.retry_after_secs
                    );
                }
                cases += 1;
            }
        }
    }
    assert_eq!(cases, counts.len() * bursts.len() * periods.len());
}

pub async fn rate_buckets_taken_together_stop_at_the_first_refusal(store: &dyn Store) {
    use shared::domain::rate_limit::Limit;
    let (mine, company) = (
        format!("together:{}:caller", uuid::Uuid::new_v4()),
        format!("together:{}:company", uuid::Uuid::new_v4()),
    );
    let (one, five) = (Limit::new(1, 3600, 1), Limit::new(5, 3600, 5));
    let now = 1_700_000_000_000;
    let first = store
        .take_rate_tokens(&[(&mine, &one), (&company, &five)], now)
        .await
        .expect("take");
    assert_eq!(
        first.iter().map(|d| d.allowed).collect::<Vec<_>>(),
        [true, true]
    );
    assert_eq!(first[1].remaining, 4);
    let second = store
        .take_rate_tokens(&[(&mine, &one), (&company, &five)], now)
        .await
        .expect("take");
    assert_eq!(second.len(), 1, "the refusal stops the charge");
    assert!(!second[0].allowed);
    let company_alone = store
        .take_rate_token(&company, &five, now)
        .await
        .expect("take");
    assert_eq!(company_alone.remaining, 3, "the company was charged once");
}

pub async fn a_sent_message_cannot_take_another_messages_channel_id(store: &dyn Store) {
    use shared::domain::inbound::DeliveryStatus;
    let c = company();
    let lead = create(store, &c, json!({"name": "Envio"})).await;
    let conv = store
        .create_conversation(&c, lead.id, Channel::Whatsapp)
        .await
        .expect("conversation");
    let mut sent = Vec::new();
    for text in ["um", "dois"] {
        let mut m = NewMessage::plain(Role::Assistant, text, "text");
        m.status = Some(DeliveryStatus::Pending);
        sent.push(store.add_message(&c, conv.id, m).await.expect("message"));
    }
    store
        .record_delivery(&c, &sent[0], Some("wamid.SAME"), DeliveryStatus::Sent, None)
        .await
        .expect("first");
    let second = store
        .record_delivery(&c, &sent[1], Some("wamid.SAME"), DeliveryStatus::Sent, None)
        .await;
    assert!(
        matches!(
            second,
            Err(StoreError::Conflict(_)) | Err(StoreError::Duplicate { .. })
        ),
        "{second:?}"
    );
    let listed = crate::all_messages(store, &c, conv.id).await.expect("list");
    let with_id: Vec<_> = listed
        .iter()
        .filter(|m| m.external_id.as_deref() == Some("wamid.SAME"))
        .collect();
    assert_eq!(with_id.len(), 1, "one message per channel id");
    assert_eq!(with_id[0].content, "um");
}

pub async fn agents_round_trip_and_stay_in_their_company(store: &dyn Store) {
    use shared::domain::agent::AgentFields;
    let c = company();
    let fields = AgentFields::parse(json!({
        "name": "Vendas", "type": "sales", "temperature": 0.3, "max_tokens": 300,
        "tools_config": {"update_lead": true}, "description": "Atende o Instagram"
    }))
    .expect("fields");
    let agent = store
        .create_agent(&c, fields.clone())
        .await
        .expect("create");
    let got = store.get_agent(&c, agent.id).await.expect("get");
    assert_eq!(got, agent);
    assert_eq!(got.fields, fields);
    let second = store
        .create_agent(
            &c,
            AgentFields::parse(json!({"name": "Suporte"})).expect("f"),
        )
        .await
        .expect("second");
    let listed: Vec<_> = store
        .list_agents(&c)
        .await
        .expect("list")
        .into_iter()
        .map(|a| a.id)
        .collect();
    assert_eq!(listed, vec![agent.id, second.id]);
    let other = company();
    assert_eq!(
        store.get_agent(&other, agent.id).await,
        Err(StoreError::NotFound)
    );
    assert!(store.list_agents(&other).await.expect("none").is_empty());
    let changed = fields
        .patched(&json!({"active": false, "model": "gpt-4o"}))
        .expect("patch");
    let updated = store
        .update_agent(&c, agent.id, changed.clone())
        .await
        .expect("update");
    assert_eq!(
        (updated.fields, updated.created_at),
        (changed.clone(), agent.created_at)
    );
    assert_eq!(
        store.update_agent(&other, agent.id, changed).await,
        Err(StoreError::NotFound)
    );
    assert_eq!(
        store.delete_agent(&other, agent.id).await,
        Err(StoreError::NotFound)
    );
    store.delete_agent(&c, agent.id).await.expect("delete");
    assert_eq!(
        store.get_agent(&c, agent.id).await,
        Err(StoreError::NotFound)
    );
}

pub async fn ai_reservations_hold_a_budget_under_concurrency(store: &dyn Store) {
    let c = company();
    // A budget that fits five reservations of 1000: twenty at once, five pass.
    let takes = (0..20).map(|_| store.reserve_ai_spend(&c, "2026-11", 1000, Some(5000)));
    let granted = crate::join_all(takes)
        .await
        .into_iter()
        .map(|r| r.expect("reserve"))
        .filter(|ok| *ok)
        .count();
    assert_eq!(granted, 5);
    assert_eq!(
        store.ai_spend(&c, "2026-11").await.expect("spend"),
        (0, 5000)
    );
    // Another company, and another month, are untouched; no budget always reserves.
    let other = company();
    assert!(store
        .reserve_ai_spend(&other, "2026-11", 1000, Some(5000))
        .await
        .expect("other"));
    assert!(store
        .reserve_ai_spend(&c, "2026-12", 1000, Some(5000))
        .await
        .expect("next month"));
    assert!(store
        .reserve_ai_spend(&c, "2026-11", 10_000, None)
        .await
        .expect("no budget"));
    // A released reservation makes room again.
    store
        .release_ai_spend(&c, "2026-11", 15_000)
        .await
        .expect("release");
    assert!(store
        .reserve_ai_spend(&c, "2026-11", 5000, Some(5000))
        .await
        .expect("room"));
}

pub async fn ai_calls_settle_into_spend_and_daily_usage(store: &dyn Store) {
    use shared::domain::ai::Usage;
    use shared::store::AiCall;
    let c = company();
    let call = |day: &str, agent: &str, model: &str, prompt: i64, estimated: bool| AiCall {
        day: day.into(),
        month: day[..7].into(),
        agent_id: agent.into(),
        model: model.into(),
        usage: Usage {
            prompt_tokens: prompt,
            completion_tokens: 20,
            cached_tokens: 5,
            reasoning_tokens: 2,
        },
        cost_nano: prompt * 10,
        estimated,
    };
    assert!(store
        .reserve_ai_spend(&c, "2026-11", 9000, Some(100_000))
        .await
        .expect("reserve"));
    store
        .settle_ai_call(
            &c,
            3000,
            &call("2026-11-27", "a1", "gpt-4o-mini", 100, false),
        )
        .await
        .expect("1");
    store
        .settle_ai_call(&c, 3000, &call("2026-11-27", "a1", "gpt-4o-mini", 50, true))
        .await
        .expect("2");
    store
        .settle_ai_call(&c, 3000, &call("2026-11-28", "", "gpt-4o", 10, false))
        .await
        .expect("3");
    assert_eq!(
        store.ai_spend(&c, "2026-11").await.expect("spend"),
        (1600, 0)
    );
    let rows = store
        .ai_usage(&c, "2026-11-27", "2026-11-27")
        .await
        .expect("usage");
    assert_eq!(rows.len(), 1, "{rows:?}");
    let r = &rows[0];
    assert_eq!(
        (r.day.as_str(), r.agent_id.as_str(), r.model.as_str()),
        ("2026-11-27", "a1", "gpt-4o-mini")
    );
    assert_eq!((r.calls, r.cost_nano, r.estimated_calls), (2, 1500, 1));
    assert_eq!(
        r.usage,
        Usage {
            prompt_tokens: 150,
            completion_tokens: 40,
            cached_tokens: 10,
            reasoning_tokens: 4
        }
    );
    let all = store
        .ai_usage(&c, "2026-11-01", "2026-11-30")
        .await
        .expect("month");
    assert_eq!(all.len(), 2);
    assert_eq!(all[1].agent_id, "");
    assert!(store
        .ai_usage(&company(), "2026-11-01", "2026-11-30")
        .await
        .expect("other")
        .is_empty());
}

pub async fn webhook_endpoints_keep_their_secret_and_log(store: &dyn Store) {
    use shared::domain::account::AccessToken;
    use shared::domain::webhook::EndpointFields;
    use shared::store::Delivery;
    let c = company();
    let (fields, _) = EndpointFields::parse(json!({"url": "https://erp.exemplo.com.br/hooks",
        "events": ["lead.created"], "description": "ERP"}))
    .expect("fields");
    let secret = AccessToken::new("whsec_c2VncmVkby1kZS10ZXN0ZS0xMjM0NTY3OA==".into());
    let endpoint = store
        .create_webhook(&c, fields.clone(), &secret)
        .await
        .expect("create");
    assert_eq!(
        store.get_webhook(&c, endpoint.id).await.expect("get"),
        endpoint
    );
    assert_eq!(
        store.webhook_secret(&c, endpoint.id).await.expect("secret"),
        secret
    );
    assert_eq!(
        store.list_webhooks(&c).await.expect("list"),
        vec![endpoint.clone()]
    );
    let other = company();
    assert_eq!(
        store.get_webhook(&other, endpoint.id).await,
        Err(StoreError::NotFound)
    );
    assert!(store.webhook_secret(&other, endpoint.id).await.is_err());
    let mut off = fields.clone();
    off.active = false;
    let updated = store
        .update_webhook(&c, endpoint.id, off, Some("410 Gone".into()))
        .await
        .expect("update");
    assert_eq!(
        (updated.active, updated.disabled_reason.as_deref()),
        (false, Some("410 Gone"))
    );
    assert_eq!(
        store.webhook_secret(&c, endpoint.id).await.expect("kept"),
        secret
    );
    let delivery = |attempt: u32| Delivery {
        id: uuid::Uuid::now_v7(),
        endpoint_id: endpoint.id,
        event_id: "msg_1".into(),
        event_type: "lead.created".into(),
        payload: json!({"event": "lead.created", "data": {"id": "x"}}),
        status: if attempt == 1 {
            "failed".into()
        } else {
            "succeeded".into()
        },
        http_status: Some(if attempt == 1 { 500 } else { 200 }),
        latency_ms: 12,
        response: "ok".into(),
        attempt,
        at: shared::domain::Timestamp::now(),
        retry_after: None,
        lead_id: None,
    };
    let (first, second) = (delivery(1), delivery(2));
    store.add_delivery(&c, &first).await.expect("first");
    store.add_delivery(&c, &second).await.expect("second");
    let log = store
        .list_deliveries(&c, endpoint.id, 10)
        .await
        .expect("log");
    assert_eq!(log, vec![second.clone(), first.clone()], "newest first");
    assert_eq!(
        store
            .get_delivery(&c, endpoint.id, first.id)
            .await
            .expect("one"),
        first
    );
    assert!(store
        .list_deliveries(&other, endpoint.id, 10)
        .await
        .is_err());
    // Since when it fails: the first failure of a run is kept; an answer clears it.
    let began = shared::domain::Timestamp::from_unix_seconds(1_800_000_000).expect("time");
    let later = shared::domain::Timestamp::from_unix_seconds(1_800_000_100).expect("time");
    store
        .set_webhook_failing(&c, endpoint.id, Some(began))
        .await
        .expect("failing");
    store
        .set_webhook_failing(&c, endpoint.id, Some(later))
        .await
        .expect("still");
    assert_eq!(
        store
            .webhook_failing_since(&c, endpoint.id)
            .await
            .expect("since"),
        Some(began)
    );
    assert_eq!(
        store
            .webhook_failing_since(&other, endpoint.id)
            .await
            .expect("other"),
        None
    );
    store
        .set_webhook_failing(&c, endpoint.id, None)
        .await
        .expect("healthy");
    assert_eq!(
        store
            .webhook_failing_since(&c, endpoint.id)
            .await
            .expect("since"),
        None
    );
    store.delete_webhook(&c, endpoint.id).await.expect("delete");
    assert_eq!(
        store.get_webhook(&c, endpoint.id).await,
        Err(StoreError::NotFound)
    );
    assert_eq!(
        store.get_delivery(&c, endpoint.id, first.id).await,
        Err(StoreError::NotFound)
    );
}

pub async fn lead_changes_write_their_events_in_the_same_write(store: &dyn Store) {
    let c = company();
    let lead = create(store, &c, json!({"name": "Ana", "phone": "+5511987650001"})).await;
    let moved = lead
        .fields
        .patched(&json!({"status": "qualificado"}))
        .expect("patch");
    let changes = lead.fields.changes_to(&moved);
    let update = |version| LeadUpdate {
        fields: moved.clone(),
        expected_version: version,
        changes: changes.clone(),
        by: "t".into(),
    };
    let updated = store
        .update_lead(&c, lead.id, update(lead.version))
        .await
        .expect("update");
    // A stale update is refused and writes no event.
    assert!(store
        .update_lead(&c, lead.id, update(lead.version))
        .await
        .is_err());
    let pending = told(store, &c, "").await;
    let kinds: Vec<&str> = pending.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(
        kinds,
        ["lead.created", "lead.updated", "lead.status_changed"]
    );
    assert_eq!(pending[0].1["phone"], "+5511987650001");
    assert_eq!(pending[1].1["status"], "qualificado");
    assert_eq!(
        (&pending[2].1["from"], &pending[2].1["to"]),
        (&json!("novo"), &json!("qualificado"))
    );
    assert_eq!(updated.fields.status, "qualificado");
    // Handled events go; an erased lead's pending ones go with it, but for its deletion.
    let all = store.pending_events(1000).await.expect("pending");
    let first = all
        .iter()
        .find(|e| e.company_id == c)
        .expect("first")
        .clone();
    store.ack_event(&first).await.expect("ack");
    store.ack_event(&first).await.expect("ack twice");
    store.delete_lead(&c, lead.id).await.expect("delete");
    let left = told(store, &c, "").await;
    assert_eq!(
        left,
        vec![("lead.deleted".to_string(), json!({"id": lead.id}))]
    );
}

pub async fn conversations_and_inbound_messages_write_their_events(store: &dyn Store) {
    use shared::domain::conversation::{ConversationChange, ConversationStatus};
    let c = company();
    let (lead, conv) = lead_on_whatsapp(store, &c, "Caio").await;
    let inbound = |wamid: &str| {
        let mut m = NewMessage::plain(Role::User, "oi", "text");
        m.external_id = Some(wamid.to_string());
        m
    };
    store
        .add_message(&c, conv.id, inbound("wamid.A"))
        .await
        .expect("first");
    // Meta delivers it again: stored once, told once.
    assert!(store
        .add_message(&c, conv.id, inbound("wamid.A"))
        .await
        .is_err());
    store
        .add_message(&c, conv.id, inbound("wamid.B"))
        .await
        .expect("second");
    // The company's own answer is not a received message.
    store
        .add_message(
            &c,
            conv.id,
            NewMessage::plain(Role::Assistant, "olá", "text"),
        )
        .await
        .expect("answer");
    let closing = ConversationChange {
        status: Some(ConversationStatus::Closed),
        ..ConversationChange::default()
    };
    store
        .update_conversation(&c, conv.id, closing)
        .await
        .expect("close");
    let events = told(store, &c, "").await;
    assert_eq!(events[2].1["lead_id"], json!(lead.id));
    let kinds: Vec<&str> = events.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(
        kinds,
        [
            "lead.created",
            "conversation.started",
            "message.received",
            "message.received",
            "conversation.closed"
        ]
    );
    assert_eq!(events[2].1["message"]["external_id"], "wamid.A");
    assert_eq!(events[3].1["message"]["external_id"], "wamid.B");
    assert_eq!(events[4].1["status"], "closed");
}

pub async fn sent_messages_and_their_statuses_write_their_events(store: &dyn Store) {
    use shared::domain::inbound::DeliveryStatus;
    let c = company();
    let (lead, conv) = lead_on_whatsapp(store, &c, "Duda").await;
    let mut pending = NewMessage::plain(Role::Assistant, "Seu pedido saiu", "text");
    pending.status = Some(DeliveryStatus::Pending);
    let m = store
        .add_message(&c, conv.id, pending)
        .await
        .expect("message");
    // Meta's "delivered" beats the send's own answer: it waits, then both are told.
    store
        .apply_message_status(&c, "wamid.SENT", DeliveryStatus::Delivered, None)
        .await
        .expect("early status");
    store
        .record_delivery(&c, &m, Some("wamid.SENT"), DeliveryStatus::Sent, None)
        .await
        .expect("sent");
    store
        .apply_message_status(&c, "wamid.SENT", DeliveryStatus::Read, None)
        .await
        .expect("read");
    // Told once: a replayed status changes nothing and tells nothing.
    store
        .apply_message_status(&c, "wamid.SENT", DeliveryStatus::Read, None)
        .await
        .expect("replay");
    let told = told(store, &c, "message.").await;
    let kinds: Vec<&str> = told.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(
        kinds,
        ["message.sent", "message.status", "message.status"],
        "{told:?}"
    );
    assert_eq!(told[0].1["message"]["external_id"], "wamid.SENT");
    assert_eq!(
        (&told[1].1["status"], &told[2].1["status"]),
        (&json!("delivered"), &json!("read"))
    );
    assert_eq!(told[2].1["lead_id"], json!(lead.id));
}

pub async fn a_turn_is_claimed_once_and_a_handoff_tells_why(store: &dyn Store) {
    use shared::domain::autoreply::TurnClaim;
    use shared::domain::conversation::ConversationChange;
    use shared::domain::lead::{LeadChange, LeadEventKind};
    let c = company();
    let (lead, conv) = lead_on_whatsapp(store, &c, "Rafa").await;
    let first = uuid::Uuid::now_v7();
    let claim = |expected, through| ConversationChange {
        claim: Some(TurnClaim { expected, through }),
        ..ConversationChange::default()
    };
    let claimed = store
        .update_conversation(&c, conv.id, claim(None, first))
        .await
        .expect("claim");
    assert_eq!(claimed.ai.ai_answered_through, Some(first));
    // A second claim made from the same reading loses; one from the new reading wins.
    assert!(matches!(
        store
            .update_conversation(&c, conv.id, claim(None, uuid::Uuid::now_v7()))
            .await,
        Err(StoreError::Conflict(_))
    ));
    let next = uuid::Uuid::now_v7();
    store
        .update_conversation(&c, conv.id, claim(Some(first), next))
        .await
        .expect("next claim");
    let handoff = ConversationChange {
        handoff: Some("the customer asked for a person".into()),
        ..ConversationChange::default()
    };
    let paused = store
        .update_conversation(&c, conv.id, handoff)
        .await
        .expect("handoff");
    let read = store.get_conversation(&c, conv.id).await.expect("get");
    assert_eq!(read, paused);
    assert!(read.ai.ai_paused);
    assert_eq!(read.ai.ai_answered_through, Some(next));
    assert_eq!(
        read.ai.ai_paused_reason.as_deref(),
        Some("the customer asked for a person")
    );
    let told = told(store, &c, "conversation.handoff").await;
    assert_eq!(told.len(), 1);
    assert_eq!(told[0].1["reason"], "the customer asked for a person");
    assert_eq!(told[0].1["lead_id"], json!(lead.id));
    // A person resumes it.
    let resume = ConversationChange {
        ai_paused: Some(false),
        ..ConversationChange::default()
    };
    let resumed = store
        .update_conversation(&c, conv.id, resume)
        .await
        .expect("resume");
    assert!(!resumed.ai.ai_paused && resumed.ai.ai_paused_reason.is_none());
    // A tool call goes to the history alone; another company's lead is not found.
    let note = LeadChange {
        kind: LeadEventKind::ToolCall,
        from: None,
        to: Some("handoff_to_human: quer falar com o gerente".into()),
    };
    store
        .add_lead_event(&c, lead.id, &note, "agent:x")
        .await
        .expect("note");
    assert_eq!(
        store
            .add_lead_event(&company(), lead.id, &note, "agent:x")
            .await,
        Err(StoreError::NotFound)
    );
    let history = store.lead_history(&c, lead.id).await.expect("history");
    let last = history.last().expect("entries");
    assert_eq!(
        (last.kind, last.by.as_deref(), last.to.as_deref()),
        (
            LeadEventKind::ToolCall,
            Some("agent:x"),
            Some("handoff_to_human: quer falar com o gerente")
        )
    );
}

pub async fn turns_wait_until_due_and_are_kept_once(store: &dyn Store) {
    use shared::domain::autoreply::Turn;
    let c = company();
    let (lead, conv) = lead_on_whatsapp(store, &c, "Tati").await;
    let base = 4_000_000_000_000i64;
    let later = Turn::new(&c, conv.id, lead.id, uuid::Uuid::now_v7(), base + 2000);
    let sooner = Turn::new(&c, conv.id, lead.id, uuid::Uuid::now_v7(), base + 1000);
    for t in [&later, &sooner, &later] {
        store.schedule_turn(t).await.expect("schedule");
    }
    let mine = |turns: Vec<Turn>| -> Vec<Turn> {
        turns.into_iter().filter(|t| t.company_id == c).collect()
    };
    assert_eq!(mine(store.due_turns(base, 100).await.expect("due")), vec![]);
    assert_eq!(
        mine(store.due_turns(base + 1500, 100).await.expect("due")),
        vec![sooner.clone()]
    );
    assert_eq!(
        mine(store.due_turns(base + 5000, 100).await.expect("due")),
        vec![sooner.clone(), later.clone()]
    );
    store.drop_turn(&sooner).await.expect("drop");
    assert_eq!(
        mine(store.due_turns(base + 5000, 100).await.expect("due")),
        vec![later.clone()]
    );
    // Erasing the lead erases its turns.
    store.delete_lead(&c, lead.id).await.expect("erase");
    assert_eq!(
        mine(store.due_turns(base + 5000, 100).await.expect("due")),
        vec![]
    );
}

pub async fn tallies_count_an_event_once_and_stay_in_their_company(store: &dyn Store) {
    use shared::domain::analytics::Tally;
    let (c, other) = (company(), company());
    let tally = |day: &str, metric: &str, delta| Tally {
        day: day.into(),
        metric: metric.into(),
        delta,
    };
    let first = [
        tally("2026-10-31", "leads.new", 1),
        tally("2026-10-31", "leads.new@vendas", 1),
        tally("2026-11-01", "messages.received", 2),
    ];
    assert_eq!(store.add_tallies(&c, "evt_1", &first).await, Ok(true));
    // The same event again (a redelivery, a second worker) adds nothing.
    assert_eq!(store.add_tallies(&c, "evt_1", &first).await, Ok(false));
    let second = [
        tally("2026-11-01", "messages.received", 1),
        tally("2026-11-01", "leads.new", -1),
    ];
    assert_eq!(store.add_tallies(&c, "evt_2", &second).await, Ok(true));
    // Another company's event of the same id is its own.
    assert_eq!(store.add_tallies(&other, "evt_1", &first).await, Ok(true));
    let days = store
        .day_tallies(&c, "2026-10-01", "2026-11-30")
        .await
        .expect("tallies");
    let got: Vec<(String, String, i64)> = days
        .iter()
        .flat_map(|(d, t)| t.iter().map(move |(m, n)| (d.clone(), m.clone(), *n)))
        .collect();
    let want = [
        ("2026-10-31", "leads.new", 1),
        ("2026-10-31", "leads.new@vendas", 1),
        ("2026-11-01", "leads.new", -1),
        ("2026-11-01", "messages.received", 3),
    ]
    .map(|(d, m, n)| (d.to_string(), m.to_string(), n));
    assert_eq!(got, want);
    // A range reads its own days only.
    let one = store
        .day_tallies(&c, "2026-11-01", "2026-11-01")
        .await
        .expect("day");
    assert_eq!(one.keys().collect::<Vec<_>>(), ["2026-11-01"]);
    assert!(store
        .day_tallies(&company(), "2026-10-01", "2026-11-30")
        .await
        .expect("empty")
        .is_empty());
}
