//! Why the settings cannot build a component.

use crate::admin_api::ClientBuildError;
use crate::aws::SecretError;
use crate::geoip::GeoIpSourceError;
use crate::sink::EsError;
use crate::webhook::TokenError;

/// A setting that cannot work, named with what is wrong.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A GeoIP database cannot be opened.
    #[error("{0}")]
    GeoIp(#[from] GeoIpSourceError),
    /// The cluster's settings cannot work.
    #[error("{0}")]
    Elasticsearch(#[from] EsError),
    /// The Elasticsearch secret cannot be read.
    #[error("Elasticsearch configuration: {0}")]
    ElasticsearchSecret(#[source] SecretError),
    /// SigV4 signing is on, but the endpoint names no region and none is configured.
    #[error(
        "ES_AWS_SIGV4: the endpoint names no AWS region; set AWS_REGION to the domain's region"
    )]
    NoSigningRegion,
    /// SigV4 signing is on, but the AWS configuration has no credentials provider.
    #[error("ES_AWS_SIGV4: no AWS credentials are configured to sign requests with")]
    NoAwsCredentials,
    /// Neither the key nor its secret is set.
    #[error(
        "no Cursor Admin API key: set CURSOR_API_KEY_SECRET_ARN (or CURSOR_API_KEY for local use)"
    )]
    NoCursorKey,
    /// The Admin API client cannot be built.
    #[error("{0}")]
    CursorClient(#[from] ClientBuildError),
    /// The scheduled poller needs a table.
    #[error("the scheduled poller needs CHECKPOINT_TABLE (its checkpoint and lease live there)")]
    PollerNeedsTable,
    /// The webhook receiver has an archive but no token.
    #[error(
        "the webhook receiver needs a token: set WEBHOOK_TOKEN_SECRET_ARN (or WEBHOOK_TOKEN for local use)"
    )]
    NoWebhookToken,
    /// The webhook tokens cannot be read.
    #[error("webhook token: {0}")]
    WebhookToken(#[source] TokenError),
    /// A function URL request reached a function without WEBHOOK_ARCHIVE_URI.
    #[error("a function URL request arrived, but WEBHOOK_ARCHIVE_URI is not set")]
    NoWebhookArchive,
    /// The settings do not parse.
    #[error("{0}")]
    Invalid(String),
}
