//! events-worker-loop <store>
//!
//! The outbox worker's loop (what `make dev` runs) on a store (a SQLite file or a
//! `postgres://` URL), for the crash test:
//! it is killed and started again while it works.

use shared::App;
use wiizo_tests::{store_at, test_config};

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let Some(db) = std::env::args().nth(1) else {
        eprintln!("usage: events-worker-loop <store>");
        return;
    };
    let app = App::new("events-worker", test_config(&[]), store_at(&db));
    events_worker::run_loop(&app).await;
}
