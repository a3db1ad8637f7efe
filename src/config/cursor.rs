//! The Admin API poller's settings: the API, its key, pacing, windows, lease and retries.

use std::time::Duration;

use chrono::TimeDelta;
use clap::Args;

use super::parse::CommaList;
use super::secret::Secret;
use super::timeouts::CursorTimeouts;
use super::validate::{between, parse_cursor_url, parse_lookback, parse_max_window, parse_overlap};
use crate::admin_api::{
    ApiKeySource, CursorApiSettings, DEFAULT_API_URL, MAX_PAGE_SIZE, PollSettings, RETENTION,
    api_backoff,
};

/// The Admin API poller's settings (docs/ARCHITECTURE.md, "Settings").
#[derive(Debug, Clone, Args)]
pub struct CursorArgs {
    /// Admin API base URL.
    #[arg(long, env = "CURSOR_API_URL", default_value = DEFAULT_API_URL, value_parser = parse_cursor_url)]
    pub cursor_api_url: String,
    /// Admin API key (local use; prefer the secret).
    #[arg(long, env = "CURSOR_API_KEY", hide_env_values = true)]
    pub cursor_api_key: Option<Secret>,
    /// Secrets Manager secret holding the key (a plain string or JSON {"api_key": …}).
    #[arg(long, env = "CURSOR_API_KEY_SECRET_ARN")]
    pub cursor_api_key_secret_arn: Option<String>,
    /// How far back the first poll reads (clamped inside the API's 30 days).
    #[arg(long, env = "CURSOR_INITIAL_LOOKBACK", default_value = "24h", value_parser = parse_lookback)]
    pub initial_lookback: TimeDelta,
    /// Events per page, 1–500.
    #[arg(long, env = "CURSOR_PAGE_SIZE", default_value_t = MAX_PAGE_SIZE,
          value_parser = between("CURSOR_PAGE_SIZE", 1, MAX_PAGE_SIZE))]
    pub page_size: u32,
    /// Comma-separated event types to collect (all when empty).
    #[arg(long, env = "CURSOR_EVENT_TYPES")]
    pub event_types: Option<CommaList>,
    /// Client-side pace, below the team's limit of 20 requests per minute.
    #[arg(long, env = "CURSOR_REQUESTS_PER_MINUTE", default_value_t = 18,
          value_parser = between("CURSOR_REQUESTS_PER_MINUTE", 1u32, 6000))]
    pub requests_per_minute: u32,
    /// How far each poll re-reads behind the checkpoint, for events Cursor records late.
    #[arg(long, env = "CURSOR_OVERLAP", default_value = "5m", value_parser = parse_overlap)]
    pub overlap: TimeDelta,
    /// The longest window one request range covers (at most 30 days).
    #[arg(long, env = "CURSOR_MAX_WINDOW", default_value = "1d", value_parser = parse_max_window)]
    pub max_window: TimeDelta,
    /// How long the poll lease lasts without renewal (renewed every third of it).
    #[arg(long, env = "CURSOR_LEASE_SECONDS", default_value_t = 60,
          value_parser = between("CURSOR_LEASE_SECONDS", 3u64, 3600))]
    pub lease_seconds: u64,
    /// How long one page is retried, and one request may take.
    #[command(flatten)]
    pub timeouts: CursorTimeouts,
}

impl CursorArgs {
    /// The event type filter, normalized (sorted, no blanks), if any.
    pub fn event_types(&self) -> Option<String> {
        self.event_types.as_ref().and_then(CommaList::canonical)
    }

    /// Where the key comes from; the secret wins over the plain variable. `None` when
    /// neither is set.
    pub fn key_source(&self, aws: &aws_config::SdkConfig) -> Option<ApiKeySource> {
        if let Some(arn) = self
            .cursor_api_key_secret_arn
            .as_deref()
            .filter(|a| !a.is_empty())
        {
            return Some(ApiKeySource::Secret {
                client: crate::aws::secrets_client(aws),
                arn: arn.to_owned(),
            });
        }
        self.cursor_api_key
            .as_ref()
            .map(Secret::expose)
            .filter(|k| !k.is_empty())
            .map(|key| ApiKeySource::Plain(key.to_owned()))
    }

    /// The API client's settings.
    pub fn api_settings(&self) -> CursorApiSettings {
        CursorApiSettings {
            base_url: self.cursor_api_url.clone(),
            page_size: self.page_size,
            event_types: self.event_types(),
            requests_per_minute: self.requests_per_minute,
            request_timeout: self.timeouts.request(),
            backoff: api_backoff(),
        }
    }

    /// Window and lease settings.
    pub fn poll_settings(&self) -> PollSettings {
        PollSettings {
            initial_lookback: self.initial_lookback,
            overlap: self.overlap,
            max_window: self.max_window.clamp(TimeDelta::minutes(1), RETENTION),
            lease_duration: Duration::from_secs(self.lease_seconds),
            api_retry_budget: self.timeouts.retry(),
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

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Wrapper {
        #[command(flatten)]
        cursor: CursorArgs,
    }

    fn parse(extra: &[&str]) -> CursorArgs {
        let mut argv = vec!["poll"];
        argv.extend_from_slice(extra);
        Wrapper::try_parse_from(argv).unwrap().cursor
    }

    #[test]
    fn event_types_are_normalized_into_the_poller_name() {
        let args = parse(&["--event-types", " login, add_user,login,"]);
        assert_eq!(args.event_types().as_deref(), Some("add_user,login"));
        assert_eq!(args.poller_name("prod"), "prod#add_user,login");
        let all = parse(&[]);
        assert_eq!(all.poller_name("default"), "default#all");
        assert_eq!(all.page_size, 500);
        assert_eq!(all.requests_per_minute, 18);
    }
}
