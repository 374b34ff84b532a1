//! burst-client <sqlite|dynamodb|postgres> <db path, table or URL> <company-id> <count>
//!
//! One "function process" of the rate-limit test: sends `count` `GET /api/leads` as fast
//! as it can through the leads-management handler on the shared store, and prints one
//! line per answer: `<status> <x-ratelimit-remaining> <retry-after>`.

use std::process::ExitCode;
use std::sync::Arc;

use shared::auth::Role;
use shared::domain::CompanyId;
use shared::store::{DynamoStore, Store};
use wiizo_tests::{app_on, send, store_at, Event};

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [kind, place, company, count] = args.as_slice() else {
        eprintln!(
            "usage: burst-client <sqlite|dynamodb|postgres> <db path, table or URL> <company-id> <count>"
        );
        return ExitCode::FAILURE;
    };
    let Ok(count) = count.parse::<u32>() else {
        return ExitCode::FAILURE;
    };
    let store: Arc<dyn Store> = if kind == "dynamodb" {
        let sdk = shared::store::dynamodb::sdk_config().await;
        Arc::new(DynamoStore::new(&sdk, place.clone()))
    } else {
        store_at(place)
    };
    let app = app_on("leads-management", store);
    let list = Event::load("leads-management/list.json")
        .as_user(&CompanyId::new(company.clone()), Role::Agent);
    for _ in 0..count {
        let a = send(&app, &list).await;
        println!(
            "{} {} {}",
            a.status,
            a.header("x-ratelimit-remaining").unwrap_or("-"),
            a.header("retry-after").unwrap_or("-")
        );
    }
    ExitCode::SUCCESS
}
