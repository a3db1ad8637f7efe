//! The shipping pipeline shared by the CLI and the Lambda handlers: lines from a source
//! (file or S3 object, gzip or plain) → normalizer → shipping fields (docs/normalization.md
//! §10) → bulk batches → sink. Reading and normalizing run on a blocking thread while the
//! previous batch is in flight; at most two batches wait in between, so memory stays
//! bounded whatever the input.

use std::io::Read;
use std::sync::Arc;

use tokio::sync::mpsc;

use super::deadline::Deadline;
use super::decompress::decompressing_reader;
use super::fields::{Provenance, ShipFields, add_shipping_fields};
use super::lines::{Line, LineReader};
use super::newest::NewestTimestamp;
use super::raw_document::{RawDocument, raw_document};
use super::read_line::normalize_read_line;
use super::report::{ShipError, SourceReport};
use super::routes::{TeamRoutes, route};
use crate::error::SourceError;
use crate::normalize::{EcsDocument, Ids, Normalized, Normalizer, format_millis};
use crate::sink::{BatchLimits, BulkBatch, Output, ShipMode};

/// Everything needed to turn lines into documents.
#[derive(Debug, Clone)]
pub struct Shipper {
    /// Turns lines into documents.
    pub normalizer: Arc<Normalizer>,
    /// Data stream and tags: the deployment's, those of the output's data stream.
    pub fields: Arc<ShipFields>,
    /// Teams whose documents get their own namespace and tags (docs/teams.md).
    pub teams: TeamRoutes,
    /// How large a batch grows.
    pub limits: BatchLimits,
    /// Longer lines become error documents.
    pub max_line_bytes: usize,
    /// A gzip source inflating to more fails (`MAX_OBJECT_INFLATED_BYTES`).
    pub max_inflated_bytes: u64,
}

/// What is sent for one line: the finished document (`forwarder`) or the raw one
/// (`cluster`).
#[derive(Debug, serde::Serialize)]
#[serde(untagged)]
pub(crate) enum Outgoing {
    /// The normalizer's document with the shipping fields.
    Ecs(Box<EcsDocument>),
    /// The raw line for the integration's pipeline.
    Raw(Box<RawDocument>),
}

/// One line's document, its `_id` (unless the output needs none), and its `@timestamp`
/// when it normalized cleanly.
pub(crate) struct LineDocument {
    pub(crate) id: Option<String>,
    /// The data stream, when it is not the output's (a team's namespace).
    pub(crate) index: Option<String>,
    pub(crate) body: Outgoing,
    pub(crate) newest: Option<String>,
}

/// Batches as they leave the reading thread.
struct ReadBatch {
    batch: BulkBatch,
    /// The last line read so far (covers trailing blank lines).
    last_line: u64,
    /// The newest `@timestamp` among the batch's documents without errors.
    newest: NewestTimestamp,
}

impl Shipper {
    /// The document of one line in `mode`; `None` for a blank line.
    fn document_for(
        &self,
        line: &Line<'_>,
        provenance: &Provenance,
        mode: &ShipMode,
        ids: Ids,
    ) -> Option<LineDocument> {
        let normalized = normalize_read_line(&self.normalizer, line, self.max_line_bytes, ids)?;
        Some(self.document_of(normalized, line.bytes, line.offset, provenance, mode, ids))
    }

    /// What is sent for an event in `mode`: `bytes` is its raw text, `offset` its position.
    /// The `_id` is computed only when `ids` asks for it.
    pub(crate) fn document_of(
        &self,
        normalized: Normalized,
        bytes: &[u8],
        offset: u64,
        provenance: &Provenance,
        mode: &ShipMode,
        ids: Ids,
    ) -> LineDocument {
        let id = match ids {
            Ids::Computed => Some(
                normalized
                    .id
                    .unwrap_or_else(|| provenance.fallback_id(offset, bytes)),
            ),
            Ids::Skipped => None,
        };
        let newest = (!normalized.has_error).then(|| normalized.document.timestamp.clone());
        let (fields, index) = route(&self.teams, &self.fields, &normalized.document);
        let body = self.body_of(
            normalized.document,
            fields,
            (bytes, offset),
            provenance,
            mode,
        );
        LineDocument {
            id,
            index,
            body,
            newest,
        }
    }

    /// The body of [`Shipper::document_of`].
    fn body_of(
        &self,
        mut document: EcsDocument,
        fields: &ShipFields,
        (bytes, offset): (&[u8], u64),
        provenance: &Provenance,
        mode: &ShipMode,
    ) -> Outgoing {
        match mode {
            ShipMode::Forwarder { .. } => {
                add_shipping_fields(&mut document, fields, provenance, offset);
                Outgoing::Ecs(Box::new(document))
            }
            ShipMode::Cluster => Outgoing::Raw(Box::new(raw_document(
                bytes,
                format_millis(&chrono::Utc::now()),
                fields,
                self.normalizer.preserves_original(),
                provenance,
                offset,
            ))),
        }
    }

    /// Ships one source (raw bytes, gzip or plain) to `output`, skipping lines up to
    /// `skip_lines` (already acknowledged).
    pub async fn ship(
        &self,
        reader: Box<dyn Read + Send>,
        provenance: Provenance,
        skip_lines: u64,
        output: &Output,
        deadline: Deadline,
    ) -> SourceReport {
        let mode = output.mode(deadline.for_batch()).await;
        let ids = if output.wants_ids() {
            Ids::Computed
        } else {
            Ids::Skipped
        };
        let (sender, mut receiver) = mpsc::channel::<ReadBatch>(1);
        // Sent batches go back to the reader to be refilled: a fixed set of buffers serves
        // the whole source, so memory does not creep up with fragmentation.
        let (recycle, recycled) = std::sync::mpsc::channel::<BulkBatch>();
        let shipper = self.clone();
        let reader_provenance = provenance.clone();
        let reading = tokio::task::spawn_blocking(move || {
            shipper.read_batches(
                reader,
                &reader_provenance,
                (&mode, ids),
                skip_lines,
                &sender,
                &recycled,
            )
        });

        let source_name = provenance.name();
        let mut report = SourceReport {
            acknowledged_through_line: skip_lines,
            ..SourceReport::default()
        };
        loop {
            // A stalled source (an S3 body that stops sending) must not outlive the
            // invocation: waiting for the next batch ends at the hard deadline.
            let next = match deadline.remaining() {
                Some(left) => match tokio::time::timeout(left, receiver.recv()).await {
                    Ok(next) => next,
                    Err(_) => {
                        report.error = Some(ShipError::DeadlineNear {
                            line: report.acknowledged_through_line + 1,
                        });
                        break;
                    }
                },
                None => receiver.recv().await,
            };
            let Some(ReadBatch {
                batch,
                last_line,
                newest,
            }) = next
            else {
                break;
            };
            report.counts.read += batch.len() as u64;
            if deadline.should_stop() {
                report.error = Some(ShipError::DeadlineNear {
                    line: last_line.saturating_sub(batch.len() as u64) + 1,
                });
                break;
            }
            if !batch.is_empty() {
                let outcome = output
                    .send(&batch, &source_name, deadline.for_batch())
                    .await;
                report.counts.add_outcome(&outcome);
                if !outcome.acknowledged() {
                    report.error = outcome.error.map(ShipError::Sink);
                    break;
                }
            }
            report.acknowledged_through_line = last_line;
            report.newest.merge(&newest);
            let _ = recycle.send(batch);
        }
        // Stops the reading thread if we gave up early (its next send fails).
        drop(receiver);
        // A reader blocked in a stalled read is left behind rather than waited for past
        // the deadline (it ends with the process or when the read fails).
        let read_result = match deadline.remaining() {
            Some(left) => tokio::time::timeout(left, reading).await.ok(),
            None => Some(reading.await),
        };
        let mut read_to_end = false;
        match read_result {
            None => {
                report.error.get_or_insert(ShipError::DeadlineNear {
                    line: report.acknowledged_through_line + 1,
                });
            }
            Some(Ok(Ok(read_lines))) => {
                read_to_end = report.acknowledged_through_line == read_lines;
            }
            Some(Ok(Err(err))) => {
                report.error.get_or_insert(ShipError::Source(err));
            }
            Some(Err(join_error)) => {
                report.error.get_or_insert(ShipError::ReaderStopped {
                    source_name,
                    message: join_error.to_string(),
                });
            }
        }
        report.counts.failed = report
            .counts
            .read
            .saturating_sub(report.counts.acknowledged());
        report.complete = read_to_end && report.error.is_none() && report.counts.failed == 0;
        report
    }

    /// The reading thread: returns the number of lines read when it reached the end.
    fn read_batches(
        &self,
        reader: Box<dyn Read + Send>,
        provenance: &Provenance,
        (mode, ids): (&ShipMode, Ids),
        skip_lines: u64,
        sender: &mpsc::Sender<ReadBatch>,
        recycled: &std::sync::mpsc::Receiver<BulkBatch>,
    ) -> Result<u64, SourceError> {
        let next_batch = || {
            let mut batch = recycled.try_recv().unwrap_or_default();
            batch.clear();
            batch
        };
        // Opening may block (an S3 body is read through a bridge): it happens on this thread.
        let reader = decompressing_reader(reader, self.max_inflated_bytes).map_err(|error| {
            SourceError::Open {
                source_name: provenance.name(),
                error,
            }
        })?;
        let mut lines = LineReader::new(reader, self.max_line_bytes);
        let mut batch = BulkBatch::new();
        let mut newest = NewestTimestamp::default();
        let mut last_line = 0;
        loop {
            let line = match lines.next_line() {
                Ok(Some(line)) => line,
                Ok(None) => break,
                Err(error) => {
                    // Ship what was read before the damage, then report it.
                    let _ = sender.blocking_send(ReadBatch {
                        batch,
                        last_line,
                        newest,
                    });
                    return Err(SourceError::Read {
                        source_name: provenance.name(),
                        line: last_line + 1,
                        error,
                    });
                }
            };
            last_line = line.number;
            if line.number <= skip_lines {
                continue;
            }
            if let Some(document) = self.document_for(&line, provenance, mode, ids) {
                if let Some(timestamp) = &document.newest {
                    newest.offer(timestamp);
                }
                // The raw line is kept for the dead letter; a dry run (no `_id`s) has none.
                let original = match ids {
                    Ids::Computed => String::from_utf8_lossy(line.bytes),
                    Ids::Skipped => std::borrow::Cow::Borrowed(""),
                };
                batch.push(
                    (document.id, document.index),
                    &document.body,
                    &original,
                    line.number,
                );
            }
            if batch.is_full(&self.limits) {
                let full = std::mem::replace(&mut batch, next_batch());
                if sender
                    .blocking_send(ReadBatch {
                        batch: full,
                        last_line,
                        newest: std::mem::take(&mut newest),
                    })
                    .is_err()
                {
                    return Ok(last_line);
                }
            }
        }
        let _ = sender.blocking_send(ReadBatch {
            batch,
            last_line,
            newest,
        });
        Ok(last_line)
    }
}
