//! `ship` and `setup`, and the sink configuration they share with the Lambda handlers.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::Args;

use super::NormalizerArgs;
use crate::error::EsError;
use crate::pipeline::{Deadline, Provenance, ShipFields, Shipper, decompressing_reader};
use crate::sink::templates::{self, SetupResult};
use crate::sink::{Backoff, BatchLimits, Counts, DeadLetter, EsConnection, EsSettings, EsSink};

fn parse_positive(text: &str) -> Result<usize, String> {
    match text.parse::<usize>() {
        Ok(0) => Err("must be at least 1".into()),
        Ok(n) => Ok(n),
        Err(err) => Err(err.to_string()),
    }
}

/// A comma-separated list of tags.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TagList(pub Vec<String>);

impl std::str::FromStr for TagList {
    type Err = std::convert::Infallible;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Ok(TagList(
            text.split(',')
                .map(str::trim)
                .filter(|t| !t.is_empty())
                .map(str::to_owned)
                .collect(),
        ))
    }
}

/// Elasticsearch target, batching and dead letter (env vars of architecture.md).
#[derive(Debug, Clone, Args)]
pub struct SinkArgs {
    /// Cluster URL, e.g. https://es.example.com:9243.
    #[arg(long, env = "ES_URL")]
    pub es_url: Option<String>,
    /// Elastic Cloud ID (decoded to the URL).
    #[arg(long, env = "ES_CLOUD_ID")]
    pub es_cloud_id: Option<String>,
    /// API key (encoded, or `id:key`).
    #[arg(long, env = "ES_API_KEY", hide_env_values = true)]
    pub es_api_key: Option<String>,
    #[arg(long, env = "ES_USERNAME")]
    pub es_username: Option<String>,
    #[arg(long, env = "ES_PASSWORD", hide_env_values = true)]
    pub es_password: Option<String>,
    /// Secrets Manager secret (JSON with url, cloud_id, api_key, username, password).
    #[arg(long, env = "ES_SECRET_ARN")]
    pub es_secret_arn: Option<String>,
    /// Extra PEM CA bundle for self-managed clusters.
    #[arg(long, env = "ES_CA_CERT")]
    pub es_ca_cert: Option<PathBuf>,
    /// Writes to logs-cursor.audit-<namespace>.
    #[arg(long, env = "DATA_STREAM_NAMESPACE", default_value = "default")]
    pub namespace: String,
    /// Ingest pipeline for `_bulk`.
    #[arg(long, env = "ES_PIPELINE")]
    pub es_pipeline: Option<String>,
    #[arg(long, env = "BULK_MAX_BYTES", default_value_t = 5 * 1024 * 1024, value_parser = parse_positive)]
    pub bulk_max_bytes: usize,
    #[arg(long, env = "BULK_MAX_ACTIONS", default_value_t = 2000, value_parser = parse_positive)]
    pub bulk_max_actions: usize,
    /// Tags added to every document (comma-separated).
    #[arg(long, env = "TAGS", default_value = "forwarded,cursor-audit")]
    pub tags: TagList,
    /// S3 bucket for permanently rejected documents.
    #[arg(long, env = "DEAD_LETTER_BUCKET")]
    pub dead_letter_bucket: Option<String>,
    #[arg(long, env = "DEAD_LETTER_PREFIX", default_value = "dead-letter/")]
    pub dead_letter_prefix: String,
    /// Local directory for rejected documents when no bucket is set (command-line use).
    #[arg(long, env = "DEAD_LETTER_DIR")]
    pub dead_letter_dir: Option<PathBuf>,
    /// How long one batch may be retried (throttling, outages) before it counts as failed.
    #[arg(long, env = "ES_RETRY_TIMEOUT_SECONDS", default_value_t = 300)]
    pub retry_timeout_seconds: u64,
    /// Timeout of one HTTP request.
    #[arg(long, env = "ES_REQUEST_TIMEOUT_SECONDS", default_value_t = 60)]
    pub request_timeout_seconds: u64,
}

impl SinkArgs {
    fn settings(&self) -> EsSettings {
        EsSettings {
            url: self.es_url.clone().filter(|v| !v.is_empty()),
            cloud_id: self.es_cloud_id.clone().filter(|v| !v.is_empty()),
            api_key: self.es_api_key.clone().filter(|v| !v.is_empty()),
            username: self.es_username.clone().filter(|v| !v.is_empty()),
            password: self.es_password.clone(),
            secret_arn: self.es_secret_arn.clone().filter(|v| !v.is_empty()),
            ca_cert: self.es_ca_cert.clone(),
            request_timeout: Duration::from_secs(self.request_timeout_seconds.max(1)),
        }
    }

    /// True when a cluster is configured (directly or through a secret).
    pub fn is_configured(&self) -> bool {
        self.settings().is_configured()
    }

    /// The §10 fields.
    pub fn ship_fields(&self) -> ShipFields {
        ShipFields {
            namespace: self.namespace.clone(),
            tags: self.tags.0.clone(),
        }
    }

    /// Normalizer, shipping fields and limits: what turns lines into batches.
    pub fn shipper(
        &self,
        normalizer: &NormalizerArgs,
    ) -> Result<Shipper, crate::normalize::GeoIpOpenError> {
        Ok(Shipper {
            normalizer: Arc::new(normalizer.build()?),
            fields: Arc::new(self.ship_fields()),
            limits: self.limits(),
            max_line_bytes: normalizer.max_line_bytes,
        })
    }

    /// Batch limits.
    pub fn limits(&self) -> BatchLimits {
        BatchLimits {
            max_bytes: self.bulk_max_bytes,
            max_actions: self.bulk_max_actions,
        }
    }

    /// The connection, with the secret (if any) fetched once.
    pub async fn connection(
        &self,
        aws: Option<&aws_config::SdkConfig>,
    ) -> Result<EsConnection, EsError> {
        let mut settings = self.settings();
        if let Some(arn) = settings.secret_arn.clone() {
            let config = match aws {
                Some(config) => config.clone(),
                None => crate::aws::load_config().await,
            };
            let secret = crate::aws::secret_string(&crate::aws::secrets_client(&config), &arn)
                .await
                .map_err(EsError::Config)?;
            settings.merge_secret(&secret)?;
        }
        EsConnection::new(&settings)
    }

    /// The sink: connection, data stream, pipeline and dead letter.
    pub async fn sink(&self, aws: Option<&aws_config::SdkConfig>) -> Result<EsSink, EsError> {
        let connection = self.connection(aws).await?;
        let dead_letter = match (&self.dead_letter_bucket, &self.dead_letter_dir) {
            (Some(bucket), _) if !bucket.is_empty() => {
                let config = match aws {
                    Some(config) => config.clone(),
                    None => crate::aws::load_config().await,
                };
                DeadLetter::S3 {
                    client: crate::aws::s3_client(&config),
                    bucket: bucket.clone(),
                    prefix: self.dead_letter_prefix.clone(),
                }
            }
            (_, Some(dir)) => DeadLetter::Directory(dir.clone()),
            _ => DeadLetter::Disabled,
        };
        Ok(EsSink::new(
            connection,
            self.ship_fields().data_stream(),
            self.es_pipeline.clone().filter(|p| !p.is_empty()),
            dead_letter,
            Backoff::default(),
        ))
    }

    /// Retry budget per batch (no hard deadline on the command line).
    pub fn deadline(&self) -> Deadline {
        Deadline {
            hard: None,
            per_batch: Duration::from_secs(self.retry_timeout_seconds),
            stop_margin: Duration::ZERO,
        }
    }
}

/// The S3 path's settings.
#[derive(Debug, Clone, Args)]
pub struct S3Args {
    /// Objects with other names are skipped (and logged).
    #[arg(long, env = "S3_KEY_SUFFIXES", default_value = crate::forward::DEFAULT_SUFFIXES)]
    pub s3_key_suffixes: String,
}

/// Where durable progress lives (both paths).
#[derive(Debug, Clone, Args)]
pub struct CheckpointArgs {
    /// DynamoDB table (partition key `pk`) for per-object progress and the poll checkpoint.
    #[arg(long, env = "CHECKPOINT_TABLE")]
    pub checkpoint_table: Option<String>,
}

impl CheckpointArgs {
    /// The table, when one is set.
    pub fn table(&self) -> Option<&str> {
        self.checkpoint_table.as_deref().filter(|t| !t.is_empty())
    }

    /// Where per-object progress goes.
    pub fn progress_store(
        &self,
        aws: &aws_config::SdkConfig,
    ) -> crate::checkpoint::ObjectProgressStore {
        match self.table() {
            Some(table) => crate::checkpoint::ObjectProgressStore::DynamoDb {
                client: aws_sdk_dynamodb::Client::new(aws),
                table: table.to_owned(),
            },
            None => crate::checkpoint::ObjectProgressStore::Disabled,
        }
    }
}

impl S3Args {
    /// The suffix list.
    pub fn suffixes(&self) -> Vec<String> {
        self.s3_key_suffixes
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect()
    }
}

/// `ship SOURCE... [--dry-run]`
#[derive(Debug, Args)]
pub struct ShipArgs {
    /// Local files (.jsonl/.ndjson, gzip or plain), s3://bucket/key or s3://bucket/prefix/
    /// (every object under it, oldest key first).
    #[arg(required = true, value_name = "SOURCE")]
    pub sources: Vec<String>,
    /// Print the documents instead of indexing them.
    #[arg(long)]
    pub dry_run: bool,
    #[command(flatten)]
    pub normalizer: NormalizerArgs,
    #[command(flatten)]
    pub sink: SinkArgs,
    #[command(flatten)]
    pub s3: S3Args,
    #[command(flatten)]
    pub checkpoint: CheckpointArgs,
}

/// The summary line of architecture.md.
pub fn summary_line(counts: &Counts, seconds: f64) -> String {
    let mut line = format!(
        "summary: read={} indexed={} duplicates={} dead_lettered={} failed={} seconds={seconds:.2}",
        counts.read, counts.indexed, counts.duplicates, counts.dead_lettered, counts.failed
    );
    if let Some(peak) = peak_rss_mb() {
        line.push_str(&format!(" peak_rss_mb={peak:.1}"));
    }
    line
}

/// The process's peak resident set size (Linux `VmHWM`), in MB.
pub fn peak_rss_mb() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let kb: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    Some(kb / 1024.0)
}

/// `s3://bucket/key` → (bucket, key); the key may be a prefix ending in `/` or empty.
fn parse_s3_url(source: &str) -> Option<(String, String)> {
    let rest = source.strip_prefix("s3://")?;
    let (bucket, key) = rest.split_once('/').unwrap_or((rest, ""));
    (!bucket.is_empty()).then(|| (bucket.to_owned(), key.to_owned()))
}

fn open_file(path: &str) -> std::io::Result<Box<dyn std::io::BufRead + Send>> {
    decompressing_reader(std::fs::File::open(path)?)
}

pub(super) async fn run(args: &ShipArgs) -> ExitCode {
    let started = std::time::Instant::now();
    let shipper = match args.sink.shipper(&args.normalizer) {
        Ok(shipper) => shipper,
        Err(err) => {
            eprintln!("error: {err}");
            return ExitCode::from(2);
        }
    };
    let mut counts = Counts::default();
    let mut all_ok = true;

    if args.dry_run || !args.sink.is_configured() {
        let stdout = std::io::stdout();
        for source in &args.sources {
            if let Some((bucket, key)) = parse_s3_url(source) {
                match print_s3(&shipper, &args.s3, &bucket, &key).await {
                    Ok(n) => counts.read += n,
                    Err(err) => {
                        eprintln!("error: {err}");
                        all_ok = false;
                    }
                }
                continue;
            }
            let provenance = Provenance::File {
                path: source.clone(),
            };
            let result = match open_file(source) {
                Ok(reader) => {
                    let mut out = std::io::BufWriter::with_capacity(256 * 1024, stdout.lock());
                    let printed = shipper.print(reader, &provenance, &mut out);
                    let flushed = std::io::Write::flush(&mut out);
                    printed.and_then(|n| {
                        flushed
                            .map(|()| n)
                            .map_err(|error| crate::error::SourceError::Read {
                                source_name: "stdout".into(),
                                line: 0,
                                error,
                            })
                    })
                }
                Err(error) => Err(crate::error::SourceError::Open {
                    source_name: source.clone(),
                    error,
                }),
            };
            match result {
                Ok(n) => counts.read += n,
                Err(err) => {
                    eprintln!("error: {err}");
                    all_ok = false;
                }
            }
        }
        eprintln!(
            "{} dry_run=true",
            summary_line(&counts, started.elapsed().as_secs_f64())
        );
        return if all_ok {
            ExitCode::SUCCESS
        } else {
            ExitCode::FAILURE
        };
    }

    super::init_logging();
    let sink = match args.sink.sink(None).await {
        Ok(sink) => sink,
        Err(err) => {
            eprintln!("error: {err}");
            return ExitCode::from(2);
        }
    };
    for source in &args.sources {
        if let Some((bucket, key)) = parse_s3_url(source) {
            let forwarded = ship_s3(
                &shipper,
                &sink,
                &args.s3,
                &args.checkpoint,
                &bucket,
                &key,
                args.sink.deadline(),
            )
            .await;
            match forwarded {
                Ok((source_counts, ok)) => {
                    counts.add(&source_counts);
                    all_ok &= ok;
                }
                Err(err) => {
                    eprintln!("error: {err}");
                    all_ok = false;
                }
            }
            continue;
        }
        let reader: Box<dyn std::io::Read + Send> = match std::fs::File::open(source) {
            Ok(file) => Box::new(file),
            Err(error) => {
                eprintln!("error: cannot open {source}: {error}");
                all_ok = false;
                continue;
            }
        };
        let provenance = Provenance::File {
            path: source.clone(),
        };
        let report = shipper
            .ship(reader, provenance, 0, &sink, args.sink.deadline())
            .await;
        counts.add(&report.counts);
        if !report.complete {
            all_ok = false;
            eprintln!(
                "error: {source}: {} (lines acknowledged through {})",
                report
                    .error
                    .as_deref()
                    .unwrap_or("not all documents were acknowledged"),
                report.acknowledged_through_line
            );
        }
    }
    eprintln!("{}", summary_line(&counts, started.elapsed().as_secs_f64()));
    if all_ok && counts.failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// `setup`
#[derive(Debug, Args)]
pub struct SetupArgs {
    #[command(flatten)]
    pub sink: SinkArgs,
}

pub(super) async fn setup(args: &SetupArgs) -> ExitCode {
    if !args.sink.is_configured() {
        eprintln!("error: setup needs a cluster: set ES_URL, ES_CLOUD_ID or ES_SECRET_ARN");
        return ExitCode::from(2);
    }
    let connection = match args.sink.connection(None).await {
        Ok(connection) => connection,
        Err(err) => {
            eprintln!("error: {err}");
            return ExitCode::from(2);
        }
    };
    match templates::setup(&connection).await {
        Ok(SetupResult::Installed { engine, version }) => {
            eprintln!(
                "installed index template {} (priority {}) and component template {} for logs-cursor.audit-* on {engine:?} {version}",
                templates::INDEX_TEMPLATE,
                templates::PRIORITY,
                templates::MAPPINGS_COMPONENT
            );
            ExitCode::SUCCESS
        }
        Ok(SetupResult::IntegrationTemplatePresent) => {
            eprintln!(
                "index template {} from Elastic's Cursor integration is installed: left alone, nothing to do",
                templates::INTEGRATION_TEMPLATE
            );
            ExitCode::SUCCESS
        }
        Err(err) => {
            eprintln!("error: setup failed: {err}");
            ExitCode::FAILURE
        }
    }
}

/// The keys a `s3://bucket/key-or-prefix/` source names, filtered by suffix.
async fn s3_keys(
    s3: &aws_sdk_s3::Client,
    args: &S3Args,
    bucket: &str,
    key: &str,
) -> Result<Vec<String>, String> {
    if !key.is_empty() && !key.ends_with('/') {
        return Ok(vec![key.to_owned()]);
    }
    let suffixes = args.suffixes();
    let keys = crate::source::s3_object::list_keys(s3, bucket, key).await?;
    Ok(keys
        .into_iter()
        .filter(|k| crate::source::s3_object::has_accepted_suffix(k, &suffixes))
        .collect())
}

fn progress_line(done: usize, total: usize, key: &str) {
    use std::io::IsTerminal;
    if std::io::stderr().is_terminal() {
        eprint!("\r\x1b[2K[{done}/{total}] {key}");
        if done == total {
            eprintln!();
        }
    }
}

/// `ship s3://…` to the cluster: every object through the S3 path (with progress when
/// CHECKPOINT_TABLE is set). Returns the counts and whether every object completed.
async fn ship_s3(
    shipper: &Shipper,
    sink: &EsSink,
    args: &S3Args,
    checkpoint: &CheckpointArgs,
    bucket: &str,
    key: &str,
    deadline: crate::pipeline::Deadline,
) -> Result<(Counts, bool), String> {
    let aws = crate::aws::load_config().await;
    let s3 = crate::aws::s3_client(&aws);
    let keys = s3_keys(&s3, args, bucket, key).await?;
    let forwarder = crate::forward::S3Forwarder {
        shipper: shipper.clone(),
        sink: sink.clone(),
        s3,
        progress: checkpoint.progress_store(&aws),
        suffixes: args.suffixes(),
        region: crate::aws::region_name(&aws),
    };
    let mut counts = Counts::default();
    let mut all_ok = true;
    for (done, key) in keys.iter().enumerate() {
        progress_line(done, keys.len(), key);
        let object = crate::source::s3_object::ObjectRef {
            bucket: bucket.to_owned(),
            key: key.clone(),
            etag: None,
            region: None,
        };
        let result = forwarder.forward(&object, deadline).await;
        counts.add(&result.counts);
        if !result.complete {
            all_ok = false;
            eprintln!(
                "error: s3://{bucket}/{key}: {} (lines acknowledged through {})",
                result
                    .error
                    .as_deref()
                    .unwrap_or("not all documents were acknowledged"),
                result.lines_acknowledged
            );
        }
    }
    progress_line(keys.len(), keys.len(), "done");
    Ok((counts, all_ok))
}

/// `ship --dry-run s3://…`: prints the documents of every object.
async fn print_s3(
    shipper: &Shipper,
    args: &S3Args,
    bucket: &str,
    key: &str,
) -> Result<u64, String> {
    let aws = crate::aws::load_config().await;
    let s3 = crate::aws::s3_client(&aws);
    let region = crate::aws::region_name(&aws);
    let mut total = 0;
    for key in s3_keys(&s3, args, bucket, key).await? {
        let opened = crate::source::s3_object::open_object(&s3, bucket, &key)
            .await
            .map_err(|err| err.to_string())?;
        let provenance = Provenance::S3 {
            bucket: bucket.to_owned(),
            key: key.clone(),
            region: region.clone(),
            etag: opened.etag.clone(),
        };
        let shipper = shipper.clone();
        let printed = tokio::task::spawn_blocking(move || {
            let reader = decompressing_reader(opened.reader).map_err(|error| {
                crate::error::SourceError::Open {
                    source_name: provenance.name(),
                    error,
                }
            })?;
            let stdout = std::io::stdout();
            let mut out = std::io::BufWriter::with_capacity(256 * 1024, stdout.lock());
            let n = shipper.print(reader, &provenance, &mut out)?;
            std::io::Write::flush(&mut out).map_err(|error| crate::error::SourceError::Read {
                source_name: "stdout".into(),
                line: 0,
                error,
            })?;
            Ok::<u64, crate::error::SourceError>(n)
        })
        .await
        .map_err(|err| err.to_string())?
        .map_err(|err| err.to_string())?;
        total += printed;
    }
    Ok(total)
}
