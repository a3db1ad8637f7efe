//! Standard output as an output: dry runs print the documents they would send, and
//! `normalize` prints its documents, through the one NDJSON writer here (one `write` per
//! document, since serde_json's many small writes are slow through a `BufWriter`).

use std::io::{self, BufWriter, Write};

use serde::Serialize;

use super::bulk::BulkBatch;
use super::client::BatchOutcome;
use super::counts::Counts;
use super::error::BatchError;
use super::mode::{NormalizeIn, ShipMode};

/// Standard output as the destination of a dry run.
#[derive(Debug, Clone, Copy, Default)]
pub struct StdoutSink {
    /// `NORMALIZE_IN`: with no cluster to ask, `cluster` only when set.
    pub normalize_in: NormalizeIn,
}

impl StdoutSink {
    /// What a dry run prints: raw events only for `NORMALIZE_IN=cluster`.
    pub fn mode(&self) -> ShipMode {
        self.normalize_in.offline_mode()
    }

    /// Prints every document of `batch`, one per line; all count as printed unless
    /// writing fails.
    pub fn send(&self, batch: &BulkBatch) -> BatchOutcome {
        let mut out = stdout_documents();
        let written = (0..batch.len())
            .try_for_each(|index| out.write_serialized(batch.source(index)))
            .and_then(|()| out.flush());
        match written {
            Ok(()) => BatchOutcome {
                counts: Counts {
                    printed: batch.len() as u64,
                    ..Counts::default()
                },
                error: None,
            },
            Err(err) => BatchOutcome {
                counts: Counts {
                    failed: batch.len() as u64,
                    ..Counts::default()
                },
                error: Some(BatchError::Output(err)),
            },
        }
    }
}

/// Writes one JSON document per line.
#[derive(Debug)]
pub struct DocumentWriter<W: Write> {
    out: W,
    buffer: Vec<u8>,
}

/// The buffer size of standard output.
const STDOUT_BUFFER: usize = 256 * 1024;

/// A document writer on (locked, buffered) standard output.
pub fn stdout_documents() -> DocumentWriter<BufWriter<io::StdoutLock<'static>>> {
    DocumentWriter::new(BufWriter::with_capacity(STDOUT_BUFFER, io::stdout().lock()))
}

impl<W: Write> DocumentWriter<W> {
    /// Writes to `out`.
    pub fn new(out: W) -> DocumentWriter<W> {
        DocumentWriter {
            out,
            buffer: Vec::with_capacity(4096),
        }
    }

    /// Serializes `document` and writes it as one line.
    pub fn write_document<D: Serialize>(&mut self, document: &D) -> io::Result<()> {
        self.buffer.clear();
        serde_json::to_writer(&mut self.buffer, document)?;
        self.buffer.push(b'\n');
        self.out.write_all(&self.buffer)
    }

    /// Writes an already serialized document as one line.
    pub fn write_serialized(&mut self, json: &[u8]) -> io::Result<()> {
        self.buffer.clear();
        self.buffer.extend_from_slice(json);
        self.buffer.push(b'\n');
        self.out.write_all(&self.buffer)
    }

    /// Flushes what is buffered.
    pub fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_line_per_document() {
        let mut writer = DocumentWriter::new(Vec::new());
        writer.write_document(&serde_json::json!({"a": 1})).unwrap();
        writer.write_serialized(br#"{"b":2}"#).unwrap();
        writer.flush().unwrap();
        assert_eq!(writer.out, b"{\"a\":1}\n{\"b\":2}\n");
    }
}
