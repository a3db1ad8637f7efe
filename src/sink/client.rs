//! The Elasticsearch sink: sends a batch with `_bulk`, reads the answer item by item,
//! retries what can be retried within the deadline and dead-letters what cannot.

use std::sync::Arc;
use std::time::Duration;

use reqwest::header::{CONTENT_ENCODING, CONTENT_TYPE};
use tokio::time::Instant;

use super::bulk::{BulkBatch, BulkItemError, BulkResponse};
use super::connection::EsConnection;
use super::counts::Counts;
use super::dead_letter::{DeadLetter, DeadLetterRecord};
use super::error::{BatchError, EsError};
use super::mode::{ModeChoice, ModeDecision, NormalizeIn, ShipMode};
use crate::error::Retryable;
use crate::http::body::{BodyError, read_limited, read_prefix};
use crate::http::retry::{Backoff, RetryBudget};

/// What happened to one batch: its counts (`read` stays 0: the caller counts what it read)
/// and, when items failed, why. The batch is acknowledged only when `counts.failed == 0`.
#[derive(Debug, Default)]
pub struct BatchOutcome {
    /// Documents indexed, already there, dead-lettered, printed, failed; requests repeated.
    pub counts: Counts,
    /// Why items failed, when some did.
    pub error: Option<BatchError>,
}

impl BatchOutcome {
    /// Every item indexed, already there, or dead-lettered.
    pub fn acknowledged(&self) -> bool {
        self.counts.failed == 0
    }
}

/// The sink's retry timing: 200 ms doubling to 20 s, with jitter.
pub fn default_backoff() -> Backoff {
    Backoff {
        initial: Duration::from_millis(200),
        max: Duration::from_secs(20),
        jitter: true,
    }
}

/// The most of a `_bulk` answer that is read (with `filter_path`, a few hundred bytes an item).
const MAX_BULK_RESPONSE_BYTES: usize = 64 * 1024 * 1024;
/// The most of an error answer that is read (for the message).
const ERROR_BODY_BYTES: usize = 2000;

/// How many times writing to the dead letter is tried.
const DEAD_LETTER_ATTEMPTS: u32 = 5;

/// Sends batches to one data stream.
#[derive(Debug, Clone)]
pub struct EsSink {
    connection: EsConnection,
    target: String,
    pipeline: Option<String>,
    dead_letter: DeadLetter,
    backoff: Backoff,
    mode: Arc<ModeChoice>,
}

impl EsSink {
    /// A sink writing to `target` (a data stream name).
    pub fn new(
        connection: EsConnection,
        target: String,
        pipeline: Option<String>,
        dead_letter: DeadLetter,
        backoff: Backoff,
        mode: NormalizeIn,
    ) -> EsSink {
        EsSink {
            connection,
            target,
            pipeline,
            dead_letter,
            backoff,
            mode: Arc::new(ModeChoice::new(mode)),
        }
    }

    /// What the cluster gets (finished documents, or raw lines for the integration's
    /// pipeline), decided once per process (sink/mode.rs); asking is retried like a batch
    /// until `deadline`.
    pub async fn mode(&self, deadline: Instant) -> Result<ModeDecision, EsError> {
        let mut budget = RetryBudget::new(self.backoff, deadline);
        loop {
            match self
                .mode
                .resolve(&self.connection, &self.target, self.pipeline.as_deref())
                .await
            {
                Ok(decision) => return Ok(decision),
                Err(err) if err.is_retryable() => {
                    if !budget.pause(err.retry_after()).await {
                        return Err(err);
                    }
                }
                Err(err) => return Err(err),
            }
        }
    }

    /// [`mode`](Self::mode), or when the cluster cannot be asked, finished documents (as
    /// before `NORMALIZE_IN` existed) for this once: the next source asks again.
    pub async fn mode_or_forwarder(&self, deadline: Instant) -> ShipMode {
        match self.mode(deadline).await {
            Ok(decision) => decision.mode,
            Err(err) => {
                tracing::warn!(error = %err,
                    "cannot tell where events are normalized; sending finished documents this time");
                ShipMode::Forwarder {
                    skip_default_pipeline: false,
                }
            }
        }
    }

    /// The `ES_PIPELINE` parameter, if any.
    pub fn pipeline(&self) -> Option<&str> {
        self.pipeline.as_deref()
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
        let skip_default = self.mode.decided().is_some_and(|decision| {
            decision.mode
                == ShipMode::Forwarder {
                    skip_default_pipeline: true,
                }
        });
        let pipeline = if skip_default {
            Some("_none")
        } else {
            self.pipeline.as_deref()
        };
        if let Some(pipeline) = pipeline {
            path.push_str("&pipeline=");
            path.extend(url::form_urlencoded::byte_serialize(pipeline.as_bytes()));
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
        let mut response = self.connection.send(&path, request).await?;
        let status = response.status().as_u16();
        let retry_after = crate::http::retry::retry_after(response.headers());
        if !(200..300).contains(&status) {
            let prefix = read_prefix(&mut response, ERROR_BODY_BYTES).await;
            return Err(EsError::Status {
                url,
                status,
                body: String::from_utf8_lossy(&prefix).into_owned(),
                retry_after,
            });
        }
        let bytes = match read_limited(&mut response, MAX_BULK_RESPONSE_BYTES).await {
            Ok(bytes) => bytes,
            Err(BodyError::Transport(source)) => return Err(EsError::Transport { url, source }),
            Err(err @ BodyError::TooLarge { .. }) => {
                return Err(EsError::BadResponse {
                    url,
                    message: format!("the _bulk answer is too large: {err}"),
                });
            }
        };
        serde_json::from_slice(&bytes).map_err(|_| EsError::NotBulkAnswer {
            url,
            status,
            excerpt: String::from_utf8_lossy(&bytes[..bytes.len().min(ERROR_BODY_BYTES)])
                .trim()
                .to_owned(),
        })
    }

    /// Delivers `batch`: every item ends indexed, duplicate (409), dead-lettered, or failed
    /// (only when the deadline passes, a request error is permanent, or the dead letter fails).
    /// `source` names the input for dead-letter records.
    pub async fn send(&self, batch: &BulkBatch, source: &str, deadline: Instant) -> BatchOutcome {
        let mut outcome = BatchOutcome::default();
        let mut pending: Vec<usize> = (0..batch.len()).collect();
        let mut rejected: Vec<(usize, u16, Option<BulkItemError>)> = Vec::new();
        let mut budget = RetryBudget::new(self.backoff, deadline);
        while !pending.is_empty() {
            let subset = (pending.len() != batch.len()).then_some(pending.as_slice());
            let body = match batch.gzip_body(subset) {
                Ok(body) => body,
                Err(err) => {
                    outcome.counts.failed += pending.len() as u64;
                    outcome.error = Some(BatchError::Compress(err));
                    break;
                }
            };
            let mut retry_after = None;
            match self.post_bulk(body).await {
                Ok(response) => {
                    let results = response.into_results();
                    if results.len() != pending.len() {
                        outcome.error = Some(BatchError::ItemCount {
                            answered: results.len(),
                            sent: pending.len(),
                        });
                    } else {
                        let mut retry = Vec::new();
                        for (index, result) in pending.iter().copied().zip(results) {
                            match result.status {
                                200 | 201 => outcome.counts.indexed += 1,
                                409 => outcome.counts.duplicates += 1,
                                // 401/403 per item (a key without `create_doc` on
                                // this data stream) are not properties of the
                                // document: retried, then failed, never dead-lettered.
                                401 | 403 | 429 | 500..=599 => {
                                    outcome.error = Some(BatchError::ItemsRefused(
                                        result
                                            .error
                                            .as_ref()
                                            .map(BulkItemError::describe)
                                            .unwrap_or_default(),
                                    ));
                                    retry.push(index);
                                }
                                status => rejected.push((index, status, result.error)),
                            }
                        }
                        pending = retry;
                    }
                }
                Err(err) if err.is_retryable() => {
                    retry_after = err.retry_after();
                    outcome.error = Some(BatchError::Request(err));
                }
                Err(err) => {
                    outcome.counts.failed += pending.len() as u64;
                    outcome.error = Some(BatchError::Request(err));
                    pending.clear();
                }
            }
            if pending.is_empty() {
                break;
            }
            let wait = match budget.next_wait(retry_after) {
                Ok(wait) => wait,
                Err(_) => {
                    outcome.counts.failed += pending.len() as u64;
                    let last = outcome
                        .error
                        .take()
                        .unwrap_or_else(|| BatchError::ItemsRefused(String::new()));
                    outcome.error = Some(BatchError::DeadlineReached {
                        url: self.connection.base_url.clone(),
                        attempts: budget.failures(),
                        last: Box::new(last),
                    });
                    break;
                }
            };
            tracing::warn!(
                attempt = budget.failures(),
                pending = pending.len(),
                wait_ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX),
                error = %outcome.error.as_ref().map(ToString::to_string).unwrap_or_default(),
                "retrying bulk request"
            );
            outcome.counts.retries += 1;
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
        let mut budget = RetryBudget::new(self.backoff, deadline);
        loop {
            match self.dead_letter.write(&records).await {
                Ok(location) => {
                    tracing::warn!(count = records.len(), location = %location,
                        first_reason = %records[0].reason, "documents rejected by Elasticsearch were dead-lettered");
                    outcome.counts.dead_lettered += records.len() as u64;
                    return;
                }
                Err(err) => {
                    let retry = err.is_retryable()
                        && budget.failures() + 1 < DEAD_LETTER_ATTEMPTS
                        && budget.pause(None).await;
                    if !retry {
                        tracing::error!(count = records.len(), error = %err, first_reason = %records[0].reason,
                            "rejected documents could not be dead-lettered");
                        outcome.counts.failed += records.len() as u64;
                        outcome.error = Some(BatchError::DeadLetter {
                            count: records.len(),
                            reason: records[0].reason.clone(),
                            source: err,
                        });
                        return;
                    }
                }
            }
        }
    }
}
