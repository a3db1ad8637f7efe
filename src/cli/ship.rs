//! `ship SOURCE... [--dry-run]`: files and `s3://` objects to the cluster, or their
//! documents to stdout when no cluster is configured.

use std::process::ExitCode;

use clap::Args;

use crate::config::{CheckpointArgs, NormalizerArgs, S3Args, SinkArgs, build};
use crate::telemetry::metrics::summary_line;

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

pub(super) async fn run(args: &ShipArgs) -> ExitCode {
    let started = std::time::Instant::now();
    let job = match build::named_sources(
        &args.sources,
        args.dry_run,
        &args.normalizer,
        &args.sink,
        &args.s3,
        &args.checkpoint,
    )
    .await
    {
        Ok(job) => job,
        Err(err) => return super::config_error(err),
    };
    let dry_run = job.output.is_dry_run();
    if !dry_run {
        crate::telemetry::logging::init_logging();
    }
    let report = job.ship_all(&args.sources, &progress_line).await;
    if let Some((count, prefix)) = &report.dead_letters_skipped {
        eprintln!(
            "skipped {count} objects under {prefix}: this forwarder's dead letters (DEAD_LETTER_PREFIX), not audit events"
        );
    }
    for failure in &report.failures {
        eprintln!("error: {failure}");
    }
    let mut summary = summary_line(&report.counts, started.elapsed().as_secs_f64());
    if dry_run {
        summary.push_str(" dry_run=true");
    }
    eprintln!("{summary}");
    if report.succeeded() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// `[done/total] key` on a terminal, while an `s3://` prefix is shipped.
fn progress_line(done: usize, total: usize, key: &str) {
    use std::io::IsTerminal;
    if std::io::stderr().is_terminal() {
        eprint!("\r\x1b[2K[{done}/{total}] {key}");
        if done == total {
            eprintln!();
        }
    }
}
