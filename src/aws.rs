//! AWS clients, built once per process. `AWS_ENDPOINT_URL` and the standard variables are
//! honoured, so the same binary runs against moto or LocalStack unchanged.

use std::time::Duration;

use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, SdkConfig};

/// Connect, first-byte and per-call timeouts of every AWS client, so that a stalled
/// service fails a call instead of holding an invocation until it is killed. (A stalled S3
/// body is bounded by the invocation deadline where it is read.)
fn timeouts() -> TimeoutConfig {
    TimeoutConfig::builder()
        .connect_timeout(Duration::from_secs(10))
        .read_timeout(Duration::from_secs(30))
        .operation_attempt_timeout(Duration::from_secs(60))
        .operation_timeout(Duration::from_secs(120))
        .build()
}

/// Loads the shared AWS configuration from the environment.
pub async fn load_config() -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .timeout_config(timeouts())
        .load()
        .await
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

/// Why a secret's value could not be had.
#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    /// `GetSecretValue` failed.
    #[error("cannot read secret {arn}: {message}")]
    Read {
        /// The secret.
        arn: String,
        /// What Secrets Manager said.
        message: String,
    },
    /// The secret is binary.
    #[error("secret {arn} has no string value")]
    NotAString {
        /// The secret.
        arn: String,
    },
}

/// The string value of a secret.
pub async fn secret_string(
    client: &aws_sdk_secretsmanager::Client,
    arn: &str,
) -> Result<String, SecretError> {
    let output = client
        .get_secret_value()
        .secret_id(arn)
        .send()
        .await
        .map_err(|err| SecretError::Read {
            arn: arn.to_owned(),
            message: aws_error_message(&err),
        })?;
    output.secret_string.ok_or_else(|| SecretError::NotAString {
        arn: arn.to_owned(),
    })
}

/// A readable message for an SDK error, including the service's own explanation.
pub fn aws_error_message<E, R>(err: &aws_sdk_s3::error::SdkError<E, R>) -> String
where
    E: std::error::Error + 'static,
    R: std::fmt::Debug,
{
    crate::error::error_chain(err)
}
