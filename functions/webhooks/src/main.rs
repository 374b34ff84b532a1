use lambda_http::{run, service_fn, Error};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    shared::telemetry::init();
    let app = shared::App::from_env("webhooks")
        .await?
        .with_body_limit(webhooks::BODY_LIMIT);
    webhooks::check_config(&app)?;
    run(service_fn(|req| webhooks::handle(&app, req))).await
}
