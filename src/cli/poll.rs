//! `poll [--once] [--dry-run]`: the Admin API poller on the command line, with its
//! checkpoint in DynamoDB (`CHECKPOINT_TABLE`) or a local file.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use chrono::TimeDelta;
use clap::Args;

use crate::admin_api::{AnyPollStore, Poller};
use crate::config::build::{self, PollerOutput};
use crate::config::validate::parse_poll_interval;
use crate::config::{CheckpointArgs, ConfigError, CursorArgs, NormalizerArgs, SinkArgs};

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
    crate::telemetry::logging::init_logging();
    if !args.dry_run && !args.sink.is_configured() {
        eprintln!(
            "no cluster configured (ES_URL, ES_CLOUD_ID or ES_SECRET_ARN): printing the documents; the checkpoint is not advanced"
        );
    }
    match build_poller(args).await {
        Ok(poller) => poll_loop(&poller, args).await,
        Err(err) => super::config_error(err),
    }
}

async fn build_poller(args: &PollArgs) -> Result<Poller<AnyPollStore>, ConfigError> {
    let output = PollerOutput::Own {
        normalizer: &args.normalizer,
        dry_run: args.dry_run,
    };
    let store = (&args.checkpoint, Some(args.checkpoint_file.as_path()));
    build::poller(&args.cursor, &args.sink, store, output, None).await
}

async fn poll_loop(poller: &Poller<AnyPollStore>, args: &PollArgs) -> ExitCode {
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
