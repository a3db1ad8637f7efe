//! The shipping pipeline shared by the CLI and the Lambda handlers: lines from a source
//! (file or S3 object, gzip or plain) → normalizer → shipping fields (§10) → bulk batches →
//! sink. Reading and normalizing run on a blocking thread while the previous batch is in
//! flight; at most two batches wait in between, so memory stays bounded whatever the input.

use std::io::{BufRead, BufReader, Read, Write};
use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use sha1::{Digest, Sha1};
use tokio::sync::mpsc;
use tokio::time::Instant;

use crate::cli::normalize_read_line;
use crate::error::SourceError;
use crate::normalize::{
    CloudFields, DataStreamFields, EcsDocument, LogFields, LogFile, Normalizer,
};
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
    /// The Cursor Admin API: no provenance fields (Elastic's API input adds none either).
    CursorApi,
}

impl Provenance {
    /// A name for logs and dead-letter records.
    pub fn name(&self) -> String {
        match self {
            Provenance::File { path } => path.clone(),
            Provenance::S3 { bucket, key, .. } => format!("s3://{bucket}/{key}"),
            Provenance::CursorApi => "Cursor Admin API".into(),
        }
    }

    fn add_fields(&self, doc: &mut EcsDocument, offset: u64) {
        match self {
            Provenance::File { path } => {
                doc.log = Some(LogFields {
                    file: LogFile { path: path.clone() },
                    offset,
                });
            }
            Provenance::S3 {
                bucket,
                key,
                region,
                ..
            } => {
                doc.aws = Some(serde_json::json!({"s3": {
                    "bucket": {"name": bucket, "arn": format!("arn:aws:s3:::{bucket}")},
                    "object": {"key": key}
                }}));
                doc.log = Some(LogFields {
                    file: LogFile {
                        path: format!("https://{bucket}.s3.{region}.amazonaws.com/{key}"),
                    },
                    offset,
                });
                doc.cloud = Some(CloudFields {
                    provider: "aws",
                    region: region.clone(),
                });
            }
            Provenance::CursorApi => {}
        }
    }

    /// A stable `_id` for a document without `event_id` (error documents), so that
    /// shipping the same input again does not duplicate it: the position in a file or
    /// object, or for API events (which have no stable position) the event's own bytes.
    fn fallback_id(&self, offset: u64, raw: &[u8]) -> String {
        let mut digest = Sha1::new();
        match self {
            Provenance::File { path } => digest.update(format!("file:{path}#{offset}")),
            Provenance::S3 {
                bucket, key, etag, ..
            } => digest.update(format!(
                "s3:{bucket}/{key}@{}#{offset}",
                etag.as_deref().unwrap_or("")
            )),
            Provenance::CursorApi => {
                digest.update(b"cursor-api:");
                digest.update(raw);
            }
        }
        base64::engine::general_purpose::STANDARD.encode(digest.finalize())
    }
}

/// Adds §10 fields to a normalized document.
pub fn add_shipping_fields(
    doc: &mut EcsDocument,
    fields: &ShipFields,
    provenance: &Provenance,
    offset: u64,
) {
    doc.data_stream = Some(DataStreamFields {
        dataset: DATASET,
        namespace: fields.namespace.clone(),
        kind: "logs",
    });
    doc.event.dataset = Some(DATASET);
    for tag in &fields.tags {
        if !doc.tags.contains(tag) {
            doc.tags.push(tag.clone());
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
    /// No new batch (or object) starts when less than this is left before `hard`.
    pub stop_margin: Duration,
}

impl Deadline {
    /// The retry deadline for a batch starting now.
    pub fn for_batch(&self) -> Instant {
        let budget = Instant::now() + self.per_batch;
        self.hard.map_or(budget, |hard| hard.min(budget))
    }

    /// True when the hard deadline is too close to start another batch.
    pub fn should_stop(&self) -> bool {
        self.hard
            .is_some_and(|hard| Instant::now() + self.stop_margin >= hard)
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
    /// The newest `@timestamp` acknowledged.
    pub newest: NewestTimestamp,
}

/// Opens a reader, detecting gzip by its magic bytes (multi-member gzip included). Gzip is
/// inflated on a thread of its own, a few chunks ahead of the reader, so decompression and
/// normalization use both cores; memory stays bounded by the chunks in flight.
pub fn decompressing_reader<R: Read + Send + 'static>(
    inner: R,
) -> std::io::Result<Box<dyn BufRead + Send>> {
    let mut buffered = BufReader::with_capacity(256 * 1024, inner);
    let magic = buffered.fill_buf()?;
    if magic.starts_with(&[0x1f, 0x8b]) {
        Ok(Box::new(ChunkReader::spawn(
            flate2::bufread::MultiGzDecoder::new(buffered),
        )?))
    } else {
        Ok(Box::new(buffered))
    }
}

/// Chunks of an input produced by a reading thread.
struct ChunkReader {
    chunks: std::sync::mpsc::Receiver<std::io::Result<Vec<u8>>>,
    current: Vec<u8>,
    position: usize,
}

/// Size of one decompressed chunk, and how many may wait.
const CHUNK_BYTES: usize = 256 * 1024;
const CHUNKS_AHEAD: usize = 4;

impl ChunkReader {
    fn spawn<R: Read + Send + 'static>(mut inner: R) -> std::io::Result<ChunkReader> {
        let (sender, chunks) = std::sync::mpsc::sync_channel(CHUNKS_AHEAD);
        std::thread::Builder::new()
            .name("inflate".into())
            .spawn(move || {
                loop {
                    let mut chunk = vec![0u8; CHUNK_BYTES];
                    let mut filled = 0;
                    let result = loop {
                        match inner.read(&mut chunk[filled..]) {
                            Ok(0) => break Ok(()),
                            Ok(n) => {
                                filled += n;
                                if filled == chunk.len() {
                                    break Ok(());
                                }
                            }
                            Err(err) if err.kind() == std::io::ErrorKind::Interrupted => {}
                            Err(err) => break Err(err),
                        }
                    };
                    chunk.truncate(filled);
                    let end = filled < CHUNK_BYTES;
                    if filled > 0 && sender.send(Ok(chunk)).is_err() {
                        return;
                    }
                    if let Err(err) = result {
                        let _ = sender.send(Err(err));
                        return;
                    }
                    if end {
                        return;
                    }
                }
            })?;
        Ok(ChunkReader {
            chunks,
            current: Vec::new(),
            position: 0,
        })
    }
}

impl Read for ChunkReader {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        let available = self.fill_buf()?;
        let n = available.len().min(out.len());
        out[..n].copy_from_slice(&available[..n]);
        self.consume(n);
        Ok(n)
    }
}

impl BufRead for ChunkReader {
    fn fill_buf(&mut self) -> std::io::Result<&[u8]> {
        if self.position >= self.current.len() {
            match self.chunks.recv() {
                Ok(Ok(chunk)) => {
                    self.current = chunk;
                    self.position = 0;
                }
                Ok(Err(err)) => return Err(err),
                // The thread is done: end of input.
                Err(_) => {
                    self.current.clear();
                    self.position = 0;
                }
            }
        }
        Ok(&self.current[self.position..])
    }

    fn consume(&mut self, amount: usize) {
        self.position = (self.position + amount).min(self.current.len());
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
    /// The newest `@timestamp` among the batch's documents without errors.
    newest: NewestTimestamp,
}

/// The newest `@timestamp` seen, for the lag metric. The normalizer writes `@timestamp` as
/// `YYYY-MM-DDTHH:MM:SS.mmmZ`, so comparing the text compares the times.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct NewestTimestamp(Option<String>);

impl NewestTimestamp {
    /// Keeps `timestamp` if it is newer.
    pub fn offer(&mut self, timestamp: &str) {
        let canonical = timestamp.len() == 24 && timestamp.ends_with('Z');
        if canonical && self.0.as_deref().is_none_or(|newest| timestamp > newest) {
            self.0 = Some(timestamp.to_owned());
        }
    }

    /// Keeps the newer of the two.
    pub fn merge(&mut self, other: &NewestTimestamp) {
        if let Some(timestamp) = &other.0 {
            self.offer(timestamp);
        }
    }

    /// The time, if any was seen.
    pub fn time(&self) -> Option<chrono::DateTime<chrono::Utc>> {
        let text = self.0.as_deref()?;
        chrono::DateTime::parse_from_rfc3339(text)
            .ok()
            .map(|t| t.with_timezone(&chrono::Utc))
    }
}

impl Shipper {
    fn document_for(
        &self,
        line: &crate::source::lines::Line<'_>,
        provenance: &Provenance,
    ) -> Option<(Option<String>, EcsDocument, bool)> {
        let normalized = normalize_read_line(&self.normalizer, line, self.max_line_bytes)?;
        let mut doc = normalized.document;
        add_shipping_fields(&mut doc, &self.fields, provenance, line.offset);
        let id = normalized
            .id
            .or_else(|| Some(provenance.fallback_id(line.offset, line.bytes)));
        Some((id, doc, normalized.has_error))
    }

    /// Normalizes API events (raw JSON objects) into batches within the limits. `first`
    /// numbers the first event (it stands in for a line number in dead-letter records).
    /// Also returns the newest `@timestamp` among events that normalized without error.
    pub fn batches_of_events(
        &self,
        events: &[Box<serde_json::value::RawValue>],
        first: u64,
    ) -> (Vec<BulkBatch>, NewestTimestamp) {
        let provenance = Provenance::CursorApi;
        let mut batches = Vec::new();
        let mut batch = BulkBatch::new();
        let mut newest = NewestTimestamp::default();
        for (index, event) in events.iter().enumerate() {
            let raw = event.get();
            let Some(normalized) = self.normalizer.normalize_line(raw.as_bytes()) else {
                continue;
            };
            if !normalized.has_error {
                newest.offer(&normalized.document.timestamp);
            }
            let mut doc = normalized.document;
            add_shipping_fields(&mut doc, &self.fields, &provenance, 0);
            let id = normalized
                .id
                .unwrap_or_else(|| provenance.fallback_id(0, raw.as_bytes()));
            batch.push(Some(id), &doc, raw, first + index as u64);
            if batch.is_full(&self.limits) {
                batches.push(std::mem::take(&mut batch));
            }
        }
        if !batch.is_empty() {
            batches.push(batch);
        }
        (batches, newest)
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
            if let Some((_, doc, _)) = self.document_for(&line, provenance) {
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

    /// Ships one source (raw bytes, gzip or plain) to `sink`, skipping lines up to
    /// `skip_lines` (already acknowledged).
    pub async fn ship(
        &self,
        reader: Box<dyn Read + Send>,
        provenance: Provenance,
        skip_lines: u64,
        sink: &EsSink,
        deadline: Deadline,
    ) -> SourceReport {
        let (sender, mut receiver) = mpsc::channel::<ReadBatch>(1);
        // Sent batches go back to the reader to be refilled: a fixed set of buffers serves
        // the whole source, so memory does not creep up with fragmentation.
        let (recycle, recycled) = std::sync::mpsc::channel::<BulkBatch>();
        let shipper = self.clone();
        let reader_provenance = provenance.clone();
        let reading = tokio::task::spawn_blocking(move || {
            shipper.read_batches(reader, &reader_provenance, skip_lines, &sender, &recycled)
        });

        let source_name = provenance.name();
        let mut report = SourceReport {
            acknowledged_through_line: skip_lines,
            ..SourceReport::default()
        };
        while let Some(ReadBatch {
            batch,
            last_line,
            newest,
        }) = receiver.recv().await
        {
            report.counts.read += batch.len() as u64;
            if deadline.should_stop() {
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
            report.newest.merge(&newest);
            let _ = recycle.send(batch);
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
        reader: Box<dyn Read + Send>,
        provenance: &Provenance,
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
        let reader = decompressing_reader(reader).map_err(|error| SourceError::Open {
            source_name: provenance.name(),
            error,
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
            if let Some((id, doc, has_error)) = self.document_for(&line, provenance) {
                if !has_error {
                    newest.offer(&doc.timestamp);
                }
                let original = String::from_utf8_lossy(line.bytes);
                batch.push(id, &doc, &original, line.number);
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

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn shipping_fields_for_s3() {
        let normalizer = crate::normalize::Normalizer::new(
            crate::normalize::NormalizeOptions {
                preserve_original: true,
            },
            crate::normalize::GeoIp::default(),
        );
        let mut doc = normalizer
            .normalize_line(
                br#"{"event_id":"x","event_type":"logout","timestamp":"2026-05-04T10:00:00.000Z"}"#,
            )
            .unwrap()
            .document;
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
        let value = doc.to_value();
        assert_eq!(value["event"]["dataset"], "cursor.audit");
        assert_eq!(
            value["tags"],
            json!(["preserve_original_event", "forwarded", "cursor-audit"])
        );
        assert_eq!(
            value["data_stream"],
            json!({"type": "logs", "dataset": "cursor.audit", "namespace": "prod"})
        );
        assert_eq!(
            value["aws"],
            json!({"s3": {"bucket": {"name": "audit", "arn": "arn:aws:s3:::audit"},
                          "object": {"key": "2026/11/25/a b.jsonl.gz"}}})
        );
        assert_eq!(
            value["log"],
            json!({"file": {"path": "https://audit.s3.eu-west-1.amazonaws.com/2026/11/25/a b.jsonl.gz"}, "offset": 1234})
        );
        assert_eq!(
            value["cloud"],
            json!({"provider": "aws", "region": "eu-west-1"})
        );
        assert_eq!(fields.data_stream(), "logs-cursor.audit-prod");
    }

    #[test]
    fn truncated_gzip_keeps_what_was_read_and_then_fails() {
        let text: String = (0..50_000).map(|i| format!("line {i}\n")).collect();
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gz.write_all(text.as_bytes()).unwrap();
        let mut data = gz.finish().unwrap();
        data.truncate(data.len() / 2);
        let mut reader = decompressing_reader(std::io::Cursor::new(data)).unwrap();
        let mut lines = 0;
        let error = loop {
            let mut line = String::new();
            match reader.read_line(&mut line) {
                Ok(0) => panic!("a truncated stream must not end cleanly"),
                Ok(_) => lines += 1,
                Err(err) => break err,
            }
        };
        assert!(lines > 1000, "{lines}");
        assert_eq!(error.kind(), std::io::ErrorKind::UnexpectedEof, "{error}");
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
