//! The one place that builds components from settings, for the command line and the
//! Lambda alike: the normalizer and shipper, the output (a cluster, or stdout for dry
//! runs), the S3 path, named sources for `ship`, the Admin API poller and the webhook
//! receiver. The front ends take their settings, call one builder and run what it returns.

use std::path::Path;
use std::sync::Arc;

use aws_config::SdkConfig;

use super::cursor::CursorArgs;
use super::error::ConfigError;
use super::normalizer::NormalizerArgs;
use super::s3::{CheckpointArgs, S3Args};
use super::sink::SinkArgs;
use super::teams::Team;
use super::webhook::WebhookArgs;
use crate::admin_api::{
    AnyPollStore, ApiKey, CursorApiClient, DynamoPollStore, FilePollStore, Poller, TeamPollers,
};
use crate::geoip::{GeoIpSources, load_and_watch};
use crate::normalize::{GeoIp, NormalizeOptions, Normalizer};
use crate::s3::{ObjectProgressStore, S3Forwarder};
use crate::shipping::Shipper;
use crate::sink::{
    CredentialSource, DeadLetter, EsConnection, EsSink, Output, SigV4Signer, SigningRegion,
    StdoutSink, default_backoff,
};
use crate::sources::NamedSources;
use crate::webhook::{Archive, Tokens, WebhookReceiver};

/// The shared AWS configuration, loaded now unless the caller has it already.
pub(crate) async fn aws_or_load(aws: Option<&SdkConfig>) -> SdkConfig {
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
    let teams = sink.teams.load(aws).await?;
    shipper_for(
        sink,
        normalizer_args,
        aws,
        teams.as_deref().unwrap_or_default(),
    )
    .await
}

/// [`shipper`] with the team list read already.
async fn shipper_for(
    sink: &SinkArgs,
    normalizer_args: &NormalizerArgs,
    aws: Option<&SdkConfig>,
    teams: &[Team],
) -> Result<Shipper, ConfigError> {
    let fields = sink.ship_fields();
    Ok(Shipper {
        normalizer: normalizer(normalizer_args, aws).await?,
        teams: super::teams::routes(teams, &fields),
        fields: Arc::new(fields),
        limits: sink.limits(),
        max_line_bytes: normalizer_args.max_line_bytes,
        max_inflated_bytes: normalizer_args.max_object_inflated_bytes,
    })
}

/// The connection to the cluster, with the secret (if any) fetched now, and again when the
/// cluster answers 401 (a rotation).
pub async fn connection(
    sink: &SinkArgs,
    aws: Option<&SdkConfig>,
) -> Result<EsConnection, ConfigError> {
    let mut settings = sink.settings();
    let mut source = None;
    if let Some(arn) = settings.secret_arn.clone() {
        let config = aws_or_load(aws).await;
        let client = crate::aws::secrets_client(&config);
        let secret = crate::aws::secret_string(&client, &arn)
            .await
            .map_err(ConfigError::ElasticsearchSecret)?;
        source = Some(CredentialSource::secrets_manager(
            client,
            arn,
            settings.clone(),
        ));
        settings.merge_secret(&secret)?;
    }
    let connection = EsConnection::with_source(&settings, source)?;
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

/// The cluster sink: connection, data stream, pipeline and dead letter.
pub async fn cluster(sink: &SinkArgs, aws: Option<&SdkConfig>) -> Result<EsSink, ConfigError> {
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

/// Where documents go: the cluster, or standard output for a dry run (asked for, or no
/// cluster configured).
pub async fn output(
    sink: &SinkArgs,
    dry_run: bool,
    aws: Option<&SdkConfig>,
) -> Result<Output, ConfigError> {
    if dry_run || !sink.is_configured() {
        return Ok(Output::Stdout(StdoutSink {
            normalize_in: sink.normalize_in,
        }));
    }
    Ok(Output::Cluster(Box::new(cluster(sink, aws).await?)))
}

/// Where per-object progress goes: nowhere for a dry run, which records nothing.
fn progress_store(
    checkpoint: &CheckpointArgs,
    output: &Output,
    aws: &SdkConfig,
) -> ObjectProgressStore {
    match checkpoint.table() {
        Some(table) if !output.is_dry_run() => ObjectProgressStore::DynamoDb {
            client: aws_sdk_dynamodb::Client::new(aws),
            table: table.to_owned(),
        },
        _ => ObjectProgressStore::Disabled,
    }
}

/// The S3 path around an existing shipper and output.
pub fn s3_forwarder(
    (shipper, output): (Shipper, Output),
    sink: &SinkArgs,
    s3: &S3Args,
    checkpoint: &CheckpointArgs,
    aws: &SdkConfig,
) -> S3Forwarder {
    S3Forwarder {
        progress: progress_store(checkpoint, &output, aws),
        shipper,
        output,
        s3: crate::aws::s3_client(aws),
        suffixes: s3.suffixes(),
        dead_letters: sink.dead_letter_place(),
        region: crate::aws::region_name(aws),
    }
}

/// The S3 path of the Lambda function: shipper, cluster and progress table.
pub async fn s3_source(
    normalizer: &NormalizerArgs,
    sink: &SinkArgs,
    s3: &S3Args,
    checkpoint: &CheckpointArgs,
    aws: &SdkConfig,
) -> Result<S3Forwarder, ConfigError> {
    let shipper = shipper(sink, normalizer, Some(aws)).await?;
    let output = Output::Cluster(Box::new(cluster(sink, Some(aws)).await?));
    Ok(s3_forwarder((shipper, output), sink, s3, checkpoint, aws))
}

/// What `ship SOURCE…` runs: files through the shipper, `s3://` sources through the S3
/// path (AWS is configured only when a source is in S3).
pub async fn named_sources(
    sources: &[String],
    dry_run: bool,
    normalizer: &NormalizerArgs,
    sink: &SinkArgs,
    s3: &S3Args,
    checkpoint: &CheckpointArgs,
) -> Result<NamedSources, ConfigError> {
    let aws = if sources.iter().any(|s| crate::sources::is_s3(s)) {
        Some(crate::aws::load_config().await)
    } else {
        None
    };
    let shipper = shipper(sink, normalizer, aws.as_ref()).await?;
    let output = output(sink, dry_run, aws.as_ref()).await?;
    let forwarder = aws
        .as_ref()
        .map(|aws| s3_forwarder((shipper.clone(), output.clone()), sink, s3, checkpoint, aws));
    Ok(NamedSources {
        shipper,
        output,
        s3: forwarder,
        deadline: sink.deadline(),
    })
}

/// What the poller ships with: the S3 path's shipper and output (the Lambda shares them),
/// or its own, built from the settings (`dry_run`: print instead of index).
#[derive(Debug)]
pub enum PollerOutput<'a> {
    /// Share these.
    Shared(Shipper, Output),
    /// Build them.
    Own {
        /// The normalizer's settings.
        normalizer: &'a NormalizerArgs,
        /// Print the documents, take no lease, write no checkpoint.
        dry_run: bool,
    },
}

/// The Admin API pollers, one per team (docs/teams.md; the single-team settings are one
/// unnamed team): each with its client, key and pacer, its checkpoint and lease (in the
/// DynamoDB table when one is set, else in `checkpoint_file`, one file per team), named so
/// that pollers sharing a table stay apart, and its documents' namespace and tags. Keys
/// are checked first, before anything is fetched.
pub async fn pollers(
    cursor: &CursorArgs,
    sink: &SinkArgs,
    (checkpoint, checkpoint_file): (&CheckpointArgs, Option<&Path>),
    output: PollerOutput<'_>,
    aws: Option<&SdkConfig>,
) -> Result<TeamPollers<AnyPollStore>, ConfigError> {
    let aws = &aws_or_load(aws).await;
    let teams = sink.teams.load(Some(aws)).await?;
    let single_key = cursor.key_source(aws);
    if teams.is_some() && single_key.is_some() {
        return Err(ConfigError::Invalid(
            "CURSOR_TEAMS lists the teams and their keys: unset CURSOR_API_KEY and CURSOR_API_KEY_SECRET_ARN".into(),
        ));
    }
    let store = |name: String, team: Option<&str>| match (checkpoint.table(), checkpoint_file) {
        (Some(table), _) => Ok(AnyPollStore::Dynamo(DynamoPollStore {
            client: aws_sdk_dynamodb::Client::new(aws),
            table: table.to_owned(),
            name,
            checkpoint_label: None,
        })),
        (None, Some(file)) => Ok(AnyPollStore::File(FilePollStore::new(match team {
            Some(team) => super::teams::team_file(file, team),
            None => file.to_path_buf(),
        }))),
        (None, None) => Err(ConfigError::PollerNeedsTable),
    };
    let mut clients = Vec::new();
    match &teams {
        None => {
            let source = single_key.ok_or(ConfigError::NoCursorKey)?;
            let api = CursorApiClient::new(cursor.api_settings(), ApiKey::new(source))?;
            clients.push((None, api, store(cursor.poller_name(&sink.namespace), None)?));
        }
        Some(teams) => {
            for team in teams {
                let mut settings = cursor.api_settings();
                settings.event_types = team.event_types.clone().or(settings.event_types);
                let key = ApiKey::new(team.key_source(aws)).from_setting(format!(
                    "the \"api_key\" of team {} in CURSOR_TEAMS",
                    team.name
                ));
                let api = CursorApiClient::new(settings, key)?;
                let store = store(team.poller_name(cursor), Some(&team.name))?;
                clients.push((Some(team), api, store));
            }
        }
    }
    let (shipper, output) = match output {
        PollerOutput::Shared(shipper, output) => (shipper, output),
        PollerOutput::Own {
            normalizer,
            dry_run,
        } => (
            shipper_for(
                sink,
                normalizer,
                Some(aws),
                teams.as_deref().unwrap_or_default(),
            )
            .await?,
            self::output(sink, dry_run, Some(aws)).await?,
        ),
    };
    let pollers = clients
        .into_iter()
        .map(|(team, api, store)| {
            let mut shipper = shipper.clone();
            if let Some(team) = team {
                shipper.teams.fixed = Some(Arc::new(team.ship_fields(&shipper.fields)));
            }
            Arc::new(Poller {
                team: team.map(|t| t.name.clone()),
                api: Arc::new(api),
                store: Arc::new(store),
                shipper,
                output: output.clone(),
                settings: cursor.poll_settings(),
            })
        })
        .collect();
    Ok(TeamPollers { pollers })
}

/// The webhook receiver, when `WEBHOOK_ARCHIVE_URI` is set: its tokens read now (a missing
/// secret fails the start), its archive, its limits. It needs no cluster.
pub async fn webhook(
    args: &WebhookArgs,
    aws: &SdkConfig,
) -> Result<Option<WebhookReceiver>, ConfigError> {
    let Some(location) = args.archive() else {
        return Ok(None);
    };
    let source = args.token_source(aws).ok_or(ConfigError::NoWebhookToken)?;
    let tokens = Tokens::load(source, args.token_settings())
        .await
        .map_err(ConfigError::WebhookToken)?;
    Ok(Some(WebhookReceiver {
        tokens,
        archive: Archive {
            client: crate::aws::s3_client(aws),
            location: location.clone(),
        },
        limits: args.limits(),
    }))
}
