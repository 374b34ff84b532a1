use lambda_http::{run, run_with_streaming_response, service_fn, Error};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    shared::telemetry::init();
    let app = shared::App::from_env("openai-proxy").await?;
    // The Function URL in RESPONSE_STREAM mode streams; the HTTP API's integration buffers.
    if std::env::var("WIIZO_STREAMING").is_ok_and(|v| v == "1") {
        run_with_streaming_response(service_fn(|req| openai_proxy::handle_streaming(&app, req)))
            .await
    } else {
        run(service_fn(|req| openai_proxy::handle(&app, req))).await
    }
}
