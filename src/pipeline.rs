//! The shipping pipeline shared by the CLI and the Lambda handlers: lines from a source
//! (file or S3 object, gzip or plain) → normalizer → shipping fields (§10) → bulk batches →
//! sink. Reading and normalizing run on a blocking thread while the previous batch is in
//! flight; at most two batches wait in between, so memory stays bounded whatever the input.

use std::io::{BufRead, BufReader, Read, Write};
use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use serde_json::{Map, Value};
use sha1::{Digest, Sha1};
use tokio::sync::mpsc;
use tokio::time::Instant;

use crate::cli::normalize_read_line;
use crate::error::SourceError;
use crate::normalize::Normalizer;
use crate::sink::{BatchLimits, BulkBatch, Counts, EsSink};
use crate::source::lines::LineReader;

/// The dataset every document belongs to.
pub const DATASET: &str = "cursor.audit";

/// The fields shipping adds to every document (normalization.md §10), apart from provenance.
#[derive(Debug, Clone)]
pub struct ShipFields {
    pub namespace: String,
    pub tags: Vec<String>,
}

impl ShipFields {
    /// The data stream documents go to.
    pub fn data_stream(&self) -> String {
        format!("logs-{DATASET}-{}", self.namespace)
    }
}

/// Where lines come from; S3 provenance is what Elastic Agent's S3 input writes.
#[derive(Debug, Clone)]
pub enum Provenance {
    File {
        path: String,
    },
    S3 {
        bucket: String,
        key: String,
        region: String,
        etag: Option<String>,
    },
}

impl Provenance {
    /// A name for logs and dead-letter records.
    pub fn name(&self) -> String {
        match self {
            Provenance::File { path } => path.clone(),
            Provenance::S3 { bucket, key, .. } => format!("s3://{bucket}/{key}"),
        }
    }

    fn add_fields(&self, doc: &mut Map<String, Value>, offset: u64) {
        match self {
            Provenance::File { path } => {
                doc.insert(
                    "log".into(),
                    serde_json::json!({"file": {"path": path}, "offset": offset}),
                );
            }
            Provenance::S3 {
                bucket,
                key,
                region,
                ..
            } => {
                doc.insert(
                    "aws".into(),
                    serde_json::json!({"s3": {
                        "bucket": {"name": bucket, "arn": format!("arn:aws:s3:::{bucket}")},
                        "object": {"key": key}
                    }}),
                );
                doc.insert(
                    "log".into(),
                    serde_json::json!({
                        "file": {"path": format!("https://{bucket}.s3.{region}.amazonaws.com/{key}")},
                        "offset": offset
                    }),
                );
                doc.insert(
                    "cloud".into(),
                    serde_json::json!({"provider": "aws", "region": region}),
                );
            }
        }
    }

    /// A stable `_id` for a document without `event_id` (error documents), so that
    /// shipping the same input again does not duplicate it.
    fn fallback_id(&self, offset: u64) -> String {
        let identity = match self {
            Provenance::File { path } => format!("file:{path}#{offset}"),
            Provenance::S3 {
                bucket, key, etag, ..
            } => format!(
                "s3:{bucket}/{key}@{}#{offset}",
                etag.as_deref().unwrap_or("")
            ),
        };
        let digest = Sha1::digest(identity.as_bytes());
        base64::engine::general_purpose::STANDARD.encode(digest)
    }
}

/// Adds §10 fields to a normalized document.
pub fn add_shipping_fields(
    doc: &mut Map<String, Value>,
    fields: &ShipFields,
    provenance: &Provenance,
    offset: u64,
) {
    doc.insert(
        "data_stream".into(),
        serde_json::json!({"type": "logs", "dataset": DATASET, "namespace": fields.namespace}),
    );
    if let Some(Value::Object(event)) = doc.get_mut("event") {
        event.insert("dataset".into(), Value::from(DATASET));
    }
    if !fields.tags.is_empty() {
        let tags = doc
            .entry("tags")
            .or_insert_with(|| Value::Array(Vec::new()));
        if let Value::Array(tags) = tags {
            for tag in &fields.tags {
                if !tags.iter().any(|t| t.as_str() == Some(tag)) {
                    tags.push(Value::from(tag.as_str()));
                }
            }
        }
    }
    provenance.add_fields(doc, offset);
}

/// When to give up retrying and when to stop starting new batches.
#[derive(Debug, Clone, Copy)]
pub struct Deadline {
    /// A hard end (the Lambda invocation's), if any.
    pub hard: Option<Instant>,
    /// How long one batch may be retried.
    pub per_batch: Duration,
}

impl Deadline {
    /// The retry deadline for a batch starting now.
    pub fn for_batch(&self) -> Instant {
        let budget = Instant::now() + self.per_batch;
        self.hard.map_or(budget, |hard| hard.min(budget))
    }

    /// True when the hard deadline is too close to start another batch.
    pub fn should_stop(&self, margin: Duration) -> bool {
        self.hard
            .is_some_and(|hard| Instant::now() + margin >= hard)
    }
}

/// What shipping one source achieved.
#[derive(Debug, Default, Clone)]
pub struct SourceReport {
    pub counts: Counts,
    /// Every line up to and including this one is acknowledged.
    pub acknowledged_through_line: u64,
    /// True when the source was read to its end and everything is acknowledged.
    pub complete: bool,
    /// Why not complete.
    pub error: Option<String>,
}

/// Opens a reader, detecting gzip by its magic bytes (multi-member gzip included).
pub fn decompressing_reader<R: Read + Send + 'static>(
    inner: R,
) -> std::io::Result<Box<dyn BufRead + Send>> {
    let mut buffered = BufReader::with_capacity(256 * 1024, inner);
    let magic = buffered.fill_buf()?;
    if magic.starts_with(&[0x1f, 0x8b]) {
        Ok(Box::new(BufReader::with_capacity(
            256 * 1024,
            flate2::bufread::MultiGzDecoder::new(buffered),
        )))
    } else {
        Ok(Box::new(buffered))
    }
}

/// Everything needed to turn lines into documents.
#[derive(Debug, Clone)]
pub struct Shipper {
    pub normalizer: Arc<Normalizer>,
    pub fields: Arc<ShipFields>,
    pub limits: BatchLimits,
    pub max_line_bytes: usize,
}

/// Batches as they leave the reading thread.
struct ReadBatch {
    batch: BulkBatch,
    /// The last line read so far (covers trailing blank lines).
    last_line: u64,
}

impl Shipper {
    fn document_for(
        &self,
        line: &crate::source::lines::Line<'_>,
        provenance: &Provenance,
    ) -> Option<(Option<String>, Map<String, Value>)> {
        let normalized = normalize_read_line(&self.normalizer, line, self.max_line_bytes)?;
        let mut doc = normalized.document;
        add_shipping_fields(&mut doc, &self.fields, provenance, line.offset);
        let id = normalized
            .id
            .or_else(|| Some(provenance.fallback_id(line.offset)));
        Some((id, doc))
    }

    /// Writes the documents that would be indexed to `out` (dry run). Returns the count.
    pub fn print(
        &self,
        reader: Box<dyn BufRead + Send>,
        provenance: &Provenance,
        out: &mut dyn Write,
    ) -> Result<u64, SourceError> {
        let mut lines = LineReader::new(reader, self.max_line_bytes);
        let mut count = 0;
        // One write per document: serde_json's many small writes are slow through a BufWriter.
        let mut buffer = Vec::with_capacity(4096);
        loop {
            let line = match lines.next_line() {
                Ok(Some(line)) => line,
                Ok(None) => return Ok(count),
                Err(error) => {
                    return Err(SourceError::Read {
                        source_name: provenance.name(),
                        line: lines.position(),
                        error,
                    });
                }
            };
            if let Some((_, doc)) = self.document_for(&line, provenance) {
                count += 1;
                buffer.clear();
                let written = serde_json::to_writer(&mut buffer, &doc)
                    .map_err(std::io::Error::from)
                    .and_then(|()| {
                        buffer.push(b'\n');
                        out.write_all(&buffer)
                    });
                if let Err(error) = written {
                    return Err(SourceError::Read {
                        source_name: "stdout".into(),
                        line: line.number,
                        error,
                    });
                }
            }
        }
    }

    /// Ships one source to `sink`, skipping lines up to `skip_lines` (already acknowledged).
    pub async fn ship(
        &self,
        reader: Box<dyn BufRead + Send>,
        provenance: Provenance,
        skip_lines: u64,
        sink: &EsSink,
        deadline: Deadline,
    ) -> SourceReport {
        let (sender, mut receiver) = mpsc::channel::<ReadBatch>(2);
        let shipper = self.clone();
        let reader_provenance = provenance.clone();
        let reading = tokio::task::spawn_blocking(move || {
            shipper.read_batches(reader, &reader_provenance, skip_lines, &sender)
        });

        let source_name = provenance.name();
        let mut report = SourceReport {
            acknowledged_through_line: skip_lines,
            ..SourceReport::default()
        };
        while let Some(ReadBatch { batch, last_line }) = receiver.recv().await {
            report.counts.read += batch.len() as u64;
            if deadline.should_stop(Duration::from_secs(2)) {
                report.error = Some(format!(
                    "stopped before line {}: the invocation deadline is near",
                    last_line.saturating_sub(batch.len() as u64) + 1
                ));
                break;
            }
            if !batch.is_empty() {
                let outcome = sink.send(&batch, &source_name, deadline.for_batch()).await;
                report.counts.add_outcome(&outcome);
                if !outcome.acknowledged() {
                    report.error = outcome.error.clone();
                    break;
                }
            }
            report.acknowledged_through_line = last_line;
        }
        // Stops the reading thread if we gave up early (its next send fails).
        drop(receiver);
        let read_result = reading.await;
        let mut read_to_end = false;
        match read_result {
            Ok(Ok(read_lines)) => {
                read_to_end = report.acknowledged_through_line == read_lines;
            }
            Ok(Err(err)) => {
                report.error.get_or_insert_with(|| err.to_string());
            }
            Err(join_error) => {
                report
                    .error
                    .get_or_insert_with(|| format!("reading {source_name} stopped: {join_error}"));
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
        reader: Box<dyn BufRead + Send>,
        provenance: &Provenance,
        skip_lines: u64,
        sender: &mpsc::Sender<ReadBatch>,
    ) -> Result<u64, SourceError> {
        let mut lines = LineReader::new(reader, self.max_line_bytes);
        let mut batch = BulkBatch::new();
        let mut last_line = 0;
        loop {
            let line = match lines.next_line() {
                Ok(Some(line)) => line,
                Ok(None) => break,
                Err(error) => {
                    // Ship what was read before the damage, then report it.
                    let _ = sender.blocking_send(ReadBatch { batch, last_line });
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
            if let Some((id, doc)) = self.document_for(&line, provenance) {
                let original = String::from_utf8_lossy(line.bytes);
                batch.push(id, &doc, &original, line.number);
            }
            if batch.is_full(&self.limits) {
                let full = std::mem::replace(&mut batch, BulkBatch::new());
                if sender
                    .blocking_send(ReadBatch {
                        batch: full,
                        last_line,
                    })
                    .is_err()
                {
                    return Ok(last_line);
                }
            }
        }
        let _ = sender.blocking_send(ReadBatch { batch, last_line });
        Ok(last_line)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn shipping_fields_for_s3() {
        let mut doc = json!({"event": {"id": "x"}, "tags": ["preserve_original_event"]})
            .as_object()
            .unwrap()
            .clone();
        let fields = ShipFields {
            namespace: "prod".into(),
            tags: vec![
                "forwarded".into(),
                "cursor-audit".into(),
                "preserve_original_event".into(),
            ],
        };
        let provenance = Provenance::S3 {
            bucket: "audit".into(),
            key: "2026/11/25/a b.jsonl.gz".into(),
            region: "eu-west-1".into(),
            etag: None,
        };
        add_shipping_fields(&mut doc, &fields, &provenance, 1234);
        assert_eq!(
            Value::Object(doc),
            json!({
                "event": {"id": "x", "dataset": "cursor.audit"},
                "tags": ["preserve_original_event", "forwarded", "cursor-audit"],
                "data_stream": {"type": "logs", "dataset": "cursor.audit", "namespace": "prod"},
                "aws": {"s3": {"bucket": {"name": "audit", "arn": "arn:aws:s3:::audit"},
                               "object": {"key": "2026/11/25/a b.jsonl.gz"}}},
                "log": {"file": {"path": "https://audit.s3.eu-west-1.amazonaws.com/2026/11/25/a b.jsonl.gz"},
                        "offset": 1234},
                "cloud": {"provider": "aws", "region": "eu-west-1"}
            })
        );
        assert_eq!(fields.data_stream(), "logs-cursor.audit-prod");
    }

    #[test]
    fn gzip_is_detected_by_magic_bytes() {
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gz.write_all(b"one\n").unwrap();
        let mut data = gz.finish().unwrap();
        // A second gzip member.
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gz.write_all(b"two\n").unwrap();
        data.extend(gz.finish().unwrap());
        let mut text = String::new();
        decompressing_reader(std::io::Cursor::new(data))
            .unwrap()
            .read_to_string(&mut text)
            .unwrap();
        assert_eq!(text, "one\ntwo\n");
        let mut plain = String::new();
        decompressing_reader(std::io::Cursor::new(b"plain\n".to_vec()))
            .unwrap()
            .read_to_string(&mut plain)
            .unwrap();
        assert_eq!(plain, "plain\n");
    }
}
