//! events-worker-loop <db path>
//!
//! The outbox worker's loop (what `make dev` runs) on a SQLite file, for the crash test:
//! it is killed and started again while it works.

use shared::App;
use wiizo_tests::{sqlite_store_at, test_config};

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let Some(db) = std::env::args().nth(1) else {
        eprintln!("usage: events-worker-loop <db path>");
        return;
    };
    let app = App::new(
        "events-worker",
        test_config(&[]),
        sqlite_store_at(std::path::Path::new(&db)),
    );
    events_worker::run_loop(&app).await;
}
