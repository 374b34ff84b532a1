//! Analytics, checked the way a manager would doubt them: a company's leads, status
//! changes, conversations, messages (both ways, over 14 months) and AI calls, made through
//! the API and Meta's webhooks; the events worker run (twice); then every figure of the
//! reports against the same figure computed here from the raw records.

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::{Datelike, Duration, NaiveDate, Utc};
use serde_json::{json, Value};
use shared::auth::Role;
use shared::domain::account::{AccessToken, NewChannelAccount};
use shared::domain::conversation::{Channel, ConversationQuery, Role as MessageRole};
use shared::domain::inbound::DeliveryStatus;
use shared::domain::lead::{LeadEventKind, LeadQuery};
use shared::domain::CompanyId;
use shared::store::prelude::*;
use shared::App;
use wiizo_tests::{
    all_messages, call, dynamo_store, meta_delivery, send, sqlite_store, test_config,
};
use wiremock::matchers::{method, path, path_regex};
use wiremock::{Mock, MockServer, ResponseTemplate};

const PNID: &str = "106540352242922";
fn sao_paulo() -> shared::domain::zone::Zone {
    shared::domain::zone::Zone::or_default("America/Sao_Paulo")
}

struct Rig {
    store: Arc<dyn Store>,
    company: CompanyId,
    apps: BTreeMap<&'static str, App>,
    _upstreams: (MockServer, MockServer),
}

async fn rig(store: Arc<dyn Store>) -> Rig {
    rig_with(store, PNID).await
}

/// A company whose WhatsApp number is `number`.
async fn rig_with(store: Arc<dyn Store>, number: &str) -> Rig {
    let (graph, openai) = (MockServer::start().await, MockServer::start().await);
    Mock::given(method("POST"))
        .and(path_regex(r"^/\d+/messages$"))
        .respond_with(|_: &wiremock::Request| {
            ResponseTemplate::new(200).set_body_json(json!({"messaging_product": "whatsapp",
                "messages": [{"id": format!("wamid.OUT{}", uuid::Uuid::new_v4().simple())}]}))
        })
        .mount(&graph)
        .await;
    Mock::given(method("POST"))
        .and(path("/v1/chat/completions"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": "gpt-4o-mini",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": "ok"}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 100, "completion_tokens": 20, "total_tokens": 120}})))
        .mount(&openai)
        .await;
    let openai_url = format!("{}/v1", openai.uri());
    let vars = [
        ("META_GRAPH_URL", graph.uri()),
        ("OPENAI_BASE_URL", openai_url),
        ("OPENAI_API_KEY", "sk-test".to_string()),
    ];
    let vars: Vec<(&str, &str)> = vars.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let apps = [
        "leads-management",
        "webhooks",
        "whatsapp-api",
        "openai-proxy",
        "analytics",
        "events-worker",
    ]
    .into_iter()
    .map(|name| (name, App::new(name, test_config(&vars), store.clone())))
    .collect();
    let company = store
        .create_company(&format!("Mercado {}", uuid::Uuid::new_v4()))
        .await
        .expect("company")
        .id;
    store
        .create_channel(
            &company,
            NewChannelAccount {
                channel: Channel::Whatsapp,
                external_id: number.into(),
                name: "Vendas".into(),
                token: AccessToken::new("EAAG-token".into()),
            },
        )
        .await
        .expect("channel");
    Rig {
        store,
        company,
        apps,
        _upstreams: (graph, openai),
    }
}

/// A call whose path may carry a query string (`/api/x?a=1&b=2`).
fn call_with_query(
    c: &CompanyId,
    role: Role,
    m: &str,
    path: &str,
    body: Option<Value>,
) -> wiizo_tests::Event {
    let (path, query) = path.split_once('?').unwrap_or((path, ""));
    let params: Vec<(&str, &str)> = query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| p.split_once('=').unwrap_or((p, "")))
        .collect();
    call(c, role, m, path, body).query(&params)
}

impl Rig {
    async fn call(&self, app: &str, role: Role, m: &str, path: &str, body: Option<Value>) -> Value {
        let answer = send(
            &self.apps[app],
            &call_with_query(&self.company, role, m, path, body),
        )
        .await;
        assert!(
            answer.status < 300,
            "{m} {path}: {} {}",
            answer.status,
            answer.text
        );
        answer.json
    }

    async fn report(&self, path: &str) -> Value {
        self.call("analytics", Role::Viewer, "GET", path, None)
            .await["data"]
            .clone()
    }
}

/// A customer's message `days_ago` days ago, on WhatsApp.
fn inbound(from: &str, days_ago: i64, text: &str) -> String {
    let at = Utc::now().timestamp() - days_ago * 86_400;
    json!({"object": "whatsapp_business_account", "entry": [{"id": "1", "changes": [{"field": "messages", "value": {
        "messaging_product": "whatsapp", "metadata": {"display_phone_number": "551130000000", "phone_number_id": PNID},
        "contacts": [{"profile": {"name": format!("Cliente {from}")}, "wa_id": from}],
        "messages": [{"from": from, "id": format!("wamid.{}", uuid::Uuid::new_v4().simple()),
                      "timestamp": at.to_string(), "type": "text", "text": {"body": text}}]}}]}]})
    .to_string()
}

fn day(t: shared::domain::Timestamp) -> NaiveDate {
    sao_paulo().day(t.inner())
}

fn month(d: NaiveDate) -> String {
    d.with_day(1).expect("first").to_string()
}

/// What the raw records say, by month: (leads, qualified, converted) and messages
/// (sent, received, ai, human, whatsapp sent, whatsapp received).
async fn raw(
    r: &Rig,
) -> (
    BTreeMap<String, [i64; 3]>,
    BTreeMap<String, [i64; 11]>,
    i64,
    i64,
) {
    let store = r.store.as_ref();
    let (q, c) = (["qualificado"], ["convertido"]);
    let mut leads: BTreeMap<String, [i64; 3]> = BTreeMap::new();
    let all = LeadQuery::parse(&[("limit".into(), "100".into())]).expect("query");
    let page = store.list_leads(&r.company, &all).await.expect("leads");
    assert!(page.items.len() < 100);
    for lead in &page.items {
        leads.entry(month(day(lead.created_at))).or_default()[0] += 1;
        for e in store
            .lead_history(&r.company, lead.id)
            .await
            .expect("history")
        {
            if !matches!(
                e.kind,
                LeadEventKind::Created | LeadEventKind::StatusChanged
            ) {
                continue;
            }
            let (from, to) = (
                e.from.as_deref().unwrap_or(""),
                e.to.as_deref().unwrap_or(""),
            );
            let slot = leads.entry(month(day(e.at))).or_default();
            if q.contains(&to) && !q.contains(&from) {
                slot[1] += 1;
            }
            if c.contains(&to) && !c.contains(&from) {
                slot[2] += 1;
            }
        }
    }
    let mut messages: BTreeMap<String, [i64; 11]> = BTreeMap::new();
    let conversations = store
        .list_conversations(
            &r.company,
            &ConversationQuery::parse(&[("limit".into(), "100".into())]).expect("q"),
        )
        .await
        .expect("conversations");
    let mut active = 0;
    for view in &conversations.items {
        let conv = &view.conversation;
        if conv.status == shared::domain::conversation::ConversationStatus::Active {
            active += 1;
        }
        let mut waiting: Option<shared::domain::Timestamp> = None;
        for m in all_messages(store, &r.company, conv.id)
            .await
            .expect("messages")
        {
            let slot = messages.entry(month(day(m.created_at))).or_default();
            match m.role {
                MessageRole::User => {
                    slot[1] += 1;
                    slot[5] += 1;
                    waiting.get_or_insert(m.created_at);
                }
                // The channel took it: it has the channel's id, whatever happened after.
                MessageRole::Assistant if m.external_id.is_some() => {
                    slot[0] += 1;
                    slot[4] += 1;
                    slot[if m.metadata["agent_id"].is_string() {
                        2
                    } else {
                        3
                    }] += 1;
                    match m.status {
                        Some(DeliveryStatus::Delivered) => slot[6] += 1,
                        Some(DeliveryStatus::Read) => {
                            slot[6] += 1;
                            slot[7] += 1;
                        }
                        Some(DeliveryStatus::Failed) => slot[8] += 1,
                        _ => {}
                    }
                    if let Some(since) = waiting.take() {
                        slot[9] += 1;
                        slot[10] += (m.created_at.inner() - since.inner()).num_seconds();
                    }
                }
                _ => {}
            }
        }
    }
    (leads, messages, conversations.items.len() as i64, active)
}

async fn every_figure_equals_the_raw_records(store: Arc<dyn Store>) {
    let r = rig(store).await;
    // Leads through the API, some qualified from the start, in two pipelines.
    let mut ids = Vec::new();
    for i in 0..8 {
        let status = if i % 4 == 0 { "qualificado" } else { "novo" };
        let pipeline = if i % 2 == 0 { "vendas" } else { "suporte" };
        let lead = r
            .call(
                "leads-management",
                Role::Agent,
                "POST",
                "/api/leads",
                Some(json!({"name": format!("Lead {i}"), "status": status, "pipeline": pipeline})),
            )
            .await;
        ids.push(lead["data"]["id"].as_str().expect("id").to_string());
    }
    // Moves: qualified then lost (still qualified), qualified then converted, converted
    // directly, and a move within nothing that counts.
    for (i, statuses) in [
        (1, vec!["qualificado", "perdido"]),
        (2, vec!["qualificado", "convertido"]),
        (3, vec!["convertido"]),
        (4, vec!["perdido", "qualificado"]),
        (5, vec!["contatado"]),
    ] {
        for s in statuses {
            let path = format!("/api/leads/{}", ids[i]);
            r.call(
                "leads-management",
                Role::Agent,
                "PATCH",
                &path,
                Some(json!({"status": s})),
            )
            .await;
        }
    }
    // Scores: set, moved twice, set together with a new pipeline.
    for (i, patch) in [
        (0, json!({"score": 40})),
        (2, json!({"score": 90})),
        (2, json!({"score": 70})),
        (6, json!({"score": 55, "pipeline": "suporte"})),
    ] {
        let path = format!("/api/leads/{}", ids[i]);
        r.call("leads-management", Role::Agent, "PATCH", &path, Some(patch))
            .await;
    }
    // Customers on WhatsApp over 14 months, and the company's answers today.
    for (n, days_ago) in [
        (1, 420),
        (2, 300),
        (3, 200),
        (4, 95),
        (5, 40),
        (6, 3),
        (7, 0),
    ] {
        let from = format!("55119888800{n:02}");
        for k in 0..n {
            let body = inbound(&from, days_ago + k as i64, &format!("mensagem {k}"));
            let answer = send(&r.apps["webhooks"], &meta_delivery(&body)).await;
            assert_eq!(answer.status, 200, "{}", answer.text);
        }
    }
    let conversations = r
        .store
        .list_conversations(&r.company, &ConversationQuery::parse(&[]).expect("q"))
        .await
        .expect("conversations");
    let open: Vec<uuid::Uuid> = conversations
        .items
        .iter()
        .filter(|v| {
            v.conversation
                .last_inbound_at
                .is_some_and(|t| Utc::now() - t.inner() < Duration::hours(24))
        })
        .map(|v| v.conversation.id)
        .collect();
    assert_eq!(open.len(), 1, "one customer wrote within the window");
    // A person answers (the customer has waited since their first message, six days ago);
    // the customer writes again and is answered at once.
    let path = format!("/api/conversations/{}/messages", open[0]);
    let mut sent_ids = Vec::new();
    for (text, then) in [("Olá!", Some("e o preço?")), ("Temos, sim.", None)] {
        let body = json!({"type": "text", "text": text});
        let m = r
            .call("whatsapp-api", Role::Agent, "POST", &path, Some(body))
            .await;
        sent_ids.push(
            m["data"]["external_id"]
                .as_str()
                .expect("the channel's id")
                .to_string(),
        );
        if let Some(text) = then {
            // Meta's times are whole seconds: the customer writes in the next one.
            tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
            let body = inbound("5511988880007", 0, text);
            assert_eq!(
                send(&r.apps["webhooks"], &meta_delivery(&body))
                    .await
                    .status,
                200
            );
        }
    }
    // Meta tells: the first delivered and read, the second failed.
    let told = [
        (&sent_ids[0], "delivered", None),
        (&sent_ids[0], "read", None),
        (&sent_ids[1], "failed", Some(131026)),
    ];
    let statuses: Vec<Value> = told
        .iter()
        .map(|(id, status, code)| {
            let mut s = json!({"id": id, "status": status, "recipient_id": "5511988880007",
                               "timestamp": Utc::now().timestamp().to_string()});
            if let Some(code) = code {
                s["errors"] = json!([{"code": code, "title": "Message undeliverable"}]);
            }
            s
        })
        .collect();
    let body = json!({"object": "whatsapp_business_account", "entry": [{"id": "1", "changes": [
        {"field": "messages", "value": {"messaging_product": "whatsapp",
         "metadata": {"phone_number_id": PNID}, "statuses": statuses}}]}]})
    .to_string();
    assert_eq!(
        send(&r.apps["webhooks"], &meta_delivery(&body))
            .await
            .status,
        200
    );
    // A conversation closed and opened again; another closed.
    let (a, b) = (
        conversations.items[0].conversation.id,
        conversations.items[1].conversation.id,
    );
    for (id, status) in [(a, "closed"), (a, "active"), (b, "closed")] {
        r.call(
            "whatsapp-api",
            Role::Agent,
            "PATCH",
            &format!("/api/conversations/{id}"),
            Some(json!({"status": status})),
        )
        .await;
    }
    // Two AI calls.
    for _ in 0..2 {
        r.call(
            "openai-proxy",
            Role::Agent,
            "POST",
            "/api/ai/v1/chat/completions",
            Some(json!({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "oi"}]})),
        )
        .await;
    }
    // The worker, twice: nothing is counted twice.
    for _ in 0..2 {
        events_worker::handle(&r.apps["events-worker"])
            .await
            .expect("worker");
    }

    let today = sao_paulo().day(Utc::now());
    let from = today - Duration::days(430);
    let range = format!("from={from}&to={today}");
    let (leads, messages, conversation_count, active) = raw(&r).await;

    let report = r
        .report(&format!("/api/analytics/leads?{range}&group_by=month"))
        .await;
    let timeline = report["timeline"].as_array().expect("timeline");
    assert_eq!(
        timeline.len(),
        15,
        "every month of the range, empty ones included"
    );
    for bucket in timeline {
        let want = leads
            .get(bucket["date"].as_str().expect("date"))
            .copied()
            .unwrap_or_default();
        assert_eq!(
            [&bucket["leads"], &bucket["qualified"], &bucket["converted"]],
            [&json!(want[0]), &json!(want[1]), &json!(want[2])],
            "{bucket}"
        );
    }
    let total: [i64; 3] = leads
        .values()
        .fold([0; 3], |t, l| [t[0] + l[0], t[1] + l[1], t[2] + l[2]]);
    // 8 by the API and 7 customers; qualified: 2 at creation, 1, 2, 4 → 4 (4 came back);
    // converted: 2, 3.
    assert_eq!(total, [15, 5, 2]);
    let m = &report["metrics"];
    assert_eq!(
        (
            m["total_leads"].clone(),
            m["qualified_leads"].clone(),
            m["converted_leads"].clone()
        ),
        (json!(15), json!(5), json!(2))
    );
    assert_eq!(m["conversion_rate"], json!(13.33));
    // The average score is the leads' scores as they are now (40 + 70 + 55 over 15).
    let all = LeadQuery::parse(&[("limit".into(), "100".into())]).expect("query");
    let scores: Vec<i64> = r
        .store
        .list_leads(&r.company, &all)
        .await
        .expect("leads")
        .items
        .iter()
        .map(|l| l.fields.score)
        .collect();
    let average = (scores.iter().sum::<i64>() as f64 * 100.0 / scores.len() as f64).round() / 100.0;
    assert_eq!(m["avg_score"], json!(average));
    assert_eq!(average, 11.0);
    // A pipeline's own figures: what happened in it — its leads created there, and the score
    // they gained while there (the last lead moved to `suporte` with its new score).
    let sales = r
        .report(&format!("/api/analytics/leads?{range}&pipeline=vendas"))
        .await;
    assert_eq!(sales["metrics"]["total_leads"], 4, "{sales}");
    assert_eq!(sales["metrics"]["avg_score"], json!(27.5), "{sales}");

    let report = r
        .report(&format!("/api/analytics/messages?{range}&group_by=month"))
        .await;
    for bucket in report["timeline"].as_array().expect("timeline") {
        let want = messages
            .get(bucket["date"].as_str().expect("date"))
            .copied()
            .unwrap_or_default();
        let first = &bucket["first_response"];
        let responses = first["responses"].as_i64().unwrap_or(-1);
        let got = [
            &bucket["sent"],
            &bucket["received"],
            &bucket["ai"],
            &bucket["human"],
            &bucket["by_channel"]["whatsapp"]["sent"],
            &bucket["by_channel"]["whatsapp"]["received"],
            &bucket["delivered"],
            &bucket["read"],
            &bucket["failed"],
            &first["responses"],
        ]
        .map(|v| v.as_i64().unwrap_or(-1));
        assert_eq!(got[..], want[..10], "{bucket}");
        // The average is whole seconds, rounded down.
        let avg = (responses > 0).then(|| want[10] / responses);
        assert_eq!(first["avg_seconds"].as_i64(), avg, "{bucket}");
    }
    let t = &report["totals"];
    let figures = ["sent", "received", "delivered", "read", "failed"].map(|k| t[k].clone());
    assert_eq!(figures, [2, 29, 1, 1, 1].map(|n| json!(n)));
    assert_eq!(
        (t["delivery_rate"].clone(), t["read_rate"].clone()),
        (json!(50.0), json!(50.0))
    );
    assert_eq!(
        t["failed_top_codes"],
        json!([{"code": "131026", "count": 1}])
    );
    assert_eq!(t["first_response"]["responses"], 2);
    // One waited six days, one a moment: the median is within the first bucket.
    assert_eq!(t["first_response"]["median_within_seconds"], 30);
    let avg = t["first_response"]["avg_seconds"].as_i64().unwrap_or(0);
    assert!(avg > 2 * 86_400, "{t}");

    let overview = r.report(&format!("/api/analytics/overview?{range}")).await;
    assert_eq!(
        overview["leads"],
        json!({"total": 15, "new": 15, "qualified": 5, "converted": 2})
    );
    assert_eq!(
        overview["conversations"],
        json!({"total": conversation_count, "active": active, "closed": 2})
    );
    assert_eq!(
        overview["messages"],
        json!({"total": 31, "sent": 2, "received": 29})
    );
    assert_eq!(overview["trends"]["response_time_avg"], json!(avg));
    assert_eq!(overview["ai"]["requests"], 2);
    assert_eq!(overview["ai"]["tokens"], 240);
    let ai = r
        .report(&format!("/api/analytics/ai?{range}&group_by=month"))
        .await;
    assert_eq!(ai["totals"], overview["ai"]);
    assert_eq!(ai["by_model"][0]["model"], "gpt-4o-mini");
    assert_eq!(ai["timeline"].as_array().map(Vec::len), Some(15));
}

#[tokio::test]
async fn every_figure_equals_the_raw_records_on_sqlite() {
    every_figure_equals_the_raw_records(sqlite_store()).await;
}

#[tokio::test]
async fn every_figure_equals_the_raw_records_on_dynamodb() {
    every_figure_equals_the_raw_records(dynamo_store().await).await;
}

#[tokio::test]
async fn every_figure_equals_the_raw_records_on_postgres() {
    every_figure_equals_the_raw_records(wiizo_tests::pg_store().await).await;
}

#[tokio::test]
async fn another_companys_figures_never_appear_and_bad_ranges_are_refused() {
    let r = rig(sqlite_store()).await;
    r.call(
        "leads-management",
        Role::Agent,
        "POST",
        "/api/leads",
        Some(json!({"name": "Ana"})),
    )
    .await;
    events_worker::handle(&r.apps["events-worker"])
        .await
        .expect("worker");
    let mine = r.report("/api/analytics/overview?period=month").await;
    assert_eq!(mine["leads"]["new"], 1);
    let elsewhere = wiizo_tests::company();
    let theirs = send(
        &r.apps["analytics"],
        &call_with_query(
            &elsewhere,
            Role::Admin,
            "GET",
            "/api/analytics/overview?period=month",
            None,
        ),
    )
    .await;
    assert_eq!(theirs.status, 200, "{}", theirs.text);
    assert_eq!(theirs.json["data"]["leads"]["new"], 0);
    assert_eq!(theirs.header("cache-control"), Some("private, max-age=60"));
    for (query, field) in [
        ("period=decade", "period"),
        ("group_by=hour", "group_by"),
        ("from=2026-03-04&to=2026-03-03", "from"),
        ("from=2020-01-01&to=2024-01-02", "to"),
        ("from=ontem", "from"),
        ("period=week&from=2026-01-01", "period"),
        ("unknown=1", "unknown"),
    ] {
        let refused = send(
            &r.apps["analytics"],
            &call_with_query(
                &r.company,
                Role::Viewer,
                "GET",
                &format!("/api/analytics/leads?{query}"),
                None,
            ),
        )
        .await;
        assert_eq!(refused.status, 422, "{query}: {}", refused.text);
        assert!(
            refused.json["error"]["details"][field].is_array(),
            "{query}: {}",
            refused.text
        );
    }
}

/// Counts the DynamoDB operations a client makes.
#[derive(Debug, Clone, Default)]
struct Calls(Arc<std::sync::atomic::AtomicUsize>);

impl aws_sdk_dynamodb::config::Intercept for Calls {
    fn name(&self) -> &'static str {
        "Calls"
    }

    fn read_before_execution(
        &self,
        _: &aws_sdk_dynamodb::config::interceptors::BeforeSerializationInterceptorContextRef<'_>,
        _: &mut aws_sdk_dynamodb::config::ConfigBag,
    ) -> Result<(), aws_sdk_dynamodb::error::BoxError> {
        self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        Ok(())
    }
}

#[tokio::test]
async fn a_year_of_analytics_costs_the_same_few_store_calls_whatever_the_companys_size() {
    use shared::domain::analytics::Tally;
    let calls = Calls::default();
    let config = wiizo_tests::dynamo_config(&wiizo_tests::dynamodb_endpoint())
        .await
        .interceptor(calls.clone());
    let store: Arc<dyn Store> = Arc::new(wiizo_tests::dynamo_store_with(config).await);
    // Two companies with a year of days counted: one small, one with 100 000 leads and
    // 1 000 000 messages a year, as the worker writes them (a write per event; here a day's
    // worth at once).
    let today = sao_paulo().day(Utc::now());
    let mut costs = Vec::new();
    for (leads, messages, number) in [(1, 3, "100000000000001"), (274, 2_740, "100000000000002")] {
        let r = rig_with(store.clone(), number).await;
        let year: Vec<Tally> = (0..366)
            .flat_map(|d| {
                let day = (today - Duration::days(d)).to_string();
                [
                    ("leads.new", leads),
                    ("leads.new@vendas", leads),
                    ("leads.qualified", leads / 2),
                    ("messages.received", messages),
                    ("messages.received.whatsapp", messages),
                    ("messages.sent", messages / 2),
                    ("messages.status.read", messages / 3),
                    ("responses.count", 10),
                    ("responses.seconds", 1_200),
                ]
                .map(|(metric, delta)| Tally {
                    day: day.clone(),
                    metric: metric.into(),
                    delta,
                })
            })
            .collect();
        // 90 days a write: a DynamoDB transaction takes 100 items.
        for (i, days) in year.chunks(9 * 90).enumerate() {
            let id = format!("evt_{i}");
            store
                .add_tallies(&r.company, &id, days)
                .await
                .expect("tallies");
        }
        let mut cost = Vec::new();
        for report in ["overview", "leads", "messages", "ai"] {
            // The company's settings are read once and kept a few seconds: read them first.
            r.report(&format!("/api/analytics/{report}?period=year"))
                .await;
            let before = calls.0.load(std::sync::atomic::Ordering::SeqCst);
            let started = std::time::Instant::now();
            let buckets = if report == "overview" {
                ""
            } else {
                "&group_by=day"
            };
            let from = today - Duration::days(365);
            let answer = r
                .report(&format!(
                    "/api/analytics/{report}?from={from}&to={today}{buckets}"
                ))
                .await;
            cost.push((
                calls.0.load(std::sync::atomic::Ordering::SeqCst) - before,
                started.elapsed(),
            ));
            if report == "leads" {
                assert_eq!(answer["metrics"]["total_leads"], leads * 366);
                assert_eq!(answer["timeline"].as_array().map(Vec::len), Some(366));
            }
        }
        costs.push(cost);
    }
    let calls_of =
        |c: &Vec<(usize, std::time::Duration)>| c.iter().map(|(n, _)| *n).collect::<Vec<_>>();
    assert_eq!(calls_of(&costs[0]), calls_of(&costs[1]), "{costs:?}");
    // A rate-limit token, the year's days in one query, and the AI usage (and the month's
    // spend) where the report has AI figures.
    assert!(calls_of(&costs[1]).iter().all(|n| *n <= 4), "{costs:?}");
    println!("a year of daily analytics on DynamoDB (moto): {costs:?}");
}
