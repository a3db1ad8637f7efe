//! The one place that builds components from settings, for the command line and the
//! Lambda alike: normalizer, shipper, sink, S3 forwarder, Admin API client and poll stores.

use std::sync::Arc;

use aws_config::SdkConfig;

use super::cursor::CursorArgs;
use super::error::ConfigError;
use super::normalizer::NormalizerArgs;
use super::s3::{CheckpointArgs, S3Args};
use super::sink::SinkArgs;
use crate::admin_api::{ApiKey, CursorApiClient, DynamoPollStore};
use crate::geoip_source::{GeoIpSources, load_and_watch};
use crate::normalize::{GeoIp, NormalizeOptions, Normalizer};
use crate::s3::{ObjectProgressStore, S3Forwarder};
use crate::shipping::Shipper;
use crate::sink::{DeadLetter, EsConnection, EsSink, SigV4Signer, SigningRegion, default_backoff};

/// The shared AWS configuration, loaded now unless the caller has it already.
async fn aws_or_load(aws: Option<&SdkConfig>) -> SdkConfig {
    match aws {
        Some(config) => config.clone(),
        None => crate::aws::load_config().await,
    }
}

/// The normalizer, with its GeoIP databases open (fetched from S3 when they live there,
/// and then watched for changes every `GEOIP_REFRESH`).
pub async fn normalizer(
    args: &NormalizerArgs,
    aws: Option<&SdkConfig>,
) -> Result<Arc<Normalizer>, ConfigError> {
    let sources = GeoIpSources {
        city: args.geoip_city.clone(),
        asn: args.geoip_asn.clone(),
        refresh: args
            .geoip_refresh
            .to_std()
            .unwrap_or(std::time::Duration::from_secs(3600)),
        directory: std::env::temp_dir(),
    };
    let s3 = if sources.uses_s3() {
        Some(crate::aws::s3_client(&aws_or_load(aws).await))
    } else {
        None
    };
    let normalizer = Arc::new(Normalizer::new(
        NormalizeOptions {
            preserve_original: args.preserve_original,
        },
        GeoIp::default(),
    ));
    load_and_watch(sources, s3, &normalizer).await?;
    Ok(normalizer)
}

/// Normalizer, shipping fields and limits: what turns lines into batches.
pub async fn shipper(
    sink: &SinkArgs,
    normalizer_args: &NormalizerArgs,
    aws: Option<&SdkConfig>,
) -> Result<Shipper, ConfigError> {
    Ok(Shipper {
        normalizer: normalizer(normalizer_args, aws).await?,
        fields: Arc::new(sink.ship_fields()),
        limits: sink.limits(),
        max_line_bytes: normalizer_args.max_line_bytes,
        max_inflated_bytes: normalizer_args.max_object_inflated_bytes,
        normalize_in: sink.normalize_in,
    })
}

/// The connection to the cluster, with the secret (if any) fetched once.
pub async fn connection(
    sink: &SinkArgs,
    aws: Option<&SdkConfig>,
) -> Result<EsConnection, ConfigError> {
    let mut settings = sink.settings();
    if let Some(arn) = settings.secret_arn.clone() {
        let config = aws_or_load(aws).await;
        let secret = crate::aws::secret_string(&crate::aws::secrets_client(&config), &arn)
            .await
            .map_err(ConfigError::ElasticsearchSecret)?;
        settings.merge_secret(&secret)?;
    }
    let connection = EsConnection::new(&settings)?;
    let Some(region) = connection.sigv4_region()? else {
        return Ok(connection);
    };
    let config = aws_or_load(aws).await;
    let region = match region {
        SigningRegion::Endpoint(region) => region,
        SigningRegion::Configured => config
            .region()
            .map(|r| r.to_string())
            .ok_or(ConfigError::NoSigningRegion)?,
    };
    let provider = config
        .credentials_provider()
        .ok_or(ConfigError::NoAwsCredentials)?;
    tracing::info!(region = %region, service = crate::sink::sigv4::SERVICE, "signing cluster requests with AWS SigV4");
    Ok(connection.with_signer(SigV4Signer::new(region, provider)))
}

/// The sink: connection, data stream, pipeline and dead letter.
pub async fn es_sink(sink: &SinkArgs, aws: Option<&SdkConfig>) -> Result<EsSink, ConfigError> {
    let connection = connection(sink, aws).await?;
    let dead_letter = match (&sink.dead_letter_bucket, &sink.dead_letter_dir) {
        (Some(bucket), _) if !bucket.is_empty() => DeadLetter::S3 {
            client: crate::aws::s3_client(&aws_or_load(aws).await),
            bucket: bucket.clone(),
            prefix: sink.dead_letter_prefix.clone(),
        },
        (_, Some(dir)) => DeadLetter::Directory(dir.clone()),
        _ => DeadLetter::Disabled,
    };
    Ok(EsSink::new(
        connection,
        sink.ship_fields().data_stream(),
        sink.pipeline(),
        dead_letter,
        default_backoff(),
        sink.normalize_in,
    ))
}

/// Where per-object progress goes.
pub fn progress_store(checkpoint: &CheckpointArgs, aws: &SdkConfig) -> ObjectProgressStore {
    match checkpoint.table() {
        Some(table) => ObjectProgressStore::DynamoDb {
            client: aws_sdk_dynamodb::Client::new(aws),
            table: table.to_owned(),
        },
        None => ObjectProgressStore::Disabled,
    }
}

/// The S3 path around an existing shipper and sink.
pub fn s3_forwarder(
    shipper: Shipper,
    sink: EsSink,
    s3: &S3Args,
    checkpoint: &CheckpointArgs,
    aws: &SdkConfig,
) -> S3Forwarder {
    S3Forwarder {
        shipper,
        sink,
        s3: crate::aws::s3_client(aws),
        progress: progress_store(checkpoint, aws),
        suffixes: s3.suffixes(),
        region: crate::aws::region_name(aws),
    }
}

/// The Admin API client, with its key source.
pub fn api_client(cursor: &CursorArgs, aws: &SdkConfig) -> Result<CursorApiClient, ConfigError> {
    let source = cursor.key_source(aws).ok_or(ConfigError::NoCursorKey)?;
    Ok(CursorApiClient::new(
        cursor.api_settings(),
        ApiKey::new(source),
    )?)
}

/// The poll checkpoint and lease in the DynamoDB table.
pub fn dynamo_poll_store(
    table: &str,
    cursor: &CursorArgs,
    namespace: &str,
    aws: &SdkConfig,
) -> DynamoPollStore {
    DynamoPollStore {
        client: aws_sdk_dynamodb::Client::new(aws),
        table: table.to_owned(),
        name: cursor.poller_name(namespace),
    }
}
