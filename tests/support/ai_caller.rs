//! ai-caller <store> <company-id> <OpenAI base URL> <count>
//!
//! One "function process" of the AI budget test: sends `count` chat completions at once
//! through the openai-proxy handler on the shared store (a SQLite file or a `postgres://`
//! URL), and prints each status.

use std::process::ExitCode;

use serde_json::json;
use shared::auth::Role;
use shared::domain::CompanyId;
use shared::App;
use wiizo_tests::{send, store_at, test_config, Event};

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [db, company, upstream, count] = args.as_slice() else {
        eprintln!("usage: ai-caller <store> <company-id> <OpenAI base URL> <count>");
        return ExitCode::FAILURE;
    };
    let Ok(count) = count.parse::<usize>() else {
        return ExitCode::FAILURE;
    };
    let config = test_config(&[("OPENAI_BASE_URL", upstream), ("OPENAI_API_KEY", "sk-test")]);
    let app = App::new("openai-proxy", config, store_at(db));
    let call = Event::load("leads-management/list.json")
        .as_user(&CompanyId::new(company.clone()), Role::Agent)
        .method("POST")
        .path("/api/ai/v1/chat/completions")
        .json(&json!({"model": "gpt-4o", "max_tokens": 1000,
                      "messages": [{"role": "user", "content": "oi"}]}));
    let answers = wiizo_tests::join_all((0..count).map(|_| send(&app, &call))).await;
    for a in answers {
        println!("{}", a.status);
    }
    ExitCode::SUCCESS
}
