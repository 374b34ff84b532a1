//! The process's one AWS configuration, for the DynamoDB store and for PostgreSQL's IAM
//! authentication tokens.

use std::time::Duration;

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, SdkConfig};

fn retries() -> RetryConfig {
    RetryConfig::standard()
        .with_max_attempts(3)
        .with_initial_backoff(Duration::from_millis(50))
}

/// Timeouts that keep a request well inside the function's own timeout.
fn timeouts() -> TimeoutConfig {
    TimeoutConfig::builder()
        .connect_timeout(Duration::from_secs(1))
        .operation_attempt_timeout(Duration::from_secs(2))
        .operation_timeout(Duration::from_secs(6))
        .build()
}

fn http_client() -> aws_types::sdk_config::SharedHttpClient {
    use aws_smithy_http_client::tls::{self, rustls_provider::CryptoMode};
    aws_smithy_http_client::Builder::new()
        .tls_provider(tls::Provider::Rustls(CryptoMode::Ring))
        .build_https()
}

/// The one AWS configuration of the process: rustls on ring, bounded retries and timeouts.
/// With `aws-profiles` (the CLI), every source the AWS CLI reads.
#[cfg(feature = "aws-profiles")]
pub async fn sdk_config() -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .http_client(http_client())
        .retry_config(retries())
        .timeout_config(timeouts())
        .load()
        .await
}

/// The one AWS configuration of the process, from the environment as Lambda sets it
/// (`AWS_REGION`, `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`), with
/// `AWS_ENDPOINT_URL_DYNAMODB` (or `AWS_ENDPOINT_URL`) for a local DynamoDB.
#[cfg(not(feature = "aws-profiles"))]
pub async fn sdk_config() -> SdkConfig {
    use aws_config::environment::credentials::EnvironmentVariableCredentialsProvider;
    use aws_config::Region;
    use aws_credential_types::provider::SharedCredentialsProvider;
    let env = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    let mut config = SdkConfig::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(
            env("AWS_REGION")
                .or_else(|| env("AWS_DEFAULT_REGION"))
                .map(Region::new),
        )
        .credentials_provider(SharedCredentialsProvider::new(
            EnvironmentVariableCredentialsProvider::new(),
        ))
        .http_client(http_client())
        .retry_config(retries())
        .timeout_config(timeouts())
        .sleep_impl(aws_smithy_async::rt::sleep::TokioSleep::new())
        .time_source(aws_smithy_async::time::SystemTimeSource::new());
    if let Some(url) = env("AWS_ENDPOINT_URL_DYNAMODB").or_else(|| env("AWS_ENDPOINT_URL")) {
        config = config.endpoint_url(url);
    }
    config.build()
}
