//! The AWS plumbing, built once per process: the SDK configuration (timeouts, region),
//! S3 locations and clients, Secrets Manager, and the consistent DynamoDB reads of the
//! checkpoint table. `AWS_ENDPOINT_URL` and the standard variables are honoured, so the same
//! binary runs against moto or LocalStack unchanged.

pub mod dynamo;
pub mod s3;
pub mod secrets;

use std::time::Duration;

use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, SdkConfig};

pub use s3::{S3Location, normalize_etag, s3_client};
pub use secrets::{SecretError, secret_string, secrets_client};

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

/// A readable message for an SDK error, including the service's own explanation.
pub fn aws_error_message<E, R>(err: &aws_sdk_s3::error::SdkError<E, R>) -> String
where
    E: std::error::Error + 'static,
    R: std::fmt::Debug,
{
    crate::error::error_chain(err)
}
