//! RDS IAM authentication: instead of a password, a token valid 15 minutes, made from the
//! process's AWS credentials (the function's role on Lambda): the SigV4 presigned URL of
//! `GET https://{host}:{port}/?Action=connect&DBUser={user}` for the service `rds-db`,
//! without its scheme. A new one is made for each new connection.

use std::time::{Duration, SystemTime};

use aws_credential_types::provider::ProvideCredentials;
use aws_credential_types::Credentials;
use aws_sigv4::http_request::{
    sign, SignableBody, SignableRequest, SignatureLocation, SigningSettings,
};
use aws_sigv4::sign::v4;

use crate::store::{StoreError, StoreResult};

/// How long a token is accepted (RDS's own limit).
const VALID_FOR: Duration = Duration::from_secs(900);

/// The token that authenticates `user` to the database at `host:port` in `region`, signed at
/// `at` with `credentials`.
pub fn auth_token(
    credentials: &Credentials,
    region: &str,
    host: &str,
    port: u16,
    user: &str,
    at: SystemTime,
) -> StoreResult<String> {
    let mut settings = SigningSettings::default();
    settings.expires_in = Some(VALID_FOR);
    settings.signature_location = SignatureLocation::QueryParams;
    let identity = credentials.clone().into();
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region(region)
        .name("rds-db")
        .time(at)
        .settings(settings)
        .build()
        .map_err(|e| StoreError::Internal(format!("RDS token: {e}")))?;
    let query: String = form_urlencoded::Serializer::new(String::new())
        .append_pair("Action", "connect")
        .append_pair("DBUser", user)
        .finish();
    let url = format!("https://{host}:{port}/?{query}");
    let request = SignableRequest::new("GET", &url, std::iter::empty(), SignableBody::Bytes(&[]))
        .map_err(|e| StoreError::Internal(format!("RDS token: {e}")))?;
    let (instructions, _) = sign(request, &params.into())
        .map_err(|e| StoreError::Internal(format!("RDS token: {e}")))?
        .into_parts();
    let mut signed = form_urlencoded::Serializer::new(query);
    for (name, value) in instructions.params() {
        signed.append_pair(name, value);
    }
    Ok(format!("{host}:{port}/?{}", signed.finish()))
}

/// The token for a connection made now, with the process's AWS credentials and region.
pub(super) async fn token_now(host: &str, port: u16, user: &str) -> StoreResult<String> {
    let sdk = crate::aws::sdk_config().await;
    let region = sdk
        .region()
        .map(|r| r.to_string())
        .ok_or_else(|| StoreError::Unavailable("IAM authentication needs AWS_REGION".into()))?;
    let provider = sdk.credentials_provider().ok_or_else(|| {
        StoreError::Unavailable("IAM authentication needs AWS credentials".into())
    })?;
    let credentials = provider.provide_credentials().await.map_err(|e| {
        StoreError::Unavailable(format!("no AWS credentials for IAM authentication: {e}"))
    })?;
    auth_token(&credentials, &region, host, port, user, SystemTime::now())
}
