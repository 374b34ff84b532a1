//! Several function processes share one store and lose nothing: one SQLite file (WAL),
//! or one PostgreSQL database. Each case runs on both, given the store as the helper
//! processes take it (a path or a `postgres://` URL).

use std::process::Command;

use serde_json::json;
use shared::domain::company::CompanyChange;
use shared::domain::lead::LeadQuery;
use wiizo_tests::{pg_database, store_at, temp_db_path};

/// A SQLite file's path, as the helper processes take it.
fn sqlite_file() -> String {
    temp_db_path().to_string_lossy().into_owned()
}

/// A new company named `name` with these `settings`.
async fn company_with(
    store: &dyn shared::store::Store,
    name: &str,
    settings: serde_json::Value,
) -> shared::domain::CompanyId {
    let c = store.create_company(name).await.expect("company").id;
    let change = CompanyChange {
        settings: Some(settings),
        ..Default::default()
    };
    store.update_company(&c, change).await.expect("settings");
    c
}

#[tokio::test]
async fn four_processes_writing_one_sqlite_file_lose_nothing() {
    four_processes_writing_lose_nothing(sqlite_file()).await;
}

#[tokio::test]
async fn four_processes_writing_one_postgres_database_lose_nothing() {
    four_processes_writing_lose_nothing(pg_database().await).await;
}

async fn four_processes_writing_lose_nothing(db: String) {
    // GIVEN one store and four writer processes started together
    let store = store_at(&db);
    // A company whose leads limit is far above what the writers send.
    let settings = json!({"rate_limits": {"leads": {"per_minute": 100000, "burst": 100000}}});
    let c = company_with(store.as_ref(), "Muitos Processos", settings).await;
    let (writers, per_writer) = (4, 60);
    let children: Vec<_> = (0..writers)
        .map(|w| {
            Command::new(env!("CARGO_BIN_EXE_store-writer"))
                .args([
                    db.as_str(),
                    c.as_str(),
                    &per_writer.to_string(),
                    &format!("w{w}"),
                ])
                .spawn()
                .expect("the writer starts")
        })
        .collect();
    // WHEN they have all finished
    for mut child in children {
        let status = child.wait().expect("the writer ends");
        assert!(status.success(), "a writer failed: {status}");
    }
    // THEN every lead and every history entry is there
    let all = LeadQuery::parse(&[("limit".into(), "100".into())]).expect("query");
    let page = store.list_leads(&c, &all).await.expect("list");
    assert_eq!(page.total, writers * per_writer);
    let qualified = LeadQuery::parse(&[("status".into(), "qualificado".into())]).expect("query");
    assert_eq!(
        store.list_leads(&c, &qualified).await.expect("list").total,
        writers * per_writer
    );
    for lead in page.items.iter().take(20) {
        assert_eq!(
            store
                .lead_history(&c, lead.id)
                .await
                .expect("history")
                .len(),
            2
        );
    }
}

/// Two processes, twenty calls at once, a budget that fits five: at most five reach
/// OpenAI, and the rest are refused before any request.
#[tokio::test]
async fn an_ai_budget_holds_across_processes_on_sqlite() {
    an_ai_budget_holds_across_processes(sqlite_file()).await;
}

#[tokio::test]
async fn an_ai_budget_holds_across_processes_on_postgres() {
    an_ai_budget_holds_across_processes(pg_database().await).await;
}

async fn an_ai_budget_holds_across_processes(db: String) {
    use wiremock::matchers::method;
    use wiremock::{Mock, MockServer, ResponseTemplate};
    let upstream = MockServer::start().await;
    // Slow enough that every reservation is made before the first call settles.
    Mock::given(method("POST"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_delay(std::time::Duration::from_millis(500))
                .set_body_json(json!({"id": "c", "object": "chat.completion", "created": 1, "model": "gpt-4o",
                    "choices": [{"index": 0, "message": {"role": "assistant", "content": "ok"}, "finish_reason": "stop"}],
                    "usage": {"prompt_tokens": 10, "completion_tokens": 10, "total_tokens": 20}})),
        )
        .mount(&upstream)
        .await;
    let store = store_at(&db);
    // Each call's worst case: gpt-4o, 1000 tokens at $10 per million, and a short prompt.
    let c = company_with(
        store.as_ref(),
        "Orçamento Curto",
        json!({"ai_budget_usd": 0.0525, "timezone": "America/Sao_Paulo"}),
    )
    .await;
    let base = format!("{}/v1", upstream.uri());
    let children: Vec<_> = (0..2)
        .map(|_| {
            Command::new(env!("CARGO_BIN_EXE_ai-caller"))
                .args([db.as_str(), c.as_str(), &base, "10"])
                .stdout(std::process::Stdio::piped())
                .spawn()
                .expect("the caller starts")
        })
        .collect();
    let mut statuses = Vec::new();
    for child in children {
        let out = child.wait_with_output().expect("the caller runs");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        statuses.extend(
            String::from_utf8_lossy(&out.stdout)
                .lines()
                .map(str::to_string),
        );
    }
    let reached = upstream.received_requests().await.map_or(0, |r| r.len());
    let ok = statuses.iter().filter(|s| *s == "200").count();
    let refused = statuses.iter().filter(|s| *s == "429").count();
    assert_eq!((ok + refused, statuses.len()), (20, 20), "{statuses:?}");
    assert!(
        reached <= 5 && ok == reached,
        "{reached} reached, {ok} answered"
    );
}

/// A worker killed while it delivers, and started again, loses no event: every one of a
/// thousand reaches the receiver at least once.
#[tokio::test]
async fn a_worker_killed_midway_loses_no_event_on_sqlite() {
    a_worker_killed_midway_loses_no_event(sqlite_file()).await;
}

#[tokio::test]
async fn a_worker_killed_midway_loses_no_event_on_postgres() {
    a_worker_killed_midway_loses_no_event(pg_database().await).await;
}

async fn a_worker_killed_midway_loses_no_event(db: String) {
    use shared::domain::account::AccessToken;
    use shared::domain::lead::LeadFields;
    use shared::domain::webhook::EndpointFields;
    use wiremock::matchers::method;
    use wiremock::{Mock, MockServer, ResponseTemplate};
    let receiver = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200).set_delay(std::time::Duration::from_millis(2)))
        .mount(&receiver)
        .await;
    let store = store_at(&db);
    let c = store
        .create_company("Mil Eventos")
        .await
        .expect("company")
        .id;
    let (fields, _) =
        EndpointFields::parse(json!({"url": receiver.uri(), "events": ["lead.created"]}))
            .expect("fields");
    store
        .create_webhook(
            &c,
            fields,
            &AccessToken::new("whsec_dGVzdGUtZGUtY3Jhc2gtMDEyMzQ1Njc4OQ==".into()),
        )
        .await
        .expect("endpoint");
    let mut ids = std::collections::HashSet::new();
    for i in 0..1000 {
        let lead = store
            .create_lead(
                &c,
                LeadFields::parse(json!({"name": format!("Cliente {i}")})).expect("f"),
                "t",
            )
            .await
            .expect("lead");
        ids.insert(lead.id.to_string());
    }
    let start = || {
        Command::new(env!("CARGO_BIN_EXE_events-worker-loop"))
            .arg(db.as_str())
            .stdout(std::process::Stdio::null())
            .spawn()
            .expect("the worker starts")
    };
    let delivered = || async {
        receiver
            .received_requests()
            .await
            .unwrap_or_default()
            .iter()
            .filter_map(|r| serde_json::from_slice::<serde_json::Value>(&r.body).ok())
            .filter_map(|b| b["data"]["id"].as_str().map(str::to_string))
            .collect::<std::collections::HashSet<_>>()
    };
    // Killed three times while it works, wherever it is: between a send and its log, or
    // between reading an event and removing it.
    for _ in 0..3 {
        let mut worker = start();
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        worker.kill().expect("kill");
        let _ = worker.wait();
    }
    let mut worker = start();
    let started = std::time::Instant::now();
    while delivered().await.len() < ids.len()
        && started.elapsed() < std::time::Duration::from_secs(60)
    {
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    let _ = worker.kill();
    let _ = worker.wait();
    let got = delivered().await;
    assert!(
        ids.is_subset(&got),
        "{} of {} delivered",
        got.len(),
        ids.len()
    );
}
