//! The Cursor Admin API audit-log client (`GET /teams/audit-logs`, docs/cursor-admin-api.md):
//! Basic auth with the Admin API key, RFC 3339 window bounds, paging, client-side pacing
//! below the team's 20 requests per minute, and the retry rules: 429 waits for `Retry-After`
//! or 1, 2, 4 … 60 s; 5xx and transport errors back off the same way; 401 re-reads the key
//! once; 400, 403 and other 4xx fail with Cursor's message. Every wait ends before the
//! caller's deadline.

mod answer;
pub mod error;
pub mod key;
pub mod pacer;
pub mod wire;

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use base64::Engine as _;
use reqwest::header::{ACCEPT, AUTHORIZATION, HeaderValue};
use tokio::time::Instant;

use self::answer::{Attempt, read_answer};
use self::error::CursorApiError;
use self::key::{ApiKey, KeyError};
use self::pacer::Pacer;
use self::wire::{AuditLogPage, Window, rfc3339};
use crate::error::error_chain;
use crate::http::retry::{Backoff, RetryBudget};

/// Why the client cannot be built.
#[derive(Debug, thiserror::Error)]
pub enum ClientBuildError {
    /// `CURSOR_API_URL` is not a URL.
    #[error("CURSOR_API_URL {url:?} is not a URL: {source}")]
    Url {
        /// The configured URL.
        url: String,
        /// Why it does not parse.
        #[source]
        source: url::ParseError,
    },
    /// The HTTP client could not be set up.
    #[error("cannot build the HTTP client: {0}")]
    Http(#[source] reqwest::Error),
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

/// The Admin API's retry timing: 1, 2, 4 … 60 s, no jitter (one client per team).
pub fn api_backoff() -> Backoff {
    Backoff {
        initial: Duration::from_secs(1),
        max: Duration::from_secs(60),
        jitter: false,
    }
}

/// Client settings.
#[derive(Debug, Clone)]
pub struct CursorApiSettings {
    /// The API's base URL (`CURSOR_API_URL`).
    pub base_url: String,
    /// Events per page (`pageSize`).
    pub page_size: u32,
    /// Comma-separated `eventTypes` filter.
    pub event_types: Option<String>,
    /// Client-side pace (`CURSOR_REQUESTS_PER_MINUTE`).
    pub requests_per_minute: u32,
    /// Timeout of one request.
    pub request_timeout: Duration,
    /// Waits between retries.
    pub backoff: Backoff,
}

/// The Admin API client.
#[derive(Debug)]
pub struct CursorApiClient {
    http: reqwest::Client,
    endpoint: reqwest::Url,
    settings: CursorApiSettings,
    key: ApiKey,
    /// Spaces request starts; carried over between runs through the lease.
    pub pacer: Pacer,
    /// Request counters.
    pub stats: ApiStats,
}

impl CursorApiClient {
    /// A client for `settings.base_url`.
    pub fn new(
        settings: CursorApiSettings,
        key: ApiKey,
    ) -> Result<CursorApiClient, ClientBuildError> {
        let base = settings.base_url.trim_end_matches('/');
        let endpoint = reqwest::Url::parse(&format!("{base}/teams/audit-logs")).map_err(|err| {
            ClientBuildError::Url {
                url: base.to_owned(),
                source: err,
            }
        })?;
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(Duration::from_secs(10))
            .user_agent(concat!(
                "cursor-audit-forwarder/",
                env!("CARGO_PKG_VERSION")
            ))
            .build()
            .map_err(ClientBuildError::Http)?;
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
        let mut budget = RetryBudget::new(self.settings.backoff, deadline);
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
                    if throttled {
                        self.stats.throttled.fetch_add(1, Ordering::Relaxed);
                    }
                    (problem, budget.next_wait(wait))
                }
            };
            last = problem;
            let wait = match wait {
                Ok(wait) => wait,
                Err(wait) => {
                    return Err(gave_up(
                        attempts,
                        format!("{last}; the next try would be in {} ms", wait.as_millis()),
                    ));
                }
            };
            tracing::warn!(window = %window, page, attempt = attempts, wait_ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX),
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
                return Attempt::Fail(CursorApiError::Key(KeyError::NotHeaderSafe));
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
        let response = match sent {
            Ok(response) => response,
            Err(err) => {
                return Attempt::Retry {
                    problem: format!("request failed: {}", error_chain(&err)),
                    wait: None,
                    throttled: false,
                };
            }
        };
        read_answer(response, window, page, self.settings.page_size).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::admin_api::client::key::ApiKeySource;
    use chrono::{DateTime, Utc};

    #[test]
    fn request_urls_carry_the_window_and_paging() {
        let client = CursorApiClient::new(
            CursorApiSettings {
                base_url: "https://api.cursor.com/".into(),
                page_size: 500,
                event_types: Some("login,add_user".into()),
                requests_per_minute: 18,
                request_timeout: Duration::from_secs(30),
                backoff: api_backoff(),
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
