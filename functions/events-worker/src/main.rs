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
    run(service_fn(|_: LambdaEvent<Value>| async {
        events_worker::handle(&app).await.map_err(Error::from)
    }))
    .await
}
