//! The Elasticsearch sink: sends a batch with `_bulk`, reads the answer item by item,
//! retries what can be retried within the deadline and dead-letters what cannot.

use std::time::Duration;

use reqwest::header::{CONTENT_ENCODING, CONTENT_TYPE};
use tokio::time::Instant;

use super::bulk::{BulkBatch, BulkItemError, BulkResponse};
use super::connection::EsConnection;
use super::dead_letter::{DeadLetter, DeadLetterRecord};
use crate::error::{EsError, Retryable};

/// What happened to one batch. The batch is acknowledged only when `failed == 0`.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct BatchOutcome {
    pub indexed: u64,
    pub duplicates: u64,
    pub dead_lettered: u64,
    pub failed: u64,
    pub retries: u64,
    /// Why items failed, when some did.
    pub error: Option<String>,
}

impl BatchOutcome {
    /// Every item indexed, already there, or dead-lettered.
    pub fn acknowledged(&self) -> bool {
        self.failed == 0
    }
}

/// Retry timing: capped exponential backoff with full jitter.
#[derive(Debug, Clone, Copy)]
pub struct Backoff {
    pub initial: Duration,
    pub max: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff {
            initial: Duration::from_millis(200),
            max: Duration::from_secs(20),
        }
    }
}

impl Backoff {
    /// The wait before retry number `attempt` (1-based): a random point in
    /// `[cap/2, cap]` where `cap = min(max, initial * 2^(attempt-1))`.
    pub fn delay(&self, attempt: u32) -> Duration {
        let cap = self
            .initial
            .saturating_mul(1u32 << attempt.saturating_sub(1).min(20))
            .min(self.max);
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
        .map(|d| d.as_nanos() as u64)
        .unwrap_or_default();
    let mut x = COUNTER.fetch_add(0x9E37_79B9_7F4A_7C15, Ordering::Relaxed) ^ nanos;
    x ^= x >> 33;
    x = x.wrapping_mul(0xff51_afd7_ed55_8ccd);
    x ^= x >> 33;
    (x >> 11) as f64 / (1u64 << 53) as f64
}

/// Sends batches to one data stream.
#[derive(Debug, Clone)]
pub struct EsSink {
    connection: EsConnection,
    target: String,
    pipeline: Option<String>,
    dead_letter: DeadLetter,
    backoff: Backoff,
}

impl EsSink {
    /// A sink writing to `target` (a data stream name).
    pub fn new(
        connection: EsConnection,
        target: String,
        pipeline: Option<String>,
        dead_letter: DeadLetter,
        backoff: Backoff,
    ) -> EsSink {
        EsSink {
            connection,
            target,
            pipeline,
            dead_letter,
            backoff,
        }
    }

    /// The data stream written to.
    pub fn target(&self) -> &str {
        &self.target
    }

    /// The connection (for setup and checks).
    pub fn connection(&self) -> &EsConnection {
        &self.connection
    }

    fn bulk_path(&self) -> String {
        let mut path = format!(
            "{}/_bulk?filter_path=errors,items.*.status,items.*.error",
            self.target
        );
        if let Some(pipeline) = &self.pipeline {
            path.push_str("&pipeline=");
            path.push_str(pipeline);
        }
        path
    }

    async fn post_bulk(&self, body: Vec<u8>) -> Result<BulkResponse, EsError> {
        let path = self.bulk_path();
        let url = self.connection.url_for(&path);
        let request = self
            .connection
            .request(reqwest::Method::POST, &path)
            .header(CONTENT_TYPE, "application/x-ndjson")
            .header(CONTENT_ENCODING, "gzip")
            .body(body);
        let response = self.connection.send(&path, request).await?;
        let status = response.status().as_u16();
        let retry_after = crate::retry::retry_after(response.headers());
        let bytes = response
            .bytes()
            .await
            .map_err(|source| EsError::Transport {
                url: url.clone(),
                source,
            })?;
        if !(200..300).contains(&status) {
            return Err(EsError::Status {
                url,
                status,
                body: String::from_utf8_lossy(&bytes[..bytes.len().min(2000)]).into_owned(),
                retry_after,
            });
        }
        serde_json::from_slice(&bytes).map_err(|err| EsError::BadResponse {
            url,
            message: format!("not a _bulk response: {err}"),
        })
    }

    /// Delivers `batch`: every item ends indexed, duplicate (409), dead-lettered, or failed
    /// (only when the deadline passes, a request error is permanent, or the dead letter fails).
    /// `source` names the input for dead-letter records.
    pub async fn send(&self, batch: &BulkBatch, source: &str, deadline: Instant) -> BatchOutcome {
        let mut outcome = BatchOutcome::default();
        let mut pending: Vec<usize> = (0..batch.len()).collect();
        let mut rejected: Vec<(usize, u16, Option<BulkItemError>)> = Vec::new();
        let mut attempt: u32 = 0;
        while !pending.is_empty() {
            let subset = (pending.len() != batch.len()).then_some(pending.as_slice());
            let body = match batch.gzip_body(subset) {
                Ok(body) => body,
                Err(err) => {
                    outcome.failed += pending.len() as u64;
                    outcome.error = Some(format!("cannot compress the bulk body: {err}"));
                    break;
                }
            };
            let mut retry_after = None;
            match self.post_bulk(body).await {
                Ok(response) => {
                    let results = response.into_results();
                    if results.len() != pending.len() {
                        outcome.error = Some(format!(
                            "_bulk answered {} items for {} documents",
                            results.len(),
                            pending.len()
                        ));
                    } else {
                        let mut retry = Vec::new();
                        for (index, result) in pending.iter().copied().zip(results) {
                            match result.status {
                                200 | 201 => outcome.indexed += 1,
                                409 => outcome.duplicates += 1,
                                429 | 500..=599 => {
                                    outcome.error =
                                        result.error.as_ref().map(BulkItemError::describe);
                                    retry.push(index);
                                }
                                status => rejected.push((index, status, result.error)),
                            }
                        }
                        pending = retry;
                    }
                }
                Err(err) if err.is_retryable() => {
                    if let EsError::Status {
                        retry_after: after, ..
                    } = &err
                    {
                        retry_after = *after;
                    }
                    outcome.error = Some(err.to_string());
                }
                Err(err) => {
                    outcome.failed += pending.len() as u64;
                    outcome.error = Some(err.to_string());
                    pending.clear();
                }
            }
            if pending.is_empty() {
                break;
            }
            attempt += 1;
            let wait = retry_after.unwrap_or_else(|| self.backoff.delay(attempt));
            if Instant::now() + wait >= deadline {
                outcome.failed += pending.len() as u64;
                let last = outcome.error.take().unwrap_or_default();
                outcome.error = Some(format!(
                    "{}; last error: {last}",
                    EsError::DeadlineReached {
                        url: self.connection.base_url.clone(),
                        attempts: attempt,
                    }
                ));
                break;
            }
            tracing::warn!(
                attempt,
                pending = pending.len(),
                wait_ms = wait.as_millis() as u64,
                error = outcome.error.as_deref().unwrap_or(""),
                "retrying bulk request"
            );
            outcome.retries += 1;
            tokio::time::sleep(wait).await;
        }
        if !rejected.is_empty() {
            self.dead_letter_items(batch, source, &rejected, deadline, &mut outcome)
                .await;
        }
        outcome
    }

    async fn dead_letter_items(
        &self,
        batch: &BulkBatch,
        source: &str,
        rejected: &[(usize, u16, Option<BulkItemError>)],
        deadline: Instant,
        outcome: &mut BatchOutcome,
    ) {
        let timestamp = crate::normalize::format_millis(&chrono::Utc::now());
        let records: Vec<DeadLetterRecord> = rejected
            .iter()
            .map(|(index, status, error)| {
                let item = &batch.items()[*index];
                DeadLetterRecord {
                    timestamp: timestamp.clone(),
                    index: self.target.clone(),
                    id: item.id.clone(),
                    status: *status,
                    reason: error
                        .as_ref()
                        .map(BulkItemError::describe)
                        .unwrap_or_else(|| format!("status {status}")),
                    error: error.clone(),
                    source: source.to_owned(),
                    line: item.line,
                    document: serde_json::from_slice(batch.source(*index))
                        .unwrap_or(serde_json::Value::Null),
                    original: batch.original(*index).to_owned(),
                }
            })
            .collect();
        let mut attempt = 0;
        loop {
            match self.dead_letter.write(&records).await {
                Ok(location) => {
                    tracing::warn!(count = records.len(), location = %location,
                        first_reason = %records[0].reason, "documents rejected by Elasticsearch were dead-lettered");
                    outcome.dead_lettered += records.len() as u64;
                    return;
                }
                Err(err) => {
                    attempt += 1;
                    let wait = self.backoff.delay(attempt);
                    if !err.is_retryable() || attempt >= 5 || Instant::now() + wait >= deadline {
                        tracing::error!(count = records.len(), error = %err, first_reason = %records[0].reason,
                            "rejected documents could not be dead-lettered");
                        outcome.failed += records.len() as u64;
                        outcome.error = Some(format!(
                            "{} rejected: {}; {err}",
                            records.len(),
                            records[0].reason
                        ));
                        return;
                    }
                    tokio::time::sleep(wait).await;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_caps_and_jitters() {
        let backoff = Backoff {
            initial: Duration::from_millis(100),
            max: Duration::from_secs(1),
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
    }
}
