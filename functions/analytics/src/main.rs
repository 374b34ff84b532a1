use lambda_http::{run, service_fn, Error};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    shared::telemetry::init();
    let app = shared::App::from_env("analytics").await?;
    run(service_fn(|req| analytics::handle(&app, req))).await
}
