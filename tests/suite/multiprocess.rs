//! Several function processes share one SQLite file (WAL) and lose nothing.

use std::process::Command;

use serde_json::json;
use shared::domain::company::CompanyChange;
use shared::domain::lead::LeadQuery;
use wiizo_tests::{sqlite_store_at, temp_db_path};

#[tokio::test]
async fn four_processes_writing_one_file_lose_nothing() {
    // GIVEN one SQLite file and four writer processes started together
    let db = temp_db_path();
    let store = sqlite_store_at(&db);
    // A company whose leads limit is far above what the writers send.
    let c = store
        .create_company("Muitos Processos")
        .await
        .expect("company")
        .id;
    let settings = json!({"rate_limits": {"leads": {"per_minute": 100000, "burst": 100000}}});
    store
        .update_company(
            &c,
            CompanyChange {
                settings: Some(settings),
                ..Default::default()
            },
        )
        .await
        .expect("settings");
    let (writers, per_writer) = (4, 60);
    let children: Vec<_> = (0..writers)
        .map(|w| {
            Command::new(env!("CARGO_BIN_EXE_sqlite-writer"))
                .args([
                    db.to_str().expect("utf-8 path"),
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
