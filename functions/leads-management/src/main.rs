use lambda_http::{run, service_fn, Error};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    shared::telemetry::init();
    let app = shared::App::from_env("leads-management").await?;
    run(service_fn(|req| leads_management::handle(&app, req))).await
}
