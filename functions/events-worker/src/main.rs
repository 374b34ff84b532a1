use lambda_http::lambda_runtime::{run, service_fn, LambdaEvent};
use lambda_http::Error;
use serde_json::Value;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    shared::telemetry::init();
    let app = shared::App::from_env("events-worker").await?;
    if std::env::args().any(|a| a == "--loop") {
        events_worker::run_loop(&app).await;
    }
    // WIIZO_WORKER_POLL_SECONDS: how long an invocation keeps polling (the template sets it
    // for PostgreSQL); unset or 0, it drains once.
    let window = std::env::var("WIIZO_WORKER_POLL_SECONDS")
        .ok()
        .and_then(|s| s.parse::<u64>().ok())
        .filter(|s| *s > 0)
        .map(std::time::Duration::from_secs);
    run(service_fn(|_: LambdaEvent<Value>| async {
        match window {
            Some(w) => events_worker::poll(&app, w).await,
            None => events_worker::handle(&app).await,
        }
        .map_err(Error::from)
    }))
    .await
}
