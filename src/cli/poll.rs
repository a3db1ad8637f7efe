//! `poll [--once]`: the Admin API poller on the command line, and the Cursor settings it
//! shares with the scheduled Lambda handler.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use chrono::TimeDelta;
use clap::Args;

use super::{CheckpointArgs, NormalizerArgs, SinkArgs, summary_line};
use crate::checkpoint::poll::{DynamoPollStore, FilePollStore, PollStore};
use crate::pipeline::{Deadline, Shipper};
use crate::poll::{PollOutcome, PollOutput, PollReport, PollSettings, Poller};
use crate::source::cursor_api::{
    ApiBackoff, ApiKey, ApiKeySource, CursorApiClient, CursorApiSettings, DEFAULT_API_URL,
    MAX_PAGE_SIZE, RETENTION,
};

/// Parses `90s`, `5m`, `24h`, `7d`, `2w` or combinations (`1h30m`); bare numbers are seconds.
pub fn parse_duration(text: &str) -> Result<TimeDelta, String> {
    let text = text.trim();
    if text.is_empty() {
        return Err("empty duration".into());
    }
    if let Ok(seconds) = text.parse::<i64>() {
        return Ok(TimeDelta::seconds(seconds.max(0)));
    }
    let mut total = TimeDelta::zero();
    let mut rest = text;
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return Err(format!(
                "{text:?} is not a duration like 90s, 5m, 24h or 7d"
            ));
        }
        let value: i64 = rest[..digits]
            .parse()
            .map_err(|_| format!("{text:?}: the number is too large"))?;
        rest = &rest[digits..];
        let unit_len = rest.bytes().take_while(u8::is_ascii_alphabetic).count();
        let unit = match &rest[..unit_len] {
            "ms" => TimeDelta::milliseconds(value),
            "s" => TimeDelta::seconds(value),
            "m" => TimeDelta::minutes(value),
            "h" => TimeDelta::hours(value),
            "d" => TimeDelta::days(value),
            "w" => TimeDelta::weeks(value),
            other => {
                return Err(format!(
                    "{text:?}: unknown unit {other:?} (use ms, s, m, h, d or w)"
                ));
            }
        };
        total += unit;
        rest = &rest[unit_len..];
    }
    Ok(total)
}

/// The Admin API poller's settings (env vars of architecture.md).
#[derive(Debug, Clone, Args)]
pub struct CursorArgs {
    /// Admin API base URL.
    #[arg(long, env = "CURSOR_API_URL", default_value = DEFAULT_API_URL)]
    pub cursor_api_url: String,
    /// Admin API key (local use; prefer the secret).
    #[arg(long, env = "CURSOR_API_KEY", hide_env_values = true)]
    pub cursor_api_key: Option<String>,
    /// Secrets Manager secret holding the key (a plain string or JSON {"api_key": …}).
    #[arg(long, env = "CURSOR_API_KEY_SECRET_ARN")]
    pub cursor_api_key_secret_arn: Option<String>,
    /// How far back the first poll reads (clamped inside the API's 30 days).
    #[arg(long, env = "CURSOR_INITIAL_LOOKBACK", default_value = "24h", value_parser = parse_duration)]
    pub initial_lookback: TimeDelta,
    /// Events per page, 1–500.
    #[arg(long, env = "CURSOR_PAGE_SIZE", default_value_t = MAX_PAGE_SIZE,
          value_parser = clap::value_parser!(u32).range(1..=MAX_PAGE_SIZE as i64))]
    pub page_size: u32,
    /// Comma-separated event types to collect (all when empty).
    #[arg(long, env = "CURSOR_EVENT_TYPES")]
    pub event_types: Option<String>,
    /// Client-side pace, below the team's limit of 20 requests per minute.
    #[arg(long, env = "CURSOR_REQUESTS_PER_MINUTE", default_value_t = 18,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub requests_per_minute: u32,
    /// How far each poll re-reads behind the checkpoint, for events Cursor records late.
    #[arg(long, env = "CURSOR_OVERLAP", default_value = "5m", value_parser = parse_duration)]
    pub overlap: TimeDelta,
    /// The longest window one request range covers (at most 30 days).
    #[arg(long, env = "CURSOR_MAX_WINDOW", default_value = "1d", value_parser = parse_duration)]
    pub max_window: TimeDelta,
    /// How long the poll lease lasts without renewal (renewed every third of it).
    #[arg(long, env = "CURSOR_LEASE_SECONDS", default_value_t = 60,
          value_parser = clap::value_parser!(u64).range(3..))]
    pub lease_seconds: u64,
    /// How long one page may be retried (429, 5xx, timeouts) on the command line; in Lambda
    /// the invocation's deadline also bounds it.
    #[arg(long, env = "CURSOR_RETRY_TIMEOUT_SECONDS", default_value_t = 300)]
    pub cursor_retry_timeout_seconds: u64,
    /// Timeout of one Admin API request.
    #[arg(long, env = "CURSOR_REQUEST_TIMEOUT_SECONDS", default_value_t = 30,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub cursor_request_timeout_seconds: u64,
}

impl CursorArgs {
    /// The event type filter, normalized (sorted, no blanks), if any.
    pub fn event_types(&self) -> Option<String> {
        let mut types: Vec<&str> = self
            .event_types
            .as_deref()?
            .split(',')
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .collect();
        types.sort_unstable();
        types.dedup();
        (!types.is_empty()).then(|| types.join(","))
    }

    /// Where the key comes from; the secret wins over the plain variable.
    pub fn key_source(&self, aws: &aws_config::SdkConfig) -> Result<ApiKeySource, String> {
        if let Some(arn) = self
            .cursor_api_key_secret_arn
            .as_deref()
            .filter(|a| !a.is_empty())
        {
            return Ok(ApiKeySource::Secret {
                client: crate::aws::secrets_client(aws),
                arn: arn.to_owned(),
            });
        }
        match self.cursor_api_key.as_deref().filter(|k| !k.is_empty()) {
            Some(key) => Ok(ApiKeySource::Plain(key.to_owned())),
            None => Err(
                "no Cursor Admin API key: set CURSOR_API_KEY_SECRET_ARN (or CURSOR_API_KEY for local use)"
                    .into(),
            ),
        }
    }

    /// The API client.
    pub fn api_client(&self, aws: &aws_config::SdkConfig) -> Result<CursorApiClient, String> {
        CursorApiClient::new(
            CursorApiSettings {
                base_url: self.cursor_api_url.clone(),
                page_size: self.page_size,
                event_types: self.event_types(),
                requests_per_minute: self.requests_per_minute,
                request_timeout: Duration::from_secs(self.cursor_request_timeout_seconds),
                backoff: ApiBackoff::default(),
            },
            ApiKey::new(self.key_source(aws)?),
        )
    }

    /// Window and lease settings.
    pub fn poll_settings(&self) -> PollSettings {
        PollSettings {
            initial_lookback: self.initial_lookback,
            overlap: self.overlap,
            max_window: self.max_window.clamp(TimeDelta::minutes(1), RETENTION),
            lease_duration: Duration::from_secs(self.lease_seconds),
            api_retry_budget: Duration::from_secs(self.cursor_retry_timeout_seconds),
        }
    }

    /// Tells pollers sharing a checkpoint table apart: the namespace and the event filter.
    pub fn poller_name(&self, namespace: &str) -> String {
        format!(
            "{namespace}#{}",
            self.event_types().unwrap_or_else(|| "all".into())
        )
    }
}

/// `poll [--once] [--dry-run]`
#[derive(Debug, Args)]
pub struct PollArgs {
    /// One poll, then exit (what the scheduled Lambda handler does); else poll every
    /// --interval until interrupted.
    #[arg(long)]
    pub once: bool,
    /// Print the documents instead of indexing them; the checkpoint is read, never written.
    #[arg(long)]
    pub dry_run: bool,
    /// Time between polls without --once.
    #[arg(long, env = "CURSOR_POLL_INTERVAL", default_value = "5m", value_parser = parse_duration)]
    pub interval: TimeDelta,
    /// The checkpoint file when CHECKPOINT_TABLE is not set.
    #[arg(
        long,
        env = "CHECKPOINT_FILE",
        default_value = "cursor-poll-checkpoint.json"
    )]
    pub checkpoint_file: PathBuf,
    #[command(flatten)]
    pub cursor: CursorArgs,
    #[command(flatten)]
    pub normalizer: NormalizerArgs,
    #[command(flatten)]
    pub sink: SinkArgs,
    #[command(flatten)]
    pub checkpoint: CheckpointArgs,
}

/// The poll summary line: the ship summary plus the API's figures.
pub fn poll_summary_line(report: &PollReport) -> String {
    let mut line = summary_line(&report.counts, report.seconds);
    line.push_str(&format!(
        " requests={} throttled={} pages={} windows={} outcome={}",
        report.requests,
        report.throttled,
        report.pages,
        report.windows,
        report.outcome.name()
    ));
    if let Some(lag) = report.lag_seconds() {
        line.push_str(&format!(" lag_seconds={lag:.0}"));
    }
    line
}

/// Logs how a run ended.
pub fn log_outcome(report: &PollReport) {
    let collected_until = report
        .collected_until
        .map(crate::source::cursor_api::rfc3339)
        .unwrap_or_default();
    match &report.outcome {
        PollOutcome::CaughtUp => tracing::info!(%collected_until, requests = report.requests,
            pages = report.pages, read = report.counts.read, "poll caught up"),
        PollOutcome::Stopped(reason) => tracing::warn!(%collected_until, %reason,
            "poll stopped before catching up; the next run continues"),
        PollOutcome::LeaseHeld { owner, .. } => {
            tracing::info!(holder = %owner, "another poller is running; this run did nothing")
        }
        PollOutcome::Failed { error, retryable } => tracing::error!(%collected_until, %error,
            retryable, "poll failed; the checkpoint stays at the last acknowledged page"),
    }
}

pub(super) async fn run(args: &PollArgs) -> ExitCode {
    super::init_logging();
    let aws = crate::aws::load_config().await;
    let built = build(args, &aws).await;
    let (api, shipper, output) = match built {
        Ok(parts) => parts,
        Err(err) => {
            eprintln!("error: {err}");
            return ExitCode::from(2);
        }
    };
    let settings = args.cursor.poll_settings();
    match args.checkpoint.table() {
        Some(table) => {
            let store = DynamoPollStore {
                client: aws_sdk_dynamodb::Client::new(&aws),
                table: table.to_owned(),
                name: args.cursor.poller_name(&args.sink.namespace),
            };
            let poller = Poller {
                api,
                store: Arc::new(store),
                shipper,
                output,
                settings,
            };
            poll_loop(&poller, args).await
        }
        None => {
            let poller = Poller {
                api,
                store: Arc::new(FilePollStore::new(args.checkpoint_file.clone())),
                shipper,
                output,
                settings,
            };
            poll_loop(&poller, args).await
        }
    }
}

async fn build(
    args: &PollArgs,
    aws: &aws_config::SdkConfig,
) -> Result<(Arc<CursorApiClient>, Shipper, PollOutput), String> {
    let api = Arc::new(args.cursor.api_client(aws)?);
    let shipper = args
        .sink
        .shipper(&args.normalizer)
        .map_err(|err| err.to_string())?;
    let output = if args.dry_run || !args.sink.is_configured() {
        if !args.dry_run {
            eprintln!(
                "no cluster configured (ES_URL, ES_CLOUD_ID or ES_SECRET_ARN): printing the documents; the checkpoint is not advanced"
            );
        }
        PollOutput::Print
    } else {
        let sink = args
            .sink
            .sink(Some(aws))
            .await
            .map_err(|err| err.to_string())?;
        PollOutput::Index(Box::new(sink))
    };
    Ok((api, shipper, output))
}

async fn poll_loop<S: PollStore>(poller: &Poller<S>, args: &PollArgs) -> ExitCode {
    let interval = args.interval.to_std().unwrap_or(Duration::from_secs(300));
    loop {
        let deadline = Deadline {
            hard: None,
            per_batch: Duration::from_secs(args.sink.retry_timeout_seconds),
            stop_margin: Duration::ZERO,
        };
        let report = poller.poll_once(deadline).await;
        log_outcome(&report);
        eprintln!("{}", poll_summary_line(&report));
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("24h").unwrap(), TimeDelta::hours(24));
        assert_eq!(parse_duration("5m").unwrap(), TimeDelta::minutes(5));
        assert_eq!(parse_duration("30d").unwrap(), TimeDelta::days(30));
        assert_eq!(parse_duration("90").unwrap(), TimeDelta::seconds(90));
        assert_eq!(parse_duration("1h30m").unwrap(), TimeDelta::minutes(90));
        assert_eq!(
            parse_duration("250ms").unwrap(),
            TimeDelta::milliseconds(250)
        );
        assert!(parse_duration("5 minutes").is_err());
        assert!(parse_duration("h").is_err());
        assert!(parse_duration("").is_err());
    }

    #[test]
    fn event_types_are_normalized_into_the_poller_name() {
        let args = PollArgs::try_parse_from_env_free(&["--event-types", " login, add_user,login,"]);
        assert_eq!(args.cursor.event_types().as_deref(), Some("add_user,login"));
        assert_eq!(args.cursor.poller_name("prod"), "prod#add_user,login");
        let all = PollArgs::try_parse_from_env_free(&[]);
        assert_eq!(all.cursor.poller_name("default"), "default#all");
        assert_eq!(all.cursor.page_size, 500);
        assert_eq!(all.cursor.requests_per_minute, 18);
    }

    impl PollArgs {
        fn try_parse_from_env_free(extra: &[&str]) -> PollArgs {
            #[derive(clap::Parser)]
            struct Wrapper {
                #[command(flatten)]
                args: PollArgs,
            }
            let mut argv = vec!["poll"];
            argv.extend_from_slice(extra);
            <Wrapper as clap::Parser>::try_parse_from(argv)
                .unwrap()
                .args
        }
    }
}
