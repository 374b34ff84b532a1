//! store-writer <store> <company-id> <count> <prefix>
//!
//! One "function process": creates `count` leads through the leads-management handler on
//! `store` (a SQLite file, or a `postgres://` URL), then moves each to `qualificado`. Exits non-zero on any answer
//! other than the expected one.

use std::process::ExitCode;

use serde_json::json;
use shared::auth::Role;
use shared::domain::CompanyId;
use wiizo_tests::{app_on, send, store_at, Event};

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [db, company, count, prefix] = args.as_slice() else {
        eprintln!("usage: store-writer <store> <company-id> <count> <prefix>");
        return ExitCode::FAILURE;
    };
    let Ok(count) = count.parse::<u32>() else {
        eprintln!("count must be a number");
        return ExitCode::FAILURE;
    };
    let company = CompanyId::new(company.clone());
    let app = app_on("leads-management", store_at(db));
    let create = Event::load("leads-management/create.json").as_user(&company, Role::Agent);
    let patch = Event::load("leads-management/patch.json").as_user(&company, Role::Agent);
    for i in 0..count {
        let body = json!({"name": format!("{prefix}-{i}"), "email": format!("{prefix}-{i}@exemplo.com.br")});
        let a = send(&app, &create.clone().json(&body)).await;
        if a.status != 201 {
            eprintln!("{prefix}-{i}: create answered {}: {}", a.status, a.text);
            return ExitCode::FAILURE;
        }
        let id = a.json["data"]["id"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let moved = send(
            &app,
            &patch
                .clone()
                .path(&format!("/api/leads/{id}"))
                .json(&json!({"status": "qualificado"})),
        )
        .await;
        if moved.status != 200 {
            eprintln!(
                "{prefix}-{i}: patch answered {}: {}",
                moved.status, moved.text
            );
            return ExitCode::FAILURE;
        }
    }
    ExitCode::SUCCESS
}
