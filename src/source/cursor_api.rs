//! The Cursor Admin API audit-log client (`GET /teams/audit-logs`, cursor-admin-api.md):
//! Basic auth with the Admin API key, RFC 3339 window bounds, paging, client-side pacing
//! below the team's 20 requests per minute, and the retry rules: 429 waits for `Retry-After`
//! or 1, 2, 4 … 60 s; 5xx and transport errors back off the same way; 401 re-reads the key
//! once; 400, 403 and other 4xx fail with Cursor's message. Every wait ends before the
//! caller's deadline.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

use base64::Engine as _;
use chrono::{DateTime, SecondsFormat, Utc};
use reqwest::header::{ACCEPT, AUTHORIZATION, HeaderValue};
use serde::Deserialize;
use serde_json::value::RawValue;
use tokio::time::Instant;

use crate::error::{Retryable, error_chain};

/// Default `CURSOR_API_URL`.
pub const DEFAULT_API_URL: &str = "https://api.cursor.com";
/// The largest page the API serves.
pub const MAX_PAGE_SIZE: u32 = 500;
/// The longest range one request may ask for, and how far back the API serves events.
pub const RETENTION: chrono::TimeDelta = chrono::TimeDelta::days(30);
/// A page's body is never read past this (500 events of 100 KiB each).
pub const MAX_RESPONSE_BYTES: usize = 64 * 1024 * 1024;

/// One page of audit events. Events stay raw: the normalizer parses them (and turns a
/// malformed one into an error document instead of failing the page).
#[derive(Debug, Deserialize)]
pub struct AuditLogPage {
    pub events: Vec<Box<RawValue>>,
    #[serde(default)]
    pub pagination: Pagination,
}

/// The `pagination` object.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Pagination {
    pub page: Option<u32>,
    pub page_size: Option<u32>,
    pub total_count: Option<u64>,
    pub total_pages: Option<u32>,
    pub has_next_page: Option<bool>,
}

impl Pagination {
    /// Whether a page follows `page` (`hasNextPage`, else `totalPages`).
    pub fn has_next(&self, page: u32) -> bool {
        self.has_next_page
            .unwrap_or_else(|| self.total_pages.is_some_and(|total| page < total))
    }
}

/// A time range, both ends fixed while it is paged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, Deserialize)]
pub struct Window {
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
}

impl std::fmt::Display for Window {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}..{}", rfc3339(self.start), rfc3339(self.end))
    }
}

/// RFC 3339 UTC with milliseconds, as the API documents (`2026-05-04T15:30:00.000Z`).
pub fn rfc3339(time: DateTime<Utc>) -> String {
    time.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// Failures of the Admin API.
#[derive(Debug, thiserror::Error)]
pub enum CursorApiError {
    #[error("Cursor Admin API rejected {window} page {page} ({status}): {message}")]
    Rejected {
        window: Window,
        page: u32,
        status: u16,
        message: String,
    },
    #[error("Cursor Admin API: the API key was refused ({message}) {hint}")]
    Unauthorized { message: String, hint: String },
    #[error(
        "Cursor Admin API {window} page {page}: gave up after {attempts} attempts because the deadline was reached; last problem: {last}"
    )]
    DeadlineReached {
        window: Window,
        page: u32,
        attempts: u32,
        last: String,
    },
    #[error("Cursor Admin API {window} page {page}: unreadable answer: {message}")]
    BadResponse {
        window: Window,
        page: u32,
        message: String,
    },
    #[error("Cursor API key: {0}")]
    Key(String),
}

impl Retryable for CursorApiError {
    /// True when the next run may succeed without anyone changing anything.
    fn is_retryable(&self) -> bool {
        matches!(
            self,
            CursorApiError::DeadlineReached { .. } | CursorApiError::Key(_)
        )
    }
}

/// Where the Admin API key comes from.
#[derive(Debug, Clone)]
pub enum ApiKeySource {
    /// `CURSOR_API_KEY` (local use).
    Plain(String),
    /// `CURSOR_API_KEY_SECRET_ARN`: a plain string or JSON `{"api_key": …}`.
    Secret {
        client: aws_sdk_secretsmanager::Client,
        arn: String,
    },
}

/// The key, fetched once and cached; re-read when Cursor refuses it (rotation).
#[derive(Debug)]
pub struct ApiKey {
    source: ApiKeySource,
    cached: tokio::sync::Mutex<Option<String>>,
}

/// The API key in a secret's string: the string itself, or the `api_key` of a JSON object.
pub fn key_from_secret(text: &str) -> Result<String, String> {
    let trimmed = text.trim();
    let key = if trimmed.starts_with('{') {
        #[derive(Deserialize)]
        struct KeySecret {
            api_key: String,
        }
        serde_json::from_str::<KeySecret>(trimmed)
            .map_err(|err| format!("the secret is JSON without a string \"api_key\": {err}"))?
            .api_key
            .trim()
            .to_owned()
    } else {
        trimmed.to_owned()
    };
    if key.is_empty() {
        return Err("the API key is empty".into());
    }
    Ok(key)
}

impl ApiKey {
    /// A key from `source`, read on first use.
    pub fn new(source: ApiKeySource) -> ApiKey {
        ApiKey {
            source,
            cached: tokio::sync::Mutex::new(None),
        }
    }

    async fn fetch(&self) -> Result<String, CursorApiError> {
        match &self.source {
            ApiKeySource::Plain(key) => key_from_secret(key)
                .map_err(|err| CursorApiError::Key(format!("CURSOR_API_KEY: {err}"))),
            ApiKeySource::Secret { client, arn } => {
                let text = crate::aws::secret_string(client, arn)
                    .await
                    .map_err(CursorApiError::Key)?;
                key_from_secret(&text)
                    .map_err(|err| CursorApiError::Key(format!("secret {arn}: {err}")))
            }
        }
    }

    /// The key (cached after the first read).
    pub async fn current(&self) -> Result<String, CursorApiError> {
        let mut cached = self.cached.lock().await;
        if let Some(key) = cached.as_ref() {
            return Ok(key.clone());
        }
        let key = self.fetch().await?;
        *cached = Some(key.clone());
        Ok(key)
    }

    /// Reads the secret again (it may have been rotated). `false` for a plain key, which
    /// cannot change.
    pub async fn reload(&self) -> Result<bool, CursorApiError> {
        if matches!(self.source, ApiKeySource::Plain(_)) {
            return Ok(false);
        }
        let key = self.fetch().await?;
        *self.cached.lock().await = Some(key);
        Ok(true)
    }

    fn hint(&self) -> String {
        match &self.source {
            ApiKeySource::Plain(_) => "; check CURSOR_API_KEY".into(),
            ApiKeySource::Secret { arn, .. } => {
                format!("after re-reading secret {arn}; check the key stored there")
            }
        }
    }
}

/// Spaces request starts so that no rolling minute holds more than the configured number;
/// the last start can be carried over from an earlier process (the lease item keeps it).
#[derive(Debug)]
pub struct Pacer {
    interval: Duration,
    last_start: Mutex<Option<SystemTime>>,
}

/// A small guard on top of 60 s / rate, so that network jitter at the server cannot make
/// N + 1 arrivals fall within one minute.
const PACE_GUARD: Duration = Duration::from_millis(500);

impl Pacer {
    /// At most `per_minute` request starts in any 60 s.
    pub fn new(per_minute: u32) -> Pacer {
        let per_minute = per_minute.max(1);
        Pacer {
            interval: (Duration::from_secs(60) + PACE_GUARD) / per_minute,
            last_start: Mutex::new(None),
        }
    }

    /// The time between two request starts.
    pub fn interval(&self) -> Duration {
        self.interval
    }

    /// Records a request start made elsewhere (an earlier run).
    pub fn carry_over(&self, last_start: SystemTime) {
        if let Ok(mut last) = self.last_start.lock() {
            *last = Some(last.map_or(last_start, |l| l.max(last_start)));
        }
    }

    /// When the latest request started.
    pub fn last_start(&self) -> Option<SystemTime> {
        self.last_start.lock().ok().and_then(|last| *last)
    }

    /// How long the next request must wait, from `now`.
    fn wait_from(&self, now: SystemTime) -> Duration {
        self.last_start()
            .and_then(|last| (last + self.interval).duration_since(now).ok())
            .unwrap_or(Duration::ZERO)
    }

    /// Waits for the next request's turn and claims it. `Err(wait)` when the turn comes
    /// after `deadline` (nothing is claimed then).
    pub async fn take_turn(&self, deadline: Instant) -> Result<(), Duration> {
        loop {
            let wait = self.wait_from(SystemTime::now());
            if wait.is_zero() {
                if let Ok(mut last) = self.last_start.lock() {
                    let now = SystemTime::now();
                    // Another task may have claimed the turn meanwhile.
                    if last.is_none_or(|l| l + self.interval <= now) {
                        *last = Some(now);
                        return Ok(());
                    }
                }
                continue;
            }
            if Instant::now() + wait > deadline {
                return Err(wait);
            }
            tokio::time::sleep(wait).await;
        }
    }
}

/// Backoff for 429 without `Retry-After`, 5xx and transport errors: 1, 2, 4 … capped.
#[derive(Debug, Clone, Copy)]
pub struct ApiBackoff {
    pub initial: Duration,
    pub max: Duration,
}

impl Default for ApiBackoff {
    fn default() -> Self {
        ApiBackoff {
            initial: Duration::from_secs(1),
            max: Duration::from_secs(60),
        }
    }
}

impl ApiBackoff {
    /// The wait after the `attempt`-th consecutive failure (1-based).
    pub fn delay(&self, attempt: u32) -> Duration {
        self.initial
            .saturating_mul(1u32 << attempt.saturating_sub(1).min(16))
            .min(self.max)
    }
}

/// Request counters, read by the poller's report and metrics.
#[derive(Debug, Default)]
pub struct ApiStats {
    /// HTTP requests sent (retries included).
    pub requests: AtomicU64,
    /// 429 answers.
    pub throttled: AtomicU64,
    /// Requests repeated after 429, 5xx or transport errors.
    pub retries: AtomicU64,
}

/// Client settings.
#[derive(Debug, Clone)]
pub struct CursorApiSettings {
    pub base_url: String,
    pub page_size: u32,
    /// Comma-separated `eventTypes` filter.
    pub event_types: Option<String>,
    pub requests_per_minute: u32,
    pub request_timeout: Duration,
    pub backoff: ApiBackoff,
}

/// The Admin API client.
#[derive(Debug)]
pub struct CursorApiClient {
    http: reqwest::Client,
    endpoint: reqwest::Url,
    settings: CursorApiSettings,
    key: ApiKey,
    pub pacer: Pacer,
    pub stats: ApiStats,
}

/// What one attempt produced.
enum Attempt {
    Page(AuditLogPage),
    /// Worth trying again after the wait (`None`: the backoff decides).
    Retry {
        problem: String,
        wait: Option<Duration>,
        throttled: bool,
    },
    Unauthorized(String),
    Fail(CursorApiError),
}

impl CursorApiClient {
    /// A client for `settings.base_url`.
    pub fn new(settings: CursorApiSettings, key: ApiKey) -> Result<CursorApiClient, String> {
        let base = settings.base_url.trim_end_matches('/');
        let endpoint = reqwest::Url::parse(&format!("{base}/teams/audit-logs"))
            .map_err(|err| format!("CURSOR_API_URL {base:?} is not a URL: {err}"))?;
        let http = reqwest::Client::builder()
            .user_agent(concat!(
                "cursor-audit-forwarder/",
                env!("CARGO_PKG_VERSION")
            ))
            .build()
            .map_err(|err| format!("cannot build the HTTP client: {err}"))?;
        Ok(CursorApiClient {
            http,
            endpoint,
            pacer: Pacer::new(settings.requests_per_minute),
            settings,
            key,
            stats: ApiStats::default(),
        })
    }

    /// The settings in use.
    pub fn settings(&self) -> &CursorApiSettings {
        &self.settings
    }

    fn page_url(&self, window: &Window, page: u32) -> reqwest::Url {
        let mut url = self.endpoint.clone();
        {
            let mut query = url.query_pairs_mut();
            query
                .append_pair("startTime", &rfc3339(window.start))
                .append_pair("endTime", &rfc3339(window.end))
                .append_pair("page", &page.to_string())
                .append_pair("pageSize", &self.settings.page_size.to_string());
            if let Some(types) = self
                .settings
                .event_types
                .as_deref()
                .filter(|t| !t.is_empty())
            {
                query.append_pair("eventTypes", types);
            }
        }
        url
    }

    /// Fetches `page` of `window`, pacing, retrying and re-reading the key as the API's
    /// rules say; gives up with [`CursorApiError::DeadlineReached`] rather than wait past
    /// `deadline`.
    pub async fn fetch_page(
        &self,
        window: &Window,
        page: u32,
        deadline: Instant,
    ) -> Result<AuditLogPage, CursorApiError> {
        let url = self.page_url(window, page);
        let mut attempts = 0;
        let mut failures = 0;
        let mut key_reloaded = false;
        let mut last = String::from("none");
        let gave_up = |attempts: u32, last: String| CursorApiError::DeadlineReached {
            window: *window,
            page,
            attempts,
            last,
        };
        loop {
            if let Err(wait) = self.pacer.take_turn(deadline).await {
                return Err(gave_up(
                    attempts,
                    format!(
                        "{last}; the next request slot is {} ms away",
                        wait.as_millis()
                    ),
                ));
            }
            attempts += 1;
            let key = self.key.current().await?;
            let outcome = self.attempt(&url, &key, window, page, deadline).await;
            let (problem, wait) = match outcome {
                Attempt::Page(page) => return Ok(page),
                Attempt::Fail(err) => return Err(err),
                Attempt::Unauthorized(message) => {
                    if key_reloaded || !self.key.reload().await? {
                        return Err(CursorApiError::Unauthorized {
                            message,
                            hint: self.key.hint(),
                        });
                    }
                    key_reloaded = true;
                    tracing::warn!(%message, "the Cursor API key was refused; re-read it from its secret and retrying once");
                    self.stats.retries.fetch_add(1, Ordering::Relaxed);
                    continue;
                }
                Attempt::Retry {
                    problem,
                    wait,
                    throttled,
                } => {
                    failures += 1;
                    if throttled {
                        self.stats.throttled.fetch_add(1, Ordering::Relaxed);
                    }
                    let wait = wait.unwrap_or_else(|| self.settings.backoff.delay(failures));
                    (problem, wait)
                }
            };
            last = problem;
            if Instant::now() + wait > deadline {
                return Err(gave_up(
                    attempts,
                    format!("{last}; the next try would be in {} ms", wait.as_millis()),
                ));
            }
            tracing::warn!(window = %window, page, attempt = attempts, wait_ms = wait.as_millis() as u64,
                problem = %last, "Cursor Admin API request will be retried");
            self.stats.retries.fetch_add(1, Ordering::Relaxed);
            tokio::time::sleep(wait).await;
        }
    }

    async fn attempt(
        &self,
        url: &reqwest::Url,
        key: &str,
        window: &Window,
        page: u32,
        deadline: Instant,
    ) -> Attempt {
        let timeout = self
            .settings
            .request_timeout
            .min(deadline.saturating_duration_since(Instant::now()))
            .max(Duration::from_millis(100));
        let mut authorization = match HeaderValue::from_str(&format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(format!("{key}:"))
        )) {
            Ok(value) => value,
            Err(_) => {
                return Attempt::Fail(CursorApiError::Key(
                    "the API key contains characters that cannot be sent in a header".into(),
                ));
            }
        };
        authorization.set_sensitive(true);
        self.stats.requests.fetch_add(1, Ordering::Relaxed);
        let sent = self
            .http
            .get(url.clone())
            .header(AUTHORIZATION, authorization)
            .header(ACCEPT, "application/json")
            .timeout(timeout)
            .send()
            .await;
        let mut response = match sent {
            Ok(response) => response,
            Err(err) => {
                return Attempt::Retry {
                    problem: format!("request failed: {}", error_chain(&err)),
                    wait: None,
                    throttled: false,
                };
            }
        };
        let status = response.status().as_u16();
        let retry_after = crate::retry::retry_after(response.headers());
        let body = match read_limited(&mut response, MAX_RESPONSE_BYTES).await {
            Ok(body) => body,
            Err(BodyError::TooLarge) => {
                return Attempt::Fail(CursorApiError::BadResponse {
                    window: *window,
                    page,
                    message: format!(
                        "the body is larger than {MAX_RESPONSE_BYTES} bytes; lower CURSOR_PAGE_SIZE"
                    ),
                });
            }
            Err(BodyError::Transport(err)) => {
                return Attempt::Retry {
                    problem: format!(
                        "reading the answer ({status}) failed: {}",
                        error_chain(&err)
                    ),
                    wait: None,
                    throttled: false,
                };
            }
        };
        match status {
            200..=299 => match serde_json::from_slice::<AuditLogPage>(&body) {
                Ok(page) => Attempt::Page(page),
                Err(err) => Attempt::Fail(CursorApiError::BadResponse {
                    window: *window,
                    page,
                    message: format!("not an audit-log page ({err}): {}", excerpt(&body)),
                }),
            },
            401 => Attempt::Unauthorized(cursor_message(&body)),
            429 => Attempt::Retry {
                problem: format!("429 {}", cursor_message(&body)),
                wait: retry_after,
                throttled: true,
            },
            500..=599 => Attempt::Retry {
                problem: format!("{status} {}", cursor_message(&body)),
                wait: retry_after,
                throttled: false,
            },
            _ => Attempt::Fail(CursorApiError::Rejected {
                window: *window,
                page,
                status,
                message: cursor_message(&body),
            }),
        }
    }
}

enum BodyError {
    TooLarge,
    Transport(reqwest::Error),
}

async fn read_limited(
    response: &mut reqwest::Response,
    limit: usize,
) -> Result<Vec<u8>, BodyError> {
    if response
        .content_length()
        .is_some_and(|n| n as usize > limit)
    {
        return Err(BodyError::TooLarge);
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(BodyError::Transport)? {
        if body.len() + chunk.len() > limit {
            return Err(BodyError::TooLarge);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// Cursor's explanation in an error body: `message`, else `error`, else the text.
pub fn cursor_message(body: &[u8]) -> String {
    #[derive(Deserialize)]
    struct ErrorBody {
        message: Option<String>,
        error: Option<String>,
    }
    match serde_json::from_slice::<ErrorBody>(body) {
        Ok(ErrorBody {
            message: Some(message),
            ..
        }) => message,
        Ok(ErrorBody {
            error: Some(error), ..
        }) => error,
        _ => excerpt(body),
    }
}

fn excerpt(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(&body[..body.len().min(500)]);
    let text = text.trim();
    if text.is_empty() {
        "(empty body)".into()
    } else {
        text.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_from_plain_and_json_secrets() {
        assert_eq!(key_from_secret(" key_abc123\n").unwrap(), "key_abc123");
        assert_eq!(
            key_from_secret(r#"{"api_key": "key_def", "note": "x"}"#).unwrap(),
            "key_def"
        );
        assert!(
            key_from_secret(r#"{"apiKey": "k"}"#)
                .unwrap_err()
                .contains("api_key")
        );
        assert!(key_from_secret("  ").is_err());
    }

    #[test]
    fn backoff_doubles_to_a_minute() {
        let backoff = ApiBackoff::default();
        let waits: Vec<u64> = (1..=8).map(|a| backoff.delay(a).as_secs()).collect();
        assert_eq!(waits, [1, 2, 4, 8, 16, 32, 60, 60]);
    }

    #[test]
    fn pages_follow_has_next_page_else_total_pages() {
        let explicit = Pagination {
            has_next_page: Some(false),
            total_pages: Some(9),
            ..Pagination::default()
        };
        assert!(!explicit.has_next(1));
        let by_total = Pagination {
            total_pages: Some(3),
            ..Pagination::default()
        };
        assert!(by_total.has_next(2));
        assert!(!by_total.has_next(3));
        assert!(!Pagination::default().has_next(1));
    }

    #[test]
    fn error_messages_come_from_the_body() {
        assert_eq!(
            cursor_message(br#"{"error":"Forbidden","message":"Enterprise access required"}"#),
            "Enterprise access required"
        );
        assert_eq!(cursor_message(br#"{"error":"Bad Request"}"#), "Bad Request");
        assert_eq!(cursor_message(b"<html>oops</html>"), "<html>oops</html>");
        assert_eq!(cursor_message(b""), "(empty body)");
    }

    #[tokio::test]
    async fn the_pacer_spaces_starts_and_honours_an_earlier_runs_last_request() {
        let pacer = Pacer::new(600); // 100.8 ms apart
        assert!(pacer.interval() > Duration::from_millis(100));
        let far = Instant::now() + Duration::from_secs(10);
        let started = Instant::now();
        for _ in 0..4 {
            pacer.take_turn(far).await.unwrap();
        }
        assert!(
            started.elapsed() >= pacer.interval() * 3,
            "{:?}",
            started.elapsed()
        );
        // A request an earlier process made just now delays the first one here.
        let carried = Pacer::new(1);
        carried.carry_over(SystemTime::now());
        let wait = carried
            .take_turn(Instant::now() + Duration::from_millis(50))
            .await
            .unwrap_err();
        assert!(wait > Duration::from_secs(59), "{wait:?}");
        assert!(carried.last_start().is_some());
    }

    #[test]
    fn request_urls_carry_the_window_and_paging() {
        let client = CursorApiClient::new(
            CursorApiSettings {
                base_url: "https://api.cursor.com/".into(),
                page_size: 500,
                event_types: Some("login,add_user".into()),
                requests_per_minute: 18,
                request_timeout: Duration::from_secs(30),
                backoff: ApiBackoff::default(),
            },
            ApiKey::new(ApiKeySource::Plain("key_1".into())),
        )
        .unwrap();
        let window = Window {
            start: DateTime::parse_from_rfc3339("2026-05-04T15:30:00Z")
                .unwrap()
                .with_timezone(&Utc),
            end: DateTime::parse_from_rfc3339("2026-05-05T15:30:00.5Z")
                .unwrap()
                .with_timezone(&Utc),
        };
        assert_eq!(
            client.page_url(&window, 3).as_str(),
            "https://api.cursor.com/teams/audit-logs?startTime=2026-05-04T15%3A30%3A00.000Z&endTime=2026-05-05T15%3A30%3A00.500Z&page=3&pageSize=500&eventTypes=login%2Cadd_user"
        );
    }
}
