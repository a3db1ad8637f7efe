//! The one writer of documents as NDJSON (the dry runs and `normalize`): one `write` per
//! document, since serde_json's many small writes are slow through a `BufWriter`.

use std::io::{self, BufWriter, Write};

use serde::Serialize;

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
