//! The one retry engine shared by every client (the Elasticsearch sink, its dead letter and
//! the Cursor Admin API client): capped exponential backoff, `Retry-After`, and a budget
//! that never waits past a deadline. Which failures are worth repeating is each error
//! type's own [`Retryable`](crate::error::Retryable) answer.

use std::time::Duration;

use reqwest::header::{HeaderMap, RETRY_AFTER};
use tokio::time::Instant;

/// Capped exponential backoff: `initial`, `2 × initial`, `4 × initial` … at most `max`;
/// with `jitter`, a random point in the upper half of that (so that many clients retrying
/// together spread out).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// The first wait.
    pub initial: Duration,
    /// The longest wait, and the cap on a server's `Retry-After`.
    pub max: Duration,
    /// Spread each wait over `[cap / 2, cap]`.
    pub jitter: bool,
}

impl Backoff {
    /// The wait after the `attempt`-th consecutive failure (1-based).
    pub fn delay(&self, attempt: u32) -> Duration {
        let cap = self
            .initial
            .saturating_mul(1u32 << attempt.saturating_sub(1).min(20))
            .min(self.max);
        if !self.jitter {
            return cap;
        }
        let half = cap / 2;
        half + half.mul_f64(jitter_fraction())
    }
}

/// A fraction in [0, 1) from the clock and a counter: jitter needs no cryptographic quality.
fn jitter_fraction() -> f64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0x9E37_79B9_7F4A_7C15);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos() as u64)
        .unwrap_or_default();
    let mut x = COUNTER.fetch_add(0x9E37_79B9_7F4A_7C15, Ordering::Relaxed) ^ nanos;
    x ^= x >> 33;
    x = x.wrapping_mul(0xff51_afd7_ed55_8ccd);
    x ^= x >> 33;
    (x >> 11) as f64 / (1u64 << 53) as f64
}

/// The retries of one operation: counts the failures and says how long to wait before the
/// next attempt, or that the budget is spent.
#[derive(Debug)]
pub struct RetryBudget {
    backoff: Backoff,
    deadline: Instant,
    failures: u32,
}

impl RetryBudget {
    /// Retries with `backoff` until `deadline`.
    pub fn new(backoff: Backoff, deadline: Instant) -> RetryBudget {
        RetryBudget {
            backoff,
            deadline,
            failures: 0,
        }
    }

    /// Failures recorded so far.
    pub fn failures(&self) -> u32 {
        self.failures
    }

    /// Records a failure and returns the wait before the next attempt: the server's
    /// `retry_after` when it gave one (capped at the backoff's maximum), else the backoff.
    /// `Err` with that wait when it would end at or past the deadline: give up now.
    pub fn next_wait(&mut self, retry_after: Option<Duration>) -> Result<Duration, Duration> {
        self.failures = self.failures.saturating_add(1);
        let wait = match retry_after {
            Some(asked) => asked.min(self.backoff.max),
            None => self.backoff.delay(self.failures),
        };
        let left = self.deadline.saturating_duration_since(Instant::now());
        if wait < left { Ok(wait) } else { Err(wait) }
    }

    /// [`next_wait`](Self::next_wait), then sleeps it. `false` when the budget is spent
    /// (nothing was slept).
    pub async fn pause(&mut self, retry_after: Option<Duration>) -> bool {
        match self.next_wait(retry_after) {
            Ok(wait) => {
                tokio::time::sleep(wait).await;
                true
            }
            Err(_) => false,
        }
    }
}

/// The `Retry-After` header as a wait: delay-seconds, or an HTTP date (then the time until
/// it, zero when it is past). `None` when absent or unreadable.
pub fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let value = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    parse_retry_after(value, chrono::Utc::now())
}

/// The longest `Retry-After` taken literally; anything longer is read as this (the retry
/// budget caps it further).
const RETRY_AFTER_CEILING: Duration = Duration::from_secs(24 * 3600);

/// [`retry_after`] on a header value, `now` given. Never panics: huge, negative or
/// non-finite values are capped or refused.
pub fn parse_retry_after(value: &str, now: chrono::DateTime<chrono::Utc>) -> Option<Duration> {
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds).min(RETRY_AFTER_CEILING));
    }
    if let Ok(seconds) = value.parse::<f64>()
        && seconds.is_finite()
        && seconds >= 0.0
    {
        let capped = seconds.min(RETRY_AFTER_CEILING.as_secs_f64());
        return Duration::try_from_secs_f64(capped).ok();
    }
    // IMF-fixdate ("Wed, 25 Nov 2026 22:43:12 GMT") is an RFC 2822 date.
    let date = chrono::DateTime::parse_from_rfc2822(value).ok()?;
    Some(
        (date.with_timezone(&chrono::Utc) - now)
            .to_std()
            .unwrap_or(Duration::ZERO)
            .min(RETRY_AFTER_CEILING),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seconds_and_http_dates() {
        let now = chrono::DateTime::parse_from_rfc3339("2026-11-25T22:43:12Z")
            .unwrap()
            .with_timezone(&chrono::Utc);
        assert_eq!(parse_retry_after("7", now), Some(Duration::from_secs(7)));
        assert_eq!(
            parse_retry_after("1.5", now),
            Some(Duration::from_millis(1500))
        );
        assert_eq!(
            parse_retry_after("Wed, 25 Nov 2026 22:43:42 GMT", now),
            Some(Duration::from_secs(30))
        );
        assert_eq!(
            parse_retry_after("Wed, 25 Nov 2026 22:40:00 GMT", now),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after("soon", now), None);
        assert_eq!(parse_retry_after("-3", now), None);
        assert_eq!(parse_retry_after("1e300", now), Some(RETRY_AFTER_CEILING));
        assert_eq!(
            parse_retry_after("18446744073709551615", now),
            Some(RETRY_AFTER_CEILING)
        );
        assert_eq!(parse_retry_after("inf", now), None);
        assert_eq!(parse_retry_after("NaN", now), None);
    }

    #[test]
    fn backoff_grows_caps_and_jitters() {
        let backoff = Backoff {
            initial: Duration::from_millis(100),
            max: Duration::from_secs(1),
            jitter: true,
        };
        for attempt in 1..30 {
            let cap = Duration::from_millis(100 * (1u64 << (attempt - 1).min(20)))
                .min(Duration::from_secs(1));
            let delay = backoff.delay(attempt);
            assert!(
                delay >= cap / 2 && delay <= cap,
                "attempt {attempt}: {delay:?}"
            );
        }
        let samples: std::collections::HashSet<_> = (0..20).map(|_| backoff.delay(5)).collect();
        assert!(samples.len() > 1, "jitter varies");
        let steady = Backoff {
            initial: Duration::from_secs(1),
            max: Duration::from_secs(60),
            jitter: false,
        };
        let waits: Vec<u64> = (1..=8).map(|a| steady.delay(a).as_secs()).collect();
        assert_eq!(waits, [1, 2, 4, 8, 16, 32, 60, 60]);
        assert_eq!(steady.delay(u32::MAX), Duration::from_secs(60));
    }

    #[test]
    fn the_budget_caps_retry_after_and_never_waits_past_the_deadline() {
        let backoff = Backoff {
            initial: Duration::from_millis(10),
            max: Duration::from_secs(20),
            jitter: false,
        };
        let mut budget = RetryBudget::new(backoff, Instant::now() + Duration::from_secs(60));
        assert_eq!(budget.next_wait(None), Ok(Duration::from_millis(10)));
        assert_eq!(
            budget.next_wait(Some(Duration::from_secs(3))),
            Ok(Duration::from_secs(3))
        );
        // A server asking for a day gets the backoff's maximum.
        assert_eq!(
            budget.next_wait(Some(Duration::from_secs(86_400))),
            Ok(Duration::from_secs(20))
        );
        assert_eq!(budget.failures(), 3);
        let mut short = RetryBudget::new(backoff, Instant::now() + Duration::from_secs(5));
        assert_eq!(
            short.next_wait(Some(Duration::from_secs(10))),
            Err(Duration::from_secs(10))
        );
        let mut past = RetryBudget::new(backoff, Instant::now());
        assert!(past.next_wait(None).is_err());
    }
}
