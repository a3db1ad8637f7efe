//! AWS clients, built once per process. `AWS_ENDPOINT_URL` and the standard variables are
//! honoured, so the same binary runs against moto or LocalStack unchanged.

use aws_config::{BehaviorVersion, SdkConfig};

/// Loads the shared AWS configuration from the environment.
pub async fn load_config() -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest()).load().await
}

/// The configured region (`us-east-1` when none is set), for provenance fields.
pub fn region_name(config: &SdkConfig) -> String {
    config
        .region()
        .map(|r| r.to_string())
        .unwrap_or_else(|| "us-east-1".into())
}

/// An S3 client; path-style addressing when a custom endpoint is set (emulators want it).
pub fn s3_client(config: &SdkConfig) -> aws_sdk_s3::Client {
    let mut builder = aws_sdk_s3::config::Builder::from(config);
    if std::env::var_os("AWS_ENDPOINT_URL").is_some()
        || std::env::var_os("AWS_ENDPOINT_URL_S3").is_some()
    {
        builder = builder.force_path_style(true);
    }
    aws_sdk_s3::Client::from_conf(builder.build())
}

/// A Secrets Manager client.
pub fn secrets_client(config: &SdkConfig) -> aws_sdk_secretsmanager::Client {
    aws_sdk_secretsmanager::Client::new(config)
}

/// The string value of a secret.
pub async fn secret_string(
    client: &aws_sdk_secretsmanager::Client,
    arn: &str,
) -> Result<String, String> {
    let output = client
        .get_secret_value()
        .secret_id(arn)
        .send()
        .await
        .map_err(|err| format!("cannot read secret {arn}: {}", aws_error_message(&err)))?;
    output
        .secret_string
        .ok_or_else(|| format!("secret {arn} has no string value"))
}

/// A readable message for an SDK error, including the service's own explanation.
pub fn aws_error_message<E, R>(err: &aws_sdk_s3::error::SdkError<E, R>) -> String
where
    E: std::error::Error + 'static,
    R: std::fmt::Debug,
{
    crate::error::error_chain(err)
}
