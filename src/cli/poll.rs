//! `poll [--once] [--dry-run] [--team NAME]` and `poll --from T --to T [--team NAME]`: the
//! Admin API pollers of every team (docs/teams.md) on the command line, with their
//! checkpoints in DynamoDB (`CHECKPOINT_TABLE`) or local files; or a replay of a window.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use clap::Args;

use crate::admin_api::{AnyPollStore, PollOutcome, TeamPollers, TeamsReport, replay_window};
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
    /// Replay: re-read the window from this instant (RFC 3339; within the API's 30 days),
    /// with its own progress; the live checkpoint does not move.
    #[arg(long, requires = "to", value_parser = parse_instant)]
    from: Option<DateTime<Utc>>,
    /// Replay: the window's end (RFC 3339).
    #[arg(long, requires = "from", value_parser = parse_instant)]
    to: Option<DateTime<Utc>>,
    /// Poll (or replay) only this team of CURSOR_TEAMS.
    #[arg(long)]
    team: Option<String>,
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
        Ok(pollers) => poll_loop(&pollers, args).await,
        Err(err) => super::config_error(err),
    }
}

async fn build_poller(args: &PollArgs) -> Result<TeamPollers<AnyPollStore>, ConfigError> {
    let output = PollerOutput::Own {
        normalizer: &args.normalizer,
        dry_run: args.dry_run,
    };
    let store = (&args.checkpoint, Some(args.checkpoint_file.as_path()));
    build::pollers(&args.cursor, &args.sink, store, output, None).await
}

fn parse_instant(text: &str) -> Result<DateTime<Utc>, String> {
    DateTime::parse_from_rfc3339(text.trim())
        .map(|t| t.with_timezone(&Utc))
        .map_err(|err| format!("{text:?} is not an RFC 3339 instant (2026-11-30T00:00:00Z): {err}"))
}

/// Prints each team's summary line; `true` when every team succeeded.
fn report(report: &TeamsReport) -> bool {
    report.log_outcomes();
    for team in &report.reports {
        eprintln!("{}", team.summary_line());
    }
    for (team, error) in report.failures() {
        eprintln!("team {team}: poll failed: {error}");
    }
    report.succeeded()
}

async fn poll_loop(pollers: &TeamPollers<AnyPollStore>, args: &PollArgs) -> ExitCode {
    let pollers = match pollers.only(args.team.as_deref()) {
        Ok(pollers) => pollers,
        Err(err) => return super::config_error(ConfigError::Invalid(err.to_string())),
    };
    if let (Some(from), Some(to)) = (args.from, args.to) {
        let range = match replay_window(from, to, Utc::now()) {
            Ok(range) => range,
            Err(err) => return super::config_error(ConfigError::Invalid(err.to_string())),
        };
        let done = pollers.replay(range, args.sink.deadline()).await;
        let held = done
            .reports
            .iter()
            .any(|r| matches!(r.outcome, PollOutcome::LeaseHeld { .. }));
        if held {
            eprintln!(
                "a team's poller holds its lease: that team was not replayed; run the replay again when the poll ends"
            );
        }
        return if report(&done) && !held {
            ExitCode::SUCCESS
        } else {
            ExitCode::FAILURE
        };
    }
    let interval = args.interval.to_std().unwrap_or(Duration::from_secs(300));
    loop {
        let done = pollers.poll_once(args.sink.deadline()).await;
        let succeeded = report(&done);
        if args.once {
            return if succeeded {
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
