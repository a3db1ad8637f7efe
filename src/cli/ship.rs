//! `ship SOURCE... [--dry-run]`: files and `s3://` objects to the cluster, or their
//! documents to stdout when no cluster is configured.

use std::process::ExitCode;

use clap::Args;

use crate::config::{CheckpointArgs, NormalizerArgs, S3Args, SinkArgs, build};
use crate::deadline::Deadline;
use crate::decompress::decompressing_reader;
use crate::error::SourceError;
use crate::metrics::summary_line;
use crate::output::stdout_documents;
use crate::s3::{ObjectRef, S3Forwarder, has_accepted_suffix, list_keys, open_object};
use crate::shipping::{Provenance, ShipError, Shipper};
use crate::sink::{Counts, EsSink};

/// `ship SOURCE... [--dry-run]`
#[derive(Debug, Args)]
pub(super) struct ShipArgs {
    /// Local files (.jsonl/.ndjson, gzip or plain), s3://bucket/key or s3://bucket/prefix/
    /// (every object under it, oldest key first).
    #[arg(required = true, value_name = "SOURCE")]
    sources: Vec<String>,
    /// Print the documents instead of indexing them.
    #[arg(long)]
    dry_run: bool,
    #[command(flatten)]
    normalizer: NormalizerArgs,
    #[command(flatten)]
    sink: SinkArgs,
    #[command(flatten)]
    s3: S3Args,
    #[command(flatten)]
    checkpoint: CheckpointArgs,
}

/// Why a dry run's source could not be printed.
#[derive(Debug, thiserror::Error)]
enum DryRunError {
    #[error("{0}")]
    List(#[from] crate::s3::ListError),
    #[error("{0}")]
    Get(#[from] crate::s3::GetObjectError),
    #[error("{0}")]
    Ship(#[from] ShipError),
    #[error("printing stopped: {0}")]
    Stopped(String),
}

/// `s3://bucket/key` → (bucket, key); the key may be a prefix ending in `/` or empty.
fn parse_s3_url(source: &str) -> Option<(String, String)> {
    let rest = source.strip_prefix("s3://")?;
    let (bucket, key) = rest.split_once('/').unwrap_or((rest, ""));
    (!bucket.is_empty()).then(|| (bucket.to_owned(), key.to_owned()))
}

pub(super) async fn run(args: &ShipArgs) -> ExitCode {
    let started = std::time::Instant::now();
    let shipper = match build::shipper(&args.sink, &args.normalizer, None).await {
        Ok(shipper) => shipper,
        Err(err) => return super::config_error(err),
    };
    if args.dry_run || !args.sink.is_configured() {
        return print_all(args, &shipper, started).await;
    }
    crate::logging::init_logging();
    let sink = match build::es_sink(&args.sink, None).await {
        Ok(sink) => sink,
        Err(err) => return super::config_error(err),
    };
    let mut counts = Counts::default();
    let mut all_ok = true;
    for source in &args.sources {
        if let Some((bucket, key)) = parse_s3_url(source) {
            match ship_s3(args, &shipper, &sink, &bucket, &key).await {
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
                describe(report.error.as_ref()),
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

/// Why a source is incomplete, for the error line.
fn describe(error: Option<&impl std::fmt::Display>) -> String {
    error.map_or_else(
        || "not all documents were acknowledged".to_owned(),
        ToString::to_string,
    )
}

/// The dry run: every source's documents on stdout, then the summary.
async fn print_all(args: &ShipArgs, shipper: &Shipper, started: std::time::Instant) -> ExitCode {
    let mut counts = Counts::default();
    let mut all_ok = true;
    for source in &args.sources {
        let printed = match parse_s3_url(source) {
            Some((bucket, key)) => print_s3(shipper, &args.s3, &bucket, &key).await,
            None => print_file(shipper, source).map_err(DryRunError::from),
        };
        match printed {
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
    if all_ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// Prints one source's documents; returns how many.
fn print_source(
    shipper: &Shipper,
    reader: Box<dyn std::io::Read + Send>,
    provenance: &Provenance,
) -> Result<u64, ShipError> {
    let reader = decompressing_reader(reader, shipper.max_inflated_bytes).map_err(|error| {
        SourceError::Open {
            source_name: provenance.name(),
            error,
        }
    })?;
    let mut out = stdout_documents();
    let printed = shipper.print(reader, provenance, &mut out)?;
    out.flush().map_err(ShipError::Output)?;
    Ok(printed)
}

fn print_file(shipper: &Shipper, path: &str) -> Result<u64, ShipError> {
    let file = std::fs::File::open(path).map_err(|error| SourceError::Open {
        source_name: path.to_owned(),
        error,
    })?;
    let provenance = Provenance::File {
        path: path.to_owned(),
    };
    print_source(shipper, Box::new(file), &provenance)
}

/// The keys a `s3://bucket/key-or-prefix/` source names, filtered by suffix.
async fn s3_keys(
    s3: &aws_sdk_s3::Client,
    args: &S3Args,
    bucket: &str,
    key: &str,
) -> Result<Vec<String>, crate::s3::ListError> {
    if !key.is_empty() && !key.ends_with('/') {
        return Ok(vec![key.to_owned()]);
    }
    let suffixes = args.suffixes();
    let keys = list_keys(s3, bucket, key).await?;
    Ok(keys
        .into_iter()
        .filter(|k| has_accepted_suffix(k, &suffixes))
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
    args: &ShipArgs,
    shipper: &Shipper,
    sink: &EsSink,
    bucket: &str,
    key: &str,
) -> Result<(Counts, bool), crate::s3::ListError> {
    let aws = crate::aws::load_config().await;
    let forwarder: S3Forwarder = build::s3_forwarder(
        shipper.clone(),
        sink.clone(),
        &args.s3,
        &args.checkpoint,
        &aws,
    );
    let keys = s3_keys(&forwarder.s3, &args.s3, bucket, key).await?;
    let deadline: Deadline = args.sink.deadline();
    let mut counts = Counts::default();
    let mut all_ok = true;
    for (done, key) in keys.iter().enumerate() {
        progress_line(done, keys.len(), key);
        let object = ObjectRef {
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
                describe(result.error.as_ref()),
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
) -> Result<u64, DryRunError> {
    let aws = crate::aws::load_config().await;
    let s3 = crate::aws::s3_client(&aws);
    let region = crate::aws::region_name(&aws);
    let mut total = 0;
    for key in s3_keys(&s3, args, bucket, key).await? {
        let opened = open_object(&s3, bucket, &key).await?;
        let provenance = Provenance::S3 {
            bucket: bucket.to_owned(),
            key: key.clone(),
            region: region.clone(),
            etag: opened.etag.clone(),
        };
        let shipper = shipper.clone();
        let printed =
            tokio::task::spawn_blocking(move || print_source(&shipper, opened.reader, &provenance))
                .await
                .map_err(|err| DryRunError::Stopped(err.to_string()))??;
        total += printed;
    }
    Ok(total)
}
