//! `poll [--once] [--dry-run]`: the Admin API poller on the command line, with its
//! checkpoint in DynamoDB (`CHECKPOINT_TABLE`) or a local file.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use chrono::TimeDelta;
use clap::Args;

use crate::admin_api::{FilePollStore, PollOutput, PollStore, Poller};
use crate::config::validate::parse_poll_interval;
use crate::config::{CheckpointArgs, ConfigError, CursorArgs, NormalizerArgs, SinkArgs, build};

/// `poll [--once] [--dry-run]`
#[derive(Debug, Args)]
pub(super) struct PollArgs {
    /// One poll, then exit (what the scheduled Lambda handler does); else poll every
    /// --interval until interrupted.
    #[arg(long)]
    once: bool,
    /// Print the documents instead of indexing them; the checkpoint is read, never written.
    #[arg(long)]
    dry_run: bool,
    /// Time between polls without --once.
    #[arg(long, env = "CURSOR_POLL_INTERVAL", default_value = "5m", value_parser = parse_poll_interval)]
    interval: TimeDelta,
    /// The checkpoint file when CHECKPOINT_TABLE is not set.
    #[arg(
        long,
        env = "CHECKPOINT_FILE",
        default_value = "cursor-poll-checkpoint.json"
    )]
    checkpoint_file: PathBuf,
    #[command(flatten)]
    cursor: CursorArgs,
    #[command(flatten)]
    normalizer: NormalizerArgs,
    #[command(flatten)]
    sink: SinkArgs,
    #[command(flatten)]
    checkpoint: CheckpointArgs,
}

pub(super) async fn run(args: &PollArgs) -> ExitCode {
    crate::logging::init_logging();
    let aws = crate::aws::load_config().await;
    let (api, shipper, output) = match parts(args, &aws).await {
        Ok(parts) => parts,
        Err(err) => return super::config_error(err),
    };
    let settings = args.cursor.poll_settings();
    match args.checkpoint.table() {
        Some(table) => {
            let store = build::dynamo_poll_store(table, &args.cursor, &args.sink.namespace, &aws);
            let poller = Poller {
                api: Arc::new(api),
                store: Arc::new(store),
                shipper,
                output,
                settings,
            };
            poll_loop(&poller, args).await
        }
        None => {
            let poller = Poller {
                api: Arc::new(api),
                store: Arc::new(FilePollStore::new(args.checkpoint_file.clone())),
                shipper,
                output,
                settings,
            };
            poll_loop(&poller, args).await
        }
    }
}

/// The API client, the shipper and where documents go.
async fn parts(
    args: &PollArgs,
    aws: &aws_config::SdkConfig,
) -> Result<
    (
        crate::admin_api::CursorApiClient,
        crate::shipping::Shipper,
        PollOutput,
    ),
    ConfigError,
> {
    let api = build::api_client(&args.cursor, aws)?;
    let shipper = build::shipper(&args.sink, &args.normalizer, Some(aws)).await?;
    let output = if args.dry_run || !args.sink.is_configured() {
        if !args.dry_run {
            eprintln!(
                "no cluster configured (ES_URL, ES_CLOUD_ID or ES_SECRET_ARN): printing the documents; the checkpoint is not advanced"
            );
        }
        PollOutput::Print
    } else {
        PollOutput::Index(Box::new(build::es_sink(&args.sink, Some(aws)).await?))
    };
    Ok((api, shipper, output))
}

async fn poll_loop<S: PollStore>(poller: &Poller<S>, args: &PollArgs) -> ExitCode {
    let interval = args.interval.to_std().unwrap_or(Duration::from_secs(300));
    loop {
        let report = poller.poll_once(args.sink.deadline()).await;
        report.log_outcome();
        eprintln!("{}", report.summary_line());
        if args.once {
            return if report.succeeded() {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            };
        }
        tokio::select! {
            _ = tokio::time::sleep(interval) => {}
            _ = tokio::signal::ctrl_c() => return ExitCode::SUCCESS,
        }
    }
}
